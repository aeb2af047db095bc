// The check in front of the checkpoint loader (mmsr/sealed.h): a run never resumes from damaged bytes. Any input
// either fails the check or is exactly a sealed payload; a sealed input with one byte changed, or cut short,
// always fails it.
#include <cstdlib>
#include <string>

#include "mmsr/sealed.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mmsr;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  if (auto payload = unseal(bytes); payload && seal(std::string(*payload)) != bytes) std::abort();
  const std::string sealed = seal(bytes);
  auto back = unseal(sealed);
  if (!back || *back != bytes) std::abort();
  if (size == 0) return 0;
  std::string flipped = sealed;
  const size_t at = (size_t(data[0]) * 7919u + size) % flipped.size();
  flipped[at] = char(flipped[at] ^ (1 + data[size - 1] % 255));
  if (unseal(flipped)) std::abort();
  if (unseal(std::string_view(sealed).substr(0, sealed.size() - 1 - data[0] % sealed.size()))) std::abort();
  return 0;
}

// The prepared-dataset cache's entries (mmsr/dataset_cache.h): a damaged entry must be refused, never crash or
// yield a dataset with item ids outside its catalogue. Random bytes almost never pass the entry's own hash, so the
// input is taken as the payload of an entry whose header (magic, size, hash) is made right, which sends it through
// the whole parser; an entry that decodes must encode back to the same bytes.
#include <xxhash.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "mmsr/dataset_cache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mmsr;
  std::string payload(reinterpret_cast<const char*>(data), size);
  std::string entry = "MMSRDSC1";
  uint64_t n = payload.size(), hash = XXH3_64bits(payload.data(), payload.size());
  entry.append(reinterpret_cast<const char*>(&n), sizeof n);
  entry.append(reinterpret_cast<const char*>(&hash), sizeof hash);
  entry += payload;
  for (const std::string& bytes : {payload, entry}) {
    auto d = decode_prepared_dataset(bytes);
    if (!d) continue;
    for (const auto& s : d->sequences)
      for (int32_t i : s)
        if (i < 1 || i > d->num_items()) std::abort();
    if (encode_prepared_dataset(*d) != bytes) std::abort();
  }
  return 0;
}

#include "mmsr/sealed.h"

#include <cstdint>
#include <cstring>

#include <xxhash.h>

namespace mmsr {
namespace {

constexpr char kMagic[8] = {'m', 'm', 's', 'r', 'S', 'E', 'A', 'L'};
constexpr size_t kTrailer = sizeof kMagic + 2 * sizeof(uint64_t);

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(char(uint8_t(v >> (8 * i))));
}

uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(uint8_t(p[i])) << (8 * i);
  return v;
}

}  // namespace

std::string seal(std::string payload) {
  const uint64_t size = payload.size(), hash = XXH3_64bits(payload.data(), payload.size());
  payload.append(kMagic, sizeof kMagic);
  put_u64(payload, size);
  put_u64(payload, hash);
  return payload;
}

SealedWriter::SealedWriter(std::ostream& out) : out_(out), state_(XXH3_createState()) {
  XXH3_64bits_reset(static_cast<XXH3_state_t*>(state_));
}

SealedWriter::~SealedWriter() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }

bool SealedWriter::write(const void* data, size_t size) {
  XXH3_64bits_update(static_cast<XXH3_state_t*>(state_), data, size);
  size_ += size;
  out_.write(static_cast<const char*>(data), std::streamsize(size));
  return bool(out_);
}

bool SealedWriter::finish() {
  std::string trailer(kMagic, sizeof kMagic);
  put_u64(trailer, size_);
  put_u64(trailer, XXH3_64bits_digest(static_cast<XXH3_state_t*>(state_)));
  out_.write(trailer.data(), std::streamsize(trailer.size()));
  out_.flush();
  return bool(out_);
}

std::optional<std::string_view> unseal(std::string_view bytes) {
  if (bytes.size() < kTrailer) return std::nullopt;
  const char* trailer = bytes.data() + bytes.size() - kTrailer;
  if (std::memcmp(trailer, kMagic, sizeof kMagic) != 0) return std::nullopt;
  const uint64_t size = get_u64(trailer + sizeof kMagic), hash = get_u64(trailer + sizeof kMagic + 8);
  if (size != bytes.size() - kTrailer) return std::nullopt;
  std::string_view payload = bytes.substr(0, size);
  if (XXH3_64bits(payload.data(), payload.size()) != hash) return std::nullopt;
  return payload;
}

}  // namespace mmsr

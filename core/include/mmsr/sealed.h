// Files whose damage must be detected, not trusted: a run's checkpoint. The payload is followed by a trailer
// (a magic word, the payload's length and its XXH3-64 hash), written after the payload, so a file cut short, zeroed
// or overwritten anywhere fails the check instead of being read as a slightly different state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace mmsr {

// The payload followed by its trailer.
std::string seal(std::string payload);

// The same bytes written to a stream as the payload is produced, so a large payload is never held in memory:
// write() each piece, then finish() appends the trailer. False once the stream has failed.
class SealedWriter {
 public:
  explicit SealedWriter(std::ostream& out);
  ~SealedWriter();
  SealedWriter(const SealedWriter&) = delete;
  SealedWriter& operator=(const SealedWriter&) = delete;
  bool write(const void* data, size_t size);
  bool finish();

 private:
  std::ostream& out_;
  void* state_;  // XXH3's streaming state
  uint64_t size_ = 0;
};
// The payload of sealed bytes; nothing when the trailer is missing or does not match the payload.
std::optional<std::string_view> unseal(std::string_view bytes);

}  // namespace mmsr

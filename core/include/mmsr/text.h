// Small text helpers shared by the config parser, the loader and the CLI.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mmsr {

// " (did you mean 'layers'?)" for the closest candidate within a small edit distance, else "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);
size_t edit_distance(const std::string& a, const std::string& b);

// 64-bit FNV-1a, rendered as 16 hex digits: identities of runs, protocols and datasets.
class Hasher {
 public:
  Hasher& add(const std::string& s);
  Hasher& add(const void* data, size_t size);
  Hasher& add_u64(uint64_t v);
  uint64_t value() const { return h_; }
  std::string hex() const;

 private:
  uint64_t h_ = 1469598103934665603ull;
};
std::string hash_hex(const std::string& s);

std::string format_seconds(double seconds);  // "1m05s", "3.2s"
std::string utc_now_iso();                    // "2026-11-22T14:25:35Z"
// A data timestamp as written, with its UTC date when it reads as Unix seconds or milliseconds:
// "891382309 (1998-03-31)"; other numbers as they are.
std::string timestamp_text(double t);
std::string join(const std::vector<std::string>& parts, const std::string& sep);

}  // namespace mmsr

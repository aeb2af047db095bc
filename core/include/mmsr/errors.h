// Two channels, as in faiss: a user's mistake (bad config, bad data file, bad plugin) is an InputError whose
// message names the file, line or key and the fix, and makes `mmsr` exit with code 2 before anything is
// written; a broken internal invariant is a std::logic_error and a bug.
#pragma once

#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

namespace mmsr {

// A message as one printable line of at most max_bytes: control bytes (a NUL from a damaged file would end the
// message early, a newline would break the line) are escaped as \xNN, and a message too long keeps its beginning
// (what is wrong) and its end (what to do) around an ellipsis.
inline std::string one_line(std::string_view message, size_t max_bytes = 300) {
  std::string out;
  out.reserve(message.size());
  for (char c : message) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) {
      out.push_back(c);
    } else if (c == '\n' || c == '\t' || c == '\r') {
      out.push_back(' ');
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", u);
      out += hex;
    }
  }
  if (out.size() <= max_bytes) return out;
  const std::string gap = " ... ";
  const size_t tail = max_bytes / 3, head = max_bytes - tail - gap.size();
  size_t cut = head;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 character
  size_t from = out.size() - tail;
  while (from < out.size() && (static_cast<unsigned char>(out[from]) & 0xC0) == 0x80) ++from;
  return out.substr(0, cut) + gap + out.substr(from);
}

// A bad value quoted in a message: at most max_bytes of it, escaped as one_line does.
inline std::string excerpt(std::string_view value, size_t max_bytes = 40) {
  if (value.size() <= max_bytes) return one_line(value, max_bytes * 4 + 8);
  return one_line(value.substr(0, max_bytes), max_bytes * 4 + 8) + "...";
}

class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& message) : std::runtime_error(one_line(message, 290)) {}
};

// "file:line: message" (line omitted when 0).
inline std::string located(const std::string& file, long line, const std::string& message) {
  std::string where = file;
  if (line > 0) where += ":" + std::to_string(line);
  return where.empty() ? message : where + ": " + message;
}

}  // namespace mmsr

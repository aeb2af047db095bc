// Two channels, as in faiss: a user's mistake (bad config, bad data file, bad plugin) is an InputError whose
// message names the file, line or key and the fix, and makes `mmsr` exit with code 2 before anything is
// written; a broken internal invariant is a std::logic_error and a bug.
#pragma once

#include <stdexcept>
#include <string>

namespace mmsr {

class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& message) : std::runtime_error(message) {}
};

// "file:line: message" (line omitted when 0).
inline std::string located(const std::string& file, long line, const std::string& message) {
  std::string where = file;
  if (line > 0) where += ":" + std::to_string(line);
  return where.empty() ? message : where + ": " + message;
}

}  // namespace mmsr

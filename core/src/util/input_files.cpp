#include "mmsr/input_files.h"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "mmsr/errors.h"

namespace mmsr {
namespace {

// What a non-regular file is, for the message.
std::string kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// stat() of the path, following links; throws the missing-path message when there is nothing there.
struct stat stat_or_throw(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR)
      throw InputError(path + ": no such " + what + " (check the path; relative paths are resolved from the "
                       "experiment file's folder)");
    throw InputError(path + ": cannot reach the " + what + " (" + std::strerror(errno) + ")");
  }
  return st;
}

}  // namespace

void require_readable_file(const std::string& path, const std::string& what) {
  if (path.empty()) throw InputError("the " + what + " has an empty path");
  const struct stat st = stat_or_throw(path, what);
  if (!S_ISREG(st.st_mode))
    throw InputError(path + ": is " + kind_of(st.st_mode) + "; the " + what + " must be a regular file");
  if (::access(path.c_str(), R_OK) != 0)
    throw InputError(path + ": cannot read the " + what + " (" + std::strerror(errno) + ")");
}

void require_readable_folder(const std::string& path, const std::string& what) {
  if (path.empty()) throw InputError("the " + what + " has an empty path");
  const struct stat st = stat_or_throw(path, what);
  if (!S_ISDIR(st.st_mode))
    throw InputError(path + ": is " + (S_ISREG(st.st_mode) ? std::string("a file") : kind_of(st.st_mode)) +
                     "; the " + what + " must be a folder");
  if (::access(path.c_str(), R_OK | X_OK) != 0)
    throw InputError(path + ": cannot read the " + what + " (" + std::strerror(errno) + ")");
}

void require_writable_path(const std::string& path, const std::string& what) {
  if (path.empty()) throw InputError("the " + what + " has an empty path");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return;  // absent: made later, where its folder is checked
  if (!S_ISREG(st.st_mode))
    throw InputError(path + ": is " + kind_of(st.st_mode) + "; the " + what + " must be a regular file (or a new path)");
}

bool on_read_only_file_system(const std::string& path) {
  std::filesystem::path p = std::filesystem::absolute(path);
  std::error_code ec;
  while (!p.empty() && !std::filesystem::exists(p, ec) && p != p.root_path()) p = p.parent_path();
  struct statvfs fs {};
  return ::statvfs(p.c_str(), &fs) == 0 && (fs.f_flag & ST_RDONLY) != 0;
}

}  // namespace mmsr

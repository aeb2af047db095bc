// Every path a user names is checked before it is opened, so that a folder, a FIFO or a device where a file
// belongs is a one-line input error naming the path, never a misleading message about its contents, a read that
// blocks forever, or a read that never ends.
#pragma once

#include <string>

namespace mmsr {

// Throws InputError unless `path` is a readable regular file. `what` names it in the message ("data file").
void require_readable_file(const std::string& path, const std::string& what);
// Throws InputError unless `path` is a readable folder.
void require_readable_folder(const std::string& path, const std::string& what);
// For a file mmsr writes (a store, a report): absent, or a regular file; never a folder or a special file.
void require_writable_path(const std::string& path, const std::string& what);
// Whether the file system holding `path` (or its nearest existing parent) is mounted read-only.
bool on_read_only_file_system(const std::string& path);

}  // namespace mmsr

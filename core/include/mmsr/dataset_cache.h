// The prepared-dataset cache: what reading and preprocessing an interaction file produced, kept on disk so that
// the runs of a grid (each in its own process) and later grids on the same data do not parse the file again.
//
// An entry is found by a key that hashes everything the prepared data depends on: the bytes of the files read,
// the format, the preprocessing options, the dataset's name and the code that reads and preprocesses
// (MMSR_DATA_CODE_HASH, a hash of those sources taken when the build is configured). A changed file, option or
// reader is a different key, never a stale entry. An entry carries a hash of its own bytes; a damaged or
// truncated one is ignored and replaced. The cache is only ever a shortcut: when it cannot be read or written the
// data is read from the files as without it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mmsr/dataset.h"

namespace mmsr {

class DatasetCache {
 public:
  // folder empty = no cache (every lookup misses, nothing is written).
  explicit DatasetCache(std::string folder) : folder_(std::move(folder)) {}

  // The default folder: $MMSR_DATA_CACHE, else $XDG_CACHE_HOME/mmsr/datasets, else ~/.cache/mmsr/datasets
  // ("" when none of them is set). MMSR_DATA_CACHE=off turns the cache off.
  static std::string default_folder();

  bool enabled() const { return !folder_.empty(); }
  const std::string& folder() const { return folder_; }

  // The key of the prepared data from these files (read in this order) under these settings.
  static std::string key(const std::vector<std::string>& files, const std::string& format,
                         const PreprocessOptions& options, const std::string& name);

  // The entry under key, if there is an intact one.
  std::optional<Dataset> find(const std::string& key) const;
  // Keeps data under key (written to a temporary file, then renamed: readers never see half an entry). Returns
  // false, with the reason in *why, when it could not be written.
  bool put(const std::string& key, const Dataset& data, std::string* why = nullptr) const;

  std::string entry_path(const std::string& key) const;

 private:
  std::string folder_;
};

// The bytes of an entry and back (exposed for tests): decode returns nothing for anything but an intact entry.
std::string encode_prepared_dataset(const Dataset& data);
std::optional<Dataset> decode_prepared_dataset(const std::string& bytes);

}  // namespace mmsr

// The feature store: item modality features (text, image, ...) declared in an experiment's [[modality]] entries,
// read from .npy files (float32 or float16; 2-D pooled [rows, dim] or 3-D token-level [rows, tokens, dim]) or raw
// little-endian float32 with a declared shape (the UniSRec files), memory-mapped and gathered per batch: a file is
// never loaded whole (ODMT's token features are about 15 GB for 60k items). Rows are aligned to item ids through an
// explicit id map. No torch here: the trainer turns gathered rows into tensors.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mmsr/dataset.h"

namespace mmsr {

// One [[modality]] entry, with paths already resolved.
struct ModalitySpec {
  std::string name;
  std::string path;
  std::string format = "npy";    // "npy" | "raw"
  std::string shape = "pooled";  // raw files only: "pooled" | "tokens"
  int64_t dim = 0;               // raw files only
  int64_t tokens = 0;            // raw token-level files only
  std::string mask_path;         // token-level only: .npy [rows, tokens] of 0/1 (bool, uint8 or float32)
  std::string id_map = "token";  // file of "item<TAB>row" lines, or "token" (the item token is its row number)
  std::string missing = "error"; // an item without a row: "error" | "zero" (zero vector, all tokens masked)
};

enum class FeatureDtype { Float32, Float16 };

// A read-only memory-mapped file (or an in-memory buffer for generated features).
class FeatureBytes;

// One modality: a table of rows, each [tokens, dim] (tokens = 1 when pooled), and the row of every item id.
class FeatureTable {
 public:
  // Opens the file(s) of a spec and aligns rows to the dataset's items; InputError naming the file and what
  // is wrong (magic, dtype, order, shape, size, id map lines, missing items under missing = "error").
  static FeatureTable open(const ModalitySpec& spec, const Dataset& data);
  // Generated (synthetic) pooled features: row i is item id i.
  static FeatureTable from_matrix(const std::string& name, const FeatureMatrix& matrix);
  // Generated token-level features with their mask: row i is item id i.
  static FeatureTable from_tokens(const std::string& name, const TokenFeatureMatrix& matrix);

  const std::string& name() const { return name_; }
  bool pooled() const { return pooled_; }
  int64_t tokens() const { return tokens_; }  // 1 when pooled
  int64_t dim() const { return dim_; }
  FeatureDtype dtype() const { return dtype_; }
  int64_t rows() const { return rows_; }
  int64_t missing_items() const { return missing_items_; }
  bool has_mask() const { return mask_ != nullptr; }

  // Copies the features of n item ids into out ([n, tokens, dim] float32) and, when mask_out is given, the token
  // mask into it ([n, tokens], 1 = a real token). Item 0 (padding) and missing items give zeros and an all-zero
  // mask. A non-finite value is an InputError naming the file and row (checked as rows are copied, so opening a
  // large file costs nothing).
  void gather(const int64_t* item_ids, size_t n, float* out, uint8_t* mask_out) const;

  // Checksum material: name, shape, dtype, file size and a sample of rows (not the whole file).
  std::string fingerprint() const;

 private:
  // The steps of open(): the array's layout from a .npy header or from the raw format's keys (returns where the
  // values start), its size checked against the file, the token mask, and every row checked for finite values.
  size_t read_npy_layout(const ModalitySpec& spec);
  void read_raw_layout(const ModalitySpec& spec);
  void check_size(const ModalitySpec& spec, size_t offset) const;
  void open_mask(const ModalitySpec& spec);
  void check_rows_are_finite(const Dataset& data);

  std::string name_, path_;
  bool pooled_ = true;
  int64_t rows_ = 0, tokens_ = 1, dim_ = 0, missing_items_ = 0;
  FeatureDtype dtype_ = FeatureDtype::Float32;
  std::shared_ptr<const FeatureBytes> values_, mask_;
  size_t data_offset_ = 0, mask_offset_ = 0;  // where the array starts (after the .npy header)
  int mask_kind_ = 0;                         // 0 = none, 1 = bool/uint8, 2 = float32
  std::vector<int64_t> row_of_item_;  // item id -> row, -1 when missing
  // The data's item tokens, so that a non-finite value is reported by the item as the data names it.
  std::shared_ptr<const std::vector<std::string>> item_tokens_;
};

// The modalities of an experiment, by name.
class FeatureStore {
 public:
  void add(FeatureTable table);
  const FeatureTable* find(const std::string& name) const;
  std::vector<std::string> names() const;
  bool empty() const { return tables_.empty(); }

 private:
  std::map<std::string, FeatureTable> tables_;
};

// Half precision (IEEE 754 binary16) to float, for float16 files.
float half_to_float(uint16_t h);

}  // namespace mmsr

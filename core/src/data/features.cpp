#include "mmsr/features.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <unordered_map>

#include "mmsr/errors.h"
#include "mmsr/input_files.h"
#include "mmsr/text.h"

namespace mmsr {

// Bytes of a feature file: a read-only private mapping, or an owned buffer for generated features.
class FeatureBytes {
 public:
  explicit FeatureBytes(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw InputError(path + ": cannot open the feature file (" + std::strerror(errno) + ")");
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw InputError(path + ": not a regular file");
    }
    size_ = size_t(st.st_size);
    if (size_ > 0) {
      void* p = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        ::close(fd);
        throw InputError(path + ": cannot memory-map the feature file (" + std::strerror(errno) + ")");
      }
      // Gathers touch scattered rows: no read-ahead of the whole file.
      madvise(p, size_, MADV_RANDOM);
      map_ = p;
      data_ = static_cast<const uint8_t*>(p);
    }
    ::close(fd);
  }
  explicit FeatureBytes(std::vector<uint8_t> owned) : owned_(std::move(owned)) {
    data_ = owned_.data();
    size_ = owned_.size();
  }
  ~FeatureBytes() {
    if (map_) munmap(map_, size_);
  }
  FeatureBytes(const FeatureBytes&) = delete;
  FeatureBytes& operator=(const FeatureBytes&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

  // Large mappings give back the pages of rows once they are copied (the kernel keeps them in its page cache): a
  // mapping's touched pages otherwise count in the process's resident memory until it ends, so an epoch over a
  // 15 GB token file would read as 15 GB of "peak memory", and memory limits that count resident pages would
  // stop the run. Small files stay resident: their pages are shared by neighbouring rows and cheap to keep.
  bool releases_pages() const { return map_ && size_ >= kReleaseAbove; }
  void release(const uint8_t* begin, size_t n) const {
    static const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
    // The row's pages and the kernel's fault-around window on either side (it maps up to 64 KB of cached
    // neighbours on a fault). Releasing a neighbour another row still needs only costs that row a minor fault:
    // the mapping is read-only, so a released page reads back the file's bytes.
    constexpr uintptr_t kFaultAround = 64 << 10;
    const uintptr_t start = uintptr_t(data_), end = start + size_;
    uintptr_t lo = std::max(start, uintptr_t(begin) > start + kFaultAround ? uintptr_t(begin) - kFaultAround : start);
    uintptr_t hi = std::min(end, uintptr_t(begin) + n + kFaultAround);
    lo &= ~(page - 1);
    hi = std::min((hi + page - 1) & ~(page - 1), (end + page - 1) & ~(page - 1));
    if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
  }
  static constexpr size_t kReleaseAbove = size_t(256) << 20;

 private:
  void* map_ = nullptr;
  std::vector<uint8_t> owned_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exponent = 127 - 15 + 1;
      while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        --exponent;
      }
      bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
    }
  } else if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf or NaN
  } else {
    bits = sign | ((exponent - 15 + 127) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

namespace {

struct NpyHeader {
  std::string descr;
  bool fortran = false;
  std::vector<int64_t> shape;
  size_t data_offset = 0;
};

// Where a .npy file's header text starts and how long it is (format versions 1 to 3).
std::pair<size_t, size_t> npy_header_span(const FeatureBytes& bytes, const std::string& path) {
  const uint8_t* b = bytes.data();
  const size_t n = bytes.size();
  if (n < 10 || std::memcmp(b, "\x93NUMPY", 6) != 0)
    throw InputError(path + ": not a .npy file (no \\x93NUMPY magic); for raw float32 set format = \"raw\"");
  const int major = b[6];
  size_t header_len, offset;
  if (major == 1) {
    header_len = size_t(b[8]) | size_t(b[9]) << 8;
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (n < 12) throw InputError(path + ": truncated .npy header");
    header_len = size_t(b[8]) | size_t(b[9]) << 8 | size_t(b[10]) << 16 | size_t(b[11]) << 24;
    offset = 12;
  } else {
    throw InputError(path + ": .npy format version " + std::to_string(major) + " is not supported (1 to 3 are)");
  }
  if (offset + header_len > n) throw InputError(path + ": truncated .npy header");
  return {offset, header_len};
}

// Where the value of a key of the header's dict literal starts.
size_t npy_value_after(const std::string& h, const std::string& key, const std::string& path) {
  size_t k = h.find("'" + key + "'");
  if (k == std::string::npos) throw InputError(path + ": .npy header has no '" + key + "'");
  size_t colon = h.find(':', k);
  if (colon == std::string::npos) throw InputError(path + ": malformed .npy header");
  size_t v = h.find_first_not_of(' ', colon + 1);
  if (v == std::string::npos) throw InputError(path + ": malformed .npy header");
  return v;
}

// The header's shape tuple, "(3, 4)" or "(3,)".
std::vector<int64_t> npy_shape(const std::string& h, const std::string& path) {
  size_t s = npy_value_after(h, "shape", path);
  size_t s_end = h.find(')', s);
  if (h[s] != '(' || s_end == std::string::npos) throw InputError(path + ": malformed .npy shape");
  std::vector<int64_t> shape;
  std::stringstream dims(h.substr(s + 1, s_end - s - 1));
  for (std::string item; std::getline(dims, item, ',');) {
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (item.empty()) continue;
    try {
      size_t used = 0;
      long long v = std::stoll(item, &used);
      if (used != item.size() || v < 0) throw std::invalid_argument(item);
      shape.push_back(v);
    } catch (const std::exception&) {
      throw InputError(path + ": .npy shape entry '" + item + "' is not a size");
    }
  }
  return shape;
}

// The header of a .npy file (format versions 1-3): a Python dict literal with descr, fortran_order, shape.
NpyHeader parse_npy(const FeatureBytes& bytes, const std::string& path) {
  const auto [offset, header_len] = npy_header_span(bytes, path);
  const std::string h(reinterpret_cast<const char*>(bytes.data() + offset), header_len);
  NpyHeader out;
  out.data_offset = offset + header_len;
  size_t d = npy_value_after(h, "descr", path);
  if (h[d] != '\'' && h[d] != '"') throw InputError(path + ": malformed .npy descr");
  size_t d_end = h.find(h[d], d + 1);
  if (d_end == std::string::npos) throw InputError(path + ": malformed .npy descr");
  out.descr = h.substr(d + 1, d_end - d - 1);
  out.fortran = h.compare(npy_value_after(h, "fortran_order", path), 4, "True") == 0;
  out.shape = npy_shape(h, path);
  return out;
}

size_t element_size(FeatureDtype t) { return t == FeatureDtype::Float16 ? 2 : 4; }

void require_size(const FeatureBytes& bytes, size_t offset, int64_t count, size_t item, const std::string& path,
                  const std::string& what) {
  const unsigned __int128 need = (unsigned __int128)offset + (unsigned __int128)count * item;
  if (need != bytes.size())
    throw InputError(path + ": " + what + " needs " + std::to_string((unsigned long long)need) +
                     " bytes, the file has " + std::to_string(bytes.size()) +
                     (need > bytes.size() ? " (truncated?)" : " (trailing bytes: wrong shape or dtype?)"));
}

// item id -> row, from "item<TAB>row" lines or from the item tokens themselves.
std::vector<int64_t> item_rows(const ModalitySpec& spec, const Dataset& data, int64_t rows) {
  std::vector<int64_t> row_of(data.item_tokens.size(), -1);
  if (spec.id_map == "token") {
    for (size_t id = 1; id < data.item_tokens.size(); ++id) {
      const std::string& t = data.item_tokens[id];
      char* end = nullptr;
      long long r = std::strtoll(t.c_str(), &end, 10);
      if (t.empty() || *end != '\0' || r < 0)
        throw InputError("[[modality]] '" + spec.name + "': id_map = \"token\" needs integer item tokens, found '" +
                         t + "'; give an id map file (\"item<TAB>row\" lines)");
      if (r < rows) row_of[id] = r;
    }
    return row_of;
  }
  require_readable_file(spec.id_map, "id map of modality '" + spec.name + "'");
  std::ifstream in(spec.id_map);
  if (!in) throw InputError(spec.id_map + ": cannot open the id map of modality '" + spec.name + "'");
  std::unordered_map<std::string, size_t> id_of;
  for (size_t id = 1; id < data.item_tokens.size(); ++id) id_of.emplace(data.item_tokens[id], id);
  std::string line;
  std::unordered_map<std::string, long> seen;
  for (long line_no = 1; std::getline(in, line); ++line_no) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::istringstream fields(line);
    std::string token, row_text, extra;
    if (!(fields >> token >> row_text) || (fields >> extra))
      throw InputError(located(spec.id_map, line_no, "expected 'item<TAB>row', found '" + excerpt(line) + "'"));
    char* end = nullptr;
    long long r = std::strtoll(row_text.c_str(), &end, 10);
    if (*end != '\0' || r < 0 || r >= rows)
      throw InputError(located(spec.id_map, line_no, "row '" + excerpt(row_text) + "' is not a row of " + spec.path +
                                                          " (it has " + std::to_string(rows) + ")"));
    auto [it, inserted] = seen.emplace(token, line_no);
    if (!inserted)
      throw InputError(located(spec.id_map, line_no, "item '" + excerpt(token) + "' is mapped twice (first on line " +
                                                         std::to_string(it->second) + ")"));
    auto found = id_of.find(token);
    if (found != id_of.end()) row_of[found->second] = r;
  }
  return row_of;
}

// Items without a row: refused unless missing = "zero", and refused whatever it says when no item has a row.
int64_t count_missing_items(const std::vector<int64_t>& row_of_item, const ModalitySpec& spec, const Dataset& data) {
  int64_t missing = 0;
  std::string first_missing;
  for (size_t id = 1; id < row_of_item.size(); ++id)
    if (row_of_item[id] < 0) {
      if (first_missing.empty()) first_missing = data.item_tokens[id];
      ++missing;
    }
  // A file that covers no item at all is the wrong file (or id map), whatever `missing` allows.
  if (missing > 0 && missing == data.num_items())
    throw InputError("[[modality]] '" + spec.name + "': none of the data's " + std::to_string(data.num_items()) +
                     " items has a row in " + spec.path + " (first: '" + excerpt(first_missing) +
                     "'); is it this dataset's file, and does the id map name the data's item tokens?");
  if (missing > 0 && spec.missing != "zero")
    throw InputError("[[modality]] '" + spec.name + "': " + std::to_string(missing) + " of " +
                     std::to_string(data.num_items()) + " items have no row in " + spec.path + " (first: '" +
                     excerpt(first_missing) + "'); fix the id map, or set missing = \"zero\" to give them zero features");
  return missing;
}

}  // namespace

size_t FeatureTable::read_npy_layout(const ModalitySpec& spec) {
  NpyHeader h = parse_npy(*values_, spec.path);
  if (h.descr == "<f4" || h.descr == "=f4" || h.descr == "f4") dtype_ = FeatureDtype::Float32;
  else if (h.descr == "<f2" || h.descr == "=f2" || h.descr == "f2") dtype_ = FeatureDtype::Float16;
  else
    throw InputError(spec.path + ": dtype '" + h.descr + "' is not supported; save float32 or float16, " +
                     "little-endian (numpy: arr.astype('<f4'))");
  if (h.fortran) throw InputError(spec.path + ": Fortran-ordered array; save it C-ordered (numpy.ascontiguousarray)");
  if (h.shape.size() == 2) {
    rows_ = h.shape[0];
    dim_ = h.shape[1];
  } else if (h.shape.size() == 3) {
    pooled_ = false;
    rows_ = h.shape[0];
    tokens_ = h.shape[1];
    dim_ = h.shape[2];
  } else {
    throw InputError(spec.path + ": a " + std::to_string(h.shape.size()) +
                     "-D array; features are 2-D [items, dim] (pooled) or 3-D [items, tokens, dim]");
  }
  return h.data_offset;
}

void FeatureTable::read_raw_layout(const ModalitySpec& spec) {
  if (spec.dim <= 0) throw InputError("[[modality]] '" + spec.name + "': format = \"raw\" needs dim (the vector length)");
  dim_ = spec.dim;
  pooled_ = spec.shape != "tokens";
  tokens_ = pooled_ ? 1 : spec.tokens;
  if (!pooled_ && tokens_ <= 0)
    throw InputError("[[modality]] '" + spec.name + "': shape = \"tokens\" with format = \"raw\" needs tokens");
  // Bounds no real feature file reaches, so that the row size below cannot overflow.
  if (dim_ > (int64_t(1) << 30) || tokens_ > (int64_t(1) << 20))
    throw InputError("[[modality]] '" + spec.name + "': dim " + std::to_string(dim_) + " x tokens " +
                     std::to_string(tokens_) + " is too large; check dim and tokens");
  const size_t per_row = size_t(tokens_ * dim_) * 4;
  if (values_->size() % per_row != 0)
    throw InputError(spec.path + ": " + std::to_string(values_->size()) + " bytes is not a whole number of " +
                     std::to_string(tokens_) + " x " + std::to_string(dim_) + " float32 rows: check dim (and tokens)");
  rows_ = int64_t(values_->size() / per_row);
}

void FeatureTable::check_size(const ModalitySpec& spec, size_t offset) const {
  if (dim_ <= 0 || tokens_ <= 0 || rows_ <= 0) throw InputError(spec.path + ": the feature array is empty");
  // The shape comes from the file's header: a product that does not fit in 64 bits cannot describe a real file.
  int64_t elements = 0;
  if (__builtin_mul_overflow(rows_, tokens_, &elements) || __builtin_mul_overflow(elements, dim_, &elements) ||
      elements > std::numeric_limits<int64_t>::max() / 4)
    throw InputError(spec.path + ": the shape " + std::to_string(rows_) + " x " + std::to_string(tokens_) + " x " +
                     std::to_string(dim_) + " is too large for any file; the header is damaged");
  require_size(*values_, offset, elements, element_size(dtype_), spec.path,
               "a " + std::to_string(rows_) + " x " + std::to_string(tokens_) + " x " + std::to_string(dim_) + " array");
}

void FeatureTable::open_mask(const ModalitySpec& spec) {
  if (pooled_) throw InputError("[[modality]] '" + spec.name + "': a mask is for token-level features only");
  require_readable_file(spec.mask_path, "mask file of modality '" + spec.name + "'");
  mask_ = std::make_shared<FeatureBytes>(spec.mask_path);
  NpyHeader m = parse_npy(*mask_, spec.mask_path);
  if (m.descr == "|b1" || m.descr == "|u1" || m.descr == "u1" || m.descr == "b1") mask_kind_ = 1;
  else if (m.descr == "<f4" || m.descr == "=f4") mask_kind_ = 2;
  else throw InputError(spec.mask_path + ": mask dtype '" + m.descr + "' is not supported (bool, uint8 or float32)");
  if (m.fortran || m.shape.size() != 2 || m.shape[0] != rows_ || m.shape[1] != tokens_)
    throw InputError(spec.mask_path + ": the mask must be a C-ordered [" + std::to_string(rows_) + ", " +
                     std::to_string(tokens_) + "] array matching " + spec.path);
  require_size(*mask_, m.data_offset, rows_ * tokens_, mask_kind_ == 1 ? 1 : 4, spec.mask_path, "the mask");
  mask_offset_ = m.data_offset;
}

// Files up to 2 GB are read whole once here, so that a NaN or an infinity is a bad-input error before anything is
// trained or written; larger files (token features of big catalogues) are checked as rows are read.
void FeatureTable::check_rows_are_finite(const Dataset& data) {
  constexpr int64_t kEagerCheckBytes = int64_t(2) << 30;
  if (rows_ * tokens_ * dim_ * (dtype_ == FeatureDtype::Float16 ? 2 : 4) > kEagerCheckBytes) return;
  const int64_t chunk = std::max<int64_t>(1, (int64_t(1) << 22) / std::max<int64_t>(1, tokens_ * dim_));
  std::vector<float> buffer;
  std::vector<int64_t> ids;
  for (int64_t first = 1; first <= data.num_items(); first += chunk) {
    ids.clear();
    for (int64_t id = first; id <= std::min<int64_t>(data.num_items(), first + chunk - 1); ++id) ids.push_back(id);
    buffer.resize(ids.size() * size_t(tokens_ * dim_));
    gather(ids.data(), ids.size(), buffer.data(), nullptr);
  }
  item_tokens_.reset();  // every row was checked: nothing left to name
}

FeatureTable FeatureTable::open(const ModalitySpec& spec, const Dataset& data) {
  FeatureTable t;
  t.name_ = spec.name;
  t.path_ = spec.path;
  require_readable_file(spec.path, "feature file of modality '" + spec.name + "'");
  t.values_ = std::make_shared<FeatureBytes>(spec.path);
  t.item_tokens_ = std::make_shared<const std::vector<std::string>>(data.item_tokens);
  size_t offset = 0;
  if (spec.format == "npy") offset = t.read_npy_layout(spec);
  else t.read_raw_layout(spec);
  t.check_size(spec, offset);
  t.data_offset_ = offset;
  if (!spec.mask_path.empty()) t.open_mask(spec);
  t.row_of_item_ = item_rows(spec, data, t.rows_);
  t.missing_items_ = count_missing_items(t.row_of_item_, spec, data);
  t.check_rows_are_finite(data);
  return t;
}

FeatureTable FeatureTable::from_matrix(const std::string& name, const FeatureMatrix& matrix) {
  FeatureTable t;
  t.name_ = name;
  t.path_ = "<generated " + name + ">";
  t.dim_ = matrix.dim;
  t.rows_ = matrix.dim > 0 ? int64_t(matrix.values.size()) / matrix.dim : 0;
  std::vector<uint8_t> bytes(matrix.values.size() * sizeof(float));
  std::memcpy(bytes.data(), matrix.values.data(), bytes.size());
  t.values_ = std::make_shared<FeatureBytes>(std::move(bytes));
  t.row_of_item_.resize(size_t(t.rows_));
  for (int64_t i = 0; i < t.rows_; ++i) t.row_of_item_[size_t(i)] = i;  // row i is item id i
  return t;
}

FeatureTable FeatureTable::from_tokens(const std::string& name, const TokenFeatureMatrix& matrix) {
  FeatureTable t;
  t.name_ = name;
  t.path_ = "<generated " + name + ">";
  t.pooled_ = false;
  t.tokens_ = matrix.tokens;
  t.dim_ = matrix.dim;
  t.rows_ = matrix.tokens * matrix.dim > 0 ? int64_t(matrix.values.size()) / (matrix.tokens * matrix.dim) : 0;
  std::vector<uint8_t> bytes(matrix.values.size() * sizeof(float));
  std::memcpy(bytes.data(), matrix.values.data(), bytes.size());
  t.values_ = std::make_shared<FeatureBytes>(std::move(bytes));
  t.mask_ = std::make_shared<FeatureBytes>(matrix.mask);
  t.mask_kind_ = 1;
  t.row_of_item_.resize(size_t(t.rows_));
  for (int64_t i = 0; i < t.rows_; ++i) t.row_of_item_[size_t(i)] = i;
  return t;
}

void FeatureTable::gather(const int64_t* item_ids, size_t n, float* out, uint8_t* mask_out) const {
  const int64_t per_row = tokens_ * dim_;
  const size_t row_bytes = size_t(per_row) * element_size(dtype_);
  const uint8_t* base = values_->data() + data_offset_;
  for (size_t i = 0; i < n; ++i) {
    float* dst = out + i * size_t(per_row);
    uint8_t* mdst = mask_out ? mask_out + i * size_t(tokens_) : nullptr;
    const int64_t id = item_ids[i];
    const int64_t row = id > 0 && size_t(id) < row_of_item_.size() ? row_of_item_[size_t(id)] : -1;
    if (row < 0) {  // padding or a missing item (missing = "zero")
      std::fill(dst, dst + per_row, 0.0f);
      if (mdst) std::fill(mdst, mdst + tokens_, uint8_t(0));
      continue;
    }
    const uint8_t* src = base + size_t(row) * row_bytes;
    if (dtype_ == FeatureDtype::Float32) {
      std::memcpy(dst, src, row_bytes);
    } else {
      for (int64_t k = 0; k < per_row; ++k) {
        uint16_t h;
        std::memcpy(&h, src + 2 * k, 2);
        dst[k] = half_to_float(h);
      }
    }
    if (values_->releases_pages()) values_->release(src, row_bytes);
    for (int64_t k = 0; k < per_row; ++k)
      if (!std::isfinite(dst[k])) {
        const std::string item = item_tokens_ && size_t(id) < item_tokens_->size()
                                     ? "item '" + excerpt((*item_tokens_)[size_t(id)]) + "'"
                                     : "item id " + std::to_string(id);
        throw InputError(path_ + ": row " + std::to_string(row) + " (" + item + ") holds a non-finite value at " +
                         "position " + std::to_string(k) + "; clean the features (numpy.nan_to_num) or drop the item");
      }
    if (!mdst) continue;
    if (!mask_) {
      std::fill(mdst, mdst + tokens_, uint8_t(1));
    } else {
      const uint8_t* m = mask_->data() + mask_offset_;
      for (int64_t k = 0; k < tokens_; ++k) {
        if (mask_kind_ == 1) {
          mdst[k] = m[size_t(row * tokens_ + k)] != 0;
        } else {
          float f;
          std::memcpy(&f, m + 4 * size_t(row * tokens_ + k), 4);
          mdst[k] = f != 0.0f;
        }
      }
    }
  }
}

std::string FeatureTable::fingerprint() const {
  Hasher h;
  h.add(name_).add_u64(uint64_t(rows_)).add_u64(uint64_t(tokens_)).add_u64(uint64_t(dim_));
  h.add_u64(uint64_t(dtype_)).add_u64(values_->size());
  // A sample of rows rather than the whole file: opening a 15 GB file must stay instant.
  const size_t row_bytes = size_t(tokens_ * dim_) * element_size(dtype_);
  const uint8_t* base = values_->data() + data_offset_;
  const int64_t samples = std::min<int64_t>(rows_, 64);
  for (int64_t s = 0; s < samples; ++s) {
    int64_t row = samples == 1 ? 0 : s * (rows_ - 1) / (samples - 1);
    h.add(base + size_t(row) * row_bytes, row_bytes);
  }
  for (int64_t r : row_of_item_) h.add_u64(uint64_t(r + 1));
  h.add_u64(mask_ ? mask_->size() : 0);
  return h.hex();
}

void FeatureStore::add(FeatureTable table) {
  std::string name = table.name();
  tables_.insert_or_assign(name, std::move(table));
}

const FeatureTable* FeatureStore::find(const std::string& name) const {
  auto it = tables_.find(name);
  return it == tables_.end() ? nullptr : &it->second;
}

std::vector<std::string> FeatureStore::names() const {
  std::vector<std::string> out;
  for (const auto& [n, t] : tables_) out.push_back(n);
  return out;
}

}  // namespace mmsr

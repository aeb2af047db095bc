#include "mmsr/dataset_cache.h"

#include <unistd.h>
#include <xxhash.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "mmsr/text.h"
#include "xxh3_file.h"

#ifndef MMSR_DATA_CODE_HASH
#error "MMSR_DATA_CODE_HASH must name the hash of the readers' and preprocessing's sources (core/CMakeLists.txt)"
#endif

namespace mmsr {

namespace {

constexpr char kMagic[8] = {'M', 'M', 'S', 'R', 'D', 'S', 'C', '2'};
constexpr size_t kHeader = sizeof kMagic + 2 * sizeof(uint64_t);  // magic, payload size, payload hash

// Little-endian fields appended to / read from a byte string. Every read is bounds-checked: an entry is data
// from disk and may be damaged.
class Writer {
 public:
  void u64(uint64_t v) { raw(&v, sizeof v); }
  void str(const std::string& s) {
    u64(s.size());
    raw(s.data(), s.size());
  }
  void raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string& bytes() { return out_; }

 private:
  std::string out_;
};

class Reader {
 public:
  Reader(const char* p, size_t n) : p_(p), end_(p + n) {}
  bool u64(uint64_t& v) { return raw(&v, sizeof v); }
  bool str(std::string& s) {
    uint64_t n;
    if (!u64(n) || n > left()) return false;
    s.assign(p_, size_t(n));
    p_ += n;
    return true;
  }
  bool raw(void* out, size_t n) {
    if (n > left()) return false;
    if (n == 0) return true;  // out may be the null data() of an empty vector
    std::memcpy(out, p_, n);
    p_ += n;
    return true;
  }
  size_t left() const { return size_t(end_ - p_); }

 private:
  const char* p_;
  const char* end_;
};

bool read_strings(Reader& r, std::vector<std::string>& out) {
  uint64_t n;
  // Every string takes at least its 8-byte length: a count beyond that is damage, not a reason to allocate.
  if (!r.u64(n) || n > r.left() / 8) return false;
  out.resize(size_t(n));
  for (auto& s : out)
    if (!r.str(s)) return false;
  return true;
}

uint64_t hash_bytes(const void* p, size_t n) { return XXH3_64bits(p, n); }

}  // namespace

std::string encode_prepared_dataset(const Dataset& d) {
  Writer w;
  w.str(d.name);
  w.str(d.checksum);
  w.u64(d.user_tokens.size());
  for (const auto& s : d.user_tokens) w.str(s);
  w.u64(d.item_tokens.size());
  for (const auto& s : d.item_tokens) w.str(s);
  // Sequences as one offsets array and one flat array of item ids.
  w.u64(d.sequences.size());
  uint64_t offset = 0;
  for (const auto& s : d.sequences) {
    offset += s.size();
    w.u64(offset);
  }
  for (const auto& s : d.sequences) w.raw(s.data(), s.size() * sizeof(int32_t));
  // Then what the data has of timestamps (flag 1) and published parts (flag 2), flat in the sequences' layout.
  w.u64((d.times.empty() ? 0 : 1) | (d.parts.empty() ? 0 : 2));
  for (const auto& t : d.times) w.raw(t.data(), t.size() * sizeof(double));
  for (const auto& p : d.parts) w.raw(p.data(), p.size());
  std::string payload = std::move(w.bytes());
  Writer entry;
  entry.raw(kMagic, sizeof kMagic);
  entry.u64(payload.size());
  entry.u64(hash_bytes(payload.data(), payload.size()));
  entry.raw(payload.data(), payload.size());
  return std::move(entry.bytes());
}

namespace {

// The users' sequence ends, non-decreasing, and at least as many items left in the reader as they say.
bool read_sequence_ends(Reader& r, uint64_t users, std::vector<uint64_t>& ends) {
  ends.resize(static_cast<size_t>(users));
  uint64_t previous = 0;
  for (auto& e : ends) {
    if (!r.u64(e) || e < previous) return false;
    previous = e;
  }
  return previous <= r.left() / sizeof(int32_t);
}

// The sequences themselves: at least 3 items each (preprocessing keeps no shorter user: anything shorter is
// damage) and every item a known id.
bool read_sequences(Reader& r, const std::vector<uint64_t>& ends, int32_t num_items, Dataset& d) {
  d.sequences.resize(ends.size());
  uint64_t previous = 0;
  for (size_t u = 0; u < d.sequences.size(); ++u) {
    auto& s = d.sequences[u];
    if (ends[u] - previous < 3) return false;
    s.resize(size_t(ends[u] - previous));
    previous = ends[u];
    r.raw(s.data(), s.size() * sizeof(int32_t));
    for (int32_t i : s)
      if (i < 1 || i >= num_items) return false;
  }
  return true;
}

// Per user, as many values as its sequence has items, from a flat array.
template <typename T>
bool read_parallel(Reader& r, const Dataset& d, std::vector<std::vector<T>>& out) {
  out.resize(d.sequences.size());
  for (size_t u = 0; u < out.size(); ++u) {
    out[u].resize(d.sequences[u].size());
    if (!r.raw(out[u].data(), out[u].size() * sizeof(T))) return false;
  }
  return true;
}

// The timestamps and published parts after the sequences, and nothing after them.
bool read_times_and_parts(Reader& r, Dataset& d) {
  uint64_t flags = 0;
  if (!r.u64(flags) || flags > 3) return false;
  if ((flags & 1) && !read_parallel(r, d, d.times)) return false;
  if ((flags & 2) && !read_parallel(r, d, d.parts)) return false;
  for (const auto& p : d.parts)
    for (uint8_t part : p)
      if (part > kTestPart) return false;
  return r.left() == 0;
}

}  // namespace

std::optional<Dataset> decode_prepared_dataset(const std::string& bytes) {
  if (bytes.size() < kHeader || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) return std::nullopt;
  Reader header(bytes.data() + sizeof kMagic, 2 * sizeof(uint64_t));
  uint64_t size = 0, hash = 0;
  header.u64(size);
  header.u64(hash);
  if (size != bytes.size() - kHeader || hash_bytes(bytes.data() + kHeader, size_t(size)) != hash) return std::nullopt;
  Reader r(bytes.data() + kHeader, size_t(size));
  Dataset d;
  uint64_t users = 0;
  if (!r.str(d.name) || !r.str(d.checksum) || !read_strings(r, d.user_tokens) || !read_strings(r, d.item_tokens) ||
      !r.u64(users) || users != d.user_tokens.size() || users > r.left() / 8)
    return std::nullopt;
  std::vector<uint64_t> ends;
  if (!read_sequence_ends(r, users, ends) || !read_sequences(r, ends, int32_t(d.item_tokens.size()), d) ||
      !read_times_and_parts(r, d))
    return std::nullopt;
  return d;
}

std::string DatasetCache::default_folder() {
  if (const char* v = std::getenv("MMSR_DATA_CACHE")) return std::string(v) == "off" ? "" : std::string(v);
  if (const char* v = std::getenv("XDG_CACHE_HOME"); v && *v) return std::string(v) + "/mmsr/datasets";
  if (const char* v = std::getenv("HOME"); v && *v) return std::string(v) + "/.cache/mmsr/datasets";
  return "";
}

std::string DatasetCache::key(const std::vector<std::string>& files, const std::string& format,
                              const PreprocessOptions& options, const std::string& name) {
  data_hash::State state = data_hash::new_state();
  auto add = [&](const std::string& s) {
    uint64_t n = s.size();
    XXH3_64bits_update(state.get(), &n, sizeof n);
    XXH3_64bits_update(state.get(), s.data(), s.size());
  };
  add(MMSR_DATA_CODE_HASH);
  add(format);
  add(name);
  for (int64_t v : {int64_t(options.drop_consecutive_repeats), options.k_core, options.min_length, options.keep_last})
    add(std::to_string(v));
  for (const auto& file : files) {
    add(file.substr(file.find_last_of('/') + 1));
    // Unreadable: no key; the reader itself will say what is wrong with the file.
    if (!data_hash::add_file(state.get(), file)) return "";
  }
  return data_hash::hex_digest(state.get());
}

std::string DatasetCache::entry_path(const std::string& key) const { return folder_ + "/" + key + ".dataset"; }

std::optional<Dataset> DatasetCache::find(const std::string& key) const {
  if (!enabled() || key.empty()) return std::nullopt;
  std::ifstream in(entry_path(key), std::ios::binary | std::ios::ate);
  if (!in) return std::nullopt;
  std::string bytes(size_t(in.tellg()), '\0');
  in.seekg(0);
  if (!in.read(bytes.data(), std::streamsize(bytes.size()))) return std::nullopt;
  return decode_prepared_dataset(bytes);
}

bool DatasetCache::put(const std::string& key, const Dataset& data, std::string* why) const {
  if (!enabled() || key.empty()) return false;
  std::error_code ec;
  std::filesystem::create_directories(folder_, ec);
  const std::string target = entry_path(key);
  // One temporary name per process: runs of one grid may write the same entry at once.
  const std::string temporary = target + ".tmp" + std::to_string(::getpid());
  std::string bytes = encode_prepared_dataset(data);
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    out.close();
    if (!out) {
      ::unlink(temporary.c_str());
      if (why) *why = "cannot write " + temporary;
      return false;
    }
  }
  // POSIX rename: atomic, and it replaces an entry another process wrote meanwhile (the same bytes).
  if (::rename(temporary.c_str(), target.c_str()) != 0) {
    ::unlink(temporary.c_str());
    if (why) *why = "cannot rename " + temporary + " to " + target;
    return false;
  }
  return true;
}

}  // namespace mmsr

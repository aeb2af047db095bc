// What the data readers share: opening a file with a clear error, splitting a line, interning tokens, grouping
// events by user. Internal to the readers (core/src/data/).
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

#include "mmsr/errors.h"
#include "mmsr/input_files.h"
#include "mmsr/readers.h"

namespace mmsr::reader_support {

// Checked first: a folder, a FIFO or a device is named as such rather than read (or waited on).
inline std::ifstream open_or_throw(const std::string& path, const std::string& what = "data file") {
  require_readable_file(path, what);
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw InputError(path + ": cannot open the " + what + " (check the path; relative paths are "
                            "resolved from the experiment file's folder)");
  return in;
}

inline std::vector<std::string_view> split_ws(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

// Fields between separators (empty ones kept); a trailing \r is not part of the last field.
inline std::vector<std::string_view> split_on(std::string_view line, char separator) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= line.size(); ++i)
    if (i == line.size() || line[i] == separator) out.push_back(line.substr(start, i - start)), start = i + 1;
  return out;
}

inline std::vector<std::string_view> split_tabs(std::string_view line) { return split_on(line, '\t'); }

// Token -> dense index, appending each new token to `tokens`. Looked up once per row of a data file (tens of
// millions on large datasets, often in no particular order), so a lookup must not allocate and should touch as
// little memory as it can: an open-addressing table of (hash, index) slots, whose key is compared in `tokens`
// itself. std::unordered_map costs two more dependent cache misses per lookup (its bucket, then the node before
// the one it wants): docs/performance.md has the measurement.
class Interner {
 public:
  explicit Interner(std::vector<std::string>& tokens) : tokens_(tokens), slots_(1024) {}
  // The token's index, and whether it was new.
  std::pair<size_t, bool> index(std::string_view token) {
    const uint64_t hash = std::hash<std::string_view>()(token);
    Slot* slot = probe(token, hash);
    if (slot->index_plus_one != 0) return {slot->index_plus_one - 1, false};
    const size_t index = tokens_.size();
    tokens_.emplace_back(token);
    *slot = {hash, index + 1};
    if (++used_ * 2 > slots_.size()) grow();
    return {index, true};
  }
  int32_t id(std::string_view token) { return int32_t(index(token).first); }
  // The token's index, or -1 when it has not been seen.
  int64_t find(std::string_view token) {
    const Slot* slot = probe(token, std::hash<std::string_view>()(token));
    return slot->index_plus_one == 0 ? -1 : int64_t(slot->index_plus_one - 1);
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    size_t index_plus_one = 0;  // 0 = empty
  };
  // The token's slot, or the empty slot where it would go (linear probing; the table is at most half full).
  Slot* probe(std::string_view token, uint64_t hash) {
    const size_t mask = slots_.size() - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      Slot& slot = slots_[i];
      if (slot.index_plus_one == 0) return &slot;
      if (slot.hash == hash && tokens_[slot.index_plus_one - 1] == token) return &slot;
    }
  }
  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    const size_t mask = slots_.size() - 1;
    for (const Slot& slot : old) {
      if (slot.index_plus_one == 0) continue;
      size_t i = slot.hash & mask;
      while (slots_[i].index_plus_one != 0) i = (i + 1) & mask;
      slots_[i] = slot;
    }
  }

  std::vector<std::string>& tokens_;
  std::vector<Slot> slots_;  // a power of two
  size_t used_ = 0;
};

// Groups (user, item) events by user, keeping users in first-seen order.
struct UserGrouper {
  RawSequences& raw;
  Interner items;
  Interner users;
  explicit UserGrouper(RawSequences& r) : raw(r), items(r.item_tokens), users(r.user_tokens) {}
  std::vector<int32_t>& user(std::string_view token) {
    auto [index, inserted] = users.index(token);
    if (inserted) raw.sequences.emplace_back();
    return raw.sequences[index];
  }
};

inline void require_nonempty(const RawSequences& raw, const std::string& path) {
  if (raw.sequences.empty())
    throw InputError(path + ": the file holds no interactions (is it the right file?)");
}


// A number of a timestamp column, refused with its file and line when it is not a finite number (nan and inf would
// order a user's history arbitrarily).
inline double parse_timestamp(std::string_view field, const std::string& path, long line_no) {
  double t = 0;
  const auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), t);
  if (field.empty() || error != std::errc() || end != field.data() + field.size())
    throw InputError(located(path, line_no, "timestamp '" + excerpt(field) + "' is not a number"));
  if (!std::isfinite(t))
    throw InputError(located(path, line_no, "timestamp '" + excerpt(field) + "' is not a finite number"));
  return t;
}

// Interactions in file order, before they are grouped by user; `part` only where the file publishes a split.
struct Events {
  std::vector<int32_t> user, item;
  std::vector<double> time;
  std::vector<uint8_t> part;
  void add(int32_t u, int32_t i, double t) { user.push_back(u), item.push_back(i), time.push_back(t); }
};

// One sequence per user of raw.user_tokens, each user's events stably by time (equal times keep the file's order,
// or the published parts' order where there are parts). With `timed`, raw.times gets the events' times, and
// raw.parts their parts where there are. Events are kept in flat arrays and grouped afterwards (a counting sort):
// appending each row to its user's own vector touches a random place in memory per row when the file is not grouped
// by user.
inline void sequences_from_events(RawSequences& raw, const Events& events, bool timed) {
  std::vector<size_t> first_row(raw.user_tokens.size() + 1, 0);  // of each user in `by_user`
  for (int32_t u : events.user) ++first_row[size_t(u) + 1];
  std::partial_sum(first_row.begin(), first_row.end(), first_row.begin());
  std::vector<size_t> by_user(events.user.size()), next = first_row;
  for (size_t row = 0; row < events.user.size(); ++row) by_user[next[size_t(events.user[row])]++] = row;
  const bool parted = !events.part.empty();
  const size_t users = raw.user_tokens.size();
  raw.sequences.assign(users, {});
  if (timed) raw.times.assign(users, {});
  if (parted) raw.parts.assign(users, {});
  for (size_t u = 0; u < users; ++u) {
    const auto begin = by_user.begin() + std::ptrdiff_t(first_row[u]);
    const auto end = by_user.begin() + std::ptrdiff_t(first_row[u + 1]);
    std::stable_sort(begin, end, [&](size_t a, size_t b) {
      if (events.time[a] != events.time[b]) return events.time[a] < events.time[b];
      return parted && events.part[a] < events.part[b];
    });
    auto& seq = raw.sequences[u];
    seq.reserve(size_t(end - begin));
    for (auto row = begin; row != end; ++row) {
      seq.push_back(events.item[*row]);
      if (timed) raw.times[u].push_back(events.time[*row]);
      if (parted) raw.parts[u].push_back(events.part[*row]);
    }
  }
}

}  // namespace mmsr::reader_support

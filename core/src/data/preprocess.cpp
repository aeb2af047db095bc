#include <algorithm>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "mmsr/dataset.h"
#include "mmsr/features.h"
#include "mmsr/errors.h"
#include "mmsr/text.h"

namespace mmsr {

int64_t ItemAttributes::max_per_item() const {
  size_t m = 0;
  for (const auto& list : of_item) m = std::max(m, list.size());
  return int64_t(m);
}

int64_t Dataset::num_interactions() const {
  int64_t n = 0;
  for (const auto& s : sequences) n += int64_t(s.size());
  return n;
}

std::vector<double> Dataset::sorted_times() const {
  std::vector<double> all;
  for (const auto& t : times) all.insert(all.end(), t.begin(), t.end());
  std::sort(all.begin(), all.end());
  return all;
}

void Dataset::compute_checksum() {
  Hasher h;
  h.add_u64(sequences.size());
  for (size_t u = 0; u < sequences.size(); ++u) {
    h.add(user_tokens[u]);
    h.add_u64(sequences[u].size());
    for (int32_t i : sequences[u]) h.add(item_tokens[i]);
  }
  // Timestamps and published parts decide temporal and published splits. Hashed only where the data has them, so
  // the checksum of data without them is what it always was.
  if (!times.empty()) {
    h.add("times");
    for (const auto& t : times) h.add(t.data(), t.size() * sizeof(double));
  }
  if (!parts.empty()) {
    h.add("parts");
    for (const auto& p : parts) h.add(p.data(), p.size());
  }
  for (const auto& [name, column] : item_fields) {
    h.add(name);
    for (const auto& v : column) h.add(v);
  }
  for (const auto& [name, a] : attributes) {
    h.add("attributes:" + name);
    for (const auto& list : a.of_item) {
      h.add_u64(list.size());
      for (int32_t id : list) h.add(a.tokens[size_t(id)]);
    }
  }
  if (modalities)
    for (const auto& name : modalities->names()) h.add("modality:" + modalities->find(name)->fingerprint());
  for (const auto& [name, f] : token_features) {
    h.add(name).add_u64(f.tokens).add_u64(f.dim);
    h.add(f.values.data(), f.values.size() * sizeof(float));
    h.add(f.mask.data(), f.mask.size());
  }
  for (const auto& [name, f] : features) {
    h.add(name).add_u64(f.dim);
    h.add(f.values.data(), f.values.size() * sizeof(float));
  }
  checksum = h.hex();
}

namespace {

// Iterative k-core over the kept positions: until every kept user and item has at least k interactions (dropping
// one can break the other). `users` keeps the users that stay.
void apply_k_core(const RawSequences& raw, size_t k, std::vector<std::vector<uint32_t>>& kept,
                  std::vector<size_t>& users) {
  for (bool changed = true; changed;) {
    changed = false;
    std::vector<size_t> count(raw.item_tokens.size(), 0);
    for (size_t u : users)
      for (uint32_t t : kept[u]) ++count[size_t(raw.sequences[u][t])];
    std::vector<size_t> still;
    for (size_t u : users) {
      auto& positions = kept[u];
      const size_t before = positions.size();
      positions.erase(std::remove_if(positions.begin(), positions.end(),
                                     [&](uint32_t t) { return count[size_t(raw.sequences[u][t])] < k; }),
                      positions.end());
      changed = changed || positions.size() != before || positions.size() < k;
      if (positions.size() >= k) still.push_back(u);
    }
    users.swap(still);
  }
}

// Each user's kept positions of its raw sequence after the filters that drop interactions, in the order of
// PreprocessOptions; `users` are the users k-core keeps. Working on positions carries timestamps and published parts
// along with the items.
std::vector<std::vector<uint32_t>> kept_positions(const RawSequences& raw, const PreprocessOptions& opt,
                                                  std::vector<size_t>& users) {
  std::vector<std::vector<uint32_t>> kept(raw.sequences.size());
  for (size_t u = 0; u < kept.size(); ++u) {
    const auto& s = raw.sequences[u];
    for (uint32_t t = 0; t < s.size(); ++t)
      if (!opt.drop_consecutive_repeats || kept[u].empty() || s[kept[u].back()] != s[t]) kept[u].push_back(t);
  }
  users.resize(kept.size());
  for (size_t u = 0; u < users.size(); ++u) users[u] = u;
  if (opt.k_core > 0) apply_k_core(raw, size_t(opt.k_core), kept, users);
  if (opt.keep_last > 0)
    for (size_t u : users)
      if (int64_t(kept[u].size()) > opt.keep_last) kept[u].erase(kept[u].begin(), kept[u].end() - opt.keep_last);
  return kept;
}

}  // namespace

Dataset preprocess(const RawSequences& raw, const PreprocessOptions& opt, const std::string& name) {
  std::vector<size_t> users;
  const std::vector<std::vector<uint32_t>> kept = kept_positions(raw, opt, users);
  const size_t min_len = size_t(std::max<int64_t>(opt.min_length, 3));
  const bool with_times = !raw.times.empty(), with_parts = !raw.parts.empty();

  Dataset d;
  d.name = name;
  d.item_tokens.push_back("<pad>");
  std::vector<int32_t> remap(raw.item_tokens.size(), 0);
  for (size_t u : users) {
    if (kept[u].size() < min_len) continue;
    std::vector<int32_t> out;
    out.reserve(kept[u].size());
    for (uint32_t t : kept[u]) {
      const int32_t i = raw.sequences[u][t];
      if (remap[i] == 0) {
        remap[i] = int32_t(d.item_tokens.size());
        d.item_tokens.push_back(raw.item_tokens[i]);
      }
      out.push_back(remap[i]);
    }
    d.user_tokens.push_back(raw.user_tokens[u]);
    d.sequences.push_back(std::move(out));
    if (with_times) {
      d.times.emplace_back();
      for (uint32_t t : kept[u]) d.times.back().push_back(raw.times[u][t]);
    }
    if (with_parts) {
      d.parts.emplace_back();
      for (uint32_t t : kept[u]) d.parts.back().push_back(raw.parts[u][t]);
    }
  }
  if (d.sequences.empty())
    throw InputError(raw.source + ": no user is left after preprocessing (min_length = " +
                     std::to_string(min_len) + ", k_core = " + std::to_string(opt.k_core) +
                     "); relax [data] min_length or k_core");
  d.compute_checksum();
  return d;
}

DatasetStats compute_stats(const Dataset& data) {
  DatasetStats st;
  st.users = data.num_users();
  st.items = data.num_items();
  st.interactions = data.num_interactions();
  std::vector<int64_t> lengths;
  for (const auto& s : data.sequences) lengths.push_back(int64_t(s.size()));
  if (!lengths.empty()) {
    std::sort(lengths.begin(), lengths.end());
    st.min_length = lengths.front();
    st.max_length = lengths.back();
    st.mean_length = double(st.interactions) / double(st.users);
    size_t n = lengths.size();
    st.median_length =
        n % 2 ? double(lengths[n / 2]) : 0.5 * double(lengths[n / 2 - 1] + lengths[n / 2]);
    for (double q : {0.1, 0.25, 0.5, 0.75, 0.9}) st.length_quantiles.push_back(lengths[size_t(q * double(n - 1))]);
  }
  if (st.users && st.items) st.density = double(st.interactions) / double(st.users * st.items);
  std::vector<char> in_train(size_t(st.items + 1), 0);
  for (const auto& s : data.sequences)
    for (size_t t = 0; t + 2 < s.size(); ++t) in_train[s[t]] = 1;
  for (const auto& s : data.sequences) {
    if (s.size() < 3) continue;
    st.cold_test_items += !in_train[s.back()];
    st.cold_valid_items += !in_train[s[s.size() - 2]];
  }
  for (int64_t i = 1; i <= st.items; ++i) st.items_not_in_training += !in_train[size_t(i)];
  if (!data.times.empty()) {
    const std::vector<double> all = data.sorted_times();
    for (double q : {0.0, 0.8, 0.9}) st.time_points.push_back(all[std::min(all.size() - 1, size_t(q * double(all.size())))]);
    st.time_points.push_back(all.back());
  }
  if (!data.parts.empty()) {
    st.published_parts.assign(3, 0);
    for (const auto& p : data.parts)
      for (uint8_t part : p) ++st.published_parts[part];
  }
  return st;
}

std::string stats_json(const DatasetStats& st) {
  nlohmann::json j = {{"users", st.users},
                      {"items", st.items},
                      {"interactions", st.interactions},
                      {"mean_length", st.mean_length},
                      {"median_length", st.median_length},
                      {"min_length", st.min_length},
                      {"max_length", st.max_length},
                      {"density", st.density},
                      {"cold_test_targets", st.cold_test_items},
                      {"cold_valid_targets", st.cold_valid_items},
                      {"items_not_in_training", st.items_not_in_training},
                      {"length_quantiles", st.length_quantiles}};
  if (!st.time_points.empty()) j["time_points"] = st.time_points;
  if (!st.published_parts.empty()) j["published_parts"] = st.published_parts;
  return j.dump();
}

}  // namespace mmsr

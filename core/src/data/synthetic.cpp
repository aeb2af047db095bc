// A deterministic synthetic catalogue whose latent clusters drive both behaviour and features, so that
// sequence models beat popularity and modality features carry real signal. Uses its own generator and
// distributions (mmsr/rng.h).
#include <cmath>

#include "mmsr/errors.h"
#include "mmsr/readers.h"
#include "mmsr/rng.h"

namespace mmsr {
namespace {

// Samples index i of 0..n-1 with probability proportional to weights[i] (cumulative table).
int64_t sample(const std::vector<double>& cumulative, double u) {
  double x = u * cumulative.back();
  size_t lo = 0, hi = cumulative.size() - 1;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (cumulative[mid] > x) hi = mid;
    else lo = mid + 1;
  }
  return int64_t(lo);
}

}  // namespace

Dataset generate_synthetic(const SyntheticOptions& o) {
  if (o.items < o.clusters || o.clusters < 1 || o.users < 1 || o.min_length < 3 ||
      o.max_length < o.min_length)
    throw InputError("[data.synthetic]: need items >= clusters >= 1, users >= 1 and "
                     "3 <= min_length <= max_length");
  SplitMix64 rng(o.seed);
  const int64_t n = o.items, k = o.clusters;

  // Items are dealt to clusters round-robin; within a cluster, rank r has popularity 1/(r+1)^zipf.
  std::vector<std::vector<int32_t>> members(static_cast<size_t>(k)), cold_members(static_cast<size_t>(k));
  std::vector<int64_t> cluster_of(size_t(n + 1), 0), position(size_t(n + 1), 0);
  std::vector<char> cold(size_t(n + 1), 0);
  for (int64_t id = 1; id <= n; ++id) {
    int64_t c = (id - 1) % k;
    cluster_of[id] = c;
    cold[id] = rng.uniform() < o.cold_fraction;
    if (cold[id]) cold_members[c].push_back(int32_t(id));
    else {
      position[id] = int64_t(members[c].size());
      members[c].push_back(int32_t(id));
    }
  }
  for (int64_t c = 0; c < k; ++c)
    if (members[c].empty()) {  // every cluster needs at least one warm item
      int32_t id = cold_members[c].back();
      cold_members[c].pop_back();
      cold[id] = 0;
      position[id] = 0;
      members[c].push_back(id);
    }
  std::vector<std::vector<double>> cumulative(static_cast<size_t>(k));
  for (int64_t c = 0; c < k; ++c) {
    double acc = 0;
    for (size_t r = 0; r < members[c].size(); ++r) {
      acc += 1.0 / std::pow(double(r + 1), o.zipf);
      cumulative[c].push_back(acc);
    }
  }

  Dataset d;
  d.name = "synthetic";
  d.item_tokens.push_back("<pad>");
  for (int64_t id = 1; id <= n; ++id) d.item_tokens.push_back("i" + std::to_string(id));

  for (int64_t u = 0; u < o.users; ++u) {
    int64_t favourite[2] = {rng.below(k), rng.below(k)};
    int64_t len = o.min_length + rng.below(o.max_length - o.min_length + 1);
    int64_t c = favourite[0];
    std::vector<int32_t> seq;
    int32_t prev = 0;
    for (int64_t t = 0; t < len; ++t) {
      if (rng.uniform() > o.stickiness) c = rng.uniform() < 0.9 ? favourite[rng.below(2)] : rng.below(k);
      const auto& m = members[c];
      int32_t item;
      if (prev != 0 && cluster_of[prev] == c && rng.uniform() < o.successor)
        item = m[size_t((position[prev] + 1) % int64_t(m.size()))];
      else item = m[size_t(sample(cumulative[c], rng.uniform()))];
      seq.push_back(item);
      prev = item;
    }
    // A share of test targets are items nobody met in training: the cold-start case of ODMT's Figure 4.
    if (!cold_members[c].empty() && rng.uniform() < o.cold_target_rate)
      seq.back() = cold_members[c][size_t(rng.below(int64_t(cold_members[c].size())))];
    d.user_tokens.push_back("u" + std::to_string(u + 1));
    d.sequences.push_back(std::move(seq));
  }

  // Pooled features: cluster centre + item-specific noise, seen through a different random map per modality.
  std::vector<double> centres(size_t(k * o.feature_dim));
  for (auto& x : centres) x = rng.normal();
  for (const char* modality : {"text", "image"}) {
    FeatureMatrix f;
    f.dim = o.feature_dim;
    f.values.assign(size_t((n + 1) * o.feature_dim), 0.f);
    std::vector<double> mix(size_t(o.feature_dim * o.feature_dim));
    for (auto& x : mix) x = rng.normal() / std::sqrt(double(o.feature_dim));
    std::vector<double> raw(size_t(o.feature_dim));
    for (int64_t id = 1; id <= n; ++id) {
      for (int64_t j = 0; j < o.feature_dim; ++j)
        raw[j] = centres[size_t(cluster_of[id] * o.feature_dim + j)] + o.feature_noise * rng.normal();
      for (int64_t i = 0; i < o.feature_dim; ++i) {
        double acc = 0;
        for (int64_t j = 0; j < o.feature_dim; ++j) acc += mix[size_t(i * o.feature_dim + j)] * raw[j];
        f.values[size_t(id * o.feature_dim + i)] = float(acc);
      }
    }
    d.features.emplace(modality, std::move(f));
  }
  // Token-level features: a real length per item (text) and, among the real tokens after the first, a few
  // that carry the cluster centre (through a per-modality map); the rest, and the first token, are noise.
  for (auto [modality, tokens] : {std::pair<const char*, int64_t>{"text_tokens", o.text_tokens},
                                  std::pair<const char*, int64_t>{"image_tokens", o.image_tokens}}) {
    if (tokens <= 0) continue;
    const bool text = std::string(modality) == "text_tokens";
    const int64_t dim = o.feature_dim;
    TokenFeatureMatrix f;
    f.tokens = tokens;
    f.dim = dim;
    f.values.assign(size_t((n + 1) * tokens * dim), 0.f);
    f.mask.assign(size_t((n + 1) * tokens), 0);
    std::vector<double> mix(size_t(dim * dim));
    for (auto& x : mix) x = rng.normal() / std::sqrt(double(dim));
    for (int64_t id = 1; id <= n; ++id) {
      const int64_t length = text && tokens > 2 ? 2 + rng.below(tokens - 1) : tokens;  // 2..tokens real tokens
      for (int64_t t = 0; t < length; ++t) {
        f.mask[size_t(id * tokens + t)] = 1;
        const bool signal = t > 0 && (t == 1 || rng.uniform() < 0.3);
        float* row = f.values.data() + (id * tokens + t) * dim;
        for (int64_t i = 0; i < dim; ++i) {
          double acc = 0;
          if (signal)
            for (int64_t j = 0; j < dim; ++j)
              acc += mix[size_t(i * dim + j)] * centres[size_t(cluster_of[id] * dim + j)];
          row[i] = float(acc + o.feature_noise * rng.normal());
        }
      }
    }
    d.token_features.emplace(modality, std::move(f));
  }
  d.compute_checksum();
  return d;
}

}  // namespace mmsr

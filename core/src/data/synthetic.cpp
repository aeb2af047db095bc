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

namespace {

// The generator's steps, in the order they draw from its one random stream (the data depends on that order).
class SyntheticGenerator {
 public:
  explicit SyntheticGenerator(const SyntheticOptions& o)
      : o_(o), rng_(o.seed), n_(o.items), k_(o.clusters), members_(size_t(k_)), cold_members_(size_t(k_)),
        cluster_of_(size_t(n_ + 1), 0), position_(size_t(n_ + 1), 0) {}

  Dataset generate() {
    deal_items_to_clusters();
    Dataset d;
    d.name = "synthetic";
    d.item_tokens.push_back("<pad>");
    for (int64_t id = 1; id <= n_; ++id) d.item_tokens.push_back("i" + std::to_string(id));
    for (int64_t u = 0; u < o_.users; ++u) {
      d.user_tokens.push_back("u" + std::to_string(u + 1));
      d.sequences.push_back(user_sequence());
    }
    centres_.resize(size_t(k_ * o_.feature_dim));
    for (auto& x : centres_) x = rng_.normal();
    for (const char* modality : {"text", "image"}) d.features.emplace(modality, pooled_features());
    for (auto [modality, tokens] : {std::pair<const char*, int64_t>{"text_tokens", o_.text_tokens},
                                    std::pair<const char*, int64_t>{"image_tokens", o_.image_tokens}})
      if (tokens > 0) d.token_features.emplace(modality, token_features(tokens, std::string(modality) == "text_tokens"));
    d.compute_checksum();
    return d;
  }

 private:
  // Items are dealt to clusters round-robin; within a cluster, rank r has popularity 1/(r+1)^zipf.
  void deal_items_to_clusters() {
    for (int64_t id = 1; id <= n_; ++id) {
      int64_t c = (id - 1) % k_;
      cluster_of_[id] = c;
      if (rng_.uniform() < o_.cold_fraction) {
        cold_members_[c].push_back(int32_t(id));
      } else {
        position_[id] = int64_t(members_[c].size());
        members_[c].push_back(int32_t(id));
      }
    }
    for (int64_t c = 0; c < k_; ++c)
      if (members_[c].empty()) {  // every cluster needs at least one warm item
        int32_t id = cold_members_[c].back();
        cold_members_[c].pop_back();
        position_[id] = 0;
        members_[c].push_back(id);
      }
    cumulative_.resize(size_t(k_));
    for (int64_t c = 0; c < k_; ++c) {
      double acc = 0;
      for (size_t r = 0; r < members_[c].size(); ++r) {
        acc += 1.0 / std::pow(double(r + 1), o_.zipf);
        cumulative_[c].push_back(acc);
      }
    }
  }

  // A user moves between two favourite clusters (sometimes another), often to the successor of the last item.
  std::vector<int32_t> user_sequence() {
    int64_t favourite[2] = {rng_.below(k_), rng_.below(k_)};
    int64_t len = o_.min_length + rng_.below(o_.max_length - o_.min_length + 1);
    int64_t c = favourite[0];
    std::vector<int32_t> seq;
    int32_t prev = 0;
    for (int64_t t = 0; t < len; ++t) {
      if (rng_.uniform() > o_.stickiness) c = rng_.uniform() < 0.9 ? favourite[rng_.below(2)] : rng_.below(k_);
      const auto& m = members_[c];
      int32_t item;
      if (prev != 0 && cluster_of_[prev] == c && rng_.uniform() < o_.successor)
        item = m[size_t((position_[prev] + 1) % int64_t(m.size()))];
      else item = m[size_t(sample(cumulative_[c], rng_.uniform()))];
      seq.push_back(item);
      prev = item;
    }
    // A share of test targets are items nobody met in training: the cold-start case of ODMT's Figure 4.
    if (!cold_members_[c].empty() && rng_.uniform() < o_.cold_target_rate)
      seq.back() = cold_members_[c][size_t(rng_.below(int64_t(cold_members_[c].size())))];
    return seq;
  }

  // Pooled features: cluster centre + item-specific noise, seen through a different random map per modality.
  FeatureMatrix pooled_features() {
    const int64_t dim = o_.feature_dim;
    FeatureMatrix f;
    f.dim = dim;
    f.values.assign(size_t((n_ + 1) * dim), 0.f);
    std::vector<double> mix(size_t(dim * dim));
    for (auto& x : mix) x = rng_.normal() / std::sqrt(double(dim));
    std::vector<double> raw(static_cast<size_t>(dim));
    for (int64_t id = 1; id <= n_; ++id) {
      for (int64_t j = 0; j < dim; ++j)
        raw[j] = centres_[size_t(cluster_of_[id] * dim + j)] + o_.feature_noise * rng_.normal();
      for (int64_t i = 0; i < dim; ++i) {
        double acc = 0;
        for (int64_t j = 0; j < dim; ++j) acc += mix[size_t(i * dim + j)] * raw[j];
        f.values[size_t(id * dim + i)] = float(acc);
      }
    }
    return f;
  }

  // Token-level features: a real length per item (text) and, among the real tokens after the first, a few that
  // carry the cluster centre (through a per-modality map); the rest are noise, and so is the first token unless
  // first_token = "summary".
  TokenFeatureMatrix token_features(int64_t tokens, bool text) {
    const int64_t dim = o_.feature_dim;
    TokenFeatureMatrix f;
    f.tokens = tokens;
    f.dim = dim;
    f.values.assign(size_t((n_ + 1) * tokens * dim), 0.f);
    f.mask.assign(size_t((n_ + 1) * tokens), 0);
    std::vector<double> mix(size_t(dim * dim));
    for (auto& x : mix) x = rng_.normal() / std::sqrt(double(dim));
    for (int64_t id = 1; id <= n_; ++id) {
      const int64_t length = text && tokens > 2 ? 2 + rng_.below(tokens - 1) : tokens;  // 2..tokens real tokens
      for (int64_t t = 0; t < length; ++t) {
        f.mask[size_t(id * tokens + t)] = 1;
        // (The draw is only made for t > 1, so the summary option leaves every other value as it was.)
        const bool signal = t == 0 ? o_.first_token_summary : (t == 1 || rng_.uniform() < 0.3);
        float* row = f.values.data() + (id * tokens + t) * dim;
        for (int64_t i = 0; i < dim; ++i) {
          double acc = 0;
          if (signal)
            for (int64_t j = 0; j < dim; ++j) acc += mix[size_t(i * dim + j)] * centres_[size_t(cluster_of_[id] * dim + j)];
          row[i] = float(acc + o_.feature_noise * rng_.normal());
        }
      }
    }
    return f;
  }

  const SyntheticOptions& o_;
  SplitMix64 rng_;
  const int64_t n_, k_;
  std::vector<std::vector<int32_t>> members_, cold_members_;
  std::vector<int64_t> cluster_of_, position_;
  std::vector<std::vector<double>> cumulative_;
  std::vector<double> centres_;
};

}  // namespace

Dataset generate_synthetic(const SyntheticOptions& o) {
  if (o.items < o.clusters || o.clusters < 1 || o.users < 1 || o.min_length < 3 || o.max_length < o.min_length)
    throw InputError("[data.synthetic]: need items >= clusters >= 1, users >= 1 and 3 <= min_length <= max_length");
  return SyntheticGenerator(o).generate();
}

}  // namespace mmsr

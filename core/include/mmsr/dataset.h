// Interaction data, from files or the synthetic generator, through preprocessing, to the leave-one-out split.
// No torch here: readers and preprocessing are plain C++ so that they stay fast to build and to fuzz.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace mmsr {

class FeatureStore;  // mmsr/features.h

// What a reader produces: per user, the item tokens in time order (tokens interned as indices).
struct RawSequences {
  std::vector<std::string> user_tokens;
  std::vector<std::string> item_tokens;          // distinct item tokens, first-seen order
  std::vector<std::vector<int32_t>> sequences;   // per user, indices into item_tokens
  std::string source;                            // file(s) read, for messages
};

// Pooled feature vectors of one modality: row i belongs to item id i (row 0, padding, is zero).
struct FeatureMatrix {
  int64_t dim = 0;
  std::vector<float> values;  // (num_items + 1) * dim
};

// Item side information as sets of tokens, one field at a time (S3-Rec attribute files; RecBole token and
// token_seq columns): what FDSA-style models embed.
struct ItemAttributes {
  std::vector<std::string> tokens;            // attribute id -> token; [0] is "" (no attribute)
  std::vector<std::vector<int32_t>> of_item;  // item id -> its attribute ids (distinct, in first-seen order)

  int64_t vocabulary() const { return int64_t(tokens.size()) - 1; }
  int64_t max_per_item() const;
};

// Token-level features of one modality held in memory (the synthetic generator's): row i belongs to item id i.
struct TokenFeatureMatrix {
  int64_t tokens = 0, dim = 0;
  std::vector<float> values;  // (num_items + 1) * tokens * dim
  std::vector<uint8_t> mask;  // (num_items + 1) * tokens, 1 = a real token
};

struct Dataset {
  std::string name;
  std::vector<std::string> user_tokens;
  std::vector<std::string> item_tokens;          // index = item id; [0] is "<pad>"
  std::vector<std::vector<int32_t>> sequences;   // per user, item ids 1..N in time order
  std::map<std::string, FeatureMatrix> features; // optional pooled modality features
  std::map<std::string, TokenFeatureMatrix> token_features;  // optional token-level ones (generated)
  // Optional item side information by field name (RecBole .item columns), one string per item id.
  std::map<std::string, std::vector<std::string>> item_fields;
  std::map<std::string, ItemAttributes> attributes;  // optional item attribute sets by field name
  // Modality features ([[modality]] files, memory-mapped; generated features of the synthetic data), by name.
  std::shared_ptr<const FeatureStore> modalities;
  std::string checksum;                          // content hash of users, items and sequences

  int64_t num_items() const { return int64_t(item_tokens.size()) - 1; }
  int64_t num_users() const { return int64_t(sequences.size()); }
  int64_t num_interactions() const;
  void compute_checksum();
};

struct PreprocessOptions {
  bool drop_consecutive_repeats = false;
  int64_t k_core = 0;       // iterative: every user and item keeps at least k interactions (0 = off)
  int64_t min_length = 3;   // users with shorter sequences are dropped (leave-one-out needs 3)
  int64_t keep_last = 0;    // keep only each user's last N interactions (0 = all)
};

// Applies the options in the order above and remaps items to dense ids 1..N.
Dataset preprocess(const RawSequences& raw, const PreprocessOptions& options, const std::string& name);

// Leave-one-out (METHODS.md section 1): last item = test target, second-to-last = validation target,
// the rest = training. The validation item is part of the test input; nothing is retrained on it.
class LeaveOneOutSplit {
 public:
  explicit LeaveOneOutSplit(const Dataset& data);

  int64_t num_users() const { return int64_t(data_->sequences.size()); }
  int64_t num_items() const { return data_->num_items(); }
  // Training part of user u: the first n-2 items.
  const int32_t* train_begin(int64_t u) const { return data_->sequences[u].data(); }
  int64_t train_length(int64_t u) const { return int64_t(data_->sequences[u].size()) - 2; }
  // Evaluation input = the history before the target; target = the item after it.
  int64_t input_length(int64_t u, bool test) const { return train_length(u) + (test ? 1 : 0); }
  int32_t target(int64_t u, bool test) const { return data_->sequences[u][input_length(u, test)]; }
  const int32_t* history(int64_t u) const { return data_->sequences[u].data(); }

  // Frequency of each item id in the training parts (size N+1; index 0 unused).
  const std::vector<int64_t>& item_counts() const { return item_counts_; }
  // How often each item id is a validation target (size N+1).
  const std::vector<int64_t>& valid_target_counts() const { return valid_target_counts_; }
  const Dataset& data() const { return *data_; }

 private:
  const Dataset* data_;
  std::vector<int64_t> item_counts_;
  std::vector<int64_t> valid_target_counts_;
};

struct DatasetStats {
  int64_t users = 0, items = 0, interactions = 0;
  double mean_length = 0, median_length = 0, density = 0;
  int64_t min_length = 0, max_length = 0;
  int64_t cold_test_items = 0;  // test targets whose item never occurs in a training part
  int64_t cold_valid_items = 0;  // the same for validation targets
  int64_t items_not_in_training = 0;  // items of the catalogue no training part holds
  std::vector<int64_t> length_quantiles;  // sequence length at 10%, 25%, 50%, 75%, 90% of users
};
DatasetStats compute_stats(const Dataset& data);
std::string stats_json(const DatasetStats& stats);

}  // namespace mmsr

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
  // Optional, parallel to sequences: each interaction's timestamp (formats with a time column), and the part of
  // the split the files themselves publish (kTrainPart, kValidPart, kTestPart; formats that ship one).
  std::vector<std::vector<double>> times;
  std::vector<std::vector<uint8_t>> parts;
  std::string source;                            // file(s) read, for messages
};

// The parts of a split a dataset may ship with (RawSequences::parts, Dataset::parts).
inline constexpr uint8_t kTrainPart = 0, kValidPart = 1, kTestPart = 2;

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
  std::vector<std::vector<double>> times;        // per user, each interaction's timestamp (empty: none known)
  std::vector<std::vector<uint8_t>> parts;       // per user, the published split's part (empty: none shipped)
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
  std::vector<double> sorted_times() const;  // every interaction's timestamp, ascending (empty: none known)
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

struct DatasetStats {
  int64_t users = 0, items = 0, interactions = 0;
  double mean_length = 0, median_length = 0, density = 0;
  int64_t min_length = 0, max_length = 0;
  int64_t cold_test_items = 0;  // test targets whose item never occurs in a training part
  int64_t cold_valid_items = 0;  // the same for validation targets
  int64_t items_not_in_training = 0;  // items of the catalogue no training part holds
  std::vector<int64_t> length_quantiles;  // sequence length at 10%, 25%, 50%, 75%, 90% of users
  // Where the data has timestamps: the first, the ones where the last 20% and the last 10% of all interactions
  // begin (a temporal split's default cuts), and the last. Where it ships a split: interactions per part.
  std::vector<double> time_points;
  std::vector<int64_t> published_parts;
};
DatasetStats compute_stats(const Dataset& data);
std::string stats_json(const DatasetStats& stats);

}  // namespace mmsr

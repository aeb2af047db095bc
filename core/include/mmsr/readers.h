// Readers for the interaction formats researchers have on disk. Each throws InputError naming the file and
// line of the first malformed record.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "mmsr/dataset.h"

namespace mmsr {

// S3-Rec style: one user per line, "user item item ...", items in time order.
RawSequences read_s3rec(const std::string& path);
// SASRec style: "user item" per line, in time order; or "user item timestamp" on every line, each user's lines then
// put in time order (equal times keep the file's order) and the times kept.
RawSequences read_user_item_pairs(const std::string& path);
// RecBole atomic .inter: TSV with a typed header ("user_id:token item_id:token ... timestamp:float");
// interactions are ordered per user by timestamp when the column exists (ties keep file order), and keep their times.
RawSequences read_recbole_inter(const std::string& path);
// RecBole atomic .item: TSV with a typed header; one row per item token. Returns field -> (token -> value).
struct ItemTable {
  std::vector<std::string> fields;  // without the item_id column, in file order
  std::map<std::string, std::string> types;  // field -> RecBole type (token, token_seq, float, ...)
  std::map<std::string, std::map<std::string, std::string>> values;
};
ItemTable read_recbole_items(const std::string& path);
// Copies an item table onto a dataset's items (by token); items without a row get "". Its token and
// token_seq columns also become attribute sets (Dataset::attributes, token_seq split on spaces).
void attach_item_fields(Dataset& data, const ItemTable& table);
// S3-Rec item side information, "<name>_item2attributes.json": {"item": [attribute, ...], ...} with items as in
// the data file. Becomes the attribute field `field`; items absent from the file have no attribute, entries of
// items the data does not hold (filtered away) are ignored.
void attach_item_attributes_json(Dataset& data, const std::string& path, const std::string& field);

// UniSRec pre-split files "<prefix>.{train,valid,test}.inter" (the training file is optional): rows of user,
// history, target, where a history may be a window of the most recent items only (the published files keep 50).
// Each user's whole sequence is rebuilt by chaining the rows' windows (training rows in position order, then the
// validation row, then the test row); windows that disagree, or a row missing between two, are refused with the
// file and line. Users keep the test file's order.
RawSequences read_unisrec(const std::string& prefix);
// The files read_unisrec reads, in order (what the prepared-dataset cache hashes).
std::vector<std::string> unisrec_files(const std::string& prefix);

// MMRec's interaction file "<name>.inter" (tab-separated, header userID itemID rating timestamp x_label): each user's
// interactions in time order, with their times, and x_label (0 training, 1 validation, 2 test), where the file has
// it, as the published parts ([protocol] split = "published").
RawSequences read_mmrec(const std::string& path);

// The Amazon Reviews 2023 benchmark's CSVs "<prefix>.{train,valid,test}.csv" (header user_id,parent_asin,rating,
// timestamp, and history in the *_w_his variants), leave-last-out or timestamp split: each user's training rows,
// then validation rows, then test rows, each in time order, with their times; the file a row came from is its
// published part. A history column is checked to be the items before its row.
RawSequences read_amazon2023(const std::string& prefix);
std::vector<std::string> amazon2023_files(const std::string& prefix);

// Sampled evaluation (the SASRec and S3-Rec papers' second protocol): per user, in dataset order, the negatives
// the target is ranked against. From a file of "user neg1 ... negN" lines (tokens as in the data file), or drawn
// uniformly from the items the user never interacted with, from a seed (the same draw for every run).
std::vector<std::vector<int32_t>> read_negatives(const std::string& path, const Dataset& data, int64_t count);
std::vector<std::vector<int32_t>> draw_negatives(const Dataset& data, int64_t count, uint64_t seed);

struct SyntheticOptions {
  uint64_t seed = 7;
  int64_t users = 2000;
  int64_t items = 1000;
  int64_t clusters = 20;
  double zipf = 1.0;             // popularity exponent within a cluster
  int64_t min_length = 5;
  int64_t max_length = 30;
  double stickiness = 0.8;       // probability of staying in the current cluster
  double successor = 0.5;        // probability the next item is the successor of the previous one
  double cold_fraction = 0.05;   // share of items that never occur in training, only as test targets
  double cold_target_rate = 0.05;// probability a user's test target is a cold item of its cluster
  int64_t feature_dim = 32;      // pooled "text" and "image" vectors driven by the item's cluster
  double feature_noise = 0.5;
  // Token-level "text_tokens" and "image_tokens" (0 = none): the first token ([CLS] / class token) is noise,
  // some of the others carry the item's cluster, so only a model that attends over tokens finds the signal.
  int64_t text_tokens = 8;
  int64_t image_tokens = 5;
  // The first token as a real encoder's [CLS] / class token: a summary that carries the cluster like the signal
  // tokens do (default: noise, so only attention over the tokens finds the signal).
  bool first_token_summary = false;
};
// A deterministic generator (same options -> same bytes on any platform) whose latent item clusters drive
// both the sequences and the correlated text/image features. Already dense: ids 1..N.
Dataset generate_synthetic(const SyntheticOptions& options);

}  // namespace mmsr

// The three extension points of a model, as LibTorch modules.
//
//   ItemTower        item ids (+ the item's modality features) -> one item-vector table per branch
//   SequenceEncoder  one per branch: item-vector sequence + padding mask -> user state per position
//   Objective        all branches' states and item vectors + the batch -> weighted loss terms
//
// A branch is one way of seeing an item and a sequence (ID-only SASRec has one; late fusion and ODMT have
// three: id, text, image). Scores of a branch = tower.score(states, item vectors); evaluation also ranks by
// the mean of the branch scores ("fused").
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <any>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mmsr {

// The gathered modality features of a set of items, in the order of their ids.
struct ModalityFeatures {
  torch::Tensor values;  // float32: [U, D] pooled, or [U, T, D] token-level
  torch::Tensor mask;    // bool: [U] pooled (the item has features) or [U, T] token-level (a real token)
};
using ItemFeatures = std::map<std::string, ModalityFeatures>;

// A training or evaluation batch, built on the host and moved to the device in one go.
struct Batch {
  torch::Tensor items;    // [B, L] int64 item ids, left-padded with 0
  torch::Tensor valid;    // [B, L] bool, true where items != 0
  torch::Tensor targets;  // [B, L] int64 next item per position, 0 where there is no target
  torch::Tensor users;    // [B] int64 user index
  // The distinct item ids of the batch (inputs and targets, sorted, 0 included when present) and each
  // slot's index into them: item towers compute each distinct item once, not once per occurrence.
  torch::Tensor unique_items;  // [U] int64
  torch::Tensor item_index;    // [B, L] int64 into unique_items
  torch::Tensor target_index;  // [B, L] int64 into unique_items
  // The modality features the item tower reads (ItemTower::modalities()), of unique_items. The values are the
  // frozen features; for a modality adapted in training ([train] adapt), the batch a loss sees also holds
  // adapted_key(name): the trainable rows the tower read instead ([U, D], the pooled vector or first token).
  ItemFeatures features;
};

// Where a loss finds the trainable embeddings of an adapted modality in Batch::features.
inline std::string adapted_key(const std::string& modality) { return modality + ":adapted"; }

// A request for an optimizer group of its own: the named parameters get lr * lr_scale * schedule(epoch).
struct OptimizerGroupRequest {
  std::string name;
  std::vector<torch::Tensor> parameters;
  double lr_scale = 1.0;
  std::function<double(int64_t epoch)> schedule;  // 1-based epoch -> multiplier; empty means 1
};

class ItemTower : public torch::nn::Module {
 public:
  virtual std::vector<std::string> branch_names() const = 0;
  virtual int64_t branch_dim(size_t branch) const = 0;
  // The modalities this tower reads: the host gathers exactly these, for exactly the items it asks about.
  virtual std::vector<std::string> modalities() const { return {}; }
  // item_ids: [U] int64, features: the modalities() of those items -> one [U, d_b] tensor per branch. The row
  // for id 0 (padding) may be anything. Called for a batch's distinct items in training, and for the catalogue in
  // chunks at evaluation (so a token-level modality is never gathered for all items at once).
  virtual std::vector<torch::Tensor> forward(const torch::Tensor& item_ids, const ItemFeatures& features) = 0;
  // The vectors user states are scored against, for a tower whose items have output vectors of their own (an
  // untied output table, as gSASRec's code has): one [U, d_b] tensor per branch, called like forward(). Empty (the
  // default) scores against forward()'s vectors, which then serve as both input and output.
  virtual std::vector<torch::Tensor> output_vectors(const torch::Tensor& /*item_ids*/, const ItemFeatures& /*features*/) {
    return {};
  }
  // Scores of states against item vectors: [..., d] x [C, d] -> [..., C], or batched per row,
  // [P, 1, d] x [P, C, d] -> [P, 1, C]. Default: dot product.
  virtual torch::Tensor score(size_t /*branch*/, const torch::Tensor& states,
                              const torch::Tensor& item_vectors) {
    return torch::matmul(states, item_vectors.transpose(-2, -1));
  }
  virtual std::vector<OptimizerGroupRequest> optimizer_groups() { return {}; }
};

// What a training step of an encoder predicts: its states and, for an encoder with a training task of its own, the
// targets they predict ([B, L'] item ids, 0 where nothing is predicted; undefined = the batch's next items).
struct TrainingView {
  torch::Tensor states;   // [B, L', d_out]
  torch::Tensor targets;  // [B, L'] or undefined
};

class SequenceEncoder : public torch::nn::Module {
 public:
  // vectors: [B, L, d_in]; valid: [B, L] bool. Returns [B, L, d_out]; position t may depend only on
  // positions <= t, unless bidirectional(). The batch gives item ids for encoders that read item features
  // themselves (FDSA).
  virtual torch::Tensor forward(const torch::Tensor& vectors, const torch::Tensor& valid,
                                const Batch& batch) = 0;
  virtual int64_t output_dim() const = 0;
  virtual std::vector<OptimizerGroupRequest> optimizer_groups() { return {}; }
  // An encoder that reads the whole window at every position (BERT4Rec) says so. The host then uses only the last
  // position of forward() (the user's state, which may see the whole window), trains through train_forward, and
  // needs an item tower with one branch, so that one set of training targets serves the step.
  virtual bool bidirectional() const { return false; }
  // A training step (the host calls it for every loss computation, in training mode or not). The default
  // predicts the batch's next items from forward(); an encoder with a task of its own (BERT4Rec's Cloze task)
  // returns the targets it chose.
  virtual TrainingView train_forward(const torch::Tensor& vectors, const torch::Tensor& valid, const Batch& batch) {
    return {forward(vectors, valid, batch), torch::Tensor()};
  }
};

struct BranchOutput {
  std::string name;
  torch::Tensor states;          // [B, L, d] user state per position
  torch::Tensor unique_vectors;  // [U, d] vectors of batch.unique_items that states are scored against
};

struct TrainProgress {
  int64_t epoch = 1;  // 1-based
  int64_t max_epochs = 1;
  int64_t step = 0;  // global step, 0-based
};

// Everything a loss may read. Item vectors of the whole catalogue are computed only when asked for.
struct ForwardOutput {
  const Batch* batch = nullptr;
  std::vector<BranchOutput> branches;
  torch::Tensor log_popularity;  // [N+1] log of training-split frequency (padding and unseen: 0)
  TrainProgress progress;
  std::function<torch::Tensor(size_t branch)> all_item_vectors;  // [N+1, d], the vectors states are scored against
  std::function<torch::Tensor(size_t branch, const torch::Tensor& states,
                              const torch::Tensor& item_vectors)>
      score;
  // What one loss computed that another of the step may read again (two losses over the same in-batch logits),
  // under a name of the helper that made it (loss_helpers.h). It lives as long as this output, one step.
  mutable std::map<std::string, std::any> shared;
};

struct LossTerms {
  torch::Tensor total;                                      // scalar, what is back-propagated
  std::vector<std::pair<std::string, torch::Tensor>> terms;  // named parts, recorded per epoch
};

class Objective : public torch::nn::Module {
 public:
  virtual LossTerms compute(const ForwardOutput& out) = 0;
  virtual std::vector<OptimizerGroupRequest> optimizer_groups() { return {}; }
};

}  // namespace mmsr

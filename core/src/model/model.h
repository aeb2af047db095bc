// Internal to the engine: a model assembled from plugins, and the batches it eats.
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mmsr/config.h"
#include "mmsr/dataset.h"
#include "mmsr/features.h"
#include "mmsr/registry.h"
#include "mmsr/sdk/context.h"
#include "mmsr/sdk/modules.h"

namespace mmsr {

// The BuildContext view of a feature store: what each modality is, and a gather of given items' features (CPU).
std::vector<ModalityInfo> modality_infos(const FeatureStore* store);
std::function<ModalityFeatures(const std::string&, const torch::Tensor&)> feature_gather(const FeatureStore* store);

// Item tower + one sequence encoder per branch + weighted objectives, as one module so that .to(device),
// the optimizer and checkpoints see every parameter.
class AssembledModel : public torch::nn::Module {
 public:
  AssembledModel(const RunSpec& run, const PluginRegistry& registry, const BuildContext& context);

  size_t num_branches() const { return encoders_.size(); }
  size_t num_objectives() const { return objectives_.size(); }
  // Whether any parameter requires a gradient (a popularity baseline has none: nothing to train).
  bool trainable();
  const std::vector<std::string>& branch_names() const { return branch_names_; }
  ItemTower& tower() { return *tower_; }

  // Training forward and weighted loss.
  LossTerms loss(const Batch& batch, const torch::Tensor& log_popularity, const TrainProgress& progress);
  // Item vectors of the whole catalogue, per branch: [N+1, d_b]. With modalities, in chunks of items whose
  // gathered features stay within a fixed memory budget.
  std::vector<torch::Tensor> all_item_vectors();
  const std::vector<std::string>& modalities() const { return modalities_; }
  // User states at the last position, per branch, reading item vectors from precomputed tables.
  std::vector<torch::Tensor> last_states(const Batch& batch, const std::vector<torch::Tensor>& tables);
  // Parameters claimed by components for optimizer groups of their own.
  std::vector<OptimizerGroupRequest> optimizer_groups();

 private:
  std::shared_ptr<ItemTower> tower_;
  std::vector<std::shared_ptr<SequenceEncoder>> encoders_;
  std::vector<std::shared_ptr<Objective>> objectives_;
  std::vector<double> weights_;
  std::vector<std::string> objective_names_;
  std::vector<std::string> branch_names_;
  std::vector<std::string> modalities_;  // what the tower reads
  std::vector<ModalityInfo> modality_infos_;
  std::function<ModalityFeatures(const std::string&, const torch::Tensor&)> gather_;
  int64_t num_items_ = 0;
  // [train] adapt: per adapted modality, a trainable [N+1, D] table that starts as the frozen vectors (pooled, or
  // the first token) and replaces them wherever the tower reads them; and its optimizer group.
  std::map<std::string, torch::Tensor> adapted_;
  OptimizerGroupRequest adapted_group_;
  void adapt_modalities(const ParamSet& train, const std::string& tower_name);
  ItemFeatures tower_view(const ItemFeatures& frozen, const torch::Tensor& item_ids,
                          ItemFeatures* rows = nullptr) const;
};

// Host-side batch construction from a split. Inputs are the most recent max_len items, left-padded.
class BatchBuilder {
 public:
  BatchBuilder(const LeaveOneOutSplit& split, int64_t max_len) : split_(split), max_len_(max_len) {}
  // Batches also carry these modalities' features of their distinct items.
  void set_features(std::vector<std::string> modalities,
                    std::function<ModalityFeatures(const std::string&, const torch::Tensor&)> gather) {
    modalities_ = std::move(modalities);
    gather_ = std::move(gather);
  }

  // A training sample: user u's training part up to (excluding) position `end`; all-position samples
  // predict every next item of the window, prefix samples only the item at `end`.
  struct Sample {
    int32_t user;
    int32_t end;
  };
  std::vector<Sample> training_samples(bool prefix) const;
  Batch training_batch(const std::vector<Sample>& samples, size_t begin, size_t end, bool prefix) const;
  // Evaluation inputs of users [begin, end): the history before the validation or test target.
  Batch evaluation_batch(const std::vector<int32_t>& users, size_t begin, size_t end, bool test) const;

 private:
  Batch finish(torch::Tensor items, torch::Tensor targets, torch::Tensor users, bool with_features) const;
  const LeaveOneOutSplit& split_;
  int64_t max_len_;
  std::vector<std::string> modalities_;
  std::function<ModalityFeatures(const std::string&, const torch::Tensor&)> gather_;
};

Batch to_device(const Batch& batch, const torch::Device& device);

// Full-ranking evaluation's core, per row of scores [B, N+1]: how many candidates score above the target and how
// many tie with it (the target itself not counted). candidates [B, N+1] bool, target [B, 1] item ids. A NaN score
// counts as +inf (a broken model is never rewarded by a comparison that is false). scores is overwritten.
std::pair<torch::Tensor, torch::Tensor> higher_and_tied(torch::Tensor& scores, const torch::Tensor& candidates,
                                                        const torch::Tensor& target);

// Adam or AdamW over the model: group 0 holds every parameter no component claimed; group i + 1 is the
// i-th requested group (filled into `groups`), with lr * lr_scale.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(AssembledModel& model, const ParamSet& train,
                                                        std::vector<OptimizerGroupRequest>& groups);
// Sets each requested group's learning rate for a (1-based) epoch: lr * lr_scale * schedule(epoch).
void apply_schedules(torch::optim::Optimizer& optimizer, const std::vector<OptimizerGroupRequest>& groups,
                     double lr, int64_t epoch);

}  // namespace mmsr

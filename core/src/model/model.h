// A model assembled from plugins (item tower, one sequence encoder per branch, weighted losses), and what every
// plugin factory of a run is told about the data.
#pragma once

#include <torch/nn/module.h>
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
#include "batches.h"

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
  // The whole catalogue's vectors, per branch: [N+1, d_b]. With modalities, in chunks of items whose gathered
  // features stay within a fixed memory budget.
  struct ItemTables {
    std::vector<torch::Tensor> inputs;   // what the backbone reads (ItemTower::forward)
    std::vector<torch::Tensor> outputs;  // what states are scored against: the same tensors unless the tower's differ
  };
  ItemTables item_tables();
  // Only the vectors states are scored against (a full-softmax loss needs no inputs).
  std::vector<torch::Tensor> all_item_vectors();
  const std::vector<std::string>& modalities() const { return modalities_; }
  // User states at the last position, per branch, reading item vectors from precomputed input tables.
  std::vector<torch::Tensor> last_states(const Batch& batch, const std::vector<torch::Tensor>& input_tables);
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
  // The tower's vectors for the whole catalogue, chunk by chunk, each chunk's features gathered once: what states
  // are scored against, and (with `inputs`) what the backbone reads; a tied tower's two are one table.
  ItemTables catalogue(bool inputs);
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

// What every plugin factory of a run is told about the data: its sizes, counts, attributes and modalities.
BuildContext build_context(const Experiment& ex, const RunSpec& run, const Dataset& data,
                           const Split& split);

}  // namespace mmsr

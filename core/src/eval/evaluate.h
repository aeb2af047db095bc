// Evaluation of a model under one protocol: which items compete with the target (candidate masks), the target's
// count-based rank per branch and for the branches' mean score, and the metrics, per-user ranks and popularity-group
// metrics that a run records (METHODS.md section 1). The trainer asks it for the selection score of each epoch and
// for the records of the selected model; it reads the model only through its item tables and last states.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "mmsr/config.h"
#include "mmsr/dataset.h"
#include "mmsr/metrics.h"
#include "mmsr/store.h"
#include "eval/beyond.h"
#include "model/batches.h"
#include "model/model.h"

namespace mmsr {

// Per branch (and "fused" when there are several): each evaluation event's rank and tie count, in event order (under
// leave-one-out, event i is user i's).
struct SplitEvaluation {
  std::vector<std::string> names;
  std::vector<std::vector<double>> ranks;
  std::vector<std::vector<int64_t>> ties;
};

// What one protocol records of the selected model.
struct ProtocolRecords {
  std::vector<MetricRecord> metrics;
  std::vector<RankRecord> ranks;
  std::vector<GroupMetricRecord> group_metrics;
};

// How evaluation cuts its work: users per batch, and items per scoring block under full ranking (eval/item_blocks.h:
// the catalogue is scored one block at a time; the ranks do not depend on either).
struct EvaluationShape {
  int64_t users = 0;
  int64_t items_per_block = 0;
};

class Evaluator {
 public:
  // `negatives`: each user's sampled negatives under candidates = "sampled"; empty for full ranking.
  Evaluator(const ParamSet& protocol, const Split& split, const BatchBuilder& builder, EvaluationShape shape,
            torch::Device device, std::vector<std::vector<int32_t>> negatives);
  Evaluator(const ProtocolOptions& protocol, const Split& split, const BatchBuilder& builder,
            EvaluationShape shape, torch::Device device, std::vector<std::vector<int32_t>> negatives);
  // Ranks the target of every validation (test = false) or test event. With `top`, also keeps each event's top
  // top->k candidates of the model's score (the fused one with several branches) in top->items.
  SplitEvaluation run(AssembledModel& model, bool test, TopLists* top = nullptr);
  const Split& split() const { return split_; }
  // The length of the test lists the beyond-accuracy metrics read: the largest K under full ranking, 0 under sampled
  // ranking (whose lists are mostly its negatives).
  int64_t top_k() const { return top_k_; }
  const std::vector<int64_t>& ks() const { return ks_; }
  const std::string& diversity_modality() const { return diversity_modality_; }

 private:
  torch::Tensor candidate_mask(const std::vector<EvaluationEvent>& events, size_t begin, size_t end,
                               int64_t n_items) const;
  void collect(torch::Tensor scores, const torch::Tensor& candidates, const torch::Tensor& target,
               const std::vector<int32_t>& index, size_t begin, std::vector<double>& ranks,
               std::vector<int64_t>& ties) const;
  // One batch's ranks: sampled candidates out of whole rows of scores (no top lists: the beyond-accuracy metrics
  // are full ranking's); full ranking one block of items at a time, with the top lists when asked.
  void rank_sampled(AssembledModel& model, const AssembledModel::ItemTables& tables, const Batch& batch,
                    const std::vector<torch::Tensor>& states, size_t begin, size_t end, bool test,
                    SplitEvaluation& out) const;
  void rank_in_blocks(AssembledModel& model, const AssembledModel::ItemTables& tables, const Batch& batch,
                      const std::vector<torch::Tensor>& states, size_t begin, size_t end, bool test,
                      SplitEvaluation& out, TopLists* top) const;
  // Per row of a batch, sorted: the items that never compete with its target (padding, masked history).
  std::vector<std::vector<int32_t>> excluded_items(const std::vector<EvaluationEvent>& events, size_t begin,
                                                   size_t end) const;

  const Split& split_;
  const BatchBuilder& builder_;
  int64_t batch_size_;
  int64_t items_per_block_;
  torch::Device device_;
  std::vector<std::vector<int32_t>> negatives_;
  bool mask_history_;
  TieRule tie_rule_;
  std::vector<int64_t> ks_;
  int64_t top_k_;
  std::string diversity_modality_;
  // Validation [0] and test [1] events in evaluation order, and each one's index in split.events().
  std::vector<EvaluationEvent> ordered_[2];
  std::vector<int32_t> index_[2];
};

// Users per evaluation batch and items per scoring block, each as given or (0) chosen. On the CPU, 256 users and
// blocks of 1,024 items: 1 MB of scores, which the counting reads back from the core's cache (measured against
// other shapes by the suite's RankInBlocks: docs/performance.md). On a GPU, 1,024 users and blocks that keep a
// batch's scores within 1 GB.
EvaluationShape evaluation_shape(int64_t given_users, int64_t given_items_per_block, int64_t num_items,
                                 const torch::Device& device);

// The experiment's metrics of one list of ranks.
std::vector<MetricValue> branch_metrics(const Experiment& ex, const std::vector<double>& ranks);
// The selection score of an evaluation: the fused score's (or the only branch's) validation metric.
double selection_value(const Experiment& ex, const SplitEvaluation& e);

// Each test event's popularity group of its target (ODMT's Figure 4): 0 when the item never occurs in training;
// otherwise the items seen in training, ordered by training count (then id), cut into `groups` parts of equal
// item counts, 1 = least popular.
std::vector<int64_t> popularity_groups(const Split& split, int64_t groups);

// The selected model's test and validation evaluations under the evaluator's protocol, as the store keeps them, with
// the beyond-accuracy metrics of the test's top-K lists under full ranking (eval/beyond.h).
ProtocolRecords evaluate_selected(const Experiment& ex, Evaluator& evaluator, AssembledModel& model,
                                  const std::vector<int64_t>& group_of_event);

// Full-ranking evaluation's core, per row of scores [B, N+1]: how many candidates score above the target and how
// many tie with it (the target itself not counted). candidates [B, N+1] bool, target [B, 1] item ids. A NaN score
// counts as +inf (a broken model is never rewarded by a comparison that is false). scores is overwritten.
std::pair<torch::Tensor, torch::Tensor> higher_and_tied(torch::Tensor& scores, const torch::Tensor& candidates,
                                                        const torch::Tensor& target);

}  // namespace mmsr

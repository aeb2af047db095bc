// The debiased in-batch softmax of ODMT (METHODS.md section 2). Candidates are the batch's item slots (each
// user's window: its L inputs plus its last target); the score of candidate j is h . e_j - log pop(j).
// A candidate column is masked when it is padding or when its item occurs anywhere in the same user's window,
// except the target column itself; copies of the target item in other users' windows stay as negatives.
// No temperature, no normalisation. ("unique" candidates: each distinct item of the batch once.)
#include <torch/nn/functional/loss.h>

#include "mmsr/sdk/loss_helpers.h"
#include "mmsr/sdk/plugin.h"

namespace {

using namespace mmsr;

class InBatchSoftmax : public Objective {
 public:
  InBatchSoftmax(bool unique, bool debias, bool fused) : unique_(unique), debias_(debias), fused_(fused) {}

  LossTerms compute(const ForwardOutput& out) override {
    const Batch& batch = *out.batch;
    const int64_t B = batch.items.size(0), L = batch.items.size(1);
    const int64_t U = batch.unique_items.size(0);
    TargetPositions pos = target_positions(batch);
    auto long_opts = pos.flat.options();

    // window[b, u]: distinct item u occurs in user b's window (inputs or targets).
    auto window = torch::zeros({B, U}, long_opts.dtype(torch::kBool));
    auto rows = torch::arange(B, long_opts).unsqueeze(1);
    window.index_put_({rows.expand({B, L}), batch.item_index}, true);
    window.index_put_({rows.expand({B, L}), batch.target_index}, true);

    torch::Tensor cand_unique;  // [S] index into unique_items of every candidate column
    torch::Tensor target_col;   // [P] column of each position's target
    if (unique_) {
      cand_unique = torch::arange(U, long_opts);
      target_col = batch.target_index.reshape({-1}).index_select(0, pos.flat);
    } else {
      // Slots: B*L inputs, then each user's last target (the item after its window).
      auto slot_unique = torch::cat({batch.item_index.reshape({-1}), batch.target_index.select(1, L - 1)});
      auto slot_item = torch::cat({batch.items.reshape({-1}), batch.targets.select(1, L - 1)});
      // Target slot of (b, t): the input slot (b, t+1) when it holds the target, else the extra slot b.
      auto next_col = pos.flat + 1;
      auto inside = pos.column.lt(L - 1);
      auto next_item = batch.items.reshape({-1}).index_select(0, next_col.clamp_max(B * L - 1));
      auto in_window = inside & next_item.eq(pos.target);
      auto full_col = torch::where(in_window, next_col, B * L + pos.row);
      // Padding slots are never candidates: drop them from the columns (they would be masked anyway).
      auto keep = slot_item.ne(0);
      auto new_index = keep.to(torch::kLong).cumsum(0) - 1;
      cand_unique = slot_unique.masked_select(keep);
      target_col = new_index.index_select(0, full_col);
    }
    // mask[p, s]: candidate s is an item of p's own window and not p's target column.
    auto mask = window.index_select(0, pos.row).index_select(1, cand_unique);
    mask.scatter_(1, target_col.unsqueeze(1), false);
    torch::Tensor correction;
    if (debias_)
      correction = out.log_popularity.index_select(0, batch.unique_items.index_select(0, cand_unique));
    // A unique-candidate column for padding (id 0) must never compete.
    auto is_pad = batch.unique_items.index_select(0, cand_unique).eq(0);

    std::vector<torch::Tensor> logits;
    for (size_t b = 0; b < out.branches.size(); ++b) {
      auto h = states_at(out.branches[b].states, pos.flat);
      auto e = out.branches[b].unique_vectors.index_select(0, cand_unique);
      auto z = out.score(b, h, e);
      if (debias_) z = z - correction.unsqueeze(0);
      logits.push_back(z.masked_fill(mask | is_pad.unsqueeze(0), -1e9));
    }
    LossTerms result;
    if (fused_) {
      auto z = torch::stack(logits).mean(0);
      result.total = torch::nn::functional::cross_entropy(z, target_col);
      result.terms.emplace_back("ce", result.total.detach());
      return result;
    }
    for (size_t b = 0; b < logits.size(); ++b) {
      auto ce = torch::nn::functional::cross_entropy(logits[b], target_col);
      result.total = result.total.defined() ? result.total + ce : ce;
      result.terms.emplace_back("ce_" + out.branches[b].name, ce.detach());
    }
    return result;
  }

 private:
  bool unique_, debias_, fused_;
};

}  // namespace

MMSR_PLUGIN(inbatch, "1.0.0") {
  registrar.add_objective(
      "inbatch", "ODMT's debiased in-batch softmax: batch slots as candidates, minus log popularity",
      ParamDecl()
          .choice("candidates", "slots", {"slots", "unique"},
                  "slots: every item slot of the batch (ODMT code); unique: each distinct item once")
          .boolean("debias", true, "subtract log pop(j) (training-split frequency) from candidate scores")
          .choice("branches", "each", {"each", "fused"},
                  "each: one cross-entropy per branch, summed; fused: one on the mean logits"),
      [](const ParamSet& p, const BuildContext&) -> std::shared_ptr<Objective> {
        return std::make_shared<InBatchSoftmax>(p.get_string("candidates") == "unique", p.get_bool("debias"),
                                                p.get_string("branches") == "fused");
      });
}

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
    InBatchLogits in = inbatch_logits(out, unique_, debias_);
    const auto& logits = in.logits;
    const auto& target_col = in.target_column;
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

struct InBatchOptions {
  bool unique = false, debias = true, fused = false;
};

ParamBinding<InBatchOptions> inbatch_params() {
  using O = InBatchOptions;
  ParamBinding<O> p;
  p.choice("candidates", &O::unique, {{"slots", false}, {"unique", true}},
           "slots: every item slot of the batch (ODMT code); unique: each distinct item once");
  p.field("debias", &O::debias, "subtract log pop(j) (training-split frequency) from candidate scores");
  p.choice("branches", &O::fused, {{"each", false}, {"fused", true}},
           "each: one cross-entropy per branch, summed; fused: one on the mean logits");
  return p;
}

}  // namespace

MMSR_PLUGIN(inbatch, "1.0.0") {
  registrar.add_objective(
      "inbatch", "ODMT's debiased in-batch softmax: batch slots as candidates, minus log popularity", inbatch_params(),
      [](const InBatchOptions& o, const BuildContext&) -> std::shared_ptr<Objective> {
        return std::make_shared<InBatchSoftmax>(o.unique, o.debias, o.fused);
      });
}

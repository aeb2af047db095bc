// Full softmax cross-entropy over the whole catalogue (METHODS.md section 2, "other losses").
#include <torch/nn/functional/loss.h>

#include "mmsr/sdk/loss_helpers.h"
#include "mmsr/sdk/plugin.h"

namespace {

using namespace mmsr;

class FullSoftmax : public Objective {
 public:
  explicit FullSoftmax(bool fused) : fused_(fused) {}

  LossTerms compute(const ForwardOutput& out) override {
    TargetPositions pos = target_positions(*out.batch);
    std::vector<torch::Tensor> logits;
    for (size_t b = 0; b < out.branches.size(); ++b) {
      auto h = states_at(out.branches[b].states, pos.flat);
      auto z = out.score(b, h, out.all_item_vectors(b));
      // Padding (id 0) is never a class.
      logits.push_back(z.index_fill(1, torch::zeros({1}, pos.flat.options()), -1e9));
    }
    LossTerms result;
    if (fused_) {
      // Late fusion: one cross-entropy on the average of the branches' logits.
      auto z = torch::stack(logits).mean(0);
      result.total = torch::nn::functional::cross_entropy(z, pos.target);
      result.terms.emplace_back("ce", result.total.detach());
      return result;
    }
    for (size_t b = 0; b < logits.size(); ++b) {
      auto ce = torch::nn::functional::cross_entropy(logits[b], pos.target);
      result.total = result.total.defined() ? result.total + ce : ce;
      result.terms.emplace_back("ce_" + out.branches[b].name, ce.detach());
    }
    return result;
  }

 private:
  bool fused_;
};

struct SoftmaxOptions {
  bool fused = false;
};

ParamBinding<SoftmaxOptions> softmax_params() {
  ParamBinding<SoftmaxOptions> p;
  p.choice("branches", &SoftmaxOptions::fused, {{"each", false}, {"fused", true}},
           "each: one cross-entropy per branch, summed; fused: one on the mean logits");
  return p;
}

}  // namespace

MMSR_PLUGIN(softmax, "1.0.0") {
  registrar.add_objective(
      "softmax", "full softmax cross-entropy over all items, per branch (summed) or on averaged logits",
      softmax_params(), [](const SoftmaxOptions& o, const BuildContext&) -> std::shared_ptr<Objective> {
        return std::make_shared<FullSoftmax>(o.fused);
      });
}

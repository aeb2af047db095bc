// Sampled softmax with the logQ correction (Bengio & Senecal 2008; Yi et al., RecSys 2019), the full softmax's
// stand-in for catalogues too large to score whole: each step draws `negatives` items with replacement from a
// proposal Q (uniform, or the training split's popularity with add-one smoothing), shared by every position of the
// batch; each position's target competes with them, every logit minus log Q of its item, so that frequently drawn
// items are not over-penalised; a drawn item that is the position's own target is masked (an accidental hit).
// Memory grows with positions x negatives, not positions x items. Draws use torch's generator (seeded per run).
#include <torch/nn/functional/loss.h>

#include "mmsr/sdk/loss_helpers.h"
#include "mmsr/sdk/plugin.h"

namespace {

using namespace mmsr;

class SampledSoftmax : public Objective {
 public:
  SampledSoftmax(int64_t negatives, torch::Tensor proposal, bool correct)
      : negatives_(negatives), correct_(correct) {
    proposal_ = register_buffer("proposal", proposal / proposal.sum());
    log_q_ = register_buffer("log_q", proposal_.clamp_min(1e-30).log());
  }

  LossTerms compute(const ForwardOutput& out) override {
    TargetPositions pos = target_positions(*out.batch);
    auto drawn = torch::multinomial(proposal_, negatives_, /*replacement=*/true).to(pos.target.device());  // [K]
    auto ids = torch::cat({pos.target.unsqueeze(1), drawn.unsqueeze(0).expand({pos.target.size(0), negatives_})}, 1);
    auto hit = ids.slice(1, 1).eq(pos.target.unsqueeze(1));  // [P, K] accidental hits
    LossTerms result;
    for (size_t b = 0; b < out.branches.size(); ++b) {
      auto h = states_at(out.branches[b].states, pos.flat);                          // [P, d]
      auto all = out.all_item_vectors(b);
      auto positive = out.score(b, h.unsqueeze(1), all.index_select(0, pos.target).unsqueeze(1)).reshape({-1, 1});
      auto logits = torch::cat({positive, out.score(b, h, all.index_select(0, drawn))}, 1);  // [P, 1 + K]
      if (correct_) logits = logits - log_q_.index_select(0, ids.reshape({-1})).reshape(ids.sizes()).to(logits.dtype());
      logits = torch::cat({logits.slice(1, 0, 1), logits.slice(1, 1).masked_fill(hit, -1e9)}, 1);
      auto ce = torch::nn::functional::cross_entropy(logits, torch::zeros_like(pos.target));
      result.total = result.total.defined() ? result.total + ce : ce;
      result.terms.emplace_back("ce_" + out.branches[b].name, ce.detach());
    }
    return result;
  }

 private:
  int64_t negatives_;
  bool correct_;
  torch::Tensor proposal_, log_q_;
};

struct SampledSoftmaxOptions {
  int64_t negatives = 256;
  std::string proposal = "uniform";
  bool logq = true;
};

ParamBinding<SampledSoftmaxOptions> sampled_softmax_params() {
  ParamBinding<SampledSoftmaxOptions> p;
  p.field("negatives", &SampledSoftmaxOptions::negatives, "items drawn per step, shared by every position")
      .range(1, 1000000);
  p.field("proposal", &SampledSoftmaxOptions::proposal,
          "what the negatives are drawn from: uniform over the catalogue, or the training split's popularity "
          "(count + 1)")
      .one_of({"uniform", "popularity"});
  p.field("logq", &SampledSoftmaxOptions::logq, "subtract log Q(item) from every logit (the correction)");
  return p;
}

// Q over item ids 0..N: nothing on padding.
torch::Tensor proposal_of(const SampledSoftmaxOptions& o, const BuildContext& ctx) {
  auto q = torch::ones({ctx.num_items + 1}, torch::kDouble);
  if (o.proposal == "popularity") {
    if (!ctx.item_counts) throw std::invalid_argument("sampled_softmax: the run has no training-split item counts");
    for (int64_t i = 1; i <= ctx.num_items; ++i) q[i] = double((*ctx.item_counts)[size_t(i)] + 1);
  }
  q[0] = 0.0;
  return q.to(torch::kFloat);
}

}  // namespace

MMSR_PLUGIN(sampled_softmax, "1.0.0") {
  registrar.add_objective(
      "sampled_softmax",
      "sampled softmax with the logQ correction: the target against negatives drawn per step (uniform or by "
      "popularity), for catalogues too large for the full softmax",
      sampled_softmax_params(),
      [](const SampledSoftmaxOptions& o, const BuildContext& ctx) -> std::shared_ptr<Objective> {
        return std::make_shared<SampledSoftmax>(o.negatives, proposal_of(o, ctx), o.logq);
      });
}

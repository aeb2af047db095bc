// Binary cross-entropy with sampled negatives: the loss of the original SASRec paper and of S3-Rec's baselines.
// Each position with a target gets `negatives` items drawn uniformly from the catalogue, redrawn while they
// occur in the user's window (the sequence the batch holds for that user); loss = -log s(pos) - sum log(1 - s(neg)),
// averaged over positions. Draws use torch's generator, which the host seeds per run.
// With a calibration t > 0 it is gSASRec's gBCE (Petrov & Macdonald, RecSys 2023): the positive's term becomes
// -log s(pos)^beta with beta = alpha (t (1 - 1/alpha) + 1/alpha) and alpha = negatives / (N - 1) the sampling rate,
// which counters the overconfidence that training against few sampled negatives causes. t = 0 gives beta = 1 (plain
// BCE); t = 1 gives beta = alpha (fully calibrated: the model's sigmoid then estimates the true probability).
#include <torch/nn/functional/loss.h>

#include "mmsr/sdk/loss_helpers.h"
#include "mmsr/sdk/plugin.h"

namespace {

using namespace mmsr;

class SampledBce : public Objective {
 public:
  SampledBce(int64_t negatives, int64_t num_items, double calibration)
      : negatives_(negatives), num_items_(num_items), beta_(gbce_beta(negatives, num_items, calibration)) {}

  // gSASRec's beta (equation 10 of the paper); 1 without calibration.
  static double gbce_beta(int64_t negatives, int64_t num_items, double t) {
    const double alpha = double(negatives) / double(std::max<int64_t>(1, num_items - 1));
    return alpha * (t * (1.0 - 1.0 / alpha) + 1.0 / alpha);
  }

  LossTerms compute(const ForwardOutput& out) override {
    const Batch& batch = *out.batch;
    TargetPositions pos = target_positions(batch);
    const int64_t P = pos.flat.size(0), B = batch.items.size(0);
    auto opts = pos.flat.options();
    // in_window[b, i]: item i occurs in user b's window.
    auto in_window = torch::zeros({B, num_items_ + 1}, opts.dtype(torch::kBool));
    auto rows = torch::arange(B, opts).unsqueeze(1);
    in_window.index_put_({rows.expand_as(batch.items), batch.items}, true);
    in_window.index_put_({rows.expand_as(batch.targets), batch.targets}, true);
    auto negatives = torch::randint(1, num_items_ + 1, {P, negatives_}, opts);
    auto owner = pos.row.unsqueeze(1).expand_as(negatives);
    for (int attempt = 0; attempt < 20; ++attempt) {  // rejection sampling; users hold few of N items
      auto clash = in_window.index({owner, negatives});
      if (!clash.any().item<bool>()) break;
      negatives = torch::where(clash, torch::randint(1, num_items_ + 1, negatives.sizes(), opts), negatives);
    }
    LossTerms result;
    for (size_t b = 0; b < out.branches.size(); ++b) {
      auto h = states_at(out.branches[b].states, pos.flat);                        // [P, d]
      auto ids = torch::cat({pos.target.unsqueeze(1), negatives}, 1);              // [P, 1 + n]
      auto all = out.all_item_vectors(b);
      auto e = all.index_select(0, ids.reshape({-1})).reshape({P, 1 + negatives_, -1});
      auto logits = out.score(b, h.unsqueeze(1), e).squeeze(1);                    // [P, 1 + n]
      auto labels = torch::zeros_like(logits);
      labels.select(1, 0).fill_(1.0);
      auto per_item = torch::nn::functional::binary_cross_entropy_with_logits(
          logits, labels, torch::nn::functional::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone));
      // gBCE: the positive's -log s(pos) times beta (a no-op at beta = 1, which leaves BCE's bits as they were).
      if (beta_ != 1.0) per_item = torch::cat({per_item.slice(1, 0, 1) * beta_, per_item.slice(1, 1)}, 1);
      // Sum over the positive and its negatives, mean over positions (SASRec's loss).
      auto bce = per_item.sum(1).mean();
      result.total = result.total.defined() ? result.total + bce : bce;
      result.terms.emplace_back("bce_" + out.branches[b].name, bce.detach());
    }
    return result;
  }

 private:
  int64_t negatives_, num_items_;
  double beta_;
};

struct BceOptions {
  int64_t negatives = 1;
  double calibration = 0.0;
};

ParamBinding<BceOptions> bce_params() {
  ParamBinding<BceOptions> p;
  p.field("negatives", &BceOptions::negatives, "negatives drawn per position, outside the user's window").range(1, 10000);
  p.field("calibration", &BceOptions::calibration,
          "gSASRec's gBCE calibration t: the positive's term is -log s(pos)^beta, beta = alpha (t (1 - 1/alpha) + "
          "1/alpha), alpha = negatives / (N - 1); 0 = plain BCE, 1 = fully calibrated (gSASRec uses 0.75 with 256 "
          "negatives)")
      .range(0.0, 1.0)
      .added_after_release();
  return p;
}

}  // namespace

MMSR_PLUGIN(bce, "1.0.0") {
  registrar.add_objective(
      "bce",
      "binary cross-entropy with uniformly sampled negatives (original SASRec, S3-Rec baselines); with calibration > 0, "
      "gSASRec's gBCE",
      bce_params(),
      [](const BceOptions& o, const BuildContext& ctx) -> std::shared_ptr<Objective> {
        return std::make_shared<SampledBce>(o.negatives, ctx.num_items, o.calibration);
      });
}

// Full softmax cross-entropy over the whole catalogue (METHODS.md section 2, "other losses"), from one
// [positions x items] score matrix or, with `chunk`, item chunk by item chunk within bounded memory.
#include <torch/autograd.h>
#include <torch/nn/functional/loss.h>

#include <functional>
#include <limits>

#include "mmsr/sdk/loss_helpers.h"
#include "mmsr/sdk/plugin.h"

namespace {

using namespace mmsr;

// A training step's scores, [P, d] x [C, d] -> [P, C] or batched [P, 1, d] x [P, 1, d] -> [P, 1, 1]: the tower's.
using ScoreFn = std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>;

// The score function held by the autograd graph until its backward has run (an IValue capsule).
struct HeldScore : torch::CustomClassHolder {
  explicit HeldScore(ScoreFn f) : score(std::move(f)) {}
  ScoreFn score;
};

// Cross-entropy over the catalogue in item chunks (in the spirit of cut cross-entropy): the forward keeps a running
// log-sum-exp per position; the backward recomputes each chunk's scores and sends softmax-weighted gradients through
// them, so no [positions x items] matrix is ever held, forward or backward. Item 0 (padding) is never a class.
struct ChunkedCrossEntropy : public torch::autograd::Function<ChunkedCrossEntropy> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& states,
                               const torch::Tensor& table, const torch::Tensor& target, const ScoreFn& score,
                               int64_t chunk) {
    const int64_t P = states.size(0), rows = table.size(0);
    auto opts = states.options().dtype(torch::kFloat);
    auto running_max = torch::full({P}, -std::numeric_limits<float>::infinity(), opts);
    auto running_sum = torch::zeros({P}, opts);
    for (int64_t begin = 1; begin < rows; begin += chunk) {
      auto z = score(states, table.slice(0, begin, std::min(rows, begin + chunk))).to(torch::kFloat);
      auto new_max = torch::maximum(running_max, std::get<0>(z.max(1)));
      running_sum = running_sum * (running_max - new_max).exp() + (z - new_max.unsqueeze(1)).exp().sum(1);
      running_max = new_max;
    }
    auto lse = running_max + running_sum.log();
    auto target_score = score(states.unsqueeze(1), table.index_select(0, target).unsqueeze(1)).reshape({-1});
    ctx->save_for_backward({states, table, target, lse});
    ctx->saved_data["score"] = c10::IValue::make_capsule(c10::make_intrusive<HeldScore>(score));
    ctx->saved_data["chunk"] = chunk;
    return (lse - target_score.to(torch::kFloat)).mean();
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& states = saved[0];
    const auto& table = saved[1];
    const auto& target = saved[2];
    const auto& lse = saved[3];
    const ScoreFn& score = c10::static_intrusive_pointer_cast<HeldScore>(ctx->saved_data["score"].toCapsule())->score;
    const int64_t chunk = ctx->saved_data["chunk"].toInt(), rows = table.size(0);
    auto g = grads[0].to(torch::kFloat) / double(states.size(0));  // d loss / d each position's term
    torch::AutoGradMode enable(true);
    auto s = states.detach().requires_grad_(true);
    auto grad_states = torch::zeros_like(states);
    auto grad_table = torch::zeros_like(table);
    for (int64_t begin = 1; begin < rows; begin += chunk) {
      auto part = table.slice(0, begin, std::min(rows, begin + chunk)).detach().requires_grad_(true);
      auto z = score(s, part);
      auto weight = ((z.detach().to(torch::kFloat) - lse.unsqueeze(1)).exp() * g).to(z.dtype());  // softmax x g
      auto parts = torch::autograd::grad({z}, {s, part}, {weight});
      grad_states += parts[0];
      grad_table.slice(0, begin, begin + part.size(0)) += parts[1];
    }
    auto chosen = table.index_select(0, target).detach().requires_grad_(true);
    auto z = score(s.unsqueeze(1), chosen.unsqueeze(1)).reshape({-1});
    auto parts = torch::autograd::grad({z}, {s, chosen}, {(-g).expand_as(z).to(z.dtype())});
    grad_states += parts[0];
    grad_table.index_add_(0, target, parts[1]);
    return {grad_states, grad_table, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

class FullSoftmax : public Objective {
 public:
  FullSoftmax(bool fused, int64_t chunk) : fused_(fused), chunk_(chunk) {}

  LossTerms compute(const ForwardOutput& out) override {
    TargetPositions pos = target_positions(*out.batch);
    if (chunk_ > 0) return chunked(out, pos);
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
  LossTerms chunked(const ForwardOutput& out, const TargetPositions& pos) {
    LossTerms result;
    for (size_t b = 0; b < out.branches.size(); ++b) {
      ScoreFn score = [tower_score = out.score, b](const torch::Tensor& s, const torch::Tensor& v) {
        return tower_score(b, s, v);
      };
      auto h = states_at(out.branches[b].states, pos.flat);
      auto ce = ChunkedCrossEntropy::apply(h, out.all_item_vectors(b), pos.target, score, chunk_);
      result.total = result.total.defined() ? result.total + ce : ce;
      result.terms.emplace_back("ce_" + out.branches[b].name, ce.detach());
    }
    return result;
  }

  bool fused_;
  int64_t chunk_;
};

struct SoftmaxOptions {
  bool fused = false;
  int64_t chunk = 0;
};

ParamBinding<SoftmaxOptions> softmax_params() {
  ParamBinding<SoftmaxOptions> p;
  p.choice("branches", &SoftmaxOptions::fused, {{"each", false}, {"fused", true}},
           "each: one cross-entropy per branch, summed; fused: one on the mean logits");
  p.field("chunk", &SoftmaxOptions::chunk,
          "items scored at a time: 0 = the whole catalogue in one [positions x items] matrix; N > 0 = N items at a "
          "time, forward and backward, so memory no longer grows with the catalogue (same loss and gradients)")
      .range(0, 1000000000)
      .added_after_release();
  return p;
}

}  // namespace

MMSR_PLUGIN(softmax, "1.0.0") {
  registrar.add_objective(
      "softmax", "full softmax cross-entropy over all items, per branch (summed) or on averaged logits",
      softmax_params(), [](const SoftmaxOptions& o, const BuildContext&) -> std::shared_ptr<Objective> {
        if (o.fused && o.chunk > 0)
          throw std::invalid_argument("softmax: chunk needs branches = \"each\" (the fused loss averages whole rows)");
        return std::make_shared<FullSoftmax>(o.fused, o.chunk);
      });
}

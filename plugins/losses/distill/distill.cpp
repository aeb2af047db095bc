// ODMT's online distillation (METHODS.md section 5), on the debiased in-batch logits of each branch:
//
//   L_kl = T^2 KL(s(z_id/T) || s(z_image/T)) + T^2 KL(s(z_id/T) || s(z_text/T)) + T^2 KL(s(z_e/T) || s(z_id/T))
//
// with s the softmax and z_e = the mean of all branches' logits: the ID branch teaches the modality branches and
// the ensemble teaches the ID branch. KL(p || q) has the teacher p first. The loss returned is w(e) L_kl with the
// ramp-up w(e) = exp(-5 (1 - min(e, alpha)/alpha)^2) for the 1-based epoch e (alpha < 1: the constant alpha).
// The cross-entropy of each branch is not part of it: list "inbatch" next to it (loss = ["inbatch", "distill"]).
//
// The paper writes KL; the ODMT code computes a soft cross-entropy (KL plus the teacher's entropy, whose gradient
// reaches a teacher that is not detached) and never detaches the teachers. Both are options.
#include <torch/nn/functional/activation.h>

#include <cmath>
#include <deque>
#include <map>

#include "mmsr/sdk/loss_helpers.h"
#include "mmsr/sdk/plugin.h"

namespace {

using namespace mmsr;

struct DistillOptions {
  double temperature = 0.5, alpha = 50;
  std::string teacher = "id";
  std::vector<std::string> students = {"image", "text"};
  bool unique = false, debias = true, detach = false, soft_ce = false, ensemble = true;
};

// The softened distributions of one step's logits, each computed once (the ID branch is a teacher twice and a
// student once): s(z/T) of each teacher, log s(z/T) of each logits. s is the softmax itself: the exp of the
// log-softmax is several times slower on the masked (-1e9) columns. Logits are known by address.
class Softened {
 public:
  Softened(const InBatchLogits& in, double temperature, bool detach_teachers)
      : correction_(in.column_correction(temperature)), T_(temperature), detach_(detach_teachers) {}

  // Mean over rows of KL(s(teacher/T) || s(student/T)), or of the soft cross-entropy -sum_j p_j log q_j.
  torch::Tensor divergence(const torch::Tensor& teacher_logits, const torch::Tensor& student, bool soft_ce) {
    const torch::Tensor& teacher = as_teacher(teacher_logits);
    const torch::Tensor& p = prob(teacher);
    auto per_row = soft_ce ? -(p * log_prob(student)).sum(-1) : (p * (log_prob(teacher) - log_prob(student))).sum(-1);
    return per_row.mean();
  }
  // Logits made by the caller (the ensemble's), kept at an address that stays put.
  const torch::Tensor& keep(torch::Tensor t) { return made_.emplace_back(std::move(t)); }

 private:
  const torch::Tensor& as_teacher(const torch::Tensor& z) {
    if (!detach_) return z;
    auto& d = detached_[&z];
    if (!d) d = &keep(z.detach());
    return *d;
  }
  const torch::Tensor& scaled(const torch::Tensor& z) {
    return once(scaled_, z, [&] { return correction_.defined() ? torch::add(correction_, z, 1.0 / T_) : z / T_; });
  }
  const torch::Tensor& log_prob(const torch::Tensor& z) {
    return once(log_probs_, z, [&] { return torch::log_softmax(scaled(z), -1); });
  }
  const torch::Tensor& prob(const torch::Tensor& z) {
    return once(probs_, z, [&] { return torch::softmax(scaled(z), -1); });
  }
  template <class Make>
  static const torch::Tensor& once(std::map<const torch::Tensor*, torch::Tensor>& memo, const torch::Tensor& z,
                                   Make make) {
    auto& t = memo[&z];
    if (!t.defined()) t = make();
    return t;
  }

  torch::Tensor correction_;  // InBatchLogits::column_correction
  double T_;
  bool detach_;
  std::deque<torch::Tensor> made_;
  std::map<const torch::Tensor*, torch::Tensor> scaled_, log_probs_, probs_;
  std::map<const torch::Tensor*, const torch::Tensor*> detached_;
};

class Distillation : public Objective {
 public:
  explicit Distillation(DistillOptions o) : o_(std::move(o)) {}

  // The ramp-up weight of an epoch (1-based).
  static double ramp(int64_t epoch, double alpha) {
    if (alpha < 1) return alpha;
    double x = 1.0 - std::min(double(epoch), alpha) / alpha;
    return std::exp(-5.0 * x * x);
  }

  LossTerms compute(const ForwardOutput& out) override {
    InBatchLogits in = inbatch_logits(out, o_.unique, o_.debias);
    auto branch = [&](const std::string& name) -> const torch::Tensor& {
      for (size_t b = 0; b < out.branches.size(); ++b)
        if (out.branches[b].name == name) return in.logits[b];
      throw std::invalid_argument("distill: the model has no branch '" + name + "'");
    };
    const double T = o_.temperature;
    Softened soft(in, T, o_.detach);
    auto divergence = [&](const torch::Tensor& teacher_logits, const torch::Tensor& student) {
      return soft.divergence(teacher_logits, student, o_.soft_ce) * (T * T);
    };
    LossTerms result;
    torch::Tensor kl;
    const torch::Tensor& teacher = branch(o_.teacher);
    for (const auto& s : o_.students) {
      auto term = divergence(teacher, branch(s));
      result.terms.emplace_back("kl_" + o_.teacher + "_to_" + s, term.detach());
      kl = kl.defined() ? kl + term : term;
    }
    if (o_.ensemble) {
      const torch::Tensor& mean = soft.keep(torch::stack(in.logits).mean(0));
      auto term = divergence(mean, teacher);
      result.terms.emplace_back("kl_ensemble_to_" + o_.teacher, term.detach());
      kl = kl.defined() ? kl + term : term;
    }
    const double w = ramp(out.progress.epoch, o_.alpha);
    result.terms.emplace_back("weight", torch::full({}, w, torch::kDouble));
    result.total = kl * w;
    return result;
  }

 private:
  DistillOptions o_;
};

ParamBinding<DistillOptions> distill_params() {
  using O = DistillOptions;
  ParamBinding<O> p;
  p.field("temperature", &O::temperature, "softmax temperature T (paper: Stream 0.5, Arts 0.3, Office 0.4)")
      .range(1e-3, 100.0);
  p.field("alpha", &O::alpha,
          "ramp-up: weight exp(-5 (1 - min(e, alpha)/alpha)^2) at epoch e; alpha < 1 is a constant weight")
      .range(0.0, 1e6);
  p.field("teacher", &O::teacher, "the teaching branch");
  p.field("students", &O::students, "the branches it teaches");
  p.field("ensemble", &O::ensemble, "the mean of all branches' logits also teaches the teacher");
  p.field("detach_teachers", &O::detach, "stop gradients into every teacher's logits");
  p.choice("form", &O::soft_ce, {{"kl", false}, {"soft_ce", true}},
           "kl (paper) or soft cross-entropy (ODMT code: KL + teacher entropy)");
  p.choice("candidates", &O::unique, {{"slots", false}, {"unique", true}}, "in-batch candidates, as in the inbatch loss");
  p.field("debias", &O::debias, "subtract log popularity from the candidate scores, as in the inbatch loss");
  return p;
}

}  // namespace

MMSR_PLUGIN(distill, "1.0.0") {
  registrar.add_objective(
      "distill", "ODMT's online distillation: the ID branch teaches the modality branches, the ensemble the ID branch",
      distill_params(), [](const DistillOptions& o, const BuildContext&) -> std::shared_ptr<Objective> {
        return std::make_shared<Distillation>(o);
      });
}

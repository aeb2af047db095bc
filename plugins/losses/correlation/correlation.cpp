// KDSR's correlation supervision (METHODS.md section 6; Hu et al., ECIR 2024): the frozen features' item-item
// relations are distilled into the trainable modality embeddings of [train] adapt, over the item pairs of each
// sequence of the batch. One loss entry per modality, each with its own weights (the code: image 4 and 4, text 0.5
// and 0.5).
//
//   holistic   teacher C_ij = cos(f_i, f_j) of the frozen vectors; student S_ij = cos(z_i, z_j), z = P2 P1 h of the
//              trainable embedding h; per sequence || M * sqrt(((S - C) / T)^2 + 1e-8) ||_F over its ordered pairs
//              of distinct items, averaged over sequences (T = 1.5).
//   dissected  each teacher vector cut into D equal parts; a pair's D part-wise cosines r_ij get the code of their
//              nearest k-means centroid (K clusters fitted once, at build, on sampled item pairs with a fixed seed);
//              a classifier on |R h_i - R h_j| (R a learned reduction to d, then Linear, ReLU, Linear to K) predicts
//              the code with cross-entropy.
//
// Memory: the released code precomputes C and the codes for all N^2 pairs (1.2 GB at 12k items). Here only the pairs
// inside a batch's sequences are computed, from the batch's distinct items, and the codes come from K x D centroids:
// nothing grows with N^2. The reduction R exists because h has the features' dimension (512 on Scientific), where
// the code's h was already reduced to 128 by an autoencoder; |R h_i - R h_j| keeps the per-pair tensor at d wide.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/modules/linear.h>

#include "mmsr/sdk/plugin.h"
#include "teacher.h"

namespace {

using namespace mmsr;

struct CorrelationOptions {
  std::string modality = "image";
  double holistic = 1.0, dissected = 1.0, temperature = 1.5;
  int64_t parts = 8, codes = 50, dim = 64;
  int64_t kmeans_pairs = 100000, kmeans_iterations = 30, kmeans_seed = 1;
  std::string teacher = "features";  // or "autoencoder": the KDSR code's reduced vectors
  int64_t teacher_dim = 128, teacher_epochs = 300;
};

// The first token of a token-level modality, or the pooled vector.
torch::Tensor first_vector(const torch::Tensor& values) { return values.dim() == 3 ? values.select(1, 0) : values; }

// Each of D equal parts of every row scaled to unit length: then the part-wise cosines of a pair are sums over
// each part of the elementwise products.
torch::Tensor part_normalised(const torch::Tensor& f, int64_t parts) {
  auto p = f.reshape({f.size(0), parts, f.size(1) / parts});
  return (p / p.norm(2, -1, true).clamp_min(1e-12)).reshape({f.size(0), f.size(1)});
}

torch::Tensor part_cosines(const torch::Tensor& ga, const torch::Tensor& gb, int64_t parts) {
  return (ga * gb).reshape({ga.size(0), parts, ga.size(1) / parts}).sum(-1);  // [P, D]
}

class CorrelationSupervision : public Objective {
 public:
  CorrelationSupervision(const CorrelationOptions& o, const BuildContext& ctx) : o_(o) {
    const ModalityInfo* info = nullptr;
    for (const auto& m : ctx.modalities)
      if (m.name == o.modality) info = &m;
    if (!info)
      throw std::invalid_argument("correlation: the experiment has no modality '" + o.modality +
                                  "'; declare it with [[modality]] and adapt it with [train] adapt");
    const int64_t teacher_dim = o.teacher == "autoencoder" ? o.teacher_dim : info->dim;
    if (teacher_dim % o.parts != 0)
      throw std::invalid_argument("correlation: parts = " + std::to_string(o.parts) +
                                  " must divide the teacher vectors' dimension for '" + o.modality + "' (" +
                                  std::to_string(teacher_dim) + ")");
    if (o.teacher == "autoencoder") teacher_ = register_buffer("teacher", fit_teacher(ctx));
    project1_ = register_module("project1", torch::nn::Linear(info->dim, o.dim));
    project2_ = register_module("project2", torch::nn::Linear(o.dim, o.dim));
    if (o.dissected > 0) {
      reduce_ = register_module("reduce", torch::nn::Linear(torch::nn::LinearOptions(info->dim, o.dim).bias(false)));
      hidden_ = register_module("classifier_hidden", torch::nn::Linear(o.dim, o.dim));
      classify_ = register_module("classifier_out", torch::nn::Linear(o.dim, o.codes));
      centroids_ = register_buffer("centroids", fit_codes(ctx));
    }
  }

  // The code (index of the nearest centroid) of each row of part-wise cosines [P, D].
  torch::Tensor codes_of(const torch::Tensor& r) const {
    return torch::cdist(r, centroids_.to(r.dtype())).argmin(1);
  }
  const torch::Tensor& centroids() const { return centroids_; }

  LossTerms compute(const ForwardOutput& out) override {
    const Batch& batch = *out.batch;
    auto adapted = batch.features.find(adapted_key(o_.modality));
    if (adapted == batch.features.end())
      throw std::invalid_argument("correlation: the modality '" + o_.modality +
                                  "' is not adapted: add it to [train] adapt (the embeddings it supervises)");
    const torch::Tensor h = adapted->second.values;                                   // [U, D_f] trainable
    // [U, D_t]: the frozen vectors, or their autoencoder codes
    const torch::Tensor f = teacher_.defined() ? teacher_.index_select(0, batch.unique_items)
                                               : first_vector(batch.features.at(o_.modality).values).detach();
    const torch::Tensor has = adapted->second.mask;                                   // [U] item has features

    // The ordered pairs (t < s) of each sequence's positions holding two different items that both have features.
    const int64_t B = batch.items.size(0), L = batch.items.size(1);
    auto ok = batch.valid & has.index_select(0, batch.item_index.reshape({-1})).reshape({B, L});
    auto pair_mask = ok.unsqueeze(2) & ok.unsqueeze(1) & batch.items.unsqueeze(2).ne(batch.items.unsqueeze(1));
    pair_mask = pair_mask.triu(1);
    auto idx = pair_mask.nonzero();  // [P, 3]: row, t, s
    LossTerms result;
    auto zero = h.sum() * 0.0;  // keeps the graph when a batch has no pair
    if (idx.size(0) == 0) {
      result.total = zero;
      return result;
    }
    auto row = idx.select(1, 0), t = idx.select(1, 1), u = idx.select(1, 2);
    auto flat = batch.item_index.reshape({-1});
    // A [B, L, L] matrix of one sequence's position pairs, read at the pairs: per-sequence products stay L x L
    // (never one row per pair at the features' width).
    auto at_pairs = [&](const torch::Tensor& m) { return m.index({row, t, u}); };
    auto per_position = [&](const torch::Tensor& per_item) {  // [U, ...] -> [B, L, ...]
      auto x = per_item.index_select(0, flat);
      std::vector<int64_t> shape = {B, L};
      for (int64_t d = 1; d < per_item.dim(); ++d) shape.push_back(per_item.size(d));
      return x.reshape(shape);
    };

    torch::Tensor total = zero;
    if (o_.holistic > 0) {
      auto fn = per_position(f / f.norm(2, 1, true).clamp_min(1e-12));
      auto z = project2_->forward(project1_->forward(h));
      auto zn = per_position(z / z.norm(2, 1, true).clamp_min(1e-12));
      auto teacher = at_pairs(torch::bmm(fn, fn.transpose(1, 2)));
      auto student = at_pairs(torch::bmm(zn, zn.transpose(1, 2)));
      // Both orders of a pair count in the Frobenius norm: 2 x the sum over t < s.
      auto e = ((student - teacher) / o_.temperature).pow(2) + 1e-8;
      auto per_row = torch::zeros({B}, e.options()).index_add_(0, row, e);
      // Rows without a pair are left out before the square root (its gradient at 0 is infinite).
      auto holistic = (2 * per_row.masked_select(torch::bincount(row, {}, B).gt(0))).sqrt().mean();
      result.terms.emplace_back(o_.modality + "_holistic", holistic.detach());
      total = total + o_.holistic * holistic;
    }
    if (o_.dissected > 0) {
      torch::Tensor code;
      {
        torch::NoGradGuard no_grad;
        auto g = per_position(part_normalised(f, o_.parts).reshape({f.size(0), o_.parts, f.size(1) / o_.parts}));
        auto r = torch::einsum("btpk,bspk->btsp", {g, g});  // [B, L, L, D] part-wise cosines
        code = codes_of(at_pairs(r));
      }
      auto a = flat.index_select(0, row * L + t), b = flat.index_select(0, row * L + u);
      auto rh = reduce_->forward(h);
      auto logits =
          classify_->forward(torch::relu(hidden_->forward((rh.index_select(0, a) - rh.index_select(0, b)).abs())));
      auto dissected = torch::nn::functional::cross_entropy(logits, code);
      result.terms.emplace_back(o_.modality + "_dissected", dissected.detach());
      result.terms.emplace_back(o_.modality + "_code_accuracy",
                                logits.argmax(1).eq(code).to(torch::kFloat).mean().detach());
      total = total + o_.dissected * dissected;
    }
    result.total = total;
    return result;
  }

 private:
  // K-means (Lloyd) over the part-wise cosines of uniformly sampled pairs of distinct items with features, from a
  // fixed seed: the same centroids for every run of a dataset, whatever the run's seed.
  torch::Tensor fit_codes(const BuildContext& ctx) {
    if (!ctx.gather || ctx.num_items < 2)
      throw std::invalid_argument("correlation: dissected correlations need the features of at least two items");
    torch::NoGradGuard no_grad;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(uint64_t(o_.kmeans_seed));
    const int64_t n = o_.kmeans_pairs, chunk = 8192;
    auto first = torch::randint(1, ctx.num_items + 1, {n}, gen, torch::kLong);
    auto offset = torch::randint(1, ctx.num_items, {n}, gen, torch::kLong);  // second != first
    auto second = (first - 1 + offset).remainder(ctx.num_items) + 1;
    std::vector<torch::Tensor> rows;
    for (int64_t begin = 0; begin < n; begin += chunk) {
      auto i = first.slice(0, begin, std::min(n, begin + chunk));
      auto j = second.slice(0, begin, std::min(n, begin + chunk));
      auto fi = ctx.gather(o_.modality, i), fj = ctx.gather(o_.modality, j);
      auto keep = (first_mask(fi.mask) & first_mask(fj.mask)).nonzero().squeeze(1);
      auto vi = teacher_.defined() ? teacher_.index_select(0, i) : first_vector(fi.values);
      auto vj = teacher_.defined() ? teacher_.index_select(0, j) : first_vector(fj.values);
      auto gi = part_normalised(vi.index_select(0, keep), o_.parts);
      auto gj = part_normalised(vj.index_select(0, keep), o_.parts);
      rows.push_back(part_cosines(gi, gj, o_.parts));
    }
    auto r = torch::cat(rows, 0);
    if (r.size(0) < o_.codes)
      throw std::invalid_argument("correlation: only " + std::to_string(r.size(0)) +
                                  " sampled pairs have features, fewer than codes = " + std::to_string(o_.codes));
    auto centroids = r.index_select(0, torch::randperm(r.size(0), gen, torch::kLong).slice(0, 0, o_.codes)).clone();
    for (int64_t it = 0; it < o_.kmeans_iterations; ++it) {
      auto assign = torch::cdist(r, centroids).argmin(1);
      auto sums = torch::zeros_like(centroids).index_add_(0, assign, r);
      auto counts = torch::bincount(assign, {}, o_.codes).to(torch::kFloat).unsqueeze(1);
      // An empty cluster keeps its centroid.
      centroids = torch::where(counts.gt(0), sums / counts.clamp_min(1), centroids);
    }
    return centroids;
  }
  static torch::Tensor first_mask(const torch::Tensor& m) { return m.dim() == 2 ? m.select(1, 0) : m; }

  // The autoencoder's codes of every item's frozen vector, [num_items + 1, teacher_dim] (padding and items without
  // features: zeros).
  torch::Tensor fit_teacher(const BuildContext& ctx) {
    if (!ctx.gather) throw std::invalid_argument("correlation: teacher = \"autoencoder\" needs the items' features");
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> rows, has;
    const int64_t n = ctx.num_items + 1, chunk = 4096;
    for (int64_t begin = 0; begin < n; begin += chunk) {
      auto ids = torch::arange(begin, std::min(n, begin + chunk), torch::kLong);
      auto f = ctx.gather(o_.modality, ids);
      rows.push_back(first_vector(f.values).to(torch::kFloat));
      has.push_back(first_mask(f.mask).to(torch::kBool) & ids.ne(0));
    }
    TeacherAutoencoderOptions a;
    a.dim = o_.teacher_dim;
    a.epochs = o_.teacher_epochs;
    a.seed = uint64_t(o_.kmeans_seed);
    FittedTeacher fitted = fit_teacher_autoencoder(torch::cat(rows, 0), torch::cat(has, 0), a);
    if (ctx.log)
      ctx.log("correlation: teacher autoencoder for '" + o_.modality + "' to " + std::to_string(a.dim) +
              "-d, reconstruction error " + std::to_string(fitted.first_loss) + " -> " +
              std::to_string(fitted.last_loss));
    return fitted.codes;
  }

  CorrelationOptions o_;
  torch::nn::Linear project1_{nullptr}, project2_{nullptr}, reduce_{nullptr}, hidden_{nullptr}, classify_{nullptr};
  torch::Tensor centroids_, teacher_;
};

ParamBinding<CorrelationOptions> correlation_params() {
  using O = CorrelationOptions;
  ParamBinding<O> p;
  p.field("modality", &O::modality, "the adapted modality supervised ([train] adapt must name it)");
  p.field("holistic", &O::holistic, "weight of the holistic correlation loss (code: image 4, text 0.5; 0 = off)")
      .range(0.0, 1e6);
  p.field("dissected", &O::dissected,
          "weight of the dissected correlation-type loss (code: image 4, text 0.5; 0 = off)")
      .range(0.0, 1e6);
  p.field("temperature", &O::temperature, "temperature T of the holistic loss").range(1e-3, 1e3);
  p.field("parts", &O::parts, "D: equal parts the teacher vector is cut into for correlation types").range(1, 4096);
  p.field("codes", &O::codes, "K: k-means clusters (correlation types)").range(2, 100000);
  p.field("dim", &O::dim, "width of the student projections and of the code classifier").range(1, 65536);
  p.field("kmeans_pairs", &O::kmeans_pairs, "item pairs sampled to fit the k-means").range(100, 100000000);
  p.field("kmeans_iterations", &O::kmeans_iterations, "Lloyd iterations of the k-means").range(1, 10000);
  p.field("kmeans_seed", &O::kmeans_seed,
          "seed of the pair sample, the k-means start and the teacher autoencoder (fixed: the same for every run)")
      .range(0, 1000000000);
  p.field("teacher", &O::teacher,
          "the teacher vectors: the frozen features as they are, or reduced by an autoencoder fitted once per "
          "build (the KDSR code's 128-d teacher)")
      .one_of({"features", "autoencoder"})
      .added_after_release();
  p.field("teacher_dim", &O::teacher_dim, "teacher = \"autoencoder\": the code length").range(1, 65536)
      .added_after_release();
  p.field("teacher_epochs", &O::teacher_epochs, "teacher = \"autoencoder\": full-batch Adam steps of its fit")
      .range(1, 100000)
      .added_after_release();
  return p;
}

}  // namespace

MMSR_PLUGIN(correlation, "1.0.0") {
  registrar.add_objective(
      "correlation",
      "KDSR's correlation supervision of an adapted modality's embeddings: holistic and dissected correlations",
      correlation_params(), [](const CorrelationOptions& o, const BuildContext& ctx) -> std::shared_ptr<Objective> {
        if (o.holistic == 0 && o.dissected == 0)
          throw std::invalid_argument("correlation: holistic and dissected are both 0; remove the loss instead");
        return std::make_shared<CorrelationSupervision>(o, ctx);
      });
}

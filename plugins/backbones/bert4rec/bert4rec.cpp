// BERT4Rec (Sun et al., CIKM 2019; METHODS.md section 3): a bidirectional transformer over the item window, trained on
// the Cloze task. RecBole's version, which docs/parity.md compares against: in a training step each window is, with
// probability ft_ratio, a "fine-tuning" sample whose one [MASK] stands after the window and predicts the next item,
// and otherwise a Cloze sample whose items are each replaced by [MASK] with probability mask_ratio and predicted
// there. At evaluation a [MASK] is appended after the user's items and its output is the user's state.
// Output head as RecBole's: Linear, GELU, LayerNorm over the transformer's output. RecBole also adds a learned bias
// per item to the scores; scoring belongs to the item tower here, so there is none.
// The [MASK] is a learned vector of the backbone, not an item id, so any single-branch item tower can feed it.
#include <torch/nn/functional/activation.h>

#include "mmsr/sdk/plugin.h"
#include "mmsr/sdk/transformer.h"

namespace {

using namespace mmsr;

struct Bert4recOptions {
  TransformerOptions transformer;
  double mask_ratio = 0.2;
  double ft_ratio = 0.5;
};

class Bert4rec : public SequenceEncoder {
 public:
  Bert4rec(TransformerOptions o, double mask_ratio, double ft_ratio)
      : dim_(o.dim), mask_ratio_(mask_ratio), ft_ratio_(ft_ratio) {
    o.causal = false;
    o.max_len += 1;  // the window and the [MASK] after it
    transformer_ = register_module("transformer", std::make_shared<SequenceTransformer>(o));
    mask_ = register_parameter("mask_token", torch::zeros({o.dim}));
    head_ = register_module("head", torch::nn::Linear(o.dim, o.dim));
    head_norm_ = register_module("head_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim}).eps(o.eps)));
    init_normal_weights(*this, o.init_std);  // the mask token as an item row: normal(0, std)
  }

  bool bidirectional() const override { return true; }
  int64_t output_dim() const override { return dim_; }

  // The items' own outputs, and at the last position the output of a [MASK] after them: the user's state.
  torch::Tensor forward(const torch::Tensor& vectors, const torch::Tensor& valid, const Batch&) override {
    auto all = encode(vectors, valid, torch::zeros_like(valid), torch::ones({valid.size(0)}, valid.options()));
    const int64_t L = vectors.size(1);
    return torch::cat({all.slice(1, 0, L - 1), all.slice(1, L, L + 1)}, 1);
  }

  TrainingView train_forward(const torch::Tensor& vectors, const torch::Tensor& valid, const Batch& batch) override {
    const int64_t B = vectors.size(0), L = vectors.size(1);
    auto next = batch.targets.select(1, L - 1);  // the item after each window
    auto fine_tune = torch::ones({B}, valid.options());
    auto masked = torch::zeros_like(valid);
    if (is_training()) {  // out of training (a validation loss) every window is a fine-tuning sample
      auto uniform = torch::rand({B, L + 1}, vectors.options().dtype(torch::kFloat));
      fine_tune = uniform.select(1, L).lt(ft_ratio_);
      masked = uniform.slice(1, 0, L).lt(mask_ratio_) & valid & fine_tune.logical_not().unsqueeze(1);
    }
    auto last = fine_tune & next.ne(0);
    auto targets = torch::cat({torch::where(masked, batch.items, 0), torch::where(last, next, 0).unsqueeze(1)}, 1);
    return {encode(vectors, valid, masked, last), targets};
  }

 private:
  // [B, L + 1, d]: the window with its masked items replaced by [MASK], and a [MASK] after it where `last`.
  torch::Tensor encode(const torch::Tensor& vectors, const torch::Tensor& valid, const torch::Tensor& masked,
                       const torch::Tensor& last) {
    const int64_t B = vectors.size(0);
    auto token = mask_.to(vectors.dtype()).expand({B, 1, dim_});
    auto x = torch::cat({torch::where(masked.unsqueeze(-1), token, vectors), token}, 1);
    auto h = transformer_->forward(x, torch::cat({valid, last.unsqueeze(1)}, 1));
    return head_norm_->forward(torch::gelu(head_->forward(h)));
  }

  int64_t dim_;
  double mask_ratio_, ft_ratio_;
  std::shared_ptr<SequenceTransformer> transformer_;
  torch::Tensor mask_;
  torch::nn::Linear head_{nullptr};
  torch::nn::LayerNorm head_norm_{nullptr};
};

ParamBinding<Bert4recOptions> bert4rec_params() {
  ParamBinding<Bert4recOptions> p;
  p.include(&Bert4recOptions::transformer, transformer_params());
  // RecBole's BERT4Rec defaults (its BERT4Rec.yaml), where they differ from the SDK transformer's.
  p.default_of("dropout", 0.2);
  p.default_of("attn_dropout", 0.2);
  p.default_of("activation", std::string("gelu"));
  p.default_of("layer_norm_eps", 1e-12);
  p.default_of("ff_dropout", false);
  p.default_of("positions", std::string("from_start"));
  p.field("mask_ratio", &Bert4recOptions::mask_ratio, "probability that a Cloze sample's item is replaced by [MASK]")
      .range(0.01, 0.99);
  p.field("ft_ratio", &Bert4recOptions::ft_ratio,
          "share of training windows that are fine-tuning samples: one [MASK] after the window, predicting the next "
          "item (RecBole's ft_ratio; 0 = Cloze samples only)")
      .range(0.0, 1.0);
  return p;
}

}  // namespace

MMSR_PLUGIN(bert4rec, "1.0.0") {
  registrar.add_backbone(
      "bert4rec",
      "BERT4Rec: a bidirectional transformer trained on the Cloze task; the user's state is a [MASK] after the items",
      bert4rec_params(), [](const Bert4recOptions& o, const BuildContext& ctx) -> std::shared_ptr<SequenceEncoder> {
        return std::make_shared<Bert4rec>(
            transformer_options(o.transformer, ctx.input_dim, ctx.max_len, ctx.fast_dropout, "bert4rec"), o.mask_ratio,
            o.ft_ratio);
      });
}

// SASRec (Kang & McAuley 2018): learned positions + causal self-attention blocks (METHODS.md section 3).
// The norm position, activation, inner size, dropout, epsilon and depth are options, so the ODMT code
// (post-LN, ReLU, eps 1e-6), the original / pmixer port (pre-LN) and RecBole / S3-Rec (post-LN, GELU)
// are all expressible.
#include <torch/nn/functional/activation.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/init.h>

#include <cmath>

#include "mmsr/sdk/plugin.h"

namespace {

using namespace mmsr;

struct SasrecOptions {
  int64_t dim = 64, layers = 2, heads = 2, inner = 256, max_len = 50;
  double dropout = 0.1, attn_dropout = 0.1, eps = 1e-6, init_std = 0.02;
  bool pre_norm = false, gelu = false, scale_input = false;
};

// Multi-head self-attention written out, so the additive mask is ours: a finite large negative instead of
// -inf, and every query may attend to itself, so no row is ever fully masked (which would give NaN).
struct SelfAttention : torch::nn::Module {
  SelfAttention(const SasrecOptions& o) : heads(o.heads), dim(o.dim) {
    qkv = register_module("qkv", torch::nn::Linear(o.dim, 3 * o.dim));
    out = register_module("out", torch::nn::Linear(o.dim, o.dim));
    drop = register_module("drop", torch::nn::Dropout(o.attn_dropout));
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& additive_mask) {
    const int64_t B = x.size(0), L = x.size(1), dh = dim / heads;
    auto parts = qkv->forward(x).view({B, L, 3, heads, dh}).permute({2, 0, 3, 1, 4});
    auto q = parts[0], k = parts[1], v = parts[2];  // [B, H, L, dh]
    auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(double(dh)) + additive_mask;
    auto weights = drop->forward(torch::softmax(scores, -1));
    auto context = torch::matmul(weights, v).transpose(1, 2).reshape({B, L, dim});
    return out->forward(context);
  }
  int64_t heads, dim;
  torch::nn::Linear qkv{nullptr}, out{nullptr};
  torch::nn::Dropout drop{nullptr};
};

struct Block : torch::nn::Module {
  Block(const SasrecOptions& o) : pre_norm(o.pre_norm), gelu(o.gelu) {
    attn = register_module("attn", std::make_shared<SelfAttention>(o));
    norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim}).eps(o.eps)));
    norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim}).eps(o.eps)));
    ff1 = register_module("ff1", torch::nn::Linear(o.dim, o.inner));
    ff2 = register_module("ff2", torch::nn::Linear(o.inner, o.dim));
    drop1 = register_module("drop1", torch::nn::Dropout(o.dropout));
    drop2 = register_module("drop2", torch::nn::Dropout(o.dropout));
    drop_ff = register_module("drop_ff", torch::nn::Dropout(o.dropout));
  }
  torch::Tensor feed_forward(const torch::Tensor& x) {
    auto h = ff1->forward(x);
    h = gelu ? torch::gelu(h) : torch::relu(h);
    return ff2->forward(drop_ff->forward(h));
  }
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& mask) {
    if (pre_norm) {
      x = x + drop1->forward(attn->forward(norm1->forward(x), mask));
      return x + drop2->forward(feed_forward(norm2->forward(x)));
    }
    x = norm1->forward(x + drop1->forward(attn->forward(x, mask)));
    return norm2->forward(x + drop2->forward(feed_forward(x)));
  }
  bool pre_norm, gelu;
  std::shared_ptr<SelfAttention> attn;
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Linear ff1{nullptr}, ff2{nullptr};
  torch::nn::Dropout drop1{nullptr}, drop2{nullptr}, drop_ff{nullptr};
};

class Sasrec : public SequenceEncoder {
 public:
  explicit Sasrec(const SasrecOptions& o) : o_(o) {
    positions_ = register_module("positions", torch::nn::Embedding(o.max_len, o.dim));
    input_norm_ = register_module("input_norm",
                                  torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim}).eps(o.eps)));
    final_norm_ = register_module("final_norm",
                                  torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim}).eps(o.eps)));
    drop_ = register_module("drop", torch::nn::Dropout(o.dropout));
    for (int64_t i = 0; i < o.layers; ++i)
      blocks_.push_back(register_module("block" + std::to_string(i), std::make_shared<Block>(o)));
    if (o.init_std > 0) {
      torch::NoGradGuard g;
      for (auto& p : named_parameters()) {
        const auto& name = p.key();
        if (name.find("norm") != std::string::npos) continue;  // LayerNorm keeps weight 1, bias 0
        if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) p.value().zero_();
        else p.value().normal_(0.0, o.init_std);
      }
    }
  }

  torch::Tensor forward(const torch::Tensor& vectors, const torch::Tensor& valid, const Batch&) override {
    const int64_t L = vectors.size(1);
    if (L > o_.max_len)
      throw std::invalid_argument("sasrec: sequence length " + std::to_string(L) + " exceeds max_len " +
                                  std::to_string(o_.max_len));
    auto x = o_.scale_input ? vectors * std::sqrt(double(o_.dim)) : vectors;
    // Positions count from the left of the window: with left padding the newest item is always at L-1.
    auto pos = torch::arange(o_.max_len - L, o_.max_len, torch::TensorOptions().dtype(torch::kLong).device(x.device()));
    x = x + positions_->forward(pos).unsqueeze(0);
    if (!o_.pre_norm) x = input_norm_->forward(x);
    x = drop_->forward(x);
    auto keep = valid.unsqueeze(-1).to(x.dtype());
    x = x * keep;
    // allowed[b, i, j]: j <= i and j is a real item, or j == i.
    auto causal = torch::ones({L, L}, torch::TensorOptions().dtype(torch::kBool).device(x.device())).tril();
    auto allowed = causal.unsqueeze(0) & valid.unsqueeze(1);
    allowed = allowed | torch::eye(L, torch::TensorOptions().dtype(torch::kBool).device(x.device())).unsqueeze(0);
    auto mask = torch::zeros(allowed.sizes(), x.options()).masked_fill(allowed.logical_not(), -1e9).unsqueeze(1);
    for (auto& block : blocks_) x = block->forward(x, mask) * keep;
    if (o_.pre_norm) x = final_norm_->forward(x) * keep;
    return x;
  }
  int64_t output_dim() const override { return o_.dim; }

 private:
  SasrecOptions o_;
  torch::nn::Embedding positions_{nullptr};
  torch::nn::LayerNorm input_norm_{nullptr}, final_norm_{nullptr};
  torch::nn::Dropout drop_{nullptr};
  std::vector<std::shared_ptr<Block>> blocks_;
};

ParamDecl sasrec_params() {
  return ParamDecl()
      .integer("layers", 2, 1, 48, "number of self-attention blocks")
      .integer("heads", 2, 1, 64, "attention heads (must divide the item-vector dimension)")
      .integer("inner_size", 0, 0, 65536, "feed-forward inner size (0 = 4 x dimension)")
      .real("dropout", 0.1, 0.0, 0.99, "dropout on the input, the residual branches and the feed-forward")
      .real("attn_dropout", 0.1, 0.0, 0.99, "dropout on the attention weights")
      .choice("norm", "post", {"post", "pre"},
              "post-LN (ODMT code, RecBole) or pre-LN with a final LayerNorm (original SASRec)")
      .choice("activation", "relu", {"relu", "gelu"}, "feed-forward activation")
      .real("layer_norm_eps", 1e-6, 1e-15, 1e-1, "LayerNorm epsilon (ODMT 1e-6, RecBole 1e-12, SASRec 1e-8)")
      .boolean("scale_input", false, "multiply item vectors by sqrt(dimension) before adding positions")
      .real("init_std", 0.02, 0.0, 1.0, "normal init std of weights (0 = LibTorch defaults)");
}

}  // namespace

MMSR_PLUGIN(sasrec, "1.0.0") {
  registrar.add_backbone(
      "sasrec", "SASRec: causal self-attention over item vectors with learned positions", sasrec_params(),
      [](const ParamSet& p, const BuildContext& ctx) -> std::shared_ptr<SequenceEncoder> {
        SasrecOptions o;
        o.dim = ctx.input_dim;
        o.max_len = ctx.max_len;
        o.layers = p.get_int("layers");
        o.heads = p.get_int("heads");
        o.inner = p.get_int("inner_size") > 0 ? p.get_int("inner_size") : 4 * o.dim;
        o.dropout = p.get_double("dropout");
        o.attn_dropout = p.get_double("attn_dropout");
        o.pre_norm = p.get_string("norm") == "pre";
        o.gelu = p.get_string("activation") == "gelu";
        o.eps = p.get_double("layer_norm_eps");
        o.scale_input = p.get_bool("scale_input");
        o.init_std = p.get_double("init_std");
        if (o.dim % o.heads != 0)
          throw std::invalid_argument("sasrec: heads = " + std::to_string(o.heads) +
                                      " does not divide the item-vector dimension " + std::to_string(o.dim));
        return std::make_shared<Sasrec>(o);
      });
}

#include "mmsr/sdk/transformer.h"

#include "mmsr/sdk/dropout.h"

#include <torch/nn/functional/activation.h>

#include <cmath>
#include <stdexcept>

namespace mmsr {

ParamBinding<TransformerOptions> transformer_params() {
  using O = TransformerOptions;
  ParamBinding<O> p;
  p.field("layers", &O::layers, "number of self-attention blocks").range(1, 48);
  p.field("heads", &O::heads, "attention heads (must divide the item-vector dimension)").range(1, 64);
  p.field("inner_size", &O::inner, "feed-forward inner size (0 = 4 x dimension)").range(0, 65536);
  p.field("dropout", &O::dropout, "dropout on the input, the residual branches and the feed-forward").range(0.0, 0.99);
  p.field("attn_dropout", &O::attn_dropout, "dropout on the attention weights").range(0.0, 0.99);
  p.choice("norm", &O::pre_norm, {{"post", false}, {"pre", true}},
           "post-LN (ODMT code, RecBole) or pre-LN with a final LayerNorm (original SASRec)");
  p.choice("activation", &O::gelu, {{"relu", false}, {"gelu", true}}, "feed-forward activation");
  p.field("layer_norm_eps", &O::eps, "LayerNorm epsilon (ODMT 1e-6, RecBole 1e-12, SASRec 1e-8)").range(1e-15, 1e-1);
  p.field("scale_input", &O::scale_input, "multiply item vectors by sqrt(dimension) before adding positions");
  p.field("init_std", &O::init_std, "normal init std of weights (0 = LibTorch defaults)").range(0.0, 1.0);
  p.field("ff_dropout", &O::ff_dropout,
          "dropout also inside the feed-forward, after the activation (original SASRec, ODMT code); "
          "false = only after it (RecBole, S3-Rec)")
      .added_after_release();
  p.choice("positions", &O::positions_from_start, {{"from_end", false}, {"from_start", true}},
           "learned positions counted back from the newest item (original SASRec, S3-Rec, ODMT code) or "
           "from the oldest item of the window (RecBole)")
      .added_after_release();
  return p;
}

TransformerOptions transformer_options(TransformerOptions o, int64_t dim, int64_t max_len, bool fast_dropout,
                                       const std::string& who) {
  o.dim = dim;
  o.max_len = max_len;
  o.fast_dropout = fast_dropout;
  if (o.inner <= 0) o.inner = 4 * dim;
  if (dim % o.heads != 0)
    throw std::invalid_argument(who + ": heads = " + std::to_string(o.heads) +
                                " does not divide the item-vector dimension " + std::to_string(dim));
  return o;
}

SelfAttention::SelfAttention(const TransformerOptions& o)
    : heads_(o.heads), dim_(o.dim), fast_dropout_(o.fast_dropout) {
  qkv_ = register_module("qkv", torch::nn::Linear(o.dim, 3 * o.dim));
  out_ = register_module("out", torch::nn::Linear(o.dim, o.dim));
  drop_ = register_module("drop", torch::nn::Dropout(o.attn_dropout));
}

torch::Tensor SelfAttention::forward(const torch::Tensor& x, const torch::Tensor& additive_mask) {
  const int64_t B = x.size(0), L = x.size(1), dh = dim_ / heads_;
  // unbind, not three selects: its backward writes each part's gradient once instead of zero-filling three copies
  // of the whole projection and adding them.
  auto parts = qkv_->forward(x).view({B, L, 3, heads_, dh}).permute({2, 0, 3, 1, 4}).unbind(0);
  const auto &q = parts[0], &k = parts[1], &v = parts[2];  // [B, H, L, dh]
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(double(dh)) + additive_mask;
  auto probabilities = torch::softmax(scores, -1);
  if (keep_) last_weights_ = probabilities.detach();
  auto weights = dropout(drop_, probabilities, fast_dropout_);
  auto context = torch::matmul(weights, v).transpose(1, 2).reshape({B, L, dim_});
  return out_->forward(context);
}

torch::Tensor SelfAttention::forward_rows(const torch::Tensor& x, const torch::Tensor& additive_mask,
                                          const torch::Tensor& rows) {
  const int64_t B = x.size(0), L = x.size(1), R = rows.size(0), dh = dim_ / heads_;
  // The fused projection's weights, split: queries of the rows, keys and values of every position.
  const auto& w = qkv_->weight;
  const auto& b = qkv_->bias;
  auto q = torch::linear(x.index_select(1, rows), w.slice(0, 0, dim_), b.slice(0, 0, dim_))
               .view({B, R, heads_, dh})
               .transpose(1, 2);  // [B, H, R, dh]
  auto kv = torch::linear(x, w.slice(0, dim_), b.slice(0, dim_)).view({B, L, 2, heads_, dh}).permute({2, 0, 3, 1, 4}).unbind(0);
  auto scores = torch::matmul(q, kv[0].transpose(-2, -1)) / std::sqrt(double(dh)) +
                additive_mask.index_select(2, rows);
  auto probabilities = torch::softmax(scores, -1);
  if (keep_) last_weights_ = probabilities.detach();
  auto weights = dropout_rows(drop_, probabilities, {B, heads_, L, L}, 2, rows, fast_dropout_);
  auto context = torch::matmul(weights, kv[1]).transpose(1, 2).reshape({B, R, dim_});
  return out_->forward(context);
}

TransformerBlock::TransformerBlock(const TransformerOptions& o)
    : pre_norm_(o.pre_norm), gelu_(o.gelu), ff_dropout_(o.ff_dropout), fast_dropout_(o.fast_dropout) {
  attn_ = register_module("attn", std::make_shared<SelfAttention>(o));
  norm1_ = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim}).eps(o.eps)));
  norm2_ = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim}).eps(o.eps)));
  const int64_t inner = o.inner > 0 ? o.inner : 4 * o.dim;  // 0 = 4 x dim, also when built without transformer_options
  ff1_ = register_module("ff1", torch::nn::Linear(o.dim, inner));
  ff2_ = register_module("ff2", torch::nn::Linear(inner, o.dim));
  drop1_ = register_module("drop1", torch::nn::Dropout(o.dropout));
  drop2_ = register_module("drop2", torch::nn::Dropout(o.dropout));
  drop_ff_ = register_module("drop_ff", torch::nn::Dropout(o.dropout));
}

torch::Tensor TransformerBlock::feed_forward(const torch::Tensor& x) {
  auto h = ff1_->forward(x);
  h = gelu_ ? torch::gelu(h) : torch::relu(h);
  return ff2_->forward(ff_dropout_ ? dropout(drop_ff_, h, fast_dropout_) : h);
}

torch::Tensor TransformerBlock::feed_forward_rows(const torch::Tensor& x, int64_t full_length, const torch::Tensor& rows) {
  auto h = ff1_->forward(x);
  h = gelu_ ? torch::gelu(h) : torch::relu(h);
  if (ff_dropout_) h = dropout_rows(drop_ff_, h, {h.size(0), full_length, h.size(2)}, 1, rows, fast_dropout_);
  return ff2_->forward(h);
}

torch::Tensor TransformerBlock::forward_rows(const torch::Tensor& x, const torch::Tensor& mask,
                                             const torch::Tensor& rows) {
  const int64_t B = x.size(0), L = x.size(1), d = x.size(2);
  auto at_rows = [&](const torch::nn::Dropout& drop, const torch::Tensor& t) {
    return dropout_rows(drop, t, {B, L, d}, 1, rows, fast_dropout_);
  };
  auto y = x.index_select(1, rows);
  // The draws in forward's order: attention weights, drop1, the feed-forward's, drop2.
  if (pre_norm_) {
    y = y + at_rows(drop1_, attn_->forward_rows(norm1_->forward(x), mask, rows));
    return y + at_rows(drop2_, feed_forward_rows(norm2_->forward(y), L, rows));
  }
  y = norm1_->forward(y + at_rows(drop1_, attn_->forward_rows(x, mask, rows)));
  return norm2_->forward(y + at_rows(drop2_, feed_forward_rows(y, L, rows)));
}

torch::Tensor TransformerBlock::forward(torch::Tensor x, const torch::Tensor& mask) {
  if (pre_norm_) {
    x = x + dropout(drop1_, attn_->forward(norm1_->forward(x), mask), fast_dropout_);
    return x + dropout(drop2_, feed_forward(norm2_->forward(x)), fast_dropout_);
  }
  x = norm1_->forward(x + dropout(drop1_, attn_->forward(x, mask), fast_dropout_));
  return norm2_->forward(x + dropout(drop2_, feed_forward(x), fast_dropout_));
}

namespace {

// [B, 1, L, L] additive mask from where attention is allowed ([B or 1, L, L]): every position also sees itself, so
// no row is ever fully masked.
torch::Tensor additive_mask(const torch::Tensor& allowed, const torch::Tensor& valid, torch::ScalarType dtype) {
  const int64_t L = valid.size(1);
  auto everywhere = allowed | torch::eye(L, torch::TensorOptions().dtype(torch::kBool).device(valid.device())).unsqueeze(0);
  return torch::zeros(everywhere.sizes(), torch::TensorOptions().dtype(dtype).device(valid.device()))
      .masked_fill(everywhere.logical_not(), -1e9)
      .unsqueeze(1);
}

}  // namespace

torch::Tensor causal_attention_mask(const torch::Tensor& valid, torch::ScalarType dtype) {
  const int64_t L = valid.size(1);
  auto earlier = torch::ones({L, L}, torch::TensorOptions().dtype(torch::kBool).device(valid.device())).tril();
  return additive_mask(earlier.unsqueeze(0) & valid.unsqueeze(1), valid, dtype);
}

torch::Tensor bidirectional_attention_mask(const torch::Tensor& valid, torch::ScalarType dtype) {
  const int64_t L = valid.size(1);
  return additive_mask(valid.unsqueeze(1).expand({valid.size(0), L, L}), valid, dtype);
}

SequenceTransformer::SequenceTransformer(const TransformerOptions& o) : o_(o) {
  positions_ = register_module("positions", torch::nn::Embedding(o.max_len, o.dim));
  input_norm_ =
      register_module("input_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim}).eps(o.eps)));
  final_norm_ =
      register_module("final_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim}).eps(o.eps)));
  drop_ = register_module("drop", torch::nn::Dropout(o.dropout));
  for (int64_t i = 0; i < o.layers; ++i)
    blocks_.push_back(register_module("block" + std::to_string(i), std::make_shared<TransformerBlock>(o)));
}

torch::Tensor SequenceTransformer::forward(const torch::Tensor& vectors, const torch::Tensor& valid) {
  const int64_t L = vectors.size(1);
  if (L > o_.max_len)
    throw std::invalid_argument("sequence length " + std::to_string(L) + " exceeds max_len " +
                                std::to_string(o_.max_len));
  auto x = o_.scale_input ? vectors * std::sqrt(double(o_.dim)) : vectors;
  if (o_.positions_from_start) {
    // RecBole's convention: the oldest item of each window is position 0 (RecBole pads on the right), so a
    // sequence's newest item sits at a position that depends on its length. Padding slots take position 0.
    x = x + positions_->forward((valid.to(torch::kLong).cumsum(1) - 1).clamp_min(0));
  } else {
    // Positions count from the left of the window: with left padding the newest item is always at max_len-1.
    auto pos = torch::arange(o_.max_len - L, o_.max_len, torch::TensorOptions().dtype(torch::kLong).device(x.device()));
    x = x + positions_->forward(pos).unsqueeze(0);
  }
  if (!o_.pre_norm) x = input_norm_->forward(x);
  x = dropout(drop_, x, o_.fast_dropout);
  auto keep = valid.unsqueeze(-1).to(x.dtype());
  x = x * keep;
  auto mask = o_.causal ? causal_attention_mask(valid, x.scalar_type())
                       : bidirectional_attention_mask(valid, x.scalar_type());
  for (auto& block : blocks_) x = block->forward(x, mask) * keep;
  if (o_.pre_norm) x = final_norm_->forward(x) * keep;
  return x;
}

void init_normal_weights(torch::nn::Module& module, double std) {
  if (std <= 0) return;
  torch::NoGradGuard g;
  for (auto& p : module.named_parameters()) {
    const auto& name = p.key();
    if (name.find("norm") != std::string::npos) continue;  // LayerNorm keeps weight 1, bias 0
    if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) p.value().zero_();
    else p.value().normal_(0.0, std);
  }
}

}  // namespace mmsr

// Building blocks shared by the attention plugins (SASRec, FDSA, and the multimodal towers): multi-head
// self-attention with an explicit additive mask, a transformer block with the norm position and activation as
// options, and the causal encoder body of SASRec (learned positions, input norm, dropout, blocks). One copy in
// the SDK, so every model that says "SASRec-style" means the same computation.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "mmsr/sdk/options.h"

namespace mmsr {

// The transformer's options. The parameter fields (all but dim and max_len, which come from the model) are bound
// by transformer_params(); their defaults are the ODMT code's values.
struct TransformerOptions {
  int64_t dim = 64, max_len = 50;  // from the model, not parameters
  int64_t layers = 2, heads = 2;
  int64_t inner = 0;  // feed-forward inner size; 0 = 4 x dim (resolved by transformer_options)
  double dropout = 0.1, attn_dropout = 0.1, eps = 1e-6, init_std = 0.02;
  bool pre_norm = false, gelu = false, scale_input = false;
  bool ff_dropout = true;  // dropout after the feed-forward's activation as well as after the feed-forward
  bool positions_from_start = false;  // RecBole's positions (0 = oldest item of the window) instead of from the newest
  bool fast_dropout = false;          // from the run (BuildContext::fast_dropout), not a parameter
  bool causal = true;                 // from the plugin, not a parameter: false lets every position see the window
};

// The transformer's parameters (layers, heads, inner_size, dropouts, norm, activation, epsilon, scale_input,
// init_std, ff_dropout, positions), for a plugin to include in its own: p.include(&MyOptions::transformer, ...).
ParamBinding<TransformerOptions> transformer_params();
// The bound options completed with the model's dimension and window and the run's dropout kernel: inner resolved,
// and heads checked to divide dim (`who` names the plugin in the error).
TransformerOptions transformer_options(TransformerOptions bound, int64_t dim, int64_t max_len, bool fast_dropout,
                                       const std::string& who);

// Multi-head self-attention written out, so the additive mask is ours: a finite large negative instead of
// -inf, and callers let every query attend to itself, so no row is ever fully masked (which would give NaN).
class SelfAttention : public torch::nn::Module {
 public:
  explicit SelfAttention(const TransformerOptions& o);
  // x: [B, L, d]; additive_mask broadcastable to [B, heads, L, L].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& additive_mask);
  // Only the queries at positions `rows` ([R] indices): [B, R, d], what forward gives at them (the keys and values
  // still come from every position; additive_mask then has L rows: [B or 1, 1 or heads, L, L]).
  torch::Tensor forward_rows(const torch::Tensor& x, const torch::Tensor& additive_mask, const torch::Tensor& rows);
  // For tests and inspection: keep the attention weights [B, heads, L, L] of the last forward.
  void keep_weights(bool keep) { keep_ = keep; }
  const torch::Tensor& last_weights() const { return last_weights_; }

 private:
  bool keep_ = false;
  torch::Tensor last_weights_;
  int64_t heads_, dim_;
  bool fast_dropout_;
  torch::nn::Linear qkv_{nullptr}, out_{nullptr};
  torch::nn::Dropout drop_{nullptr};
};

class TransformerBlock : public torch::nn::Module {
 public:
  explicit TransformerBlock(const TransformerOptions& o);
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& additive_mask);
  // The block's output at positions `rows` only ([B, R, d]), as forward gives it there, for a last block whose other
  // positions nobody reads (the same dropout draws: mmsr::dropout_rows). Much less work when R is small.
  torch::Tensor forward_rows(const torch::Tensor& x, const torch::Tensor& additive_mask, const torch::Tensor& rows);
  SelfAttention& attention() { return *attn_; }

 private:
  torch::Tensor feed_forward(const torch::Tensor& x);
  torch::Tensor feed_forward_rows(const torch::Tensor& x, int64_t full_length, const torch::Tensor& rows);
  bool pre_norm_, gelu_, ff_dropout_, fast_dropout_;
  std::shared_ptr<SelfAttention> attn_;
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Linear ff1_{nullptr}, ff2_{nullptr};
  torch::nn::Dropout drop1_{nullptr}, drop2_{nullptr}, drop_ff_{nullptr};
};

// [B, 1, L, L] additive mask of a left-padded batch: position i sees positions j <= i that hold an item, and
// itself always.
torch::Tensor causal_attention_mask(const torch::Tensor& valid, torch::ScalarType dtype);
// The same without the order: position i sees every position that holds an item, and itself always (BERT4Rec).
torch::Tensor bidirectional_attention_mask(const torch::Tensor& valid, torch::ScalarType dtype);

// SASRec's encoder body: item vectors + learned positions (by default counted from the right, so the newest item always
// has the same position), LayerNorm (post-LN) and dropout, blocks, a final LayerNorm (pre-LN). The blocks are causal
// (SASRec, FDSA) unless the options say otherwise (BERT4Rec). Outputs at padding positions are zero.
class SequenceTransformer : public torch::nn::Module {
 public:
  explicit SequenceTransformer(const TransformerOptions& o);
  torch::Tensor forward(const torch::Tensor& vectors, const torch::Tensor& valid);
  const TransformerOptions& options() const { return o_; }

 private:
  TransformerOptions o_;
  torch::nn::Embedding positions_{nullptr};
  torch::nn::LayerNorm input_norm_{nullptr}, final_norm_{nullptr};
  torch::nn::Dropout drop_{nullptr};
  std::vector<std::shared_ptr<TransformerBlock>> blocks_;
};

// BERT-style initialisation used by SASRec's and FDSA's reference code: weights ~ normal(0, std), biases 0,
// LayerNorm parameters untouched (names containing "norm"). std = 0 leaves LibTorch's defaults.
void init_normal_weights(torch::nn::Module& module, double std);

}  // namespace mmsr

#include "mmsr/sdk/modality_encoder.h"

#include <string>

#include "mmsr/sdk/dropout.h"

namespace mmsr {

namespace {

// A pooled input as one token: [U, d] -> [U, 1, d], its mask [U] (or none) -> [U, 1].
std::pair<torch::Tensor, torch::Tensor> as_tokens(const torch::Tensor& values, const torch::Tensor& mask) {
  if (values.dim() == 3) return {values, mask};
  auto ones = torch::ones({values.size(0), 1}, torch::TensorOptions().dtype(torch::kBool).device(values.device()));
  return {values.unsqueeze(1), mask.defined() ? mask.reshape({-1, 1}).to(torch::kBool) : ones};
}

// The first token, or the mean of the real tokens: [U, K, d] -> [U, d].
torch::Tensor read_out(const torch::Tensor& x, const torch::Tensor& mask, bool mean_tokens) {
  if (!mean_tokens) return x.select(1, 0);
  auto m = mask.unsqueeze(-1).to(x.dtype());
  return (x * m).sum(1) / m.sum(1).clamp_min(1.0);
}

}  // namespace

torch::Tensor token_padding_mask(const torch::Tensor& valid) {
  const int64_t U = valid.size(0), K = valid.size(1);
  auto allowed = valid.to(torch::kBool).unsqueeze(1).expand({U, K, K});
  allowed = allowed | torch::eye(K, torch::TensorOptions().dtype(torch::kBool).device(valid.device())).unsqueeze(0);
  return torch::zeros({U, K, K}, torch::TensorOptions().dtype(torch::kFloat).device(valid.device()))
      .masked_fill(allowed.logical_not(), -1e9)
      .unsqueeze(1);
}

ModalityEncoder::ModalityEncoder(const ModalityEncoderOptions& o) : o_(o) {
  const bool deep = o.transformer.layers > 0;
  linear_ = register_module("linear", torch::nn::Linear(o.in_dim, o.transformer.dim));
  drop_ = register_module("drop", torch::nn::Dropout(deep ? o.transformer.dropout : o.feature_dropout));
  for (int64_t i = 0; i < o.transformer.layers; ++i)
    blocks_.push_back(register_module("block" + std::to_string(i), std::make_shared<TransformerBlock>(o.transformer)));
  // The blocks start as the ODMT code's (normal weights); the projection keeps LibTorch's start, as with no layers.
  for (auto& b : blocks_) init_normal_weights(*b, o.transformer.init_std);
}

torch::Tensor ModalityEncoder::projection_only(const torch::Tensor& values, const torch::Tensor& mask) {
  torch::Tensor x = values.dim() == 3 ? read_out(values, mask, o_.mean_tokens) : values;
  return linear_->forward(dropout(drop_, x, o_.transformer.fast_dropout));
}

torch::Tensor ModalityEncoder::encode_tokens(const torch::Tensor& tokens, const torch::Tensor& valid) {
  auto x = dropout(drop_, linear_->forward(tokens), o_.transformer.fast_dropout);
  const auto additive = token_padding_mask(valid);
  for (auto& b : blocks_) x = b->forward(x, additive);
  return x;
}

torch::Tensor ModalityEncoder::forward(const torch::Tensor& values, const torch::Tensor& mask) {
  if (blocks_.empty()) return projection_only(values, mask);
  auto [tokens, valid] = as_tokens(values, mask);
  return read_out(encode_tokens(tokens, valid), valid, o_.mean_tokens);
}

}  // namespace mmsr

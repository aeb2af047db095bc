// One modality's frozen features -> one d-vector per item (METHODS.md sections 4 and 5): each token is projected to
// d, then `layers` transformer blocks run over the item's tokens (no positions; padded tokens are never attended
// to, every token attends to itself), and the item's vector is read at the first token ([CLS] / class token) or as
// the mean of its real tokens. A pooled modality is one token.
//
// With no layers it is the projection alone (the paper's TRM+DNN without the TRM): the first token or the tokens'
// mean, feature dropout, a linear map. The early- and late-fusion towers use it with the paper's two layers, and
// ODMT's IMT uses it for its separate-encoder ablation, so both mean the same computation.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include <memory>
#include <vector>

#include "mmsr/sdk/transformer.h"

namespace mmsr {

struct ModalityEncoderOptions {
  int64_t in_dim = 0;              // the feature vector's length
  TransformerOptions transformer;  // dim = d; layers may be 0 (the projection alone)
  bool mean_tokens = false;        // read the mean of the real tokens instead of the first
  double feature_dropout = 0.0;    // on the frozen features, before the projection (no layers only)
};

class ModalityEncoder : public torch::nn::Module {
 public:
  explicit ModalityEncoder(const ModalityEncoderOptions& o);
  // values: [U, K, in_dim] tokens with mask [U, K] (1 = a real token), or [U, in_dim] pooled -> [U, d].
  torch::Tensor forward(const torch::Tensor& values, const torch::Tensor& mask);
  int64_t layers() const { return int64_t(blocks_.size()); }

 private:
  torch::Tensor projection_only(const torch::Tensor& values, const torch::Tensor& mask);
  // tokens [U, K, in_dim] with valid [U, K] -> the encoded tokens [U, K, d] (layers > 0).
  torch::Tensor encode_tokens(const torch::Tensor& tokens, const torch::Tensor& valid);
  ModalityEncoderOptions o_;
  torch::nn::Linear linear_{nullptr};
  torch::nn::Dropout drop_{nullptr};
  std::vector<std::shared_ptr<TransformerBlock>> blocks_;
};

// [U, 1, K, K] additive mask over one item's tokens: key k is visible when it is a real token, and every query sees
// itself (so no row is empty).
torch::Tensor token_padding_mask(const torch::Tensor& valid);

}  // namespace mmsr

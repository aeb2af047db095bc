#include "mmsr/sdk/pooling.h"

#include <torch/nn/functional/activation.h>

#include <limits>

namespace mmsr {

torch::Tensor attention_pool(const torch::Tensor& f, const torch::Tensor& owner, int64_t owners,
                             torch::nn::Linear& hidden, torch::nn::Linear& score) {
  // Softmax over each owner's vectors, as segments of the flat list (stable: each segment's peak subtracted).
  auto energy = score->forward(torch::relu(hidden->forward(f))).squeeze(1);
  auto peak = torch::full({owners}, -std::numeric_limits<float>::infinity(), energy.options())
                  .scatter_reduce(0, owner, energy.detach(), "amax", true);
  auto weight = torch::exp(energy - peak.index_select(0, owner));
  auto total = torch::zeros({owners}, weight.options()).index_add(0, owner, weight);
  weight = weight / total.index_select(0, owner);
  return torch::zeros({owners, f.size(1)}, f.options()).index_add(0, owner, weight.unsqueeze(1) * f);
}

}  // namespace mmsr

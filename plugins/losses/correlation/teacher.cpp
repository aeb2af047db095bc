#include "teacher.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/adam.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace mmsr {

namespace {

// A weight matrix [out, in] ~ normal(0, 1/sqrt(in)) and a zero bias, from the given generator: the fit does not
// draw from LibTorch's global generator, which the host seeds per run.
std::pair<torch::Tensor, torch::Tensor> layer(int64_t in, int64_t out, at::Generator& gen) {
  auto w = at::normal(0.0, 1.0 / std::sqrt(double(in)), {out, in}, gen).requires_grad_(true);
  return {w, torch::zeros({out}).requires_grad_(true)};
}

}  // namespace

FittedTeacher fit_teacher_autoencoder(const torch::Tensor& rows, const torch::Tensor& has_features,
                                      const TeacherAutoencoderOptions& o) {
  torch::AutoGradMode grad(true);
  const int64_t D = rows.size(1), H = std::max(o.dim, std::min<int64_t>(D, 256));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  auto [w1, b1] = layer(D, H, gen);
  auto [w2, b2] = layer(H, o.dim, gen);
  auto [w3, b3] = layer(o.dim, H, gen);
  auto [w4, b4] = layer(H, D, gen);
  const auto x = rows.index_select(0, has_features.nonzero().squeeze(1)).to(torch::kFloat).detach();
  auto encode = [&](const torch::Tensor& in) { return torch::linear(torch::relu(torch::linear(in, w1, b1)), w2, b2); };
  auto decode = [&](const torch::Tensor& z) { return torch::linear(torch::relu(torch::linear(z, w3, b3)), w4, b4); };
  torch::optim::Adam adam(std::vector<torch::Tensor>{w1, b1, w2, b2, w3, b3, w4, b4}, torch::optim::AdamOptions(1e-3));
  FittedTeacher fitted;
  for (int64_t step = 0; step < o.epochs; ++step) {
    adam.zero_grad();
    auto loss = torch::nn::functional::mse_loss(decode(encode(x)), x);
    if (step == 0) fitted.first_loss = loss.item<double>();
    loss.backward();
    adam.step();
  }
  torch::NoGradGuard no_grad;
  fitted.last_loss = torch::nn::functional::mse_loss(decode(encode(x)), x).item<double>();
  fitted.codes = encode(rows.to(torch::kFloat)).masked_fill(has_features.logical_not().unsqueeze(1), 0.0).detach();
  return fitted;
}

}  // namespace mmsr

// A backbone written outside mmsr's tree, to copy when writing your own: the user state at position t is the mean
// of the item vectors at positions <= t (the last `window` of them), optionally through a learned projection.
// A baseline in its own right (a "bag of recent items"), and the smallest plugin that passes the backbone
// conformance suite: causal, unaffected by padding, deterministic, saved and loaded with its module.
#include <torch/nn/modules/linear.h>

#include "mmsr/sdk/plugin.h"

namespace {

using namespace mmsr;

// The plugin's options: each field is bound once below, its initialiser is the parameter's default.
struct MeanPoolOptions {
  int64_t window = 0;  // 0 = every position so far
  bool project = true;
};

ParamBinding<MeanPoolOptions> mean_pool_params() {
  ParamBinding<MeanPoolOptions> p;
  p.field("window", &MeanPoolOptions::window, "average the last N positions (0 = all so far)").range(0, 4096);
  p.field("project", &MeanPoolOptions::project, "a learned linear map of the mean (false: the mean itself)");
  return p;
}

class MeanPool : public SequenceEncoder {
 public:
  MeanPool(const MeanPoolOptions& o, int64_t dim) : window_(o.window), dim_(dim) {
    if (o.project) projection_ = register_module("projection", torch::nn::Linear(dim, dim));
  }

  // vectors [B, L, d], valid [B, L] (left-padded): states [B, L, d], zero at padding.
  torch::Tensor forward(const torch::Tensor& vectors, const torch::Tensor& valid, const Batch&) override {
    auto mask = valid.unsqueeze(-1).to(vectors.dtype());
    auto sums = (vectors * mask).cumsum(1);
    auto counts = mask.cumsum(1);
    if (window_ > 0 && window_ < vectors.size(1)) {
      // Running sums over the last `window` positions: subtract the sums `window` positions back.
      auto shifted = torch::zeros_like(sums);
      shifted.slice(1, window_) = sums.slice(1, 0, sums.size(1) - window_);
      auto shifted_counts = torch::zeros_like(counts);
      shifted_counts.slice(1, window_) = counts.slice(1, 0, counts.size(1) - window_);
      sums = sums - shifted;
      counts = counts - shifted_counts;
    }
    auto mean = sums / counts.clamp_min(1.0);
    if (projection_) mean = projection_->forward(mean);
    return mean * mask;
  }
  int64_t output_dim() const override { return dim_; }

 private:
  int64_t window_, dim_;
  torch::nn::Linear projection_{nullptr};
};

}  // namespace

MMSR_PLUGIN(mean_pool, "1.0.0") {
  registrar.add_backbone("mean_pool", "mean of the item vectors so far (or of the last N), optionally projected",
                         mean_pool_params(),
                         [](const MeanPoolOptions& o, const BuildContext& ctx) -> std::shared_ptr<SequenceEncoder> {
                           return std::make_shared<MeanPool>(o, ctx.input_dim);
                         });
}

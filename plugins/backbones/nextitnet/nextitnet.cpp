// NextItNet (Yuan et al. 2019) as a sequence encoder (METHODS.md section 3): stacked residual blocks with
// dilations [1, 4] repeated (ODMT code: 2 repeats; RecBole: 5). A block: causal dilated conv (kernel k,
// dilation r), LayerNorm, ReLU, causal conv (dilation 2r), LayerNorm, ReLU, plus the residual.
// Convolutions are causal by left zero-padding; padded positions are zeroed after every stage, so a real
// position sees exactly what it would see with no padding at all.
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>

#include "mmsr/sdk/plugin.h"

namespace {

using namespace mmsr;

struct ResidualBlock : torch::nn::Module {
  ResidualBlock(int64_t dim, int64_t kernel, int64_t dilation) : kernel(kernel), dilation(dilation) {
    conv1 = register_module("conv1", torch::nn::Conv1d(torch::nn::Conv1dOptions(dim, dim, kernel).dilation(dilation)));
    conv2 = register_module("conv2", torch::nn::Conv1d(torch::nn::Conv1dOptions(dim, dim, kernel).dilation(2 * dilation)));
    norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-8)));
    norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-8)));
  }
  // x: [B, L, d]; keep: [B, L, 1]
  torch::Tensor causal_conv(torch::nn::Conv1d& conv, const torch::Tensor& x, int64_t d) {
    auto y = torch::constant_pad_nd(x.transpose(1, 2), {(kernel - 1) * d, 0});
    return conv->forward(y).transpose(1, 2);
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& keep) {
    auto h = torch::relu(norm1->forward(causal_conv(conv1, x, dilation))) * keep;
    h = torch::relu(norm2->forward(causal_conv(conv2, h, 2 * dilation))) * keep;
    return x + h;
  }
  int64_t kernel, dilation;
  torch::nn::Conv1d conv1{nullptr}, conv2{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
};

class NextItNet : public SequenceEncoder {
 public:
  NextItNet(int64_t dim, int64_t kernel, const std::vector<int64_t>& dilations, int64_t repeats) : dim_(dim) {
    for (int64_t r = 0; r < repeats; ++r)
      for (int64_t d : dilations)
        blocks_.push_back(register_module("block" + std::to_string(blocks_.size()),
                                          std::make_shared<ResidualBlock>(dim, kernel, d)));
  }
  torch::Tensor forward(const torch::Tensor& vectors, const torch::Tensor& valid, const Batch&) override {
    auto keep = valid.unsqueeze(-1).to(vectors.dtype());
    auto x = vectors * keep;
    for (auto& b : blocks_) x = b->forward(x, keep) * keep;
    return x;
  }
  int64_t output_dim() const override { return dim_; }

 private:
  int64_t dim_;
  std::vector<std::shared_ptr<ResidualBlock>> blocks_;
};

struct NextItNetOptions {
  int64_t kernel_size = 3;
  std::vector<int64_t> dilations = {1, 4};
  int64_t repeats = 2;
};

ParamBinding<NextItNetOptions> nextitnet_params() {
  using O = NextItNetOptions;
  ParamBinding<O> p;
  p.field("kernel_size", &O::kernel_size, "convolution kernel size").range(2, 64);
  p.field("dilations", &O::dilations, "dilations of one stack of blocks").range(1, 1024);
  p.field("repeats", &O::repeats, "how often the stack is repeated (ODMT code 2, RecBole 5)").range(1, 64);
  return p;
}

}  // namespace

MMSR_PLUGIN(nextitnet, "1.0.0") {
  registrar.add_backbone(
      "nextitnet", "NextItNet: stacked causal dilated residual convolutions", nextitnet_params(),
      [](const NextItNetOptions& o, const BuildContext& ctx) -> std::shared_ptr<SequenceEncoder> {
        return std::make_shared<NextItNet>(ctx.input_dim, o.kernel_size, o.dilations, o.repeats);
      });
}

// GRU4Rec as a sequence encoder (METHODS.md section 3): dropout on the inputs, a GRU, and a dense layer back to
// the item-vector dimension (RecBole: embedding 64, hidden 128, dropout 0.3). Every position gets a state
// (ODMT / MicroLens); the host reads the last one for next-item scores (RecBole's setting).
//
// Batches are left-padded, but a recurrent state must start at the first real item: each row is rotated so its
// items come first, run, and rotated back. Padding therefore never reaches a real position's state.
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/rnn.h>

#include "mmsr/sdk/dropout.h"
#include "mmsr/sdk/plugin.h"

namespace {

using namespace mmsr;

class Gru4Rec : public SequenceEncoder {
 public:
  Gru4Rec(int64_t dim, int64_t hidden, int64_t layers, double dropout, bool dense, bool fast_dropout)
      : dim_(dim), dense_(dense || hidden != dim), fast_dropout_(fast_dropout) {
    drop_ = register_module("drop", torch::nn::Dropout(dropout));
    gru_ = register_module("gru", torch::nn::GRU(torch::nn::GRUOptions(dim, hidden).num_layers(layers).batch_first(true)));
    if (dense_) out_ = register_module("dense", torch::nn::Linear(hidden, dim));
  }

  torch::Tensor forward(const torch::Tensor& vectors, const torch::Tensor& valid, const Batch&) override {
    const int64_t L = vectors.size(1);
    auto pad = L - valid.sum(1);  // [B] leading padding columns
    auto cols = torch::arange(L, pad.options()).unsqueeze(0);
    auto to_front = (cols + pad.unsqueeze(1)).remainder(L);  // row-wise rotation left by `pad`
    auto back = (cols - pad.unsqueeze(1)).remainder(L);
    auto x = dropout(drop_, vectors * valid.unsqueeze(-1).to(vectors.dtype()), fast_dropout_);
    x = x.gather(1, to_front.unsqueeze(-1).expand_as(x));
    auto h = std::get<0>(gru_->forward(x));
    if (dense_) h = out_->forward(h);
    h = h.gather(1, back.unsqueeze(-1).expand({-1, -1, h.size(-1)}));
    return h * valid.unsqueeze(-1).to(h.dtype());
  }
  int64_t output_dim() const override { return dim_; }

 private:
  int64_t dim_;
  bool dense_;
  torch::nn::Dropout drop_{nullptr};
  bool fast_dropout_;
  torch::nn::GRU gru_{nullptr};
  torch::nn::Linear out_{nullptr};
};

struct Gru4RecOptions {
  int64_t hidden_size = 0;  // 0 = the item-vector dimension
  int64_t layers = 1;
  double dropout = 0.3;
  bool dense = false;
};

ParamBinding<Gru4RecOptions> gru4rec_params() {
  using O = Gru4RecOptions;
  ParamBinding<O> p;
  p.field("hidden_size", &O::hidden_size, "GRU hidden size (0 = the item-vector dimension; RecBole 128)").range(0, 65536);
  p.field("layers", &O::layers, "GRU layers").range(1, 16);
  p.field("dropout", &O::dropout, "dropout on the input item vectors").range(0.0, 0.99);
  p.field("dense", &O::dense, "a dense layer back to the item dimension even when hidden == dimension");
  return p;
}

}  // namespace

MMSR_PLUGIN(gru4rec, "1.0.0") {
  registrar.add_backbone(
      "gru4rec", "GRU4Rec: a GRU over item vectors, a state per position", gru4rec_params(),
      [](const Gru4RecOptions& o, const BuildContext& ctx) -> std::shared_ptr<SequenceEncoder> {
        const int64_t hidden = o.hidden_size > 0 ? o.hidden_size : ctx.input_dim;
        return std::make_shared<Gru4Rec>(ctx.input_dim, hidden, o.layers, o.dropout, o.dense, ctx.fast_dropout);
      });
}

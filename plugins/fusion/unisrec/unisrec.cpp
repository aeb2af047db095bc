// UniSRec's item tower (Hou et al., KDD 2022; METHODS.md section 3): a mixture-of-experts adaptor over the frozen
// text vector x, optionally plus an ID embedding, scored by cosine similarity over a temperature.
//
//   PW_k(x) = (Dropout(x) - b_k) W_k      b_k zero-initialised, W_k ~ N(0, 0.02), no bias, 8 experts
//   gates   = softmax(x W_g + noise * (softplus(x W_n) + 0.01))   noise ~ N(0, 1) in training only; W_g, W_n zero
//   v       = sum_k gate_k PW_k(x)
//
// Use it with the sasrec backbone and a softmax loss: the tower's score (cosine / tau) is what both the loss and
// the evaluation call.
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/functional/normalization.h>

#include "mmsr/sdk/dropout.h"
#include "mmsr/sdk/plugin.h"

namespace {

using namespace mmsr;

class MoeAdaptor : public torch::nn::Module {
 public:
  MoeAdaptor(int64_t in, int64_t out, int64_t experts, double dropout, bool fast_dropout) : fast_dropout_(fast_dropout) {
    biases_ = register_parameter("biases", torch::zeros({experts, in}));
    weights_ = register_parameter("weights", torch::randn({experts, in, out}) * 0.02);
    gate_ = register_parameter("gate", torch::zeros({in, experts}));
    noise_ = register_parameter("noise", torch::zeros({in, experts}));
    drop_ = register_module("drop", torch::nn::Dropout(dropout));
  }
  torch::Tensor forward(const torch::Tensor& x) {  // [U, in] -> [U, out]
    auto logits = torch::matmul(x, gate_);
    if (is_training())
      logits = logits + torch::randn_like(logits) * (torch::softplus(torch::matmul(x, noise_)) + 0.01);
    auto gates = torch::softmax(logits, -1);                                     // [U, K]
    auto shifted = dropout(drop_, x, fast_dropout_).unsqueeze(1) - biases_.unsqueeze(0);        // [U, K, in]
    auto experts = torch::einsum("uki,kio->uko", {shifted, weights_});           // [U, K, out]
    return (gates.unsqueeze(-1) * experts).sum(1);
  }

 private:
  bool fast_dropout_;
  torch::Tensor biases_, weights_, gate_, noise_;
  torch::nn::Dropout drop_{nullptr};
};

struct UnisrecOptions {
  int64_t dim = 300;
  std::string modality = "text";
  int64_t experts = 8;
  double dropout = 0.2;
  bool with_id = false;
  double temperature = 0.07;
};

ParamBinding<UnisrecOptions> unisrec_params() {
  using O = UnisrecOptions;
  ParamBinding<O> p;
  p.field("dim", &O::dim, "item vector dimension (UniSRec 300)").range(1, 65536);
  p.field("modality", &O::modality, "the text modality");
  p.field("experts", &O::experts, "adaptor experts").range(1, 256);
  p.field("dropout", &O::dropout, "dropout on the text vector inside each expert").range(0.0, 0.99);
  p.field("with_id", &O::with_id, "add a learnable ID embedding (UniSRec fine-tuned 'inductive' = false: with ID)");
  p.field("temperature", &O::temperature, "cosine-similarity temperature tau").range(1e-4, 100.0);
  return p;
}

class UnisrecTower : public ItemTower {
 public:
  UnisrecTower(const BuildContext& ctx, const UnisrecOptions& o)
      : text_(o.modality), dim_(o.dim), temperature_(o.temperature) {
    const std::string& text = o.modality;
    const int64_t dim = o.dim;
    int64_t in = -1;
    for (const auto& m : ctx.modalities)
      if (m.name == text) in = m.dim;
    if (in < 0) throw std::invalid_argument("unisrec: the experiment has no modality '" + text + "'");
    adaptor_ = register_module("adaptor", std::make_shared<MoeAdaptor>(in, dim, o.experts, o.dropout, ctx.fast_dropout));
    if (o.with_id) {
      ids_ = register_module("ids", torch::nn::Embedding(torch::nn::EmbeddingOptions(ctx.num_items + 1, dim).padding_idx(0)));
      torch::NoGradGuard g;
      ids_->weight.normal_(0.0, 0.02);
      ids_->weight[0].zero_();
    }
  }
  std::vector<std::string> branch_names() const override { return {"unisrec"}; }
  int64_t branch_dim(size_t) const override { return dim_; }
  std::vector<std::string> modalities() const override { return {text_}; }
  std::vector<torch::Tensor> forward(const torch::Tensor& ids, const ItemFeatures& features) override {
    auto x = features.at(text_).values;
    if (x.dim() == 3) x = x.select(1, 0);  // token-level text: its [CLS]
    auto v = adaptor_->forward(x);
    if (ids_) v = v + ids_->forward(ids);
    return {v};
  }
  torch::Tensor score(size_t, const torch::Tensor& states, const torch::Tensor& items) override {
    auto h = torch::nn::functional::normalize(states, torch::nn::functional::NormalizeFuncOptions().dim(-1));
    auto e = torch::nn::functional::normalize(items, torch::nn::functional::NormalizeFuncOptions().dim(-1));
    return torch::matmul(h, e.transpose(-2, -1)) / temperature_;
  }

 private:
  std::string text_;
  int64_t dim_;
  double temperature_;
  std::shared_ptr<MoeAdaptor> adaptor_;
  torch::nn::Embedding ids_{nullptr};
};

}  // namespace

MMSR_PLUGIN(unisrec, "1.0.0") {
  registrar.add_item_tower(
      "unisrec", "UniSRec: a mixture-of-experts adaptor over frozen text vectors (+ ID), cosine / temperature scores",
      unisrec_params(), [](const UnisrecOptions& o, const BuildContext& ctx) -> std::shared_ptr<ItemTower> {
        return std::make_shared<UnisrecTower>(ctx, o);
      });
}

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
  MoeAdaptor(int64_t in, int64_t out, int64_t experts, double dropout) {
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
    auto shifted = dropout(drop_, x).unsqueeze(1) - biases_.unsqueeze(0);        // [U, K, in]
    auto experts = torch::einsum("uki,kio->uko", {shifted, weights_});           // [U, K, out]
    return (gates.unsqueeze(-1) * experts).sum(1);
  }

 private:
  torch::Tensor biases_, weights_, gate_, noise_;
  torch::nn::Dropout drop_{nullptr};
};

class UnisrecTower : public ItemTower {
 public:
  UnisrecTower(const BuildContext& ctx, const std::string& text, int64_t dim, int64_t experts, double dropout,
               bool with_id, double temperature)
      : text_(text), dim_(dim), temperature_(temperature) {
    int64_t in = -1;
    for (const auto& m : ctx.modalities)
      if (m.name == text) in = m.dim;
    if (in < 0) throw std::invalid_argument("unisrec: the experiment has no modality '" + text + "'");
    adaptor_ = register_module("adaptor", std::make_shared<MoeAdaptor>(in, dim, experts, dropout));
    if (with_id) {
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
      ParamDecl()
          .integer("dim", 300, 1, 65536, "item vector dimension (UniSRec 300)")
          .text("modality", "text", "the text modality")
          .integer("experts", 8, 1, 256, "adaptor experts")
          .real("dropout", 0.2, 0.0, 0.99, "dropout on the text vector inside each expert")
          .boolean("with_id", false, "add a learnable ID embedding (UniSRec fine-tuned 'inductive' = false: with ID)")
          .real("temperature", 0.07, 1e-4, 100.0, "cosine-similarity temperature tau"),
      [](const ParamSet& p, const BuildContext& ctx) -> std::shared_ptr<ItemTower> {
        return std::make_shared<UnisrecTower>(ctx, p.get_string("modality"), p.get_int("dim"), p.get_int("experts"),
                                              p.get_double("dropout"), p.get_bool("with_id"),
                                              p.get_double("temperature"));
      });
}

// Item towers over modality features (METHODS.md section 4): each modality's frozen features become a d-vector by
// the SDK's modality encoder (a projection of every token, then `layers` transformer blocks over the item's tokens,
// read at the first token; layers = 0 is the projection alone), next to (or instead of) a learnable ID embedding.
// The paper's SASRec+EF and SASRec+LF have two layers per modality (section 4.2), the default here.
//
//   modality      one modality only (text-only, image-only): one branch named after it
//   early_fusion  one branch, "fused": the mean of the ID vector and the projected modalities (paper), an MLP
//                 over their concatenation (the ODMT code's alternative), or a softmax gate over them (the KDSR
//                 code's modality gate: weights from Linear-ReLU-Linear scores of each part)
//   late_fusion   one branch per part (id, text, image): each its own backbone; train with a loss in
//                 branches = "fused" mode for the paper's loss on averaged logits; evaluation ranks by the mean
//
// A token-level modality is read through its first token ([CLS] / class token) or the mean of its real tokens.
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include "mmsr/sdk/modality_encoder.h"
#include "mmsr/sdk/plugin.h"

namespace {

using namespace mmsr;

const ModalityInfo& find_modality(const BuildContext& ctx, const std::string& name, const std::string& who) {
  for (const auto& m : ctx.modalities)
    if (m.name == name) return m;
  std::string known;
  for (const auto& m : ctx.modalities) known += (known.empty() ? "" : ", ") + m.name;
  throw std::invalid_argument(who + ": the experiment has no modality '" + name + "' (" +
                              (known.empty() ? "it declares none: add [[modality]] entries" : "it has: " + known) +
                              ")");
}

torch::nn::Embedding id_table(int64_t num_items, int64_t dim, double std) {
  auto table = torch::nn::Embedding(torch::nn::EmbeddingOptions(num_items + 1, dim).padding_idx(0));
  torch::NoGradGuard g;
  table->weight.normal_(0.0, std);
  table->weight[0].zero_();
  return table;
}

struct TowerOptions {
  int64_t dim = 64;
  std::vector<std::string> modalities;
  bool with_id = true, mean_tokens = false;
  std::string combine = "mean";
  double dropout = 0.0, init_std = 0.02;
  int64_t layers = 2, heads = 2;  // each modality's encoder (paper: 2 layers per modality)
  double encoder_dropout = 0.1;
};

// One modality's encoder as this tower's options describe it.
std::shared_ptr<ModalityEncoder> modality_encoder(const ModalityInfo& info, const TowerOptions& o, bool fast_dropout,
                                                  const std::string& who) {
  ModalityEncoderOptions e;
  e.in_dim = info.dim;
  e.mean_tokens = o.mean_tokens;
  e.feature_dropout = o.dropout;
  TransformerOptions t;
  t.layers = o.layers;
  t.heads = o.layers > 0 ? o.heads : 1;  // no blocks, no heads to divide dim
  t.dropout = t.attn_dropout = o.encoder_dropout;
  t.init_std = o.init_std;
  e.transformer = transformer_options(t, o.dim, 1, fast_dropout, who);
  return std::make_shared<ModalityEncoder>(e);
}

// The parts every tower here shares: an optional ID table and one projection per modality.
class PartsTower : public ItemTower {
 public:
  PartsTower(const TowerOptions& o, const BuildContext& ctx, const std::string& who) : o_(o) {
    if (o.with_id) id_ = register_module("id", id_table(ctx.num_items, o.dim, o.init_std));
    for (const auto& m : o.modalities)
      encoders_.push_back(
          register_module("project_" + m, modality_encoder(find_modality(ctx, m, who), o, ctx.fast_dropout, who)));
  }
  std::vector<std::string> modalities() const override { return o_.modalities; }

 protected:
  // The ID vector (when present), then each modality's encoded vector, in order.
  std::vector<torch::Tensor> parts(const torch::Tensor& ids, const ItemFeatures& features) {
    std::vector<torch::Tensor> out;
    if (id_) out.push_back(id_->forward(ids));
    for (size_t m = 0; m < encoders_.size(); ++m) {
      const ModalityFeatures& f = features.at(o_.modalities[m]);
      out.push_back(encoders_[m]->forward(f.values, f.mask));
    }
    return out;
  }
  std::vector<std::string> part_names() const {
    std::vector<std::string> out;
    if (id_) out.push_back("id");
    for (const auto& m : o_.modalities) out.push_back(m);
    return out;
  }
  TowerOptions o_;
  torch::nn::Embedding id_{nullptr};
  std::vector<std::shared_ptr<ModalityEncoder>> encoders_;
};

class SingleModalityTower : public PartsTower {
 public:
  using PartsTower::PartsTower;
  std::vector<std::string> branch_names() const override { return {o_.modalities[0]}; }
  int64_t branch_dim(size_t) const override { return o_.dim; }
  std::vector<torch::Tensor> forward(const torch::Tensor& ids, const ItemFeatures& features) override {
    return parts(ids, features);
  }
};

class EarlyFusionTower : public PartsTower {
 public:
  EarlyFusionTower(const TowerOptions& o, const BuildContext& ctx) : PartsTower(o, ctx, "early_fusion") {
    if (o.combine == "mlp") {
      const int64_t n = int64_t(part_names().size());
      hidden_ = register_module("mlp_hidden", torch::nn::Linear(n * o.dim, o.dim));
      out_ = register_module("mlp_out", torch::nn::Linear(o.dim, o.dim));
    } else if (o.combine == "gate") {
      hidden_ = register_module("gate_hidden", torch::nn::Linear(o.dim, o.dim));
      out_ = register_module("gate_out", torch::nn::Linear(o.dim, 1));
    }
  }
  std::vector<std::string> branch_names() const override { return {"fused"}; }
  int64_t branch_dim(size_t) const override { return o_.dim; }
  std::vector<torch::Tensor> forward(const torch::Tensor& ids, const ItemFeatures& features) override {
    auto p = parts(ids, features);
    if (o_.combine == "mlp") return {out_->forward(torch::gelu(hidden_->forward(torch::cat(p, -1))))};
    if (o_.combine == "mean") return {torch::stack(p, 0).mean(0)};
    auto stacked = torch::stack(p, 1);  // [U, parts, d]
    auto weights = torch::softmax(out_->forward(torch::relu(hidden_->forward(stacked))), 1);  // [U, parts, 1]
    return {(stacked * weights).sum(1)};
  }

 private:
  torch::nn::Linear hidden_{nullptr}, out_{nullptr};
};

class LateFusionTower : public PartsTower {
 public:
  LateFusionTower(const TowerOptions& o, const BuildContext& ctx) : PartsTower(o, ctx, "late_fusion") {}
  std::vector<std::string> branch_names() const override { return part_names(); }
  int64_t branch_dim(size_t) const override { return o_.dim; }
  std::vector<torch::Tensor> forward(const torch::Tensor& ids, const ItemFeatures& features) override {
    return parts(ids, features);
  }
};

// The options of each tower: what they share, with their own defaults.
struct ModalityTowerOptions : TowerOptions {
  std::string modality = "text";
  ModalityTowerOptions() { with_id = false; }
};
struct EarlyFusionOptions : TowerOptions {
  EarlyFusionOptions() { modalities = {"text", "image"}; }
};
struct LateFusionOptions : TowerOptions {
  LateFusionOptions() { modalities = {"text", "image"}; }
};

template <typename O>
ParamBinding<O>& bind_common(ParamBinding<O>& p) {
  p.field("dim", &O::dim, "item vector dimension d").range(1, 65536);
  p.field("with_id", &O::with_id, "include a learnable ID embedding");
  p.choice("tokens", &O::mean_tokens, {{"first", false}, {"mean", true}},
           "token-level modalities: read the first token ([CLS] / class token) or the mean of real tokens");
  p.field("dropout", &O::dropout, "layers = 0: dropout on the frozen features before their projection").range(0.0, 0.99);
  p.field("init_std", &O::init_std, "std of the normal initialisation of the ID table and the encoders' blocks")
      .range(1e-6, 10.0);
  p.field("layers", &O::layers,
          "transformer blocks over each modality's tokens after the projection (paper 2; 0 = the projection alone)")
      .range(0, 48);
  p.field("heads", &O::heads, "attention heads of those blocks (must divide dim)").range(1, 64);
  p.field("encoder_dropout", &O::encoder_dropout,
          "dropout of those blocks and on the projected tokens (the ODMT code's 0.1)").range(0.0, 0.99);
  return p;
}

ParamBinding<ModalityTowerOptions> modality_params() {
  ParamBinding<ModalityTowerOptions> p;
  p.field("modality", &ModalityTowerOptions::modality, "the modality to read");
  return bind_common(p);
}

ParamBinding<EarlyFusionOptions> early_fusion_params() {
  ParamBinding<EarlyFusionOptions> p;
  p.field("modalities", &EarlyFusionOptions::modalities, "modalities to fuse with the ID vector");
  p.field("combine", &EarlyFusionOptions::combine,
          "mean of the vectors (paper), an MLP over them, or a softmax gate (the KDSR code)")
      .one_of({"mean", "mlp", "gate"});
  return bind_common(p);
}

ParamBinding<LateFusionOptions> late_fusion_params() {
  ParamBinding<LateFusionOptions> p;
  p.field("modalities", &LateFusionOptions::modalities, "modality branches beside the ID branch");
  return bind_common(p);
}

}  // namespace

MMSR_PLUGIN(multimodal_towers, "2.0.0") {
  registrar.add_item_tower(
      "modality", "one modality's frozen features, projected to d (text-only, image-only): one branch",
      modality_params(), [](ModalityTowerOptions o, const BuildContext& ctx) -> std::shared_ptr<ItemTower> {
        if (o.with_id) throw std::invalid_argument("modality: with_id = true is early fusion; use early_fusion");
        o.modalities = {o.modality};
        return std::make_shared<SingleModalityTower>(o, ctx, "modality");
      });
  registrar.add_item_tower(
      "early_fusion", "ID + modalities averaged (or an MLP over them) into one item vector: one branch",
      early_fusion_params(), [](const EarlyFusionOptions& o, const BuildContext& ctx) -> std::shared_ptr<ItemTower> {
        if (o.modalities.empty() && !o.with_id) throw std::invalid_argument("early_fusion: nothing to fuse");
        return std::make_shared<EarlyFusionTower>(o, ctx);
      });
  registrar.add_item_tower(
      "late_fusion", "ID and each modality as branches of their own (each its own backbone); scores averaged",
      late_fusion_params(), [](const LateFusionOptions& o, const BuildContext& ctx) -> std::shared_ptr<ItemTower> {
        if (o.modalities.size() + (o.with_id ? 1 : 0) < 2)
          throw std::invalid_argument("late_fusion: needs at least two branches");
        return std::make_shared<LateFusionTower>(o, ctx);
      });
}

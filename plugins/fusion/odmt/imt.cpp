// ODMT's ID-aware multimodal transformer (IMT) item tower (METHODS.md section 5; ODMT paper sections 3.2-3.3).
//
// Per item: the text tokens T = W_t E_t, the image tokens V = W_v E_v and the ID token e_id = W_id E_id are
// concatenated, X = [T ; V ; e_id] (no positions), dropout, then post-LN transformer blocks under the IMT mask:
// padded text tokens are never attended to; text and image tokens cannot attend to the ID token; the ID token
// attends to every real token. Outputs: the text [CLS] position, the image class-token position and the ID
// position, each through its own head D_m = W2 LeakyReLU(W1 x + b1) + b2. Three branches: id, text, image.
//
// The ID table has the features' dimension and starts as the mean of each item's image class-token and text [CLS]
// vectors (or text only, image only, or random xavier-normal). A pooled modality is one token.
//
// Ablations (paper Table 3) are parameters: id_init, id_mask = false, encoder = "separate" (a transformer per
// modality, the ID vector untouched), with_id = false (two branches).
#include <torch/nn/init.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include <tuple>

#include "mmsr/sdk/dropout.h"
#include "mmsr/sdk/modality_encoder.h"
#include "mmsr/sdk/plugin.h"
#include "mmsr/sdk/transformer.h"

namespace {

using namespace mmsr;

struct ImtOptions {
  TransformerOptions transformer;
  int64_t dim = 64;
  std::string text = "text", image = "image";
  std::string id_init = "mean";
  std::string id_init_text;  // "" = the text modality
  bool id_mask = true, separate = false, with_id = true;
  double slope = 0.01;
};

class Head : public torch::nn::Module {
 public:
  Head(int64_t d, double slope) : slope_(slope) {
    l1_ = register_module("l1", torch::nn::Linear(d, d));
    l2_ = register_module("l2", torch::nn::Linear(d, d));
  }
  torch::Tensor forward(const torch::Tensor& x) { return l2_->forward(torch::leaky_relu(l1_->forward(x), slope_)); }

 private:
  double slope_;
  torch::nn::Linear l1_{nullptr}, l2_{nullptr};
};

const ModalityInfo& modality(const BuildContext& ctx, const std::string& name) {
  for (const auto& m : ctx.modalities)
    if (m.name == name) return m;
  throw std::invalid_argument("imt: the experiment has no modality '" + name + "'; declare it with [[modality]]");
}

class ImtTower : public ItemTower {
 public:
  ImtTower(const ImtOptions& o, const BuildContext& ctx) : o_(o) {
    const ModalityInfo& t = modality(ctx, o.text);
    const ModalityInfo& v = modality(ctx, o.image);
    text_tokens_ = t.tokens;
    image_tokens_ = v.tokens;
    const int64_t d = o.transformer.dim;
    if (o.separate) {
      // The ablation's per-modality transformers are the SDK's modality encoder, the one the fusion towers use.
      auto encoder = [&](const ModalityInfo& m) {
        ModalityEncoderOptions e;
        e.in_dim = m.dim;
        e.transformer = o.transformer;
        return std::make_shared<ModalityEncoder>(e);
      };
      text_encoder_ = register_module("text_encoder", encoder(t));
      image_encoder_ = register_module("image_encoder", encoder(v));
    } else {
      project_text_ = register_module("project_text", torch::nn::Linear(t.dim, d));
      project_image_ = register_module("project_image", torch::nn::Linear(v.dim, d));
      drop_ = register_module("drop", torch::nn::Dropout(o.transformer.dropout));
      for (int64_t i = 0; i < o.transformer.layers; ++i)
        blocks_.push_back(register_module("block" + std::to_string(i), std::make_shared<TransformerBlock>(o.transformer)));
    }
    init_normal_weights(*this, o.transformer.init_std);  // before the ID table, which starts from features
    if (o.with_id) {
      const ModalityInfo& init_text = o.id_init_text.empty() ? t : modality(ctx, o.id_init_text);
      if (o.id_init == "mean" && init_text.dim != v.dim)
        throw std::invalid_argument("imt: id_init = \"mean\" needs text and image features of one dimension (" +
                                    std::to_string(init_text.dim) + " vs " + std::to_string(v.dim) +
                                    "); set id_init_text to a text modality of the image's dimension");
      const int64_t id_dim = o.id_init == "image" ? v.dim : init_text.dim;
      ids_ = register_module("ids", torch::nn::Embedding(ctx.num_items + 1, id_dim));
      project_id_ = register_module("project_id", torch::nn::Linear(id_dim, d));
      initialise_ids(ctx);
      heads_.push_back(register_module("head_id", std::make_shared<Head>(d, o.slope)));
      branches_.push_back("id");
    }
    heads_.push_back(register_module("head_text", std::make_shared<Head>(d, o.slope)));
    branches_.push_back("text");
    heads_.push_back(register_module("head_image", std::make_shared<Head>(d, o.slope)));
    branches_.push_back("image");
  }

  std::vector<std::string> branch_names() const override { return branches_; }
  int64_t branch_dim(size_t) const override { return o_.transformer.dim; }
  std::vector<std::string> modalities() const override { return {o_.text, o_.image}; }

  std::vector<torch::Tensor> forward(const torch::Tensor& ids, const ItemFeatures& features) override {
    const auto& text = features.at(o_.text);
    const auto& image = features.at(o_.image);
    torch::Tensor text_out, image_out, id_out;
    if (o_.separate) {
      text_out = text_encoder_->forward(text.values, text.mask);
      image_out = image_encoder_->forward(image.values, image.mask);
      if (ids_) id_out = project_id_->forward(ids_->forward(ids));
    } else {
      std::tie(id_out, text_out, image_out) = joint(ids, text, image);
    }
    std::vector<torch::Tensor> out;
    size_t h = 0;
    if (ids_) out.push_back(heads_[h++]->forward(id_out));
    out.push_back(heads_[h++]->forward(text_out));
    out.push_back(heads_[h++]->forward(image_out));
    return out;
  }

 private:
  // The IMT proper: [T ; V ; e_id] through one transformer under the IMT mask; the ID, [CLS] and class-token
  // positions.
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> joint(const torch::Tensor& ids, const ModalityFeatures& text,
                                                                const ModalityFeatures& image) {
    auto as_tokens = [](const ModalityFeatures& f) {
      return f.values.dim() == 2 ? std::make_pair(f.values.unsqueeze(1), f.mask.unsqueeze(1))
                                 : std::make_pair(f.values, f.mask);
    };
    auto [tv, tm] = as_tokens(text);
    auto [iv, im] = as_tokens(image);
    auto T = project_text_->forward(tv), V = project_image_->forward(iv);
    const int64_t U = ids.size(0), Tt = T.size(1), Tv = V.size(1);
    std::vector<torch::Tensor> parts = {T, V};
    std::vector<torch::Tensor> valid = {tm, im};
    if (ids_) {
      parts.push_back(project_id_->forward(ids_->forward(ids)).unsqueeze(1));
      valid.push_back(torch::ones({U, 1}, tm.options()));
    }
    auto X = dropout(drop_, torch::cat(parts, 1), o_.transformer.fast_dropout);
    const auto mask = key_mask(torch::cat(valid, 1), bool(ids_));
    for (size_t i = 0; i + 1 < blocks_.size(); ++i) X = blocks_[i]->forward(X, mask);
    // Only the [CLS], class-token and ID positions of the last block are read: it computes only them (the same
    // values; its keys and values still come from every token).
    std::vector<int64_t> read = {0, Tt};
    if (ids_) read.push_back(Tt + Tv);
    const auto rows = torch::tensor(read, torch::TensorOptions().dtype(torch::kLong).device(X.device()));
    const auto out = blocks_.back()->forward_rows(X, mask, rows);  // [U, 2 or 3, d]
    return {ids_ ? out.select(1, 2) : torch::Tensor(), out.select(1, 0), out.select(1, 1)};
  }

  // [U, 1, K, K] additive mask: key k is visible to query q when it is a real token and, under the ID mask, when
  // it is not the ID token (the last one) or q is the ID token itself. Every query sees itself, so no row is empty.
  torch::Tensor key_mask(const torch::Tensor& valid, bool has_id) const {
    const int64_t K = valid.size(1);
    auto allowed = valid.unsqueeze(1).expand({valid.size(0), K, K}).clone();  // [U, q, k]
    if (has_id && o_.id_mask) allowed.select(2, K - 1).slice(1, 0, K - 1).fill_(false);
    allowed = allowed | torch::eye(K, valid.options()).unsqueeze(0);
    return torch::zeros(allowed.sizes(), torch::TensorOptions().dtype(torch::kFloat).device(valid.device()))
        .masked_fill(allowed.logical_not(), -1e9)
        .unsqueeze(1);
  }

  // The ID table from the frozen features: the mean of each item's image class token and text [CLS] (or one of
  // them), read in chunks through the host's gather; or xavier-normal.
  void initialise_ids(const BuildContext& ctx) {
    torch::NoGradGuard g;
    if (o_.id_init == "random" || !ctx.gather) {
      torch::nn::init::xavier_normal_(ids_->weight);
      return;
    }
    const int64_t n = ctx.num_items + 1, chunk = 4096;
    for (int64_t begin = 0; begin < n; begin += chunk) {
      auto ids = torch::arange(begin, std::min(n, begin + chunk), torch::kLong);
      auto first = [&](const std::string& m) {
        auto f = ctx.gather(m, ids).values;
        return f.dim() == 3 ? f.select(1, 0) : f;
      };
      torch::Tensor rows;
      const std::string& text = o_.id_init_text.empty() ? o_.text : o_.id_init_text;
      if (o_.id_init == "text") rows = first(text);
      else if (o_.id_init == "image") rows = first(o_.image);
      else rows = (first(text) + first(o_.image)) / 2;
      ids_->weight.slice(0, begin, begin + ids.size(0)).copy_(rows);
    }
  }

  ImtOptions o_;
  int64_t text_tokens_ = 1, image_tokens_ = 1;
  torch::nn::Linear project_text_{nullptr}, project_image_{nullptr}, project_id_{nullptr};
  torch::nn::Embedding ids_{nullptr};
  torch::nn::Dropout drop_{nullptr};
  std::vector<std::shared_ptr<TransformerBlock>> blocks_;
  std::shared_ptr<ModalityEncoder> text_encoder_, image_encoder_;
  std::vector<std::shared_ptr<Head>> heads_;
  std::vector<std::string> branches_;
};


ParamBinding<ImtOptions> imt_params() {
  using O = ImtOptions;
  ParamBinding<O> p;
  p.include(&O::transformer, transformer_params());
  p.field("dim", &O::dim, "item vector dimension d (paper 768)").range(1, 65536);
  p.field("text", &O::text, "the text modality (token-level: [CLS] first; or pooled)");
  p.field("image", &O::image, "the image modality (token-level: class token first; or pooled)");
  p.field("id_init", &O::id_init,
          "ID table start: mean of image class token and text [CLS] (paper), one of them, or xavier-normal")
      .one_of({"mean", "text", "image", "random"});
  p.field("id_init_text", &O::id_init_text,
          "the text modality the ID table starts from (e.g. pooled [CLS] vectors of the image's dimension when the "
          "tokens the IMT reads come from another encoder; empty = the text modality)")
      .added_after_release();
  p.field("id_mask", &O::id_mask, "text and image tokens cannot attend to the ID token (paper); false = no ID mask");
  p.choice("encoder", &O::separate, {{"joint", false}, {"separate", true}},
           "joint: one transformer over all tokens (IMT); separate: one per modality, the ID vector untouched");
  p.field("with_id", &O::with_id, "the ID token and branch (false: the paper's 'w/o ID' ablation)");
  p.field("head_slope", &O::slope, "LeakyReLU slope of the per-branch heads").range(0.0, 1.0);
  return p;
}

}  // namespace

MMSR_PLUGIN(odmt, "1.1.0") {
  registrar.add_item_tower(
      "imt", "ODMT's ID-aware multimodal transformer: text, image and ID tokens under the IMT mask; branches id, "
             "text, image",
      imt_params(), [](ImtOptions o, const BuildContext& ctx) -> std::shared_ptr<ItemTower> {
        o.transformer = transformer_options(o.transformer, o.dim, 1, ctx.fast_dropout, "imt");
        return std::make_shared<ImtTower>(o, ctx);
      });
}

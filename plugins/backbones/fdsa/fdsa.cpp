// FDSA (Zhang et al., IJCAI 2019): feature-level deeper self-attention (METHODS.md section 3). Two causal
// self-attention streams over the same window: the item stream reads the branch's item vectors; the feature
// stream reads, per item, an attention-pooled sum of the item's feature vectors (its attribute embeddings, as in
// the S3-Rec paper's FDSA with the *_item2attributes.json files, and/or projected pooled modality vectors).
// Output = Dropout(LayerNorm(W [h_item ; h_feature])), scored by the item tower like any backbone.
//
// Pooling, as in RecBole's FDSA: alpha = softmax over the item's feature vectors of W2 ReLU(W1 f + b1) + b2.
// With field_pooling = "mean" (RecBole's layout for token_seq fields) each attribute field is first averaged
// into one vector, and attention runs over fields; with "none" it runs over every attribute of the item.
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include <algorithm>

#include "mmsr/sdk/plugin.h"
#include "mmsr/sdk/transformer.h"

namespace {

using namespace mmsr;

struct FdsaOptions {
  TransformerOptions transformer;
  bool field_mean = false;
};

class Fdsa : public SequenceEncoder {
 public:
  Fdsa(const FdsaOptions& o, const std::vector<const ItemAttributes*>& fields,
       const std::vector<const FeatureMatrix*>& features, int64_t num_items)
      : dim_(o.transformer.dim), field_mean_(o.field_mean), num_fields_(int64_t(fields.size())) {
    const int64_t d = dim_;
    item_stream_ = register_module("item_stream", std::make_shared<CausalTransformer>(o.transformer));
    feature_stream_ = register_module("feature_stream", std::make_shared<CausalTransformer>(o.transformer));
    // Every field's attribute ids share one table: field f's ids are offset by the sizes of fields before it.
    // Per item, a row of attribute slots (0 = empty) and each slot's field.
    int64_t vocabulary = 0, width = 0;
    for (const auto* f : fields) width += f->max_per_item();
    width = std::max<int64_t>(width, 1);
    auto slots = torch::zeros({num_items + 1, width}, torch::kLong);
    auto slot_field = torch::zeros({width}, torch::kLong);
    auto* sp = slots.data_ptr<int64_t>();
    int64_t column = 0;
    for (size_t f = 0; f < fields.size(); ++f) {
      const int64_t w = fields[f]->max_per_item();
      for (int64_t item = 0; item <= num_items && size_t(item) < fields[f]->of_item.size(); ++item) {
        const auto& ids = fields[f]->of_item[size_t(item)];
        for (size_t j = 0; j < ids.size(); ++j) sp[item * width + column + int64_t(j)] = vocabulary + ids[j];
      }
      slot_field.slice(0, column, column + w).fill_(int64_t(f));
      column += w;
      vocabulary += fields[f]->vocabulary();
    }
    attribute_slots_ = register_buffer("attribute_slots", slots);
    slot_field_ = register_buffer("slot_field", slot_field);
    if (vocabulary > 0)
      attributes_ = register_module(
          "attributes", torch::nn::Embedding(torch::nn::EmbeddingOptions(vocabulary + 1, d).padding_idx(0)));
    for (size_t m = 0; m < features.size(); ++m) {
      auto table = torch::from_blob(const_cast<float*>(features[m]->values.data()),
                                    {num_items + 1, features[m]->dim}, torch::kFloat)
                       .clone();
      feature_tables_.push_back(register_buffer("feature_table" + std::to_string(m), table));
      feature_projections_.push_back(
          register_module("feature_projection" + std::to_string(m), torch::nn::Linear(features[m]->dim, d)));
    }
    attention_hidden_ = register_module("attention_hidden", torch::nn::Linear(d, d));
    attention_score_ = register_module("attention_score", torch::nn::Linear(d, 1));
    concat_ = register_module("concat", torch::nn::Linear(2 * d, d));
    output_norm_ = register_module(
        "output_norm",
        torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(o.transformer.eps)));
    output_drop_ = register_module("output_drop", torch::nn::Dropout(o.transformer.dropout));
    init_normal_weights(*this, o.transformer.init_std);
    if (attributes_) {
      torch::NoGradGuard g;
      attributes_->weight[0].zero_();  // the empty slot embeds to zero
    }
  }

  torch::Tensor forward(const torch::Tensor& vectors, const torch::Tensor& valid, const Batch& batch) override {
    auto h_item = item_stream_->forward(vectors, valid);
    auto h_feature = feature_stream_->forward(pooled_features(batch.items), valid);
    auto h = concat_->forward(torch::cat({h_item, h_feature}, -1));
    return output_drop_->forward(output_norm_->forward(h)) * valid.unsqueeze(-1).to(h.dtype());
  }
  int64_t output_dim() const override { return dim_; }

 private:
  // [B, L] item ids -> [B, L, d]: the attention-pooled feature vector of each item.
  torch::Tensor pooled_features(const torch::Tensor& items) {
    std::vector<torch::Tensor> candidates;  // each [B, L, K_i, d]
    std::vector<torch::Tensor> present;     // each [B, L, K_i] bool
    if (attributes_) {
      auto slots = attribute_slots_.index_select(0, items.reshape({-1})).reshape({items.size(0), items.size(1), -1});
      auto embedded = attributes_->forward(slots);  // [B, L, W, d]
      auto filled = slots.ne(0);
      if (field_mean_) {
        // Average each field's attributes into one vector: a [W, F] one-hot of slot -> field.
        auto onehot = torch::one_hot(slot_field_, num_fields_).to(embedded.dtype());  // [W, F]
        auto w = filled.to(embedded.dtype());
        auto sums = torch::einsum("blwd,blw,wf->blfd", {embedded, w, onehot});
        auto counts = torch::einsum("blw,wf->blf", {w, onehot});
        candidates.push_back(sums / counts.clamp_min(1).unsqueeze(-1));
        present.push_back(counts.gt(0));
      } else {
        candidates.push_back(embedded);
        present.push_back(filled);
      }
    }
    for (size_t m = 0; m < feature_tables_.size(); ++m) {
      auto rows = feature_tables_[m].index_select(0, items.reshape({-1}));
      auto projected = feature_projections_[m]->forward(rows).reshape({items.size(0), items.size(1), 1, dim_});
      candidates.push_back(projected);
      present.push_back(items.ne(0).unsqueeze(-1));
    }
    auto f = torch::cat(candidates, 2);    // [B, L, K, d]
    auto mask = torch::cat(present, 2);    // [B, L, K]
    auto energy = attention_score_->forward(torch::relu(attention_hidden_->forward(f))).squeeze(-1);
    // An item without any feature gets zero weights everywhere (finite mask, then zeroed), not NaN.
    auto alpha = torch::softmax(energy.masked_fill(mask.logical_not(), -1e9), -1) * mask.to(f.dtype());
    return (alpha.unsqueeze(-1) * f).sum(2);
  }

  int64_t dim_;
  bool field_mean_;
  int64_t num_fields_;
  std::shared_ptr<CausalTransformer> item_stream_, feature_stream_;
  torch::Tensor attribute_slots_, slot_field_;
  torch::nn::Embedding attributes_{nullptr};
  std::vector<torch::Tensor> feature_tables_;
  std::vector<torch::nn::Linear> feature_projections_;
  torch::nn::Linear attention_hidden_{nullptr}, attention_score_{nullptr}, concat_{nullptr};
  torch::nn::LayerNorm output_norm_{nullptr};
  torch::nn::Dropout output_drop_{nullptr};
};

ParamDecl fdsa_params() {
  ParamDecl d;
  declare_transformer_params(d);
  d.string_list("attributes", {"*"},
                "item attribute fields to embed ('*' = every field the data has; [] = none). S3-Rec attribute "
                "files give the field 'attributes'; a RecBole .item file gives its token and token_seq columns")
      .string_list("features", {}, "pooled modality features to project and pool with the attributes (e.g. text)")
      .choice("field_pooling", "none", {"none", "mean"},
              "none: attend over every attribute of an item; mean: average each field first, attend over fields "
              "(RecBole)");
  return d;
}

}  // namespace

MMSR_PLUGIN(fdsa, "1.0.0") {
  registrar.add_backbone(
      "fdsa", "FDSA: an item self-attention stream plus a feature stream over attention-pooled item attributes",
      fdsa_params(),
      [](const ParamSet& p, const BuildContext& ctx) -> std::shared_ptr<SequenceEncoder> {
        FdsaOptions o;
        o.transformer = transformer_options(p, ctx.input_dim, ctx.max_len, "fdsa");
        o.field_mean = p.get_string("field_pooling") == "mean";
        static const std::map<std::string, ItemAttributes> kNoAttributes;
        static const std::map<std::string, FeatureMatrix> kNoFeatures;
        const auto& attributes = ctx.item_attributes ? *ctx.item_attributes : kNoAttributes;
        const auto& features = ctx.item_features ? *ctx.item_features : kNoFeatures;
        std::vector<const ItemAttributes*> fields;
        for (const auto& name : p.get_string_list("attributes")) {
          if (name == "*") {
            for (const auto& [n, a] : attributes) fields.push_back(&a);
            continue;
          }
          auto it = attributes.find(name);
          if (it == attributes.end()) {
            std::string known;
            for (const auto& [n, a] : attributes) known += (known.empty() ? "" : ", ") + n;
            throw std::invalid_argument("fdsa: the data has no attribute field '" + name + "' (it has: " +
                                        (known.empty() ? "none; set [data].attribute_file or item_file" : known) +
                                        ")");
          }
          fields.push_back(&it->second);
        }
        std::vector<const FeatureMatrix*> vectors;
        for (const auto& name : p.get_string_list("features")) {
          auto it = features.find(name);
          if (it == features.end())
            throw std::invalid_argument("fdsa: the data has no pooled feature '" + name + "'");
          vectors.push_back(&it->second);
        }
        if (fields.empty() && vectors.empty())
          throw std::invalid_argument(
              "fdsa: no item features to read: the data has no attribute fields (set [data].attribute_file to an "
              "S3-Rec *_item2attributes.json, or [data].item_file to a RecBole .item file) and features = []");
        return std::make_shared<Fdsa>(o, fields, vectors, ctx.num_items);
      });
}

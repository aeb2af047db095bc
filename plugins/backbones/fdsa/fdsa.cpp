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

#include <ATen/ATen.h>

#include <algorithm>
#include <limits>

#include "mmsr/sdk/dropout.h"
#include "mmsr/sdk/plugin.h"
#include "mmsr/sdk/pooling.h"
#include "mmsr/sdk/transformer.h"

namespace {

using namespace mmsr;

struct FdsaOptions {
  TransformerOptions transformer;
  std::vector<std::string> attributes = {"*"};
  std::vector<std::string> features;
  bool field_mean = false;
};

class Fdsa : public SequenceEncoder {
 public:
  Fdsa(const FdsaOptions& o, const std::vector<const ItemAttributes*>& fields,
       const std::vector<torch::Tensor>& features, int64_t num_items)
      : dim_(o.transformer.dim), fast_dropout_(o.transformer.fast_dropout), field_mean_(o.field_mean), num_fields_(std::max<int64_t>(1, int64_t(fields.size()))) {
    const int64_t d = dim_;
    item_stream_ = register_module("item_stream", std::make_shared<SequenceTransformer>(o.transformer));
    feature_stream_ = register_module("feature_stream", std::make_shared<SequenceTransformer>(o.transformer));
    // Each item's attributes, ragged (CSR): items have 0 to hundreds of them (LastFM tags: 31 on average, up to
    // 625), so a padded [items, max] table would make every batch hundreds of times wider than it needs to be.
    // Every field's attribute ids share one embedding table, field f's offset by the sizes of fields before it.
    std::vector<int64_t> offsets(size_t(num_items + 2), 0), ids, field_of;
    for (int64_t item = 0; item <= num_items; ++item) {
      int64_t vocabulary = 0;
      for (size_t f = 0; f < fields.size(); ++f) {
        if (size_t(item) < fields[f]->of_item.size())
          for (int32_t a : fields[f]->of_item[size_t(item)]) {
            ids.push_back(vocabulary + a);
            field_of.push_back(int64_t(f));
          }
        vocabulary += fields[f]->vocabulary();
      }
      offsets[size_t(item + 1)] = int64_t(ids.size());
    }
    int64_t vocabulary = 0;
    for (const auto* f : fields) vocabulary += f->vocabulary();
    offsets_ = register_buffer("attribute_offsets", torch::tensor(offsets, torch::kLong));
    attribute_ids_ = register_buffer("attribute_ids", torch::tensor(ids, torch::kLong));
    attribute_fields_ = register_buffer("attribute_fields", torch::tensor(field_of, torch::kLong));
    if (vocabulary > 0)
      attributes_ = register_module("attributes", torch::nn::Embedding(vocabulary + 1, d));
    for (size_t m = 0; m < features.size(); ++m) {
      feature_tables_.push_back(register_buffer("feature_table" + std::to_string(m), features[m]));
      feature_projections_.push_back(register_module("feature_projection" + std::to_string(m),
                                                     torch::nn::Linear(features[m].size(1), d)));
    }
    attention_hidden_ = register_module("attention_hidden", torch::nn::Linear(d, d));
    attention_score_ = register_module("attention_score", torch::nn::Linear(d, 1));
    concat_ = register_module("concat", torch::nn::Linear(2 * d, d));
    output_norm_ = register_module(
        "output_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(o.transformer.eps)));
    output_drop_ = register_module("output_drop", torch::nn::Dropout(o.transformer.dropout));
    init_normal_weights(*this, o.transformer.init_std);
  }

  torch::Tensor forward(const torch::Tensor& vectors, const torch::Tensor& valid, const Batch& batch) override {
    auto h_item = item_stream_->forward(vectors, valid);
    // The feature vector of an item does not depend on its position: pool each distinct item once.
    auto [unique, inverse, counts] = at::_unique2(batch.items.reshape({-1}), false, true, false);
    (void)counts;
    auto pooled = pool_items(unique).index_select(0, inverse).reshape({vectors.size(0), vectors.size(1), dim_});
    auto h_feature = feature_stream_->forward(pooled * valid.unsqueeze(-1).to(pooled.dtype()), valid);
    auto h = concat_->forward(torch::cat({h_item, h_feature}, -1));
    return dropout(output_drop_, output_norm_->forward(h), fast_dropout_) * valid.unsqueeze(-1).to(h.dtype());
  }
  int64_t output_dim() const override { return dim_; }

 private:
  // [U] item ids -> [U, d]: per item, the attention-pooled sum of its feature vectors (zero when it has none).
  torch::Tensor pool_items(const torch::Tensor& items) {
    const int64_t U = items.size(0);
    auto long_opts = torch::TensorOptions().dtype(torch::kLong).device(items.device());
    std::vector<torch::Tensor> candidates, owners;  // [P_i, d] vectors and the item (0..U-1) each belongs to
    if (attributes_) {
      auto starts = offsets_.index_select(0, items);
      auto lengths = offsets_.index_select(0, items + 1) - starts;
      auto owner = torch::repeat_interleave(torch::arange(U, long_opts), lengths);
      auto first_of_owner = (lengths.cumsum(0) - lengths).index_select(0, owner);
      auto slot = starts.index_select(0, owner) + torch::arange(owner.size(0), long_opts) - first_of_owner;
      auto embedded = attributes_->forward(attribute_ids_.index_select(0, slot));  // [P, d]
      if (field_mean_) {
        // Average each (item, field) group into one vector (RecBole's pooling of a token_seq field).
        auto key = owner * num_fields_ + attribute_fields_.index_select(0, slot);
        auto sums = torch::zeros({U * num_fields_, dim_}, embedded.options()).index_add(0, key, embedded);
        auto sizes = torch::zeros({U * num_fields_}, embedded.options())
                         .index_add(0, key, torch::ones({key.size(0)}, embedded.options()));
        auto present = sizes.gt(0).nonzero().squeeze(1);
        candidates.push_back(sums.index_select(0, present) / sizes.index_select(0, present).unsqueeze(1));
        owners.push_back(torch::div(present, num_fields_, "floor"));
      } else {
        candidates.push_back(embedded);
        owners.push_back(owner);
      }
    }
    for (size_t m = 0; m < feature_tables_.size(); ++m) {
      candidates.push_back(feature_projections_[m]->forward(feature_tables_[m].index_select(0, items)));
      owners.push_back(torch::arange(U, long_opts));
    }
    auto pooled = attention_pool(torch::cat(candidates, 0), torch::cat(owners, 0), U, attention_hidden_,
                                 attention_score_);
    // The padding item (and an item with nothing) pools to zero.
    return pooled * items.ne(0).unsqueeze(1).to(pooled.dtype());
  }

  int64_t dim_;
  bool fast_dropout_;
  bool field_mean_;
  int64_t num_fields_;
  std::shared_ptr<SequenceTransformer> item_stream_, feature_stream_;
  torch::Tensor offsets_, attribute_ids_, attribute_fields_;
  torch::nn::Embedding attributes_{nullptr};
  std::vector<torch::Tensor> feature_tables_;
  std::vector<torch::nn::Linear> feature_projections_;
  torch::nn::Linear attention_hidden_{nullptr}, attention_score_{nullptr}, concat_{nullptr};
  torch::nn::LayerNorm output_norm_{nullptr};
  torch::nn::Dropout output_drop_{nullptr};
};

ParamBinding<FdsaOptions> fdsa_params() {
  ParamBinding<FdsaOptions> p;
  p.include(&FdsaOptions::transformer, transformer_params());
  p.field("attributes", &FdsaOptions::attributes,
          "item attribute fields to embed ('*' = every field the data has; [] = none). S3-Rec attribute "
          "files give the field 'attributes'; a RecBole .item file gives its token and token_seq columns");
  p.field("features", &FdsaOptions::features, "pooled modality features to project and pool with the attributes (e.g. text)");
  p.choice("field_pooling", &FdsaOptions::field_mean, {{"none", false}, {"mean", true}},
           "none: attend over every attribute of an item; mean: average each field first, attend over fields "
           "(RecBole)");
  return p;
}

// The attribute fields the options name, from the data's fields.
std::vector<const ItemAttributes*> attribute_fields(const FdsaOptions& o, const BuildContext& ctx) {
  static const std::map<std::string, ItemAttributes> kNoAttributes;
  const auto& attributes = ctx.item_attributes ? *ctx.item_attributes : kNoAttributes;
  std::vector<const ItemAttributes*> fields;
  for (const auto& name : o.attributes) {
    if (name == "*") {
      for (const auto& [n, a] : attributes) fields.push_back(&a);
      continue;
    }
    auto it = attributes.find(name);
    if (it == attributes.end()) {
      std::string known;
      for (const auto& [n, a] : attributes) known += (known.empty() ? "" : ", ") + n;
      throw std::invalid_argument("fdsa: the data has no attribute field '" + name + "' (it has: " +
                                  (known.empty() ? "none; set [data].attribute_file or item_file" : known) + ")");
    }
    fields.push_back(&it->second);
  }
  return fields;
}

// Pooled modality vectors of every item, read once through the host's feature store (token-level modalities
// contribute their first token).
std::vector<torch::Tensor> feature_vectors(const FdsaOptions& o, const BuildContext& ctx) {
  std::vector<torch::Tensor> vectors;
  for (const auto& name : o.features) {
    bool known = false;
    for (const auto& m : ctx.modalities) known = known || m.name == name;
    if (!known || !ctx.gather)
      throw std::invalid_argument("fdsa: the experiment has no modality '" + name + "'; declare it with [[modality]]");
    auto values = ctx.gather(name, torch::arange(ctx.num_items + 1, torch::kLong)).values;
    vectors.push_back(values.dim() == 3 ? values.select(1, 0).contiguous() : values);
  }
  return vectors;
}

}  // namespace

MMSR_PLUGIN(fdsa, "1.1.0") {
  registrar.add_backbone(
      "fdsa", "FDSA: an item self-attention stream plus a feature stream over attention-pooled item attributes",
      fdsa_params(),
      [](FdsaOptions o, const BuildContext& ctx) -> std::shared_ptr<SequenceEncoder> {
        o.transformer = transformer_options(o.transformer, ctx.input_dim, ctx.max_len, ctx.fast_dropout, "fdsa");
        const std::vector<const ItemAttributes*> fields = attribute_fields(o, ctx);
        const std::vector<torch::Tensor> vectors = feature_vectors(o, ctx);
        if (fields.empty() && vectors.empty())
          throw std::invalid_argument(
              "fdsa: no item features to read: the data has no attribute fields (set [data].attribute_file to an "
              "S3-Rec *_item2attributes.json, or [data].item_file to a RecBole .item file) and features = []");
        return std::make_shared<Fdsa>(o, fields, vectors, ctx.num_items);
      });
}

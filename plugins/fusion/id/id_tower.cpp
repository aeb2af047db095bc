// The ID-only item tower: one learnable vector per item, one branch. Scores are dot products with the same
// table (shared input and output embeddings, as in SASRec), or with an output table of its own (`output =
// "separate"`, as gSASRec's code has it: reuse_item_embeddings = False).
#include <torch/nn/init.h>
#include <torch/nn/modules/embedding.h>

#include "mmsr/sdk/plugin.h"

namespace {

using namespace mmsr;

class IdTower : public ItemTower {
 public:
  IdTower(int64_t num_items, int64_t dim, const std::string& init, double std, bool separate_output) : dim_(dim) {
    table_ = register_module("table", make_table(num_items, dim, init, std));
    if (separate_output) output_ = register_module("output_table", make_table(num_items, dim, init, std));
  }
  std::vector<std::string> branch_names() const override { return {"id"}; }
  int64_t branch_dim(size_t) const override { return dim_; }
  std::vector<torch::Tensor> forward(const torch::Tensor& ids, const ItemFeatures&) override { return {table_->forward(ids)}; }
  std::vector<torch::Tensor> output_vectors(const torch::Tensor& ids, const ItemFeatures&) override {
    if (!output_) return {};
    return {output_->forward(ids)};
  }

 private:
  static torch::nn::Embedding make_table(int64_t num_items, int64_t dim, const std::string& init, double std) {
    torch::nn::Embedding table(torch::nn::EmbeddingOptions(num_items + 1, dim).padding_idx(0));
    torch::NoGradGuard g;
    if (init == "xavier") torch::nn::init::xavier_normal_(table->weight);
    else table->weight.normal_(0.0, std);
    table->weight[0].zero_();
    return table;
  }

  int64_t dim_;
  torch::nn::Embedding table_{nullptr}, output_{nullptr};
};

struct IdOptions {
  int64_t dim = 64;
  std::string init = "normal";
  double init_std = 0.02;
  std::string output = "tied";
};

ParamBinding<IdOptions> id_params() {
  ParamBinding<IdOptions> p;
  p.field("dim", &IdOptions::dim, "item vector dimension d").range(1, 65536);
  p.field("init", &IdOptions::init, "initialisation of the table").one_of({"normal", "xavier"});
  p.field("init_std", &IdOptions::init_std, "std of the normal initialisation").range(1e-6, 10.0);
  p.field("output", &IdOptions::output,
          "tied: states are scored against the input table (SASRec); separate: against a second table of the same "
          "shape and initialisation (gSASRec's code)")
      .one_of({"tied", "separate"})
      .added_after_release();
  return p;
}

}  // namespace

MMSR_PLUGIN(id_tower, "1.0.0") {
  registrar.add_item_tower(
      "id", "ID only: a learnable embedding per item (one branch, 'id')", id_params(),
      [](const IdOptions& o, const BuildContext& ctx) -> std::shared_ptr<ItemTower> {
        return std::make_shared<IdTower>(ctx.num_items, o.dim, o.init, o.init_std, o.output == "separate");
      });
}

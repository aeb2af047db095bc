// PopRec, the floor of every leaderboard: items ranked by how often they occur, the same list for every user.
// An item tower whose score ignores the user state, used in a [[model]] without backbone and loss:
//
//   [[model]]
//   name = "PopRec"
//   tower = { plugin = "popularity", counts = "train" }
//
// counts = "train" counts the training split (leave-one-out: each user's items before the last two), the
// honest convention. counts = "train+valid" also counts each user's validation item, i.e. popularity over
// the test inputs; it reproduces the S3-Rec paper's PopRec numbers (docs/parity.md) but lets the validation
// target count towards its own validation score, so its validation metric is optimistic (nothing is selected
// on it: the model has no epochs).
#include "mmsr/sdk/plugin.h"

namespace {

using namespace mmsr;

class PopularityTower : public ItemTower {
 public:
  explicit PopularityTower(const std::vector<double>& counts) {
    counts_ = register_buffer("counts", torch::tensor(counts, torch::kFloat).unsqueeze(1));  // [N+1, 1]
  }
  std::vector<std::string> branch_names() const override { return {"popularity"}; }
  int64_t branch_dim(size_t) const override { return 1; }
  std::vector<torch::Tensor> forward(const torch::Tensor& ids, const ItemFeatures&) override { return {counts_.index_select(0, ids)}; }
  // [..., 1] x [C, 1] -> [..., C] and [P, 1, 1] x [P, C, 1] -> [P, 1, C]: every state sees the item counts.
  torch::Tensor score(size_t, const torch::Tensor& states, const torch::Tensor& item_vectors) override {
    return states.narrow(-1, 0, 1) * 0 + item_vectors.select(-1, 0).unsqueeze(-2);
  }

 private:
  torch::Tensor counts_;
};

struct PopularityOptions {
  bool with_valid = false;
};

ParamBinding<PopularityOptions> popularity_params() {
  ParamBinding<PopularityOptions> p;
  p.choice("counts", &PopularityOptions::with_valid, {{"train", false}, {"train+valid", true}},
           "train: counts over the training split; train+valid: also each user's validation item (popularity over "
           "the test inputs, the S3-Rec paper's PopRec)");
  return p;
}

}  // namespace

MMSR_PLUGIN(popularity, "1.0.0") {
  registrar.add_item_tower(
      "popularity",
      "PopRec: every item scored by its interaction count, the same ranking for every user (no backbone, no loss)",
      popularity_params(), [](const PopularityOptions& o, const BuildContext& ctx) -> std::shared_ptr<ItemTower> {
        if (!ctx.item_counts) throw std::invalid_argument("popularity: the host gave no item counts");
        std::vector<double> counts(ctx.item_counts->begin(), ctx.item_counts->end());
        if (o.with_valid) {
          if (!ctx.valid_target_counts)
            throw std::invalid_argument("popularity: the host gave no validation counts");
          for (size_t i = 0; i < counts.size() && i < ctx.valid_target_counts->size(); ++i)
            counts[i] += double((*ctx.valid_target_counts)[i]);
        }
        counts.resize(size_t(ctx.num_items + 1), 0.0);
        return std::make_shared<PopularityTower>(counts);
      });
}

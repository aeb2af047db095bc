// BERT4Rec's training task as RecBole builds it (plugins/backbones/bert4rec): Cloze samples predict the items
// replaced by [MASK] without reading them, fine-tuning samples predict the next item from a [MASK] after the
// window, and the evaluation state is that [MASK]'s output.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "mmsr/registry.h"
#include "mmsr/sdk/context.h"
#include "mmsr/sdk/modules.h"
#include "model/static_plugins.h"

namespace mmsr {
namespace {

constexpr int64_t kDim = 8, kLen = 6;

std::shared_ptr<SequenceEncoder> bert4rec(double mask_ratio, double ft_ratio) {
  torch::manual_seed(1);
  const ComponentEntry* e = test::static_registry().find(PluginKind::Backbone, "bert4rec");
  EXPECT_NE(e, nullptr);
  BuildContext c;
  c.input_dim = kDim;
  c.max_len = kLen;
  c.num_items = 50;
  // Without dropout, so that two steps with the same masks give the same outputs.
  auto params = ParamSet::resolve(
      e->params, {{"mask_ratio", mask_ratio}, {"ft_ratio", ft_ratio}, {"dropout", 0.0}, {"attn_dropout", 0.0}});
  return e->make_backbone(params, c);
}

struct Window {
  torch::Tensor x, valid;
  Batch batch;
};

// `rows` users: even rows hold a full window of kLen items, odd rows 3 items after padding; each row's items are
// 1 + row * 7 + position (all distinct), its next item 40 + row % 10.
Window window(int64_t rows = 2) {
  Window w;
  w.valid = torch::ones({rows, kLen}, torch::kBool);
  for (int64_t r = 1; r < rows; r += 2) w.valid[r].slice(0, 0, kLen - 3).fill_(false);
  auto ids = (torch::arange(kLen).unsqueeze(0) + 1 + 7 * torch::arange(rows).unsqueeze(1)).remainder(39) + 1;
  w.batch.items = ids.masked_fill(~w.valid, 0);
  w.batch.valid = w.valid;
  auto next = (torch::arange(rows) % 10 + 40).unsqueeze(1);
  w.batch.targets = torch::cat({w.batch.items.slice(1, 1), next}, 1);
  w.x = torch::randn({rows, kLen, kDim});
  return w;
}

TrainingView step(SequenceEncoder& enc, const Window& w, const torch::Tensor& x, uint64_t seed) {
  torch::manual_seed(seed);  // the same draws, so the same masks
  return enc.train_forward(x, w.valid, w.batch);
}

TEST(Bert4rec, TheUserStateIsAMaskAfterTheItems) {
  auto enc = bert4rec(0.2, 0.5);
  enc->eval();
  Window w = window();
  auto forward_last = enc->forward(w.x, w.valid, w.batch).select(1, kLen - 1);
  TrainingView view = enc->train_forward(w.x, w.valid, w.batch);  // out of training: fine-tuning samples only
  ASSERT_EQ(view.targets.sizes(), torch::IntArrayRef({2, kLen + 1}));
  EXPECT_TRUE(torch::equal(view.targets.slice(1, 0, kLen), torch::zeros({2, kLen}, torch::kLong)));
  EXPECT_TRUE(torch::equal(view.targets.select(1, kLen), w.batch.targets.select(1, kLen - 1)));
  EXPECT_TRUE(torch::allclose(view.states.select(1, kLen), forward_last, 1e-5, 1e-6));
}

TEST(Bert4rec, ClozeSamplesPredictTheMaskedItemsWithoutReadingThem) {
  auto enc = bert4rec(0.5, 0.0);
  enc->train();
  Window w = window();
  TrainingView view = step(*enc, w, w.x, 5);
  auto masked = view.targets.slice(1, 0, kLen).ne(0);
  ASSERT_GT(masked.sum().item<int64_t>(), 0);
  ASSERT_LT(masked.sum().item<int64_t>(), w.valid.sum().item<int64_t>());
  EXPECT_TRUE(torch::equal(view.targets.slice(1, 0, kLen).masked_select(masked), w.batch.items.masked_select(masked)));
  EXPECT_FALSE((masked & ~w.valid).any().item<bool>()) << "padding is never masked";
  EXPECT_TRUE(view.targets.select(1, kLen).eq(0).all().item<bool>()) << "a Cloze sample has no [MASK] after it";

  // Whatever the masked items' vectors hold, no output changes: the [MASK] stands in their place.
  auto x2 = w.x.clone();
  x2.index_put_({masked}, torch::randn({masked.sum().item<int64_t>(), kDim}));
  EXPECT_TRUE(torch::allclose(step(*enc, w, x2, 5).states, view.states, 1e-5, 1e-6));
  // An unmasked item is read.
  auto x3 = w.x.clone();
  auto unmasked = (~masked & w.valid).nonzero()[0];
  x3[unmasked[0].item<int64_t>()][unmasked[1].item<int64_t>()].add_(torch::randn({kDim}));  // not a constant: LayerNorm removes that
  EXPECT_FALSE(torch::allclose(step(*enc, w, x3, 5).states, view.states, 1e-5, 1e-6));
}

TEST(Bert4rec, FineTuningSamplesPredictOnlyTheNextItem) {
  auto enc = bert4rec(0.5, 1.0);
  enc->train();
  Window w = window();
  TrainingView view = step(*enc, w, w.x, 6);
  EXPECT_TRUE(view.targets.slice(1, 0, kLen).eq(0).all().item<bool>());
  EXPECT_TRUE(torch::equal(view.targets.select(1, kLen), w.batch.targets.select(1, kLen - 1)));
}

TEST(Bert4rec, MaskAndFineTuningSharesFollowTheirRatios) {
  auto enc = bert4rec(0.2, 0.3);
  enc->train();
  Window w = window(2000);
  TrainingView view = step(*enc, w, w.x, 7);
  auto fine_tune = view.targets.select(1, kLen).ne(0);
  EXPECT_NEAR(fine_tune.to(torch::kDouble).mean().item<double>(), 0.3, 0.03);
  auto cloze_rows = ~fine_tune;
  auto masked = view.targets.slice(1, 0, kLen).ne(0).index({cloze_rows});
  auto real = w.valid.index({cloze_rows});
  EXPECT_NEAR(masked.sum().item<double>() / real.sum().item<double>(), 0.2, 0.02);
  EXPECT_FALSE(view.targets.slice(1, 0, kLen).ne(0).index({fine_tune}).any().item<bool>())
      << "a fine-tuning sample masks nothing inside its window";
}

}  // namespace
}  // namespace mmsr

// The conformance suite every backbone passes: it runs over every registered backbone, so a new one is covered
// by being registered. Each check is stated from the SequenceEncoder contract (core/include/mmsr/sdk/modules.h).
#include <gtest/gtest.h>
#include <torch/torch.h>


#include "mmsr/registry.h"
#include "mmsr/sdk/context.h"
#include "mmsr/sdk/modules.h"
#include "model/module_copy.h"
#include "model/static_plugins.h"

namespace mmsr {
namespace {

PluginRegistry& backbones() { return test::static_registry(); }

constexpr int64_t kDim = 8, kLen = 7;

constexpr int64_t kItems = 30;

// Side information a feature-reading backbone (FDSA) finds in a real run: an attribute field (1 to 3 attributes
// per item, some items without any) and a pooled feature.
const std::map<std::string, ItemAttributes>& test_attributes() {
  static const auto table = [] {
    ItemAttributes a;
    a.tokens = {"", "a", "b", "c", "d", "e"};
    a.of_item.resize(kItems + 1);
    for (int32_t i = 1; i <= kItems; ++i)
      for (int32_t j = 0; j < i % 4; ++j) a.of_item[size_t(i)].push_back(1 + (i + j) % 5);
    return std::map<std::string, ItemAttributes>{{"attributes", a}};
  }();
  return table;
}

const std::map<std::string, FeatureMatrix>& test_features() {
  static const auto table = [] {
    FeatureMatrix f;
    f.dim = 5;
    for (int64_t i = 0; i < (kItems + 1) * f.dim; ++i) f.values.push_back(float((i * 7) % 11) / 11.0f);
    return std::map<std::string, FeatureMatrix>{{"text", f}};
  }();
  return table;
}

std::shared_ptr<SequenceEncoder> build(const std::string& name, uint64_t seed) {
  torch::manual_seed(seed);
  const ComponentEntry* e = backbones().find(PluginKind::Backbone, name);
  static const std::vector<int64_t> counts(kItems + 1, 1);
  BuildContext c;
  c.input_dim = kDim;
  c.max_len = kLen;
  c.num_items = kItems;
  c.item_counts = &counts;
  c.valid_target_counts = &counts;
  c.item_attributes = &test_attributes();
  c.modalities = {{"text", true, 1, 5}};
  c.gather = [](const std::string&, const torch::Tensor& ids) {
    const auto& f = test_features().at("text");
    auto table = torch::from_blob(const_cast<float*>(f.values.data()), {kItems + 1, f.dim}, torch::kFloat);
    return ModalityFeatures{table.index_select(0, ids), torch::ones({ids.size(0)}, torch::kBool)};
  };
  auto enc = e->make_backbone(ParamSet::resolve(e->params, {}), c);
  enc->eval();  // dropout off: the checks compare outputs exactly
  return enc;
}

// Left-padded validity: row r has lengths[r] real items at the right end.
torch::Tensor valid_for(const std::vector<int64_t>& lengths, int64_t L) {
  auto v = torch::zeros({int64_t(lengths.size()), L}, torch::kBool);
  for (size_t r = 0; r < lengths.size(); ++r)
    if (lengths[r] > 0) v[int64_t(r)].slice(0, L - lengths[r]).fill_(true);
  return v;
}

// Item ids of a window, counted from its right end (so a narrower window of the same items has the same ids),
// 0 on padding. Encoders that read item features from ids (FDSA) see the same items as the vectors x.
torch::Tensor items_for(const torch::Tensor& valid) {
  const int64_t B = valid.size(0), L = valid.size(1);
  auto ids = torch::zeros({B, L}, torch::kLong);
  for (int64_t r = 0; r < B; ++r)
    for (int64_t t = 0; t < L; ++t)
      if (valid[r][t].item<bool>()) ids[r][t] = 1 + (r * 11 + (L - 1 - t) * 3) % kItems;
  return ids;
}

torch::Tensor run(SequenceEncoder& enc, const torch::Tensor& x, const torch::Tensor& valid) {
  Batch b;
  b.items = items_for(valid);
  b.valid = valid;
  return enc.forward(x, valid, b);
}

class BackboneConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(BackboneConformance, ShapesAndFiniteOutputs) {
  auto enc = build(GetParam(), 1);
  auto valid = valid_for({7, 3, 0}, kLen);  // a full row, a short one, and one that is all padding
  auto y = run(*enc, torch::randn({3, kLen, kDim}), valid);
  ASSERT_EQ(y.sizes(), torch::IntArrayRef({3, kLen, enc->output_dim()}));
  EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
}

TEST_P(BackboneConformance, NoPositionSeesALaterItem) {
  auto enc = build(GetParam(), 2);
  if (enc->bidirectional()) GTEST_SKIP() << "bidirectional: only its last position is a user state";
  auto valid = valid_for({7, 5}, kLen);
  auto x = torch::randn({2, kLen, kDim});
  auto y = run(*enc, x, valid);
  for (int64_t t = 2; t < kLen; ++t) {
    auto x2 = x.clone();
    x2.slice(1, t).copy_(torch::randn({2, kLen - t, kDim}));
    auto y2 = run(*enc, x2, valid);
    EXPECT_TRUE(torch::allclose(y.slice(1, 0, t), y2.slice(1, 0, t), 1e-5, 1e-6)) << "changed from position " << t;
  }
}

// The user's state (the last position, what evaluation scores) reads every real item of the window.
TEST_P(BackboneConformance, TheLastStateSeesEveryRealItem) {
  auto enc = build(GetParam(), 8);
  auto valid = valid_for({7, 4}, kLen);
  auto x = torch::randn({2, kLen, kDim});
  auto last = run(*enc, x, valid).select(1, kLen - 1);
  for (int64_t t = kLen - 4; t < kLen; ++t) {
    auto x2 = x.clone();
    x2.select(1, t).add_(torch::randn({2, kDim}));
    auto last2 = run(*enc, x2, valid).select(1, kLen - 1);
    for (int64_t r = 0; r < 2; ++r)
      EXPECT_FALSE(torch::allclose(last[r], last2[r])) << "row " << r << ": the last state ignores position " << t;
  }
}

// A training step predicts the batch's next items from forward(), or targets of the encoder's own choosing that
// are items of the same row (a Cloze task), one per state.
TEST_P(BackboneConformance, ATrainingStepPredictsItemsOfItsOwnRow) {
  auto enc = build(GetParam(), 9);
  enc->train();
  auto valid = valid_for({7, 3}, kLen);
  Batch b;
  b.items = items_for(valid);
  b.valid = valid;
  b.targets = torch::cat({b.items.slice(1, 1), torch::tensor({{5}, {6}}, torch::kLong)}, 1).masked_fill(~valid, 0);
  auto x = torch::randn({2, kLen, kDim});
  torch::manual_seed(3);
  TrainingView step = enc->train_forward(x, valid, b);
  ASSERT_EQ(step.states.dim(), 3);
  EXPECT_EQ(step.states.size(2), enc->output_dim());
  EXPECT_TRUE(torch::isfinite(step.states).all().item<bool>());
  if (!step.targets.defined()) {
    EXPECT_EQ(step.states.sizes(), torch::IntArrayRef({2, kLen, enc->output_dim()}));
    return;
  }
  ASSERT_EQ(step.targets.sizes(), step.states.sizes().slice(0, 2));
  EXPECT_TRUE(enc->bidirectional()) << "an encoder choosing its own targets must say so (bidirectional())";
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t t = 0; t < step.targets.size(1); ++t) {
      int64_t target = step.targets[r][t].item<int64_t>();
      if (target == 0) continue;
      bool of_row = b.items[r].eq(target).any().item<bool>() || b.targets[r].eq(target).any().item<bool>();
      EXPECT_TRUE(of_row) << "row " << r << " position " << t << " predicts item " << target;
    }
}

TEST_P(BackboneConformance, EveryRealPositionSeesItsOwnItem) {
  auto enc = build(GetParam(), 7);
  auto valid = valid_for({7, 4}, kLen);
  auto x = torch::randn({2, kLen, kDim});
  auto y = run(*enc, x, valid);
  for (int64_t t = kLen - 4; t < kLen; ++t) {
    auto x2 = x.clone();
    x2.select(1, t).add_(torch::randn({2, kDim}));  // not a constant: LayerNorm would remove that
    auto y2 = run(*enc, x2, valid);
    for (int64_t r = 0; r < 2; ++r)
      EXPECT_FALSE(torch::allclose(y[r][t], y2[r][t])) << "row " << r << " position " << t << " ignores its item";
  }
}

TEST_P(BackboneConformance, PaddingNeverChangesRealPositions) {
  auto enc = build(GetParam(), 3);
  auto valid = valid_for({4}, kLen);
  auto x = torch::randn({1, kLen, kDim});
  auto y = run(*enc, x, valid);
  // Whatever stands in the padding slots...
  auto x2 = x.clone();
  x2.slice(1, 0, kLen - 4).fill_(7.0);
  EXPECT_TRUE(torch::allclose(y.slice(1, kLen - 4), run(*enc, x2, valid).slice(1, kLen - 4), 1e-5, 1e-6));
  // ...and however much of it there is (the host trims batches to their longest row).
  auto narrow = run(*enc, x.slice(1, kLen - 5).contiguous(), valid_for({4}, 5));
  EXPECT_TRUE(torch::allclose(y.slice(1, kLen - 4), narrow.slice(1, 1), 1e-5, 1e-6));
}

TEST_P(BackboneConformance, DeterministicForASeed) {
  auto x = torch::randn({2, kLen, kDim});
  auto valid = valid_for({7, 2}, kLen);
  auto a = run(*build(GetParam(), 11), x, valid), b = run(*build(GetParam(), 11), x, valid);
  EXPECT_TRUE(torch::equal(a, b));
}

TEST_P(BackboneConformance, FiniteGradientsForEveryParameter) {
  auto enc = build(GetParam(), 4);
  enc->train();
  auto x = torch::randn({3, kLen, kDim}, torch::requires_grad());
  auto y = run(*enc, x, valid_for({7, 2, 0}, kLen));
  y.pow(2).sum().backward();
  EXPECT_TRUE(torch::isfinite(x.grad()).all().item<bool>());
  for (const auto& p : enc->named_parameters())
    if (p.value().grad().defined())
      EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
}

TEST_P(BackboneConformance, SaveAndLoadReproduceTheOutputs) {
  auto a = build(GetParam(), 5);
  auto b = build(GetParam(), 6);  // different initial weights
  test::copy_through_archive(*a, *b);
  b->eval();
  auto x = torch::randn({2, kLen, kDim});
  auto valid = valid_for({7, 3}, kLen);
  EXPECT_TRUE(torch::equal(run(*a, x, valid), run(*b, x, valid)));
}

std::vector<std::string> all_backbones() { return backbones().names(PluginKind::Backbone); }

INSTANTIATE_TEST_SUITE_P(EveryBackbone, BackboneConformance, ::testing::ValuesIn(all_backbones()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace mmsr

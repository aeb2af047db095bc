// The conformance suites every item tower and every loss passes, like the backbones' (conformance_test.cpp): they
// run over every registered plugin of the kind, with its default parameters, so a new plugin is covered by being
// registered (and an out-of-tree one through MMSR_CONFORMANCE_PLUGINS). Each check is stated from the contracts of
// core/include/mmsr/sdk/modules.h.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "mmsr/registry.h"
#include "mmsr/sdk/context.h"
#include "mmsr/sdk/modules.h"
#include "model/module_copy.h"
#include "model/static_plugins.h"

namespace mmsr {
namespace {

// kFeatureDim: a multiple of the correlation loss's default parts (8).
constexpr int64_t kItems = 30, kFeatureDim = 8, kTokens = 4, kDim = 8;

// Features of every item for the modalities a tower may read by default: pooled "text" and "image", and token-level
// "text_tokens" and "image_tokens" (some tokens masked). Deterministic, different per item.
ModalityFeatures gather_features(const std::string& modality, const torch::Tensor& ids) {
  const bool tokens = modality.size() > 7 && modality.substr(modality.size() - 7) == "_tokens";
  const double salt = modality.rfind("image", 0) == 0 ? 0.37 : 0.11;
  auto base = ids.to(torch::kFloat).unsqueeze(-1);
  if (!tokens) {
    auto values = torch::sin(base * salt + torch::arange(kFeatureDim, torch::kFloat) * 0.7);
    return {values, ids.ne(0)};
  }
  auto grid = torch::arange(kTokens * kFeatureDim, torch::kFloat).reshape({kTokens, kFeatureDim});
  auto values = torch::sin(base.unsqueeze(-1) * salt + grid * 0.3);
  auto lengths = 2 + ids.remainder(kTokens - 1);  // 2..kTokens real tokens
  auto mask = torch::arange(kTokens).unsqueeze(0).lt(lengths.unsqueeze(1));
  return {values, mask};
}

BuildContext context(uint64_t seed) {
  static const std::vector<int64_t> counts = [] {
    std::vector<int64_t> c(kItems + 1, 0);
    for (int64_t i = 1; i <= kItems; ++i) c[size_t(i)] = 1 + (i * 7) % 5;
    return c;
  }();
  static const std::map<std::string, ItemAttributes> no_attributes;
  BuildContext c;
  c.num_items = kItems;
  c.max_len = 6;
  c.input_dim = kDim;
  c.item_counts = &counts;
  c.valid_target_counts = &counts;
  c.item_attributes = &no_attributes;
  c.modalities = {{"text", true, 1, kFeatureDim},
                  {"image", true, 1, kFeatureDim},
                  {"text_tokens", false, kTokens, kFeatureDim},
                  {"image_tokens", false, kTokens, kFeatureDim}};
  c.gather = gather_features;
  return c;
}

ItemFeatures features_of(const ItemTower& tower, const torch::Tensor& ids) {
  ItemFeatures f;
  for (const auto& m : tower.modalities()) f[m] = gather_features(m, ids);
  return f;
}

// ---------------------------------------------------------------------------------------------------------------
// Item towers

std::shared_ptr<ItemTower> build_tower(const std::string& name, uint64_t seed) {
  torch::manual_seed(seed);
  const ComponentEntry* e = test::static_registry().find(PluginKind::ItemTower, name);
  auto tower = e->make_item_tower(ParamSet::resolve(e->params, {}), context(seed));
  tower->eval();  // dropout and training noise off: the checks compare outputs exactly
  return tower;
}

std::vector<torch::Tensor> vectors(ItemTower& tower, const torch::Tensor& ids) {
  return tower.forward(ids, features_of(tower, ids));
}

class TowerConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(TowerConformance, OneFiniteTablePerNamedBranch) {
  auto tower = build_tower(GetParam(), 1);
  const auto names = tower->branch_names();
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size()) << "branch names repeat";
  auto ids = torch::tensor({3, 1, 7, 30}, torch::kLong);
  auto out = vectors(*tower, ids);
  ASSERT_EQ(out.size(), names.size());
  for (size_t b = 0; b < out.size(); ++b) {
    EXPECT_FALSE(names[b].empty());
    EXPECT_EQ(out[b].sizes(), torch::IntArrayRef({4, tower->branch_dim(b)})) << names[b];
    EXPECT_TRUE(torch::isfinite(out[b]).all().item<bool>()) << names[b];
  }
}

// The host computes a batch's distinct items in training and the catalogue in chunks at evaluation: an item's
// vector must not depend on which other items are computed with it.
TEST_P(TowerConformance, TheCatalogueInChunksEqualsTheBatchVectors) {
  auto tower = build_tower(GetParam(), 2);
  auto catalogue = torch::arange(kItems + 1, torch::kLong);
  auto whole = vectors(*tower, catalogue);
  auto first = vectors(*tower, catalogue.slice(0, 0, 11)), rest = vectors(*tower, catalogue.slice(0, 11));
  auto batch_ids = torch::tensor({17, 4, 29, 4}, torch::kLong);
  auto batch = vectors(*tower, batch_ids);
  for (size_t b = 0; b < whole.size(); ++b) {
    EXPECT_TRUE(torch::allclose(torch::cat({first[b], rest[b]}), whole[b], 1e-5, 1e-6)) << "branch " << b;
    EXPECT_TRUE(torch::allclose(batch[b], whole[b].index_select(0, batch_ids), 1e-5, 1e-6)) << "branch " << b;
  }
}

TEST_P(TowerConformance, PaddingChangesNoOtherItem) {
  auto tower = build_tower(GetParam(), 3);
  auto without = vectors(*tower, torch::tensor({5, 9}, torch::kLong));
  auto with = vectors(*tower, torch::tensor({0, 5, 0, 9}, torch::kLong));
  for (size_t b = 0; b < without.size(); ++b)
    EXPECT_TRUE(torch::allclose(with[b].index_select(0, torch::tensor({1, 3})), without[b], 1e-5, 1e-6));
}

TEST_P(TowerConformance, FiniteGradientsForEveryParameter) {
  auto tower = build_tower(GetParam(), 4);
  tower->train();
  auto out = vectors(*tower, torch::tensor({0, 2, 6, 11}, torch::kLong));
  auto total = torch::zeros({});
  for (auto& v : out) total = total + v.pow(2).sum();
  if (!total.requires_grad()) GTEST_SKIP() << "no trainable parameters (a fixed scorer)";
  total.backward();
  for (const auto& p : tower->named_parameters())
    if (p.value().grad().defined())
      EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
}

TEST_P(TowerConformance, DeterministicForASeed) {
  auto ids = torch::tensor({1, 8, 21}, torch::kLong);
  auto a = vectors(*build_tower(GetParam(), 11), ids), b = vectors(*build_tower(GetParam(), 11), ids);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i]));
}

TEST_P(TowerConformance, ScoresAreFiniteAndOnePerCandidate) {
  auto tower = build_tower(GetParam(), 5);
  auto table = vectors(*tower, torch::arange(kItems + 1, torch::kLong));
  for (size_t b = 0; b < table.size(); ++b) {
    auto states = torch::randn({3, tower->branch_dim(b)});
    auto scores = tower->score(b, states, table[b]);
    EXPECT_EQ(scores.sizes(), torch::IntArrayRef({3, kItems + 1}));
    EXPECT_TRUE(torch::isfinite(scores).all().item<bool>());
  }
}

TEST_P(TowerConformance, SaveAndLoadReproduceTheVectors) {
  auto a = build_tower(GetParam(), 6);
  auto b = build_tower(GetParam(), 7);  // different initial weights
  test::copy_through_archive(*a, *b);
  b->eval();
  auto ids = torch::tensor({2, 13, 30}, torch::kLong);
  auto va = vectors(*a, ids), vb = vectors(*b, ids);
  for (size_t i = 0; i < va.size(); ++i) EXPECT_TRUE(torch::equal(va[i], vb[i]));
}

std::vector<std::string> all_towers() { return test::static_registry().names(PluginKind::ItemTower); }

INSTANTIATE_TEST_SUITE_P(EveryTower, TowerConformance, ::testing::ValuesIn(all_towers()),
                         [](const auto& info) { return info.param; });

// ---------------------------------------------------------------------------------------------------------------
// Losses

// A batch of three sequences (one short: left padding) over the catalogue, its distinct items, and the frozen and
// adapted features of every modality, as the host builds it for a tower that reads and adapts them.
Batch loss_batch() {
  auto items = torch::tensor({{0, 0, 0, 4, 9, 2}, {3, 8, 8, 1, 5, 7}, {0, 12, 6, 30, 2, 11}}, torch::kLong);
  auto targets = torch::tensor({{0, 0, 0, 9, 2, 14}, {8, 8, 1, 5, 7, 20}, {0, 6, 30, 2, 11, 3}}, torch::kLong);
  Batch b;
  b.items = items;
  b.targets = targets;
  b.valid = items.ne(0);
  b.users = torch::arange(3);
  auto both = torch::cat({items.reshape({-1}), targets.reshape({-1})});
  auto [unique, inverse, counts] = at::_unique2(both, true, true);
  (void)counts;
  b.unique_items = unique;
  b.item_index = inverse.slice(0, 0, items.numel()).reshape(items.sizes());
  b.target_index = inverse.slice(0, items.numel()).reshape(items.sizes());
  for (const char* m : {"text", "image"}) {
    b.features[m] = gather_features(m, unique);
    b.features[adapted_key(m)] = {b.features[m].values.clone().requires_grad_(true), b.features[m].mask};
  }
  return b;
}

// The model side of a loss's input: three branches (id, text, image) with states and item vectors that require
// gradients, scored by dot products.
struct LossInputs {
  Batch batch = loss_batch();
  std::vector<torch::Tensor> states, unique_vectors, catalogue;
  torch::Tensor log_popularity;

  explicit LossInputs(uint64_t seed) {
    torch::manual_seed(seed);
    for (int b = 0; b < 3; ++b) {
      states.push_back(torch::randn({3, 6, kDim}).requires_grad_(true));
      catalogue.push_back(torch::randn({kItems + 1, kDim}).requires_grad_(true));
      unique_vectors.push_back(catalogue.back().index_select(0, batch.unique_items));
    }
    log_popularity = torch::log(torch::arange(1, kItems + 2, torch::kFloat) / 100.0);
  }

  ForwardOutput output(const std::vector<torch::Tensor>& use_states) const {
    ForwardOutput out;
    out.batch = &batch;
    const char* names[] = {"id", "text", "image"};
    for (size_t b = 0; b < 3; ++b) out.branches.push_back({names[b], use_states[b], unique_vectors[b]});
    out.log_popularity = log_popularity;
    out.progress = {2, 5, 7};
    out.all_item_vectors = [this](size_t b) { return catalogue[b]; };
    out.score = [](size_t, const torch::Tensor& s, const torch::Tensor& v) { return torch::matmul(s, v.transpose(-2, -1)); };
    return out;
  }
};

std::shared_ptr<Objective> build_loss(const std::string& name, uint64_t seed) {
  torch::manual_seed(seed);
  const ComponentEntry* e = test::static_registry().find(PluginKind::Objective, name);
  return e->make_objective(ParamSet::resolve(e->params, {}), context(seed));
}

LossTerms compute(Objective& loss, const LossInputs& in, const std::vector<torch::Tensor>& states, uint64_t seed) {
  torch::manual_seed(seed);  // losses that draw negatives draw the same ones
  return loss.compute(in.output(states));
}

class LossConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(LossConformance, AFiniteScalarAndNamedFiniteTerms) {
  auto loss = build_loss(GetParam(), 1);
  LossInputs in(1);
  LossTerms t = compute(*loss, in, in.states, 9);
  EXPECT_EQ(t.total.dim(), 0);
  EXPECT_TRUE(std::isfinite(t.total.item<double>()));
  std::set<std::string> names;
  for (const auto& [name, value] : t.terms) {
    EXPECT_FALSE(name.empty());
    EXPECT_TRUE(names.insert(name).second) << "term " << name << " twice";
    EXPECT_TRUE(std::isfinite(value.item<double>())) << name;
  }
}

// A position without a target (padding, or the end of a window) must not count: its state is garbage.
TEST_P(LossConformance, PositionsWithoutATargetChangeNothing) {
  auto loss = build_loss(GetParam(), 2);
  LossInputs in(2);
  const double before = compute(*loss, in, in.states, 5).total.item<double>();
  auto no_target = in.batch.targets.eq(0).unsqueeze(-1);
  std::vector<torch::Tensor> garbage;
  for (const auto& s : in.states) garbage.push_back(torch::where(no_target, torch::full_like(s, 7.5), s));
  const double after = compute(*loss, in, garbage, 5).total.item<double>();
  EXPECT_NEAR(before, after, 1e-5 * std::max(1.0, std::fabs(before)));
}

TEST_P(LossConformance, FiniteGradients) {
  auto loss = build_loss(GetParam(), 3);
  loss->train();
  LossInputs in(3);
  LossTerms t = compute(*loss, in, in.states, 4);
  if (!t.total.requires_grad()) GTEST_SKIP() << "this loss reads nothing trainable in this batch";
  t.total.backward();
  bool any = false;
  for (const auto& s : in.states)
    if (s.grad().defined()) {
      EXPECT_TRUE(torch::isfinite(s.grad()).all().item<bool>());
      any = any || s.grad().abs().sum().item<double>() > 0;
    }
  for (const auto& c : in.catalogue)
    if (c.grad().defined()) EXPECT_TRUE(torch::isfinite(c.grad()).all().item<bool>());
  for (const auto& p : loss->named_parameters())
    if (p.value().grad().defined()) EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
  const auto& adapted = in.batch.features.at(adapted_key("image")).values;
  any = any || (adapted.grad().defined() && adapted.grad().abs().sum().item<double>() > 0);
  EXPECT_TRUE(any) << "no gradient reaches the states or the adapted embeddings";
}

TEST_P(LossConformance, DeterministicForASeed) {
  LossInputs in(4);
  auto a = compute(*build_loss(GetParam(), 12), in, in.states, 6), b = compute(*build_loss(GetParam(), 12), in, in.states, 6);
  EXPECT_TRUE(torch::equal(a.total, b.total));
}

TEST_P(LossConformance, SaveAndLoadReproduceTheLoss) {
  auto a = build_loss(GetParam(), 5);
  auto b = build_loss(GetParam(), 6);
  test::copy_through_archive(*a, *b);
  LossInputs in(5);
  EXPECT_TRUE(torch::equal(compute(*a, in, in.states, 3).total, compute(*b, in, in.states, 3).total));
}

std::vector<std::string> all_losses() { return test::static_registry().names(PluginKind::Objective); }

INSTANTIATE_TEST_SUITE_P(EveryLoss, LossConformance, ::testing::ValuesIn(all_losses()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace mmsr

// Formula tests: small cases computed by hand from METHODS.md, against the plugins' code (the components' weights
// set to chosen values). The conformance suites check contracts; these check that the computation is the paper's.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "mmsr/registry.h"
#include "mmsr/sdk/context.h"
#include "mmsr/sdk/modules.h"
#include "mmsr/sdk/pooling.h"
#include "model/static_plugins.h"

namespace mmsr {
namespace {

// Item 1's features: text [2, 4] and image [1, 1] (2-dimensional, pooled); other items zero.
ModalityFeatures two_by_two(const std::string& modality, const torch::Tensor& ids) {
  auto values = torch::zeros({ids.size(0), 2});
  for (int64_t i = 0; i < ids.size(0); ++i)
    if (ids[i].item<int64_t>() == 1) values[i] = modality == "text" ? torch::tensor({2.f, 4.f}) : torch::tensor({1.f, 1.f});
  return {values, ids.ne(0)};
}

BuildContext small_context() {
  BuildContext c;
  c.num_items = 3;
  c.max_len = 4;
  c.modalities = {{"text", true, 1, 2}, {"image", true, 1, 2}};
  c.gather = two_by_two;
  return c;
}

std::shared_ptr<ItemTower> tower(const std::string& name, std::map<std::string, ParamValue> given) {
  const ComponentEntry* e = test::static_registry().find(PluginKind::ItemTower, name);
  auto t = e->make_item_tower(ParamSet::resolve(e->params, given), small_context());
  t->eval();
  return t;
}

void set(torch::nn::Module& m, const std::string& name, const torch::Tensor& value) {
  torch::NoGradGuard no_grad;
  auto params = m.named_parameters();
  ASSERT_TRUE(params.contains(name)) << name;
  params[name].copy_(value);
}

torch::Tensor item_one(ItemTower& t) {
  auto ids = torch::tensor({1}, torch::kLong);
  ItemFeatures f;
  for (const auto& m : t.modalities()) f[m] = two_by_two(m, ids);
  return t.forward(ids, f)[0][0];
}

// UniSRec's adaptor: v = sum_k softmax(x W_g)_k (x - b_k) W_k, noise and dropout off at evaluation.
TEST(Formula, UnisrecAdaptorIsTheGatedSumOfWhitenedExperts) {
  auto t = tower("unisrec", {{"dim", int64_t(2)}, {"experts", int64_t(2)}, {"dropout", 0.0}});
  set(*t, "adaptor.biases", torch::tensor({{0.f, 0.f}, {1.f, 1.f}}));
  set(*t, "adaptor.weights", torch::stack({torch::eye(2), 2 * torch::eye(2)}));
  set(*t, "adaptor.gate", torch::tensor({{1.f, 0.f}, {0.f, 0.f}}));
  // x = [2, 4]: gate logits [2, 0]; expert 1: [2, 4]; expert 2: ([2, 4] - [1, 1]) * 2 = [2, 6].
  const double g1 = std::exp(2.0) / (std::exp(2.0) + 1.0), g2 = 1.0 - g1;
  auto v = item_one(*t);
  EXPECT_NEAR(v[0].item<double>(), g1 * 2 + g2 * 2, 1e-5);
  EXPECT_NEAR(v[1].item<double>(), g1 * 4 + g2 * 6, 1e-5);
  // Scores are cosines over the temperature (0.07).
  auto h = torch::tensor({{3.f, 0.f}});
  const double cosine = v[0].item<double>() / v.norm().item<double>();
  EXPECT_NEAR(t->score(0, h, v.unsqueeze(0))[0][0].item<double>(), cosine / 0.07, 1e-4);
}

// FDSA's feature pooling (the SDK's attention_pool): alpha = softmax within an item of w2 . ReLU(W1 f + b1) + b2.
TEST(Formula, FdsaPoolingIsASoftmaxWithinEachItem) {
  torch::nn::Linear hidden(2, 2), score(2, 1);
  {
    torch::NoGradGuard no_grad;
    hidden->weight.copy_(torch::eye(2));
    hidden->bias.zero_();
    score->weight.copy_(torch::tensor({{1.f, 1.f}}));
    score->bias.fill_(0.5);
  }
  auto f = torch::tensor({{1.f, 0.f}, {0.f, 2.f}, {3.f, 3.f}});
  auto pooled = attention_pool(f, torch::tensor({0, 0, 1}), 3, hidden, score);
  // Item 0: energies 1.5 and 2.5; item 1: its only vector; item 2: nothing, zero.
  const double a = 1.0 / (1.0 + std::exp(1.0)), b = 1.0 - a;
  EXPECT_NEAR(pooled[0][0].item<double>(), a * 1.0, 1e-6);
  EXPECT_NEAR(pooled[0][1].item<double>(), b * 2.0, 1e-6);
  EXPECT_TRUE(torch::allclose(pooled[1], torch::tensor({3.f, 3.f})));
  EXPECT_TRUE(torch::equal(pooled[2], torch::zeros({2})));
}

// Early fusion's parts for item 1 (layers = 0: each modality's projection alone): ID [1, 0], text W_t [2, 4] = [2, 4], image W_i [1, 1] + [0, 1] = [2, 3].
void set_early_fusion_parts(ItemTower& t) {
  auto id = torch::zeros({4, 2});
  id[1] = torch::tensor({1.f, 0.f});
  set(t, "id.weight", id);
  set(t, "project_text.linear.weight", torch::eye(2));
  set(t, "project_text.linear.bias", torch::zeros({2}));
  set(t, "project_image.linear.weight", 2 * torch::eye(2));
  set(t, "project_image.linear.bias", torch::tensor({0.f, 1.f}));
}

TEST(Formula, EarlyFusionMeanAveragesTheParts) {
  auto t = tower("early_fusion", {{"dim", int64_t(2)}, {"layers", int64_t(0)}});
  set_early_fusion_parts(*t);
  auto v = item_one(*t);
  EXPECT_NEAR(v[0].item<double>(), 5.0 / 3.0, 1e-6);
  EXPECT_NEAR(v[1].item<double>(), 7.0 / 3.0, 1e-6);
}

// The KDSR code's gate: w = softmax over the parts of w_o . ReLU(W_h p + b_h) + b_o; v = sum_p w_p p.
TEST(Formula, EarlyFusionGateWeighsThePartsBySoftmax) {
  auto t = tower("early_fusion", {{"dim", int64_t(2)}, {"layers", int64_t(0)}, {"combine", std::string("gate")}});
  set_early_fusion_parts(*t);
  set(*t, "gate_hidden.weight", torch::eye(2));
  set(*t, "gate_hidden.bias", torch::zeros({2}));
  set(*t, "gate_out.weight", torch::tensor({{1.f, 0.f}}));
  set(*t, "gate_out.bias", torch::zeros({1}));
  // Gate logits: the parts' first coordinates, 1, 2, 2.
  const double z = std::exp(1.0) + 2 * std::exp(2.0), w_id = std::exp(1.0) / z, w_other = std::exp(2.0) / z;
  auto v = item_one(*t);
  EXPECT_NEAR(v[0].item<double>(), w_id * 1 + w_other * 2 + w_other * 2, 1e-5);
  EXPECT_NEAR(v[1].item<double>(), w_id * 0 + w_other * 4 + w_other * 3, 1e-5);
}

// Late fusion's loss (softmax with branches = "fused"): one cross-entropy on the mean of the branches' logits;
// "each": one per branch, summed.
TEST(Formula, LateFusionLossIsTheCrossEntropyOfAveragedLogits) {
  Batch batch;
  batch.items = torch::tensor({{2}}, torch::kLong);
  batch.targets = torch::tensor({{1}}, torch::kLong);
  batch.valid = batch.items.ne(0);
  // Branch 1: state [1, 0], items 1 [1, 0] and 2 [0, 0]; branch 2: state [0, 1], items 1 [0, 0] and 2 [0, 2].
  const std::vector<torch::Tensor> states = {torch::tensor({{{1.f, 0.f}}}), torch::tensor({{{0.f, 1.f}}})};
  const std::vector<torch::Tensor> catalogue = {torch::tensor({{0.f, 0.f}, {1.f, 0.f}, {0.f, 0.f}}),
                                                torch::tensor({{0.f, 0.f}, {0.f, 0.f}, {0.f, 2.f}})};
  ForwardOutput out;
  out.batch = &batch;
  for (size_t b = 0; b < 2; ++b) out.branches.push_back({b == 0 ? "id" : "text", states[b], catalogue[b]});
  out.all_item_vectors = [&](size_t b) { return catalogue[b]; };
  out.score = [](size_t, const torch::Tensor& s, const torch::Tensor& v) { return torch::matmul(s, v.transpose(-2, -1)); };
  const ComponentEntry* e = test::static_registry().find(PluginKind::Objective, "softmax");
  BuildContext c;
  c.num_items = 2;
  auto fused = e->make_objective(ParamSet::resolve(e->params, {{"branches", std::string("fused")}}), c);
  auto each = e->make_objective(ParamSet::resolve(e->params, {}), c);
  // Logits of items 1 and 2: branch 1 [1, 0], branch 2 [0, 2]; their mean [0.5, 1]; the target is item 1.
  EXPECT_NEAR(fused->compute(out).total.item<double>(), std::log(1.0 + std::exp(0.5)), 1e-5);
  EXPECT_NEAR(each->compute(out).total.item<double>(), std::log(1.0 + std::exp(-1.0)) + std::log(1.0 + std::exp(2.0)),
              1e-5);
}

}  // namespace
}  // namespace mmsr

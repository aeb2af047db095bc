// The multimodal components against their definitions (METHODS.md sections 5): the IMT attention mask read off the
// actual attention weights, ID initialisation from the features, the distillation's ramp-up and KL directions.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "mmsr/registry.h"
#include "mmsr/sdk/context.h"
#include "mmsr/sdk/modules.h"
#include "mmsr/sdk/transformer.h"
#include "model/static_plugins.h"
#include "model/model.h"

namespace mmsr {
namespace {

constexpr int64_t kItems = 6, kTextTokens = 4, kImageTokens = 3, kFeatureDim = 8;

// Token-level text (the last token of odd items is padding) and image features, fixed per item.
struct Features {
  torch::Tensor text = torch::randn({kItems + 1, kTextTokens, kFeatureDim});
  torch::Tensor image = torch::randn({kItems + 1, kImageTokens, kFeatureDim});
  torch::Tensor text_mask = torch::ones({kItems + 1, kTextTokens}, torch::kBool);
  Features() {
    for (int64_t i = 1; i <= kItems; i += 2) text_mask[i][kTextTokens - 1] = false;
  }
  ModalityFeatures gather(const std::string& name, const torch::Tensor& ids) const {
    if (name == "text") return {text.index_select(0, ids), text_mask.index_select(0, ids)};
    return {image.index_select(0, ids), torch::ones({ids.size(0), kImageTokens}, torch::kBool)};
  }
  ItemFeatures of(const torch::Tensor& ids) const { return {{"text", gather("text", ids)}, {"image", gather("image", ids)}}; }
};

BuildContext context(const Features& f) {
  BuildContext c;
  c.num_items = kItems;
  c.max_len = 5;
  c.modalities = {{"text", false, kTextTokens, kFeatureDim}, {"image", false, kImageTokens, kFeatureDim}};
  c.gather = [&f](const std::string& name, const torch::Tensor& ids) { return f.gather(name, ids); };
  return c;
}

std::shared_ptr<ItemTower> imt(const Features& f, std::map<std::string, ParamValue> given) {
  torch::manual_seed(3);
  const ComponentEntry* e = test::static_registry().find(PluginKind::ItemTower, "imt");
  given.emplace("dim", int64_t(8));
  return e->make_item_tower(ParamSet::resolve(e->params, given), context(f));
}

std::vector<SelfAttention*> attentions(torch::nn::Module& m) {
  std::vector<SelfAttention*> out;
  for (auto& child : m.modules(/*include_self=*/false))
    if (auto* a = dynamic_cast<SelfAttention*>(child.get())) out.push_back(a);
  return out;
}

TEST(Imt, TheAttentionWeightsFollowThePapersMask) {
  Features f;
  auto tower = imt(f, {});
  tower->eval();
  auto layers = attentions(*tower);
  ASSERT_EQ(layers.size(), 2u);  // two blocks
  for (auto* a : layers) a->keep_weights(true);
  auto ids = torch::arange(1, kItems + 1);
  auto out = tower->forward(ids, f.of(ids));
  ASSERT_EQ(out.size(), 3u);
  const int64_t id_pos = kTextTokens + kImageTokens;
  // The first block's queries are every token; the last block computes only the positions read from it (text
  // [CLS], image class token, ID).
  std::vector<std::vector<int64_t>> queries(2);
  for (int64_t q = 0; q <= id_pos; ++q) queries[0].push_back(q);
  queries[1] = {0, kTextTokens, id_pos};
  for (size_t l = 0; l < layers.size(); ++l) {
    auto w = layers[l]->last_weights();  // [U, heads, queries, keys]
    ASSERT_EQ(w.size(-1), id_pos + 1);
    ASSERT_EQ(w.size(2), int64_t(queries[l].size()));
    for (size_t i = 0; i < queries[l].size(); ++i) {
      const int64_t q = queries[l][i];
      auto row = w.select(2, int64_t(i));  // [U, heads, keys]
      if (q == id_pos) {
        // The ID token attends to every real token.
        EXPECT_GT(row.slice(-1, 0, kTextTokens - 1).min().item<float>(), 0.0f);
        EXPECT_GT(row.slice(-1, kTextTokens, id_pos + 1).min().item<float>(), 0.0f);
      } else {
        // No text or image token attends to the ID token.
        EXPECT_EQ(row.select(-1, id_pos).abs().max().item<float>(), 0.0f) << "layer " << l << " query " << q;
      }
      // Nothing but the padded token itself attends to a padded text token (items 1, 3, 5: row 0, 2, 4).
      if (q != kTextTokens - 1)
        for (int64_t item : {0, 2, 4})
          EXPECT_EQ(row[item].select(-1, kTextTokens - 1).abs().max().item<float>(), 0.0f) << "query " << q;
    }
  }
  // Without the ID mask, text tokens do attend to the ID token.
  auto open = imt(f, {{"id_mask", false}});
  open->eval();
  auto open_layers = attentions(*open);
  for (auto* a : open_layers) a->keep_weights(true);
  open->forward(ids, f.of(ids));
  EXPECT_GT(open_layers[0]->last_weights().select(-1, id_pos).slice(-1, 0, id_pos).min().item<float>(), 0.0f);
}

TEST(Imt, TheIdTableStartsAsTheMeanOfTheClassTokens) {
  Features f;
  for (const char* init : {"mean", "text", "image"}) {
    auto tower = imt(f, {{"id_init", std::string(init)}});
    torch::Tensor table;
    for (auto& p : tower->named_parameters())
      if (p.key() == "ids.weight") table = p.value();
    ASSERT_TRUE(table.defined());
    auto text_cls = f.text.select(1, 0), image_cls = f.image.select(1, 0);
    auto expected = std::string(init) == "mean" ? (text_cls + image_cls) / 2
                    : std::string(init) == "text" ? text_cls
                                                  : image_cls;
    EXPECT_TRUE(torch::allclose(table.slice(0, 1), expected.slice(0, 1))) << init;
  }
}

TEST(Imt, AblationsChangeTheBranches) {
  Features f;
  EXPECT_EQ(imt(f, {{"with_id", false}})->branch_names(), (std::vector<std::string>{"text", "image"}));
  auto separate = imt(f, {{"encoder", std::string("separate")}});
  EXPECT_EQ(separate->branch_names(), (std::vector<std::string>{"id", "text", "image"}));
  auto ids = torch::arange(1, kItems + 1);
  for (auto& v : separate->forward(ids, f.of(ids))) EXPECT_EQ(v.sizes(), torch::IntArrayRef({kItems, 8}));
}

// The host asks the tower for each distinct item of a batch once; asking once per slot (duplicates included) must
// give the same loss: the dedupe is an optimisation, never a change of the model.
TEST(Imt, EachDistinctItemOnceGivesTheSameLossAsEverySlot) {
  Features f;
  auto& registry = test::static_registry();
  auto resolve = [&](PluginKind kind, const std::string& name, std::map<std::string, ParamValue> given) {
    return ComponentSpec{name, ParamSet::resolve(registry.find(kind, name)->params, given), 1.0};
  };
  RunSpec run;
  run.tower = resolve(PluginKind::ItemTower, "imt", {{"dim", int64_t(8)}});
  run.backbone = resolve(PluginKind::Backbone, "sasrec", {{"layers", int64_t(1)}});
  run.losses = {resolve(PluginKind::Objective, "softmax", {})};
  BuildContext c = context(f);
  torch::manual_seed(5);
  AssembledModel model(run, registry, c);
  model.eval();  // no dropout: both computations must agree exactly up to float rounding
  auto items = torch::tensor({{1, 2, 3}, {2, 3, 4}}, torch::kLong);
  auto targets = torch::tensor({{2, 3, 4}, {3, 4, 5}}, torch::kLong);
  auto make = [&](bool dedupe) {
    Batch b;
    b.items = items;
    b.targets = targets;
    b.valid = items.ne(0);
    b.users = torch::arange(2);
    auto both = torch::cat({items.reshape({-1}), targets.reshape({-1})});
    if (dedupe) {
      auto [unique, inverse, counts] = at::_unique2(both, true, true);
      b.unique_items = unique;
      b.item_index = inverse.slice(0, 0, 6).reshape({2, 3});
      b.target_index = inverse.slice(0, 6).reshape({2, 3});
    } else {
      b.unique_items = both;
      b.item_index = torch::arange(6).reshape({2, 3});
      b.target_index = torch::arange(6, 12).reshape({2, 3});
    }
    b.features = f.of(b.unique_items);
    return b;
  };
  Batch dedupe = make(true), naive = make(false);
  ASSERT_LT(dedupe.unique_items.size(0), naive.unique_items.size(0));
  auto log_pop = torch::zeros({kItems + 1});
  auto a = model.loss(dedupe, log_pop, {}).total, b = model.loss(naive, log_pop, {}).total;
  EXPECT_NEAR(a.item<double>(), b.item<double>(), 1e-5);
}

// A batch of two users (items 1-4 and 5-8) and three branches with random states; the candidate vectors are the
// identity, so branch b scores distinct item j by its state's j-th coordinate.
struct DistillCase {
  Batch batch;
  ForwardOutput out;
  explicit DistillCase(const std::vector<double>& scales) {
    batch.items = torch::tensor({{1, 2, 3}, {5, 6, 7}}, torch::kLong);
    batch.targets = torch::tensor({{2, 3, 4}, {6, 7, 8}}, torch::kLong);
    batch.valid = batch.items.ne(0);
    batch.users = torch::arange(2);
    batch.unique_items = torch::arange(1, 9);
    batch.item_index = batch.items - 1;
    batch.target_index = batch.targets - 1;
    out.batch = &batch;
    out.log_popularity = torch::zeros({9});
    const char* names[] = {"id", "text", "image"};
    for (size_t b = 0; b < 3; ++b) out.branches.push_back({names[b], torch::randn({2, 3, 8}) * scales[b], torch::eye(8)});
    out.score = [](size_t, const torch::Tensor& h, const torch::Tensor& e) { return torch::matmul(h, e.t()); };
  }
  // The in-batch logits by hand: [6 positions, 8 items], a user's own window items masked except the target.
  torch::Tensor logits(size_t b) const {
    auto z = out.branches[b].states.reshape({6, 8});
    auto mask = torch::zeros({6, 8}, torch::kBool);
    for (int64_t p = 0; p < 6; ++p) {
      int64_t user = p / 3, first = user * 4;
      mask.slice(0, p, p + 1).slice(1, first, first + 4).fill_(true);
      mask[p][batch.targets.reshape({-1})[p].item<int64_t>() - 1] = false;
    }
    return z.masked_fill(mask, -1e9);
  }
};

std::shared_ptr<Objective> distill(std::map<std::string, ParamValue> given) {
  const ComponentEntry* e = test::static_registry().find(PluginKind::Objective, "distill");
  return e->make_objective(ParamSet::resolve(e->params, given), BuildContext{});
}

double term(const LossTerms& t, const std::string& name) {
  for (const auto& [n, v] : t.terms)
    if (n == name) return v.item<double>();
  ADD_FAILURE() << "no term " << name;
  return 0;
}

TEST(Distill, TheRampUpFollowsItsFormula) {
  torch::manual_seed(1);
  DistillCase c({1, 1, 1});
  auto loss = distill({{"alpha", 50.0}});
  for (int64_t epoch : {1, 10, 25, 49, 50, 80}) {
    c.out.progress.epoch = epoch;
    double x = 1.0 - std::min<double>(double(epoch), 50.0) / 50.0;
    EXPECT_NEAR(term(loss->compute(c.out), "weight"), std::exp(-5 * x * x), 1e-12) << epoch;
  }
  auto constant = distill({{"alpha", 0.3}});
  c.out.progress.epoch = 1;
  EXPECT_DOUBLE_EQ(term(constant->compute(c.out), "weight"), 0.3);
}

TEST(Distill, TheTeacherComesFirstInEachKl) {
  torch::manual_seed(2);
  DistillCase c({3, 1, 0.5});
  const double T = 0.5;
  auto loss = distill({{"temperature", T}, {"debias", false}, {"candidates", std::string("unique")}});
  c.out.progress.epoch = 1000;  // ramp weight 1
  LossTerms t = loss->compute(c.out);
  auto kl = [&](const torch::Tensor& teacher, const torch::Tensor& student) {
    auto p = torch::softmax(teacher / T, -1), lp = torch::log_softmax(teacher / T, -1);
    auto lq = torch::log_softmax(student / T, -1);
    return ((p * (lp - lq)).sum(-1).mean() * T * T).item<double>();
  };
  auto z_id = c.logits(0), z_text = c.logits(1), z_image = c.logits(2);
  auto z_e = (z_id + z_text + z_image) / 3;
  EXPECT_NEAR(term(t, "kl_id_to_text"), kl(z_id, z_text), 1e-6);
  EXPECT_NEAR(term(t, "kl_id_to_image"), kl(z_id, z_image), 1e-6);
  EXPECT_NEAR(term(t, "kl_ensemble_to_id"), kl(z_e, z_id), 1e-6);
  EXPECT_NE(kl(z_id, z_text), kl(z_text, z_id));  // the direction is observable here
}

}  // namespace
}  // namespace mmsr

// KDSR's correlation supervision (METHODS.md section 6) against its definition: the holistic loss against a dense
// per-sequence computation and at zero when student and teacher agree, the correlation codes fixed by their seed,
// and the adapted embeddings: read by the tower, in an optimizer group whose rate follows the asynchronous schedule.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "mmsr/config.h"
#include "mmsr/registry.h"
#include "mmsr/sdk/context.h"
#include "mmsr/sdk/modules.h"
#include "model/static_plugins.h"
#include "model/model.h"
#include "train/optimizer.h"

namespace mmsr {
namespace {

constexpr int64_t kItems = 12, kDim = 8;

// Pooled features: item i's row is fixed by the seed; item 12 has none (mask false).
struct Pooled {
  torch::Tensor values, mask;
  Pooled() {
    torch::manual_seed(11);
    values = torch::randn({kItems + 1, kDim});
    mask = torch::ones({kItems + 1}, torch::kBool);
    mask[kItems] = false;
    values[kItems].zero_();
  }
  ModalityFeatures gather(const torch::Tensor& ids) const { return {values.index_select(0, ids), mask.index_select(0, ids)}; }
};

BuildContext context(const Pooled& f) {
  BuildContext c;
  c.num_items = kItems;
  c.max_len = 5;
  c.modalities = {{"image", true, 1, kDim}};
  c.gather = [&f](const std::string&, const torch::Tensor& ids) { return f.gather(ids); };
  return c;
}

std::shared_ptr<Objective> correlation(const Pooled& f, std::map<std::string, ParamValue> given) {
  const ComponentEntry* e = test::static_registry().find(PluginKind::Objective, "correlation");
  given.emplace("kmeans_pairs", int64_t(2000));
  given.emplace("codes", int64_t(6));
  given.emplace("parts", int64_t(2));
  return e->make_objective(ParamSet::resolve(e->params, given), context(f));
}

// Two users' windows (with padding, a repeated item and the featureless item 12) and the batch's distinct items.
struct Case {
  Batch batch;
  ForwardOutput out;
  torch::Tensor adapted;  // [U, kDim], requires grad
  Case(const Pooled& f, const torch::Tensor& rows) {
    batch.items = torch::tensor({{0, 1, 2, 3, 2}, {4, 5, 12, 6, 7}}, torch::kLong);
    batch.targets = torch::tensor({{0, 2, 3, 2, 8}, {5, 12, 6, 7, 9}}, torch::kLong);
    batch.valid = batch.items.ne(0);
    batch.users = torch::arange(2);
    auto both = torch::cat({batch.items.reshape({-1}), batch.targets.reshape({-1})});
    auto [unique, inverse, counts] = at::_unique2(both, true, true);
    batch.unique_items = unique;
    batch.item_index = inverse.slice(0, 0, 10).reshape({2, 5});
    batch.target_index = inverse.slice(0, 10).reshape({2, 5});
    batch.features["image"] = f.gather(unique);
    adapted = rows.index_select(0, unique).clone().requires_grad_(true);
    batch.features[adapted_key("image")] = {adapted, f.mask.index_select(0, unique)};
    out.batch = &batch;
  }
};

double term(const LossTerms& t, const std::string& name) {
  for (const auto& [n, v] : t.terms)
    if (n == name) return v.item<double>();
  ADD_FAILURE() << "no term " << name;
  return 0;
}

// The definition, computed densely per sequence: S and C over all positions, the mask of valid positions holding
// two different items with features, || M * sqrt(((S - C)/T)^2 + 1e-8) ||_F, averaged over sequences with a pair.
double dense_holistic(const Case& c, const Pooled& f, const torch::Tensor& z_all, double T) {
  double sum = 0;
  int64_t rows = 0;
  for (int64_t b = 0; b < 2; ++b) {
    auto items = c.batch.items[b];
    auto fz = f.values.index_select(0, items), zz = z_all.index_select(0, items);
    auto C = torch::cosine_similarity(fz.unsqueeze(1), fz.unsqueeze(0), -1, 1e-12);
    auto S = torch::cosine_similarity(zz.unsqueeze(1), zz.unsqueeze(0), -1, 1e-12);
    auto ok = items.ne(0) & f.mask.index_select(0, items);
    auto M = (ok.unsqueeze(1) & ok.unsqueeze(0) & items.unsqueeze(1).ne(items.unsqueeze(0))).to(torch::kFloat);
    if (M.sum().item<double>() == 0) continue;
    sum += (M * (((S - C) / T).pow(2) + 1e-8).sqrt()).norm().item<double>();
    ++rows;
  }
  return sum / double(rows);
}

void set_identity(torch::nn::Module& loss) {
  torch::NoGradGuard g;
  for (auto& item : loss.named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor& p = item.value();
    if (name.find("project") == std::string::npos) continue;
    if (p.dim() == 2) p.copy_(torch::eye(kDim));
    else p.zero_();
  }
}

TEST(Correlation, HolisticLossMatchesItsDenseDefinition) {
  Pooled f;
  auto loss = correlation(f, {{"dim", kDim}, {"dissected", 0.0}, {"temperature", 1.5}});
  torch::manual_seed(3);
  auto rows = torch::randn({kItems + 1, kDim});
  Case c(f, rows);
  LossTerms t = loss->compute(c.out);
  // The student z = P2 P1 h for every item, with the loss's own projections.
  auto params = loss->named_parameters();
  auto z = torch::nn::functional::linear(torch::nn::functional::linear(rows, params["project1.weight"], params["project1.bias"]),
                                         params["project2.weight"], params["project2.bias"]);
  EXPECT_NEAR(term(t, "image_holistic"), dense_holistic(c, f, z.detach(), 1.5), 1e-5);
  t.total.backward();
  ASSERT_TRUE(c.adapted.grad().defined());
  EXPECT_TRUE(torch::isfinite(c.adapted.grad()).all().item<bool>());
  EXPECT_GT(c.adapted.grad().abs().sum().item<double>(), 0.0);
  // Item 12 has no features: it is in no pair, so its row gets no gradient.
  auto at12 = c.batch.unique_items.eq(kItems).nonzero().item<int64_t>();
  EXPECT_EQ(c.adapted.grad()[at12].abs().sum().item<double>(), 0.0);
}

TEST(Correlation, HolisticLossIsZeroWhenStudentAndTeacherAgree) {
  Pooled f;
  auto loss = correlation(f, {{"dim", kDim}, {"dissected", 0.0}});
  set_identity(*loss);  // z = h
  Case same(f, f.values);  // h = the frozen features: S = C
  // Only the 1e-8 smoothing is left: sqrt(2 x pairs x 1e-8) per sequence, at most 1e-3 here.
  EXPECT_LT(term(loss->compute(same.out), "image_holistic"), 1e-3);
  torch::manual_seed(4);
  Case other(f, torch::randn({kItems + 1, kDim}));
  EXPECT_GT(term(loss->compute(other.out), "image_holistic"), 0.1);
}

// KDSR code's teacher: the frozen vectors reduced by an autoencoder fitted once, from the loss's fixed seed; the
// holistic loss then compares the student with the codes' cosines.
TEST(Correlation, TheAutoencoderTeacherIsFixedKeepsTheStructureAndIsWhatTheLossCompares) {
  Pooled f;
  auto make = [&] {
    return correlation(f, {{"dim", kDim}, {"dissected", 0.0}, {"teacher", std::string("autoencoder")},
                           {"teacher_dim", int64_t(4)}, {"teacher_epochs", int64_t(400)}});
  };
  auto loss = make();
  auto teacher = loss->named_buffers()["teacher"].clone();
  ASSERT_EQ(teacher.sizes(), torch::IntArrayRef({kItems + 1, 4}));
  EXPECT_TRUE(torch::equal(teacher[0], torch::zeros({4})));       // padding
  EXPECT_TRUE(torch::equal(teacher[kItems], torch::zeros({4})));  // the item without features
  torch::manual_seed(999);                                        // the run's seed does not enter
  EXPECT_TRUE(torch::equal(make()->named_buffers()["teacher"], teacher));
  // The codes keep the features' structure: the 11 items' pairwise cosines correlate with the features' own.
  auto cos = [](const torch::Tensor& x) {
    auto n = x / x.norm(2, 1, true);
    auto c = torch::mm(n, n.t());
    return c.masked_select(torch::ones_like(c, torch::kBool).triu(1));
  };
  auto a = cos(f.values.slice(0, 1, kItems)), b = cos(teacher.slice(0, 1, kItems));
  const double r = ((a - a.mean()) * (b - b.mean())).sum().item<double>() /
                   std::sqrt(((a - a.mean()).pow(2).sum() * (b - b.mean()).pow(2).sum()).item<double>());
  EXPECT_GT(r, 0.5);
  // The loss's teacher side is the codes: its holistic term equals the dense definition with them.
  torch::manual_seed(3);
  auto rows = torch::randn({kItems + 1, kDim});
  Case c(f, rows);
  auto params = loss->named_parameters();
  auto z = torch::nn::functional::linear(torch::nn::functional::linear(rows, params["project1.weight"], params["project1.bias"]),
                                         params["project2.weight"], params["project2.bias"]);
  Pooled codes = f;
  codes.values = teacher;
  EXPECT_NEAR(term(loss->compute(c.out), "image_holistic"), dense_holistic(c, codes, z.detach(), 1.5), 1e-5);
}

TEST(Correlation, CodesAreFixedByTheirSeed) {
  Pooled f;
  auto centroids = [&](int64_t seed) {
    auto loss = correlation(f, {{"kmeans_seed", seed}});
    return loss->named_buffers()["centroids"].clone();
  };
  auto a = centroids(1), b = centroids(1), c = centroids(2);
  EXPECT_EQ(a.sizes(), torch::IntArrayRef({6, 2}));  // K codes of D part-wise cosines
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  // Part-wise cosines lie in [-1, 1], so do their means.
  EXPECT_LE(a.abs().max().item<double>(), 1.0 + 1e-6);
  // The run's seed does not enter: another global seed, the same codes.
  torch::manual_seed(999);
  EXPECT_TRUE(torch::equal(a, centroids(1)));
}

TEST(Correlation, DissectedLossTrainsTheClassifierTowardTheCodes) {
  Pooled f;
  auto loss = correlation(f, {{"holistic", 0.0}});
  Case c(f, f.values);
  torch::optim::Adam opt(loss->parameters(), torch::optim::AdamOptions(0.05));
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    opt.zero_grad();
    LossTerms t = loss->compute(c.out);
    if (step == 0) first = term(t, "image_dissected");
    last = term(t, "image_dissected");
    t.total.backward();
    opt.step();
  }
  EXPECT_LT(last, 0.5 * first);
}

TEST(Correlation, RefusesAModalityThatIsNotAdapted) {
  Pooled f;
  auto loss = correlation(f, {{"dissected", 0.0}});
  Case c(f, f.values);
  c.batch.features.erase(adapted_key("image"));
  try {
    loss->compute(c.out);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("[train] adapt"), std::string::npos) << e.what();
  }
}

// The adapted embeddings in a whole model: an early-fusion SASRec whose image vector is trainable.
struct AdaptedModel {
  Pooled f;
  std::unique_ptr<AssembledModel> model;
  explicit AdaptedModel(std::map<std::string, ParamValue> train) {
    auto& registry = test::static_registry();
    auto resolve = [&](PluginKind kind, const std::string& name, std::map<std::string, ParamValue> given) {
      return ComponentSpec{name, ParamSet::resolve(registry.find(kind, name)->params, given), 1.0};
    };
    RunSpec run;
    run.tower = resolve(PluginKind::ItemTower, "early_fusion",
                        {{"dim", kDim}, {"modalities", std::vector<std::string>{"image"}}, {"combine", std::string("gate")},
                         {"layers", int64_t(0)}});
    run.backbone = resolve(PluginKind::Backbone, "sasrec", {{"layers", int64_t(1)}});
    run.losses = {resolve(PluginKind::Objective, "softmax", {})};
    run.train = ParamSet::resolve(train_section(), train);
    torch::manual_seed(5);
    model = std::make_unique<AssembledModel>(run, registry, context(f));
  }
};

TEST(Adapt, TheTowerReadsTheTrainableRowsWhichStartAsTheFeatures) {
  AdaptedModel frozen({}), adapted({{"adapt", std::vector<std::string>{"image"}}});
  frozen.model->eval();
  adapted.model->eval();
  auto params = adapted.model->named_parameters();
  ASSERT_TRUE(params.contains("adapted_image"));
  EXPECT_TRUE(torch::equal(params["adapted_image"], adapted.f.values));
  torch::NoGradGuard g;
  auto before = adapted.model->all_item_vectors()[0];
  EXPECT_TRUE(torch::allclose(before, frozen.model->all_item_vectors()[0]));
  params["adapted_image"].mul_(3.0);
  EXPECT_FALSE(torch::allclose(before, adapted.model->all_item_vectors()[0]));
}

TEST(Adapt, TheAdaptedGroupFollowsTheAsynchronousSchedule) {
  AdaptedModel m({{"adapt", std::vector<std::string>{"image"}},
                  {"adapt_lr_scale", 0.25},
                  {"adapt_milestones", std::vector<int64_t>{5, 10}},
                  {"adapt_gamma", 2.0},
                  {"lr", 0.001}});
  std::vector<OptimizerGroupRequest> groups;
  auto opt = make_optimizer(*m.model, ParamSet::resolve(train_section(), {{"lr", 0.001}}), groups);
  ASSERT_EQ(groups.size(), 1u);
  ASSERT_EQ(opt->param_groups().size(), 2u);
  EXPECT_EQ(opt->param_groups()[1].params().size(), 1u);  // the image table, and nothing else
  for (auto [epoch, factor] : std::vector<std::pair<int64_t, double>>{{1, 1}, {4, 1}, {5, 2}, {9, 2}, {10, 4}, {30, 4}}) {
    apply_schedules(*opt, groups, 0.001, epoch);
    EXPECT_NEAR(opt->param_groups()[1].options().get_lr(), 0.001 * 0.25 * factor, 1e-15) << "epoch " << epoch;
    EXPECT_NEAR(opt->param_groups()[0].options().get_lr(), 0.001, 1e-15);
  }
}

TEST(Adapt, RefusesAModalityTheTowerDoesNotRead) {
  try {
    AdaptedModel m({{"adapt", std::vector<std::string>{"text"}}});
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("'text'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mmsr

// Model-level checks on plugins linked statically (the same registration the shared libraries run).
#include <gtest/gtest.h>
#include <torch/nn/functional/loss.h>
#include <torch/torch.h>

#include <cmath>

#include "mmsr/config.h"
#include "mmsr/registry.h"
#include "model/model.h"
#include "train/optimizer.h"
#include "model/static_plugins.h"
#include "mmsr/sdk/context.h"
#include "mmsr/sdk/modules.h"
#include "mmsr/sdk/plugin_abi.h"
#include "mmsr/sdk/transformer.h"

#include <set>


namespace mmsr {
namespace {

PluginRegistry& registry() {
  static PluginRegistry* r = [] {
    auto* reg = &test::static_registry();
    // A loss with a parameter in an optimizer group of its own, slower and raised at epoch 3 (KDSR's shape).
    struct Probe : Objective {
      Probe() { w = register_parameter("w", torch::ones({3})); }
      LossTerms compute(const ForwardOutput& out) override {
        return {(w * w).sum() + out.branches[0].states.sum() * 0.0, {}};
      }
      std::vector<OptimizerGroupRequest> optimizer_groups() override {
        return {{"probe", {w}, 0.25, [](int64_t epoch) { return epoch >= 3 ? 2.0 : 1.0; }}};
      }
      torch::Tensor w;
    };
    reg->add_objective("probe", "test", ParamDecl(),
                       [](const ParamSet&, const BuildContext&) -> std::shared_ptr<Objective> {
                         return std::make_shared<Probe>();
                       });
    return reg;
  }();
  return *r;
}

std::shared_ptr<SequenceEncoder> make_sasrec(std::map<std::string, ParamValue> given, int64_t dim, int64_t L) {
  const ComponentEntry* e = registry().find(PluginKind::Backbone, "sasrec");
  BuildContext c;
  c.input_dim = dim;
  c.max_len = L;
  c.num_items = 10;
  return e->make_backbone(ParamSet::resolve(e->params, given), c);
}

std::shared_ptr<Objective> make_objective(const std::string& name, std::map<std::string, ParamValue> given,
                                          int64_t num_items = 10) {
  const ComponentEntry* e = registry().find(PluginKind::Objective, name);
  BuildContext c;
  c.num_items = num_items;
  return e->make_objective(ParamSet::resolve(e->params, given), c);
}

Batch make_batch(torch::Tensor items, torch::Tensor targets) {
  Batch b;
  b.items = items;
  b.targets = targets;
  b.valid = items.ne(0);
  b.users = torch::arange(items.size(0));
  auto both = torch::cat({items.reshape({-1}), targets.reshape({-1})});
  auto [u, inv, cnt] = at::_unique2(both, true, true);
  b.unique_items = u;
  b.item_index = inv.slice(0, 0, items.numel()).reshape(items.sizes());
  b.target_index = inv.slice(0, items.numel()).reshape(items.sizes());
  return b;
}

// What a catalogue-scoring loss reads of a step: the batch, one branch's states, the catalogue's vectors, dot products.
ForwardOutput catalogue_output(const Batch& b, const torch::Tensor& h, const torch::Tensor& all) {
  ForwardOutput out;
  out.batch = &b;
  out.branches.push_back({"id", h, torch::Tensor()});
  out.all_item_vectors = [all](size_t) { return all; };
  out.score = [](size_t, const torch::Tensor& s, const torch::Tensor& v) { return torch::matmul(s, v.transpose(-2, -1)); };
  return out;
}

}  // namespace

class SasrecCausality : public ::testing::TestWithParam<std::string> {};

TEST_P(SasrecCausality, ChangingALaterItemDoesNotChangeEarlierOutputs) {
  torch::manual_seed(3);
  auto enc = make_sasrec({{"norm", GetParam()}}, 8, 6);
  enc->eval();
  auto x = torch::randn({2, 6, 8});
  auto valid = torch::tensor({{0, 0, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1}}).to(torch::kBool);
  Batch unused;
  auto y = enc->forward(x, valid, unused);
  for (int64_t t = 2; t < 6; ++t) {
    auto x2 = x.clone();
    x2.index_put_({torch::indexing::Slice(), torch::indexing::Slice(t, torch::indexing::None)},
                  torch::randn({2, 6 - t, 8}));
    auto y2 = enc->forward(x2, valid, unused);
    EXPECT_TRUE(torch::allclose(y.slice(1, 0, t), y2.slice(1, 0, t), 1e-5, 1e-6)) << "t = " << t;
    EXPECT_FALSE(torch::allclose(y.slice(1, t, t + 1), y2.slice(1, t, t + 1))) << "position " << t << " must see itself";
  }
}

TEST_P(SasrecCausality, PaddingNeverProducesNaNNorChangesValidOutputs) {
  torch::manual_seed(4);
  auto enc = make_sasrec({{"norm", GetParam()}}, 8, 5);
  enc->eval();
  auto x = torch::randn({2, 5, 8});
  // Row 1 is entirely padding: no row of its attention may be fully masked.
  auto valid = torch::tensor({{0, 0, 1, 1, 1}, {0, 0, 0, 0, 0}}).to(torch::kBool);
  Batch unused;
  auto y = enc->forward(x, valid, unused);
  EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  // What stands in the padding slots does not matter.
  auto x2 = x.clone();
  x2.index_put_({0, torch::indexing::Slice(0, 2)}, 100.0);
  auto y2 = enc->forward(x2, valid, unused);
  EXPECT_TRUE(torch::allclose(y[0].slice(0, 2), y2[0].slice(0, 2), 1e-5, 1e-6));
}

INSTANTIATE_TEST_SUITE_P(NormPositions, SasrecCausality, ::testing::Values("post", "pre"));

// positions = "from_start" is RecBole's convention: the oldest item of the window is position 0. A sequence then
// gives the same outputs however much padding its batch adds, a full window gives what the default gives, and a
// shorter one does not (its newest item is no longer at the last position).
TEST(SequenceTransformer, PositionsFromTheStartAreRecbolesConvention) {
  auto encoder = [](const std::string& positions) {
    torch::manual_seed(9);
    auto e = make_sasrec({{"positions", positions}}, 8, 6);
    e->eval();
    return e;
  };
  auto from_start = encoder("from_start"), from_end = encoder("from_end");
  Batch unused;
  auto x = torch::randn({1, 6, 8});
  auto full = torch::ones({1, 6}, torch::kBool);
  EXPECT_TRUE(torch::allclose(from_start->forward(x, full, unused), from_end->forward(x, full, unused), 1e-5, 1e-6));
  // The last three items alone, padded to 6 and at width 3.
  auto padded = torch::tensor({{0, 0, 0, 1, 1, 1}}).to(torch::kBool);
  auto tail = x.slice(1, 3, 6);
  auto wide = from_start->forward(x, padded, unused).slice(1, 3, 6);
  auto narrow = from_start->forward(tail, torch::ones({1, 3}, torch::kBool), unused);
  EXPECT_TRUE(torch::allclose(wide, narrow, 1e-5, 1e-6));
  EXPECT_FALSE(torch::allclose(wide, from_end->forward(x, padded, unused).slice(1, 3, 6), 1e-3, 1e-4));
}

// ff_dropout = false is RecBole's and S3-Rec's block: dropout after the feed-forward only. Written out by hand with
// the same random stream, it must give the block's training output exactly; the default block (dropout after the
// activation as well) must not.
TEST(TransformerBlock, FeedForwardDropoutSwitchGivesRecbolesBlock) {
  namespace F = torch::nn::functional;
  TransformerOptions o;
  o.dim = 8, o.inner = 16, o.dropout = 0.3, o.attn_dropout = 0.0, o.gelu = true;
  auto x = torch::randn({2, 5, 8});
  auto mask = causal_attention_mask(torch::ones({2, 5}, torch::kBool), x.scalar_type());
  auto run = [&](bool ff_dropout) {
    o.ff_dropout = ff_dropout;
    torch::manual_seed(11);
    TransformerBlock block(o);
    auto child = [&](const std::string& name) { return block.named_children()[name]; };
    auto linear = [&](const std::string& name) { return std::dynamic_pointer_cast<torch::nn::LinearImpl>(child(name)); };
    auto norm = [&](const std::string& name) { return std::dynamic_pointer_cast<torch::nn::LayerNormImpl>(child(name)); };
    block.train();
    torch::manual_seed(5);
    auto out = block.forward(x, mask);
    torch::manual_seed(5);
    auto drop = [](const torch::Tensor& t) { return F::dropout(t, F::DropoutFuncOptions().p(0.3).training(true)); };
    auto h = norm("norm1")->forward(x + drop(block.attention().forward(x, mask)));
    auto f = linear("ff2")->forward(torch::gelu(linear("ff1")->forward(h)));
    auto by_hand = norm("norm2")->forward(h + drop(f));
    return torch::allclose(out, by_hand, 1e-5, 1e-6);
  };
  EXPECT_TRUE(run(false));
  EXPECT_FALSE(run(true));
}

// The in-batch loss, computed naively from its definition, one position at a time.
double naive_inbatch(const Batch& b, const torch::Tensor& h, const torch::Tensor& unique_vectors,
                     const torch::Tensor& log_pop) {
  const int64_t B = b.items.size(0), L = b.items.size(1);
  auto items = b.items, targets = b.targets;
  std::vector<int64_t> slot_item;
  std::vector<torch::Tensor> slot_vec;
  auto vec_of = [&](int64_t item) {
    auto idx = (b.unique_items == item).nonzero().item<int64_t>();
    return unique_vectors[idx];
  };
  for (int64_t r = 0; r < B; ++r)
    for (int64_t t = 0; t < L; ++t) slot_item.push_back(items[r][t].item<int64_t>());
  for (int64_t r = 0; r < B; ++r) slot_item.push_back(targets[r][L - 1].item<int64_t>());
  double total = 0;
  int64_t count = 0;
  for (int64_t r = 0; r < B; ++r) {
    std::set<int64_t> window;
    for (int64_t t = 0; t < L; ++t) window.insert(items[r][t].item<int64_t>()), window.insert(targets[r][t].item<int64_t>());
    for (int64_t t = 0; t < L; ++t) {
      int64_t target = targets[r][t].item<int64_t>();
      if (target == 0) continue;
      int64_t target_slot = (t < L - 1 && items[r][t + 1].item<int64_t>() == target) ? r * L + t + 1 : B * L + r;
      std::vector<double> logits;
      double target_logit = 0;
      for (size_t s = 0; s < slot_item.size(); ++s) {
        int64_t it = slot_item[s];
        if (it == 0) continue;
        if (int64_t(s) != target_slot && window.count(it)) continue;
        double z = (h[r][t] * vec_of(it)).sum().item<double>() - log_pop[it].item<double>();
        logits.push_back(z);
        if (int64_t(s) == target_slot) target_logit = z;
      }
      double m = *std::max_element(logits.begin(), logits.end()), se = 0;
      for (double z : logits) se += std::exp(z - m);
      total += -(target_logit - m - std::log(se));
      ++count;
    }
  }
  return total / double(count);
}

TEST(InBatchLoss, MatchesTheDefinitionWithItsMasking) {
  torch::manual_seed(5);
  // Two users sharing item 2; user 0 repeats item 1 (its other copy must be masked, not a negative).
  auto items = torch::tensor({{0, 1, 2, 1}, {3, 2, 4, 5}});
  auto targets = torch::tensor({{0, 2, 1, 6}, {2, 4, 5, 2}});
  Batch b = make_batch(items, targets);
  const int64_t U = b.unique_items.size(0), d = 4;
  auto h = torch::randn({2, 4, d});
  auto uv = torch::randn({U, d});
  auto log_pop = torch::log(torch::tensor({1.0f, 0.1f, 0.2f, 0.1f, 0.15f, 0.25f, 0.2f}));
  ForwardOutput out;
  out.batch = &b;
  out.log_popularity = log_pop;
  out.branches.push_back({"id", h, uv});
  out.score = [](size_t, const torch::Tensor& s, const torch::Tensor& v) { return torch::matmul(s, v.t()); };
  auto loss = make_objective("inbatch", {})->compute(out).total.item<double>();
  EXPECT_NEAR(loss, naive_inbatch(b, h, uv, log_pop), 1e-5);
}

TEST(InBatchLoss, NoDebiasAndUniqueCandidatesDiffer) {
  torch::manual_seed(6);
  Batch b = make_batch(torch::tensor({{1, 2, 3}, {5, 6, 7}}), torch::tensor({{2, 3, 4}, {6, 7, 8}}));
  auto h = torch::randn({2, 3, 4}, torch::requires_grad());
  auto uv = torch::randn({b.unique_items.size(0), 4});
  ForwardOutput out;
  out.batch = &b;
  out.log_popularity = torch::log(torch::tensor({1.0f, 0.2f, 0.1f, 0.1f, 0.1f, 0.1f, 0.2f, 0.1f, 0.1f}));
  out.branches.push_back({"id", h, uv});
  out.score = [](size_t, const torch::Tensor& s, const torch::Tensor& v) { return torch::matmul(s, v.t()); };
  double slots = make_objective("inbatch", {})->compute(out).total.item<double>();
  double plain = make_objective("inbatch", {{"debias", false}})->compute(out).total.item<double>();
  auto unique = make_objective("inbatch", {{"candidates", std::string("unique")}})->compute(out).total;
  EXPECT_NE(slots, plain);
  EXPECT_TRUE(std::isfinite(unique.item<double>()));
  unique.backward();
  EXPECT_TRUE(torch::isfinite(h.grad()).all().item<bool>());
}

// The in-batch logits over item slots written out as slots, [P, B*L + B], as the losses once computed them: a
// column per slot, padding and the user's window items masked, the target's own slot kept.
struct SlotLogits {
  torch::Tensor logits, target_slot;
};
SlotLogits slot_logits(const Batch& b, const torch::Tensor& h, const torch::Tensor& uv, const torch::Tensor& log_pop) {
  const int64_t B = b.items.size(0), L = b.items.size(1);
  auto slot_item = torch::cat({b.items.reshape({-1}), b.targets.select(1, L - 1)});
  auto slot_unique = torch::cat({b.item_index.reshape({-1}), b.target_index.select(1, L - 1)});
  auto flat = b.targets.reshape({-1}).nonzero().squeeze(1);
  auto row = flat.div(L, "floor"), column = flat.remainder(L), target = b.targets.reshape({-1}).index_select(0, flat);
  auto next_item = b.items.reshape({-1}).index_select(0, (flat + 1).clamp_max(B * L - 1));
  auto target_slot = torch::where(column.lt(L - 1) & next_item.eq(target), flat + 1, B * L + row);
  auto window = torch::zeros({B, b.unique_items.size(0)}, torch::kBool);
  for (int64_t r = 0; r < B; ++r)
    for (int64_t t = 0; t < L; ++t) window[r][b.item_index[r][t].item<int64_t>()] = window[r][b.target_index[r][t].item<int64_t>()] = true;
  auto mask = window.index_select(0, row).index_select(1, slot_unique) | slot_item.eq(0).unsqueeze(0);
  mask.scatter_(1, target_slot.unsqueeze(1), false);
  auto z = torch::matmul(h.reshape({-1, h.size(-1)}).index_select(0, flat), uv.index_select(0, slot_unique).t()) -
           log_pop.index_select(0, slot_item).unsqueeze(0);
  return {z.masked_fill(mask, -1e9), target_slot};
}

// An item in several other users' windows is several negatives (one per slot); the loss computed over distinct items
// with the log of their slot counts is the slots' loss, in value and in gradient, for the cross-entropy and for the
// online distillation.
TEST(InBatchLoss, SlotsComputedAsDistinctItemsAreTheSlots) {
  torch::manual_seed(9);
  // Item 7 fills three slots of users 1 and 2 and none of user 0's window; user 1 repeats it.
  Batch b = make_batch(torch::tensor({{0, 1, 2, 3}, {7, 4, 7, 11}, {0, 5, 7, 6}}),
                       torch::tensor({{0, 2, 3, 8}, {4, 7, 11, 9}, {0, 7, 6, 10}}));
  const int64_t U = b.unique_items.size(0), d = 5;
  auto log_pop = torch::log(torch::rand({12}) + 0.1);
  ForwardOutput out;
  out.batch = &b;
  out.log_popularity = log_pop;
  std::vector<torch::Tensor> hs, uvs;
  for (const char* name : {"id", "text", "image"}) {
    hs.push_back(torch::randn({3, 4, d}, torch::requires_grad()));
    uvs.push_back(torch::randn({U, d}, torch::requires_grad()));
    out.branches.push_back({name, hs.back(), uvs.back()});
  }
  out.score = [](size_t, const torch::Tensor& s, const torch::Tensor& v) { return torch::matmul(s, v.t()); };
  auto ce = make_objective("inbatch", {})->compute(out).total;
  auto kl = make_objective("distill", {{"alpha", 0.5}, {"temperature", 0.7}})->compute(out).total;
  EXPECT_NEAR(make_objective("inbatch", {})->compute(out).total.item<double>(),
              naive_inbatch(b, hs[0], uvs[0], log_pop) + naive_inbatch(b, hs[1], uvs[1], log_pop) +
                  naive_inbatch(b, hs[2], uvs[2], log_pop),
              1e-5);
  std::vector<torch::Tensor> slots;
  torch::Tensor target_slot, ce_ref;
  for (size_t i = 0; i < 3; ++i) {
    SlotLogits s = slot_logits(b, hs[i], uvs[i], log_pop);
    slots.push_back(s.logits);
    target_slot = s.target_slot;
    auto term = torch::nn::functional::cross_entropy(s.logits, s.target_slot);
    ce_ref = ce_ref.defined() ? ce_ref + term : term;
  }
  const double T = 0.7;
  auto divergence = [&](const torch::Tensor& teacher, const torch::Tensor& student) {
    auto lp = torch::log_softmax(teacher / T, -1), lq = torch::log_softmax(student / T, -1);
    return (lp.exp() * (lp - lq)).sum(-1).mean() * T * T;
  };
  auto kl_ref = (divergence(slots[0], slots[2]) + divergence(slots[0], slots[1]) +
                 divergence((slots[0] + slots[1] + slots[2]) / 3, slots[0])) * 0.5;
  EXPECT_NEAR(ce.item<double>(), ce_ref.item<double>(), 1e-5);
  EXPECT_NEAR(kl.item<double>(), kl_ref.item<double>(), 1e-6);
  std::vector<torch::Tensor> params;
  for (size_t i = 0; i < 3; ++i) params.insert(params.end(), {hs[i], uvs[i]});
  auto grads = torch::autograd::grad({ce + kl}, params);
  auto grads_ref = torch::autograd::grad({ce_ref + kl_ref}, params);
  for (size_t i = 0; i < params.size(); ++i)
    EXPECT_TRUE(torch::allclose(grads[i], grads_ref[i], 1e-4, 1e-6)) << i << "\n" << grads[i] << "\n" << grads_ref[i];
}

TEST(SoftmaxLoss, EqualsCrossEntropyOverTheCatalogueWithoutPadding) {
  torch::manual_seed(7);
  Batch b = make_batch(torch::tensor({{0, 1, 2}}), torch::tensor({{0, 2, 3}}));
  auto h = torch::randn({1, 3, 4});
  auto all = torch::randn({5, 4});
  ForwardOutput out = catalogue_output(b, h, all);
  double loss = make_objective("softmax", {})->compute(out).total.item<double>();
  auto z = torch::matmul(h[0].slice(0, 1), all.slice(0, 1).t());  // items 1..4 only
  double expected = torch::nn::functional::cross_entropy(z, torch::tensor({1, 2})).item<double>();
  EXPECT_NEAR(loss, expected, 1e-5);
}

// One user whose window holds items 1..4 of a catalogue 1..5 (so every negative is item 5), random states and item
// vectors from the seed: what the sampled-BCE tests score.
struct OneWindowCase {
  Batch b = make_batch(torch::tensor({{1, 2, 3}}), torch::tensor({{2, 3, 4}}));
  torch::Tensor h, all;
  ForwardOutput out;
  explicit OneWindowCase(uint64_t seed) {
    torch::manual_seed(seed);
    h = torch::randn({1, 3, 4});
    all = torch::randn({6, 4});
    out = catalogue_output(b, h, all);
  }
  OneWindowCase(const OneWindowCase&) = delete;
};

TEST(BceLoss, NegativesComeFromOutsideTheUsersWindow) {
  OneWindowCase c(8);
  const auto &h = c.h, &all = c.all;
  auto& out = c.out;
  double loss = make_objective("bce", {{"negatives", int64_t(3)}}, 5)->compute(out).total.item<double>();
  double expected = 0;
  for (int t = 0; t < 3; ++t) {
    double pos = (h[0][t] * all[t + 2]).sum().item<double>(), neg = (h[0][t] * all[5]).sum().item<double>();
    expected += std::log1p(std::exp(-pos)) + 3 * std::log1p(std::exp(neg));
  }
  EXPECT_NEAR(loss, expected / 3, 1e-5);
}

// gSASRec's gBCE: the positive's term weighted by beta = alpha (t (1 - 1/alpha) + 1/alpha), alpha = n / (N - 1); the
// negatives' terms as BCE's. The same draws (same seed) as BCE, so the difference is the positive's weight alone.
TEST(BceLoss, CalibrationWeightsThePositiveByGsasrecsBeta) {
  OneWindowCase c(9);
  const auto &h = c.h, &all = c.all;
  auto& out = c.out;
  const double t = 0.75, alpha = 3.0 / 4.0, beta = alpha * (t * (1 - 1 / alpha) + 1 / alpha);
  double positives = 0;
  for (int p = 0; p < 3; ++p) positives += std::log1p(std::exp(-(h[0][p] * all[p + 2]).sum().item<double>()));
  torch::manual_seed(10);
  double bce = make_objective("bce", {{"negatives", int64_t(3)}}, 5)->compute(out).total.item<double>();
  torch::manual_seed(10);
  double gbce = make_objective("bce", {{"negatives", int64_t(3)}, {"calibration", t}}, 5)->compute(out).total.item<double>();
  EXPECT_NEAR(gbce, bce - (1 - beta) * positives / 3, 1e-5);
  torch::manual_seed(10);
  EXPECT_EQ(make_objective("bce", {{"negatives", int64_t(3)}, {"calibration", 0.0}}, 5)->compute(out).total.item<double>(),
            bce);  // t = 0 is BCE, bit for bit
}

// gSASRec's code scores states against an output table of its own: the host feeds the backbone the tower's input
// vectors and scores (in training and in evaluation) against its output vectors.
TEST(IdTower, ASeparateOutputTableIsWhatStatesAreScoredAgainst) {
  auto& r = registry();
  auto model_with = [&](const std::string& output) {
    RunSpec run;
    run.tower = {"id", ParamSet::resolve(r.find(PluginKind::ItemTower, "id")->params,
                                         {{"dim", int64_t(8)}, {"output", output}})};
    run.backbone = {"sasrec", ParamSet::resolve(r.find(PluginKind::Backbone, "sasrec")->params, {})};
    run.losses = {{"softmax", ParamSet::resolve(r.find(PluginKind::Objective, "softmax")->params, {}), 1.0}};
    BuildContext c;
    c.num_items = 20;
    c.max_len = 5;
    torch::manual_seed(4);
    return std::make_unique<AssembledModel>(run, r, c);
  };
  auto tied = model_with("tied");
  auto tied_tables = tied->item_tables();
  EXPECT_TRUE(tied_tables.outputs[0].is_same(tied_tables.inputs[0]));

  auto separate = model_with("separate");
  auto tables = separate->item_tables();
  EXPECT_FALSE(torch::allclose(tables.inputs[0], tables.outputs[0]));
  EXPECT_TRUE(torch::equal(separate->all_item_vectors()[0], tables.outputs[0]));
  Batch b = make_batch(torch::tensor({{1, 2, 3}, {4, 5, 6}}), torch::tensor({{2, 3, 7}, {5, 6, 8}}));
  separate->loss(b, torch::zeros({21}), TrainProgress{}).total.backward();
  for (const char* name : {"tower.table.weight", "tower.output_table.weight"}) {
    const torch::Tensor* p = separate->named_parameters().find(name);
    ASSERT_NE(p, nullptr) << name;
    EXPECT_GT(p->grad().abs().sum().item<double>(), 0.0) << name << " gets no gradient";
  }
}

// The sampled softmax with the logQ correction, by hand on the items it drew (the same draw from the same seed):
// each target against the drawn items, every logit minus log Q, a drawn copy of the target masked.
TEST(SampledSoftmaxLoss, ScoresEachTargetAgainstTheDrawnItemsMinusLogQ) {
  torch::manual_seed(7);
  Batch b = make_batch(torch::tensor({{0, 1, 2}}), torch::tensor({{0, 2, 3}}));
  auto h = torch::randn({1, 3, 4});
  auto all = torch::randn({5, 4});
  ForwardOutput out = catalogue_output(b, h, all);
  const std::vector<int64_t> counts = {0, 5, 1, 0, 2};  // training counts; the proposal is count + 1
  const ComponentEntry* e = registry().find(PluginKind::Objective, "sampled_softmax");
  auto build = [&](const std::string& proposal, bool logq) {
    BuildContext c;
    c.num_items = 4;
    c.item_counts = &counts;
    return e->make_objective(ParamSet::resolve(e->params, {{"negatives", int64_t(6)}, {"proposal", proposal},
                                                           {"logq", logq}}), c);
  };
  auto q = torch::tensor({0.0f, 6.0f, 2.0f, 1.0f, 3.0f});
  q = q / q.sum();
  torch::manual_seed(3);
  auto drawn = torch::multinomial(q, 6, true);
  torch::manual_seed(3);
  double loss = build("popularity", true)->compute(out).total.item<double>();
  double expected = 0;
  const int64_t targets[] = {2, 3};
  for (int p = 0; p < 2; ++p) {
    auto state = h[0][p + 1];
    auto logit = [&](int64_t item) { return (state * all[item]).sum().item<double>() - std::log(q[item].item<double>()); };
    double z = logit(targets[p]), sum = std::exp(z);
    for (int64_t k = 0; k < 6; ++k)
      if (drawn[k].item<int64_t>() != targets[p]) sum += std::exp(logit(drawn[k].item<int64_t>()));
    expected += (std::log(sum) - z) / 2;
  }
  EXPECT_NEAR(loss, expected, 1e-5);
  // Under a uniform proposal the correction is one constant on every logit, which the softmax ignores.
  torch::manual_seed(3);
  double corrected = build("uniform", true)->compute(out).total.item<double>();
  torch::manual_seed(3);
  EXPECT_NEAR(build("uniform", false)->compute(out).total.item<double>(), corrected, 1e-5);
}

// The chunked cross-entropy (softmax's `chunk`) computes the full matrix's loss and gradients, whatever the chunk
// size and whatever the tower's score function (a dot product, or a cosine with a temperature as UniSRec's).
TEST(SoftmaxLoss, ChunksGiveTheFullMatrixsLossAndGradients) {
  torch::manual_seed(11);
  Batch b = make_batch(torch::tensor({{0, 1, 2}, {3, 4, 5}}), torch::tensor({{0, 2, 6}, {4, 5, 1}}));
  auto h = torch::randn({2, 3, 4}, torch::requires_grad());
  auto all = torch::randn({7, 4}, torch::requires_grad());
  using Score = std::function<torch::Tensor(size_t, const torch::Tensor&, const torch::Tensor&)>;
  const Score dot = [](size_t, const torch::Tensor& s, const torch::Tensor& v) { return torch::matmul(s, v.transpose(-2, -1)); };
  const Score cosine = [](size_t, const torch::Tensor& s, const torch::Tensor& v) {
    namespace F = torch::nn::functional;
    auto unit = F::NormalizeFuncOptions().dim(-1);
    return torch::matmul(F::normalize(s, unit), F::normalize(v, unit).transpose(-2, -1)) / 0.1;
  };
  auto loss_and_grads = [&](const Score& score, int64_t chunk) {
    ForwardOutput out;
    out.batch = &b;
    out.branches.push_back({"id", h, torch::Tensor()});
    out.all_item_vectors = [&](size_t) { return all; };
    out.score = score;
    if (h.grad().defined()) h.mutable_grad().zero_();
    if (all.grad().defined()) all.mutable_grad().zero_();
    auto loss = make_objective("softmax", {{"chunk", chunk}})->compute(out).total;
    loss.backward();
    return std::make_tuple(loss.item<double>(), h.grad().clone(), all.grad().clone());
  };
  for (const Score& score : {dot, cosine}) {
    auto [full, gh, ga] = loss_and_grads(score, 0);
    for (int64_t chunk : {1, 2, 4, 100}) {
      auto [loss, ch, ca] = loss_and_grads(score, chunk);
      EXPECT_NEAR(loss, full, 1e-5) << "chunk " << chunk;
      EXPECT_TRUE(torch::allclose(ch, gh, 1e-5, 1e-6)) << "chunk " << chunk;
      EXPECT_TRUE(torch::allclose(ca, ga, 1e-5, 1e-6)) << "chunk " << chunk;
    }
    EXPECT_EQ(ga[0].abs().sum().item<double>(), 0.0) << "padding is never a class";
  }
}

TEST(Optimizer, ComponentGroupsGetTheirScaledAndScheduledLearningRates) {
  auto& r = registry();
  RunSpec run;
  run.tower = {"id", ParamSet::resolve(r.find(PluginKind::ItemTower, "id")->params, {{"dim", int64_t(8)}})};
  run.backbone = {"sasrec", ParamSet::resolve(r.find(PluginKind::Backbone, "sasrec")->params, {})};
  run.losses = {{"probe", ParamSet(), 1.0}};
  run.train = ParamSet::resolve(train_section(), {{"lr", 0.01}});
  BuildContext c;
  c.num_items = 20;
  c.max_len = 5;
  AssembledModel model(run, r, c);
  std::vector<OptimizerGroupRequest> groups;
  auto opt = make_optimizer(model, run.train, groups);
  ASSERT_EQ(opt->param_groups().size(), 2u);
  // The probe's parameter is in its own group only.
  ASSERT_EQ(opt->param_groups()[1].params().size(), 1u);
  for (const auto& p : opt->param_groups()[0].params())
    EXPECT_FALSE(p.is_same(opt->param_groups()[1].params()[0]));
  EXPECT_EQ(opt->param_groups()[0].params().size() + 1, model.parameters().size());
  apply_schedules(*opt, groups, 0.01, 1);
  EXPECT_DOUBLE_EQ(opt->param_groups()[0].options().get_lr(), 0.01);
  EXPECT_DOUBLE_EQ(opt->param_groups()[1].options().get_lr(), 0.0025);
  apply_schedules(*opt, groups, 0.01, 3);
  EXPECT_DOUBLE_EQ(opt->param_groups()[1].options().get_lr(), 0.005);
}

}  // namespace mmsr

// The fast CPU dropout kernel (mmsr/sdk/dropout.h) against what dropout must be: kept values scaled by 1 / (1 - p),
// the drop rate p, a mask fixed by torch's generator state and not by the thread count, gradients through the mask,
// and torch's own dropout, bit for bit, when the fast kernel is off.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "mmsr/sdk/dropout.h"
#include "mmsr/sdk/transformer.h"

namespace mmsr {
namespace {

struct FastDropout : ::testing::Test {
  void TearDown() override { torch::set_num_threads(1); }
};

TEST_F(FastDropout, KeepsScaledValuesAtTheRateOneMinusP) {
  auto x = torch::ones({1000, 1001});  // an odd size: the last 64-bit word is partly used
  for (double p : {0.1, 0.2, 0.5}) {
    torch::manual_seed(1);
    auto y = mmsr::dropout(x, p, true, true);
    auto kept = y.ne(0);
    // Kept values are exactly 1 / (1 - p); the rest exactly 0.
    EXPECT_TRUE(torch::allclose(y.masked_select(kept), torch::full({1}, 1.0 / (1.0 - p))));
    const double rate = 1.0 - kept.to(torch::kDouble).mean().item<double>();
    EXPECT_NEAR(rate, p, 0.005) << "p " << p;  // 1e6 draws: sd 0.0005
  }
}

TEST_F(FastDropout, TheMaskFollowsTorchsGeneratorNotTheThreadCount) {
  auto x = torch::randn({64, 50, 64});
  torch::set_num_threads(1);
  torch::manual_seed(7);
  auto a = mmsr::dropout(x, 0.5, true, true);
  torch::set_num_threads(2);
  torch::manual_seed(7);
  auto b = mmsr::dropout(x, 0.5, true, true);
  auto c = mmsr::dropout(x, 0.5, true, true);  // the generator moved on: another mask
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(b, c));
}

TEST_F(FastDropout, GradientsFlowThroughTheMaskOnly) {
  auto x = torch::randn({32, 40}).requires_grad_(true);
  torch::manual_seed(3);
  auto y = mmsr::dropout(x, 0.3, true, true);
  y.sum().backward();
  EXPECT_TRUE(torch::allclose(x.grad(), y.detach().ne(0).to(torch::kFloat) / 0.7));
}

TEST_F(FastDropout, NothingIsDroppedInEvaluation) {
  auto x = torch::randn({8, 8});
  EXPECT_TRUE(torch::equal(mmsr::dropout(x, 0.5, false, true), x));
}

TEST(TorchDropout, IsTorchsOwnWhenTheFastKernelIsOff) {
  auto x = torch::randn({16, 50, 64});
  torch::manual_seed(9);
  auto ours = mmsr::dropout(x, 0.5, true, false);
  torch::manual_seed(9);
  auto theirs = torch::nn::Dropout(0.5)->forward(x);
  EXPECT_TRUE(torch::equal(ours, theirs));
}

// Dropout of some rows draws what dropout of the whole tensor draws: the rows' values are equal, bit for bit, with
// either kernel, and the generator is left where the whole tensor's dropout leaves it.
TEST(DropoutRows, AreTheWholeTensorsRows) {
  auto x = torch::randn({4, 9, 16});
  const auto rows = torch::tensor({0, 4, 8}, torch::kLong);
  for (bool fast : {false, true}) {
    torch::manual_seed(3);
    auto whole = mmsr::dropout(x, 0.3, true, fast).index_select(1, rows);
    const double next_whole = torch::rand({1}).item<double>();
    torch::manual_seed(3);
    auto part = mmsr::dropout_rows(x.index_select(1, rows), x.sizes(), 1, rows, 0.3, true, fast);
    EXPECT_TRUE(torch::equal(whole, part)) << "fast " << fast;
    EXPECT_EQ(torch::rand({1}).item<double>(), next_whole) << "fast " << fast;
  }
}

// A transformer block asked for some positions only gives, in training (dropout drawn) and in both norm orders,
// what the whole block gives at them: the IMT's last block computes only the three positions it reads.
TEST(DropoutRows, ABlockComputedAtSomePositionsIsTheWholeBlockThere) {
  const int64_t B = 5, L = 11, d = 16;
  auto x = torch::randn({B, L, d});
  auto valid = torch::ones({B, L}, torch::kBool);
  valid.slice(1, 7, 9).fill_(false);  // padding that no query may attend to
  const auto mask = bidirectional_attention_mask(valid, torch::kFloat);
  const auto rows = torch::tensor({0, 6, 10}, torch::kLong);
  for (bool pre_norm : {false, true})
    for (bool fast : {false, true}) {
      TransformerOptions o;
      o.dim = d;
      o.heads = 2;
      o.pre_norm = pre_norm;
      o.dropout = 0.2;
      o.attn_dropout = 0.3;
      o.fast_dropout = fast;
      torch::manual_seed(1);
      TransformerBlock block(o);
      block.train();
      torch::manual_seed(5);
      auto whole = block.forward(x, mask).index_select(1, rows);
      torch::manual_seed(5);
      auto part = block.forward_rows(x, mask, rows);
      EXPECT_TRUE(torch::allclose(whole, part, 1e-5, 1e-6)) << "pre_norm " << pre_norm << " fast " << fast
                                                            << " max diff " << (whole - part).abs().max().item<float>();
    }
}

}  // namespace
}  // namespace mmsr

// The fast CPU dropout kernel (mmsr/sdk/dropout.h) against what dropout must be: kept values scaled by 1 / (1 - p),
// the drop rate p, a mask fixed by torch's generator state and not by the thread count, gradients through the mask,
// and torch's own dropout, bit for bit, when the fast kernel is off.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "mmsr/sdk/dropout.h"

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

}  // namespace
}  // namespace mmsr

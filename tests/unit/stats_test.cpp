// The report's statistics against reference values computed with SciPy 1.17 (scipy.stats.wilcoxon with its
// default zero and tie handling, scipy.stats.ttest_rel, scipy.stats.t.ppf) and a textbook Holm example.
#include <gtest/gtest.h>

#include <cmath>

#include "mmsr/stats.h"

using namespace mmsr::stats;

namespace {
// SciPy's documentation example for the exact test (n = 9, no ties).
const std::vector<double> kA = {1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30};
const std::vector<double> kB = {0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29};
}  // namespace

TEST(Stats, WilcoxonExactMatchesScipy) {
  auto r = wilcoxon_signed_rank(kA, kB);
  EXPECT_EQ(r.method, "wilcoxon exact");
  EXPECT_EQ(r.n, 9u);
  EXPECT_DOUBLE_EQ(r.statistic, 5.0);
  EXPECT_NEAR(r.p_value, 0.0390625, 1e-12);  // = 2 * 10 / 512
  EXPECT_NEAR(r.effect, (40.0 - 5.0) / 45.0, 1e-12);
  // Swapping the samples flips the effect, not the p-value.
  auto s = wilcoxon_signed_rank(kB, kA);
  EXPECT_NEAR(s.p_value, r.p_value, 1e-15);
  EXPECT_NEAR(s.effect, -r.effect, 1e-15);
}

TEST(Stats, WilcoxonWithTiesAndZerosUsesTheCorrectedNormalApproximation) {
  std::vector<double> x = {0, 0, 1, 1, 1, 0.5, 0.5, 0.3, 0, 1, 0.2, 0.2, 0.2, 0, 0.7, 0.7};
  std::vector<double> y = {0, 1, 0, 1, 0, 0.5, 0.2, 0.3, 0.1, 0, 0.2, 0.5, 0.1, 0.3, 0.1, 0.1};
  auto r = wilcoxon_signed_rank(x, y);
  EXPECT_EQ(r.method, "wilcoxon normal");
  EXPECT_EQ(r.n, 11u);  // five zero differences dropped
  EXPECT_DOUBLE_EQ(r.statistic, 19.0);
  EXPECT_NEAR(r.p_value, 0.20958405356589438, 1e-12);
}

TEST(Stats, WilcoxonLargeSampleWithoutTiesMatchesScipy) {
  std::vector<double> d, zero(60, 0.0);
  for (int i = 1; i <= 60; ++i) d.push_back(double((i * 37) % 101 - 50.3) / 10.0);
  auto r = wilcoxon_signed_rank(d, zero);
  EXPECT_EQ(r.method, "wilcoxon normal");
  EXPECT_DOUBLE_EQ(r.statistic, 885.0);
  EXPECT_NEAR(r.p_value, 0.8252107174911253, 1e-12);
  EXPECT_NEAR(r.effect, 0.03278688524590164, 1e-12);
  auto t = paired_t(d, zero);
  EXPECT_NEAR(t.statistic, 0.22875424132137792, 1e-10);
  EXPECT_NEAR(t.p_value, 0.819850994520931, 1e-10);
}

TEST(Stats, WilcoxonOfIdenticalSamplesIsNoEvidence) {
  auto r = wilcoxon_signed_rank({1, 2, 3}, {1, 2, 3});
  EXPECT_EQ(r.n, 0u);
  EXPECT_EQ(r.p_value, 1.0);
  EXPECT_EQ(r.effect, 0.0);
}

TEST(Stats, PairedTMatchesScipy) {
  auto r = paired_t(kA, kB);
  EXPECT_NEAR(r.statistic, 3.0353754156485917, 1e-10);
  EXPECT_NEAR(r.p_value, 0.016176627434908088, 1e-10);
  EXPECT_NEAR(r.effect, 1.0117918052161972, 1e-10);
  std::vector<double> x = {0, 0, 1, 1, 1, 0.5, 0.5, 0.3, 0, 1, 0.2, 0.2, 0.2, 0, 0.7, 0.7};
  std::vector<double> y = {0, 1, 0, 1, 0, 0.5, 0.2, 0.3, 0.1, 0, 0.2, 0.5, 0.1, 0.3, 0.1, 0.1};
  auto s = paired_t(x, y);
  EXPECT_NEAR(s.statistic, 1.3259668748917164, 1e-10);
  EXPECT_NEAR(s.p_value, 0.20468915480786715, 1e-10);
}

TEST(Stats, PairedTWithoutSpread) {
  EXPECT_EQ(paired_t({1, 2, 3}, {1, 2, 3}).p_value, 1.0);
  EXPECT_EQ(paired_t({2, 3, 4}, {1, 2, 3}).p_value, 0.0);
  EXPECT_THROW(paired_t({1, 2}, {1}), std::invalid_argument);
}

TEST(Stats, HolmAdjustsInStepDownOrder) {
  // Sorted: .005 x4 = .02, .01 x3 = .03, .03 x2 = .06, .04 x1 = .04 -> monotone .06.
  auto adj = holm({0.01, 0.04, 0.03, 0.005});
  ASSERT_EQ(adj.size(), 4u);
  EXPECT_NEAR(adj[0], 0.03, 1e-15);
  EXPECT_NEAR(adj[1], 0.06, 1e-15);
  EXPECT_NEAR(adj[2], 0.06, 1e-15);
  EXPECT_NEAR(adj[3], 0.02, 1e-15);
  EXPECT_EQ(holm({0.5, 0.9})[1], 1.0);  // capped at 1
  EXPECT_TRUE(holm({}).empty());
}

TEST(Stats, SummaryConfidenceIntervalUsesStudentT) {
  EXPECT_NEAR(t_critical(2), 4.302652729749462, 1e-9);
  EXPECT_NEAR(t_critical(4), 2.7764451051977934, 1e-9);
  auto s = summarize({0.10, 0.12, 0.14});
  EXPECT_NEAR(s.mean, 0.12, 1e-12);
  EXPECT_NEAR(s.sd, 0.02, 1e-12);
  EXPECT_NEAR(s.ci_high - s.mean, 4.302652729749462 * 0.02 / std::sqrt(3.0), 1e-9);
  auto one = summarize({0.3});
  EXPECT_EQ(one.sd, 0.0);
  EXPECT_EQ(one.ci_low, 0.3);
}

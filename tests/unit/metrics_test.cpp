#include <gtest/gtest.h>

#include <cmath>

#include "mmsr/metrics.h"

namespace mmsr {

TEST(Metrics, TieRules) {
  // 3 candidates score higher, 4 tie with the target.
  EXPECT_DOUBLE_EQ(rank_from_counts(3, 4, TieRule::Optimistic), 4.0);
  EXPECT_DOUBLE_EQ(rank_from_counts(3, 4, TieRule::Pessimistic), 8.0);
  EXPECT_DOUBLE_EQ(rank_from_counts(3, 4, TieRule::Expected), 6.0);
}

TEST(Metrics, HandComputedValues) {
  // Ranks 1, 3 and 11 with K = 10: HR = 2/3, NDCG = (1 + 1/log2(4)) / 3 = 0.5, MRR = (1 + 1/3) / 3.
  auto v = compute_metrics({1.0, 3.0, 11.0}, {"hr", "ndcg", "mrr", "recall"}, {10});
  EXPECT_DOUBLE_EQ(metric_value(v, "hr@10"), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(metric_value(v, "ndcg@10"), 0.5);
  EXPECT_DOUBLE_EQ(metric_value(v, "mrr@10"), (1.0 + 1.0 / 3.0) / 3.0);
  EXPECT_DOUBLE_EQ(metric_value(v, "recall@10"), metric_value(v, "hr@10"));
}

TEST(Metrics, AllEqualScoresGetNoCreditFromIndexOrder) {
  // 100 candidates, all tied with the target: expected rank 50.5, outside every K <= 50.
  double r = rank_from_counts(0, 99, TieRule::Expected);
  EXPECT_DOUBLE_EQ(r, 50.5);
  EXPECT_DOUBLE_EQ(metric_value(compute_metrics({r}, {"hr"}, {10}), "hr@10"), 0.0);
  EXPECT_DOUBLE_EQ(metric_of_rank("ndcg", 100, r), 1.0 / std::log2(51.5));
}

TEST(Metrics, FractionalRankAtTheCutoff) {
  EXPECT_DOUBLE_EQ(metric_of_rank("hr", 10, 10.0), 1.0);
  EXPECT_DOUBLE_EQ(metric_of_rank("hr", 10, 10.5), 0.0);
}

}  // namespace mmsr

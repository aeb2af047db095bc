// Beyond-accuracy metrics (eval/beyond.h) against a small case computed by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "eval/beyond.h"
#include "mmsr/features.h"

namespace mmsr {
namespace {

double value_of(const std::vector<MetricValue>& values, const std::string& name, int64_t k) {
  for (const auto& v : values)
    if (v.name == name && v.k == k) return v.value;
  ADD_FAILURE() << name << "@" << k << " not computed";
  return -1;
}

// Catalogue of 5 items; training counts 1:4, 2:2, 3:1, 4:1, 5:0 (8 interactions). Two events' top-3 lists:
// {1, 2, 3} and {1, 4, 5}.
TEST(BeyondAccuracy, CoveragePopularityAndNoveltyByHand) {
  TopLists lists;
  lists.k = 3;
  lists.items = {1, 2, 3, 1, 4, 5};
  const std::vector<int64_t> counts = {0, 4, 2, 1, 1, 0};
  const auto v = beyond_accuracy(lists, {1, 3}, counts, nullptr);
  EXPECT_DOUBLE_EQ(value_of(v, "coverage", 1), 1.0 / 5);  // item 1 only
  EXPECT_DOUBLE_EQ(value_of(v, "coverage", 3), 5.0 / 5);
  EXPECT_DOUBLE_EQ(value_of(v, "popularity", 1), 4.0);
  EXPECT_DOUBLE_EQ(value_of(v, "popularity", 3), ((4 + 2 + 1) / 3.0 + (4 + 1 + 0) / 3.0) / 2);
  // Self-information -log2(count / 8); item 5, never trained on, counts as seen once.
  const double info1 = 1.0, info2 = 2.0, info3 = 3.0, info4 = 3.0, info5 = 3.0;
  EXPECT_DOUBLE_EQ(value_of(v, "novelty", 1), info1);
  EXPECT_DOUBLE_EQ(value_of(v, "novelty", 3), ((info1 + info2 + info3) / 3 + (info1 + info4 + info5) / 3) / 2);
  for (const auto& m : v) EXPECT_NE(m.name, "diversity");  // no modality declared
}

// Intra-list diversity: mean pairwise cosine distance of the items' pooled features. Items 1 and 2 point the same
// way (distance 0), item 3 is orthogonal to both (distance 1 each): the list {1, 2, 3} has (0 + 1 + 1) / 3.
TEST(BeyondAccuracy, DiversityIsTheMeanPairwiseCosineDistance) {
  FeatureMatrix matrix;
  matrix.dim = 2;
  matrix.values = {0, 0, 1, 0, 2, 0, 0, 3};  // item id i -> row i (row 0 padding)
  const FeatureTable features = FeatureTable::from_matrix("f", matrix);
  TopLists lists;
  lists.k = 3;
  lists.items = {1, 2, 3};
  const auto v = beyond_accuracy(lists, {2, 3}, {0, 1, 1, 1}, &features);
  EXPECT_NEAR(value_of(v, "diversity", 2), 0.0, 1e-9);
  EXPECT_NEAR(value_of(v, "diversity", 3), 2.0 / 3, 1e-9);
}

}  // namespace
}  // namespace mmsr

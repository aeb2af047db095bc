// Full ranking one block of items at a time gives the ranks, tie counts and top lists of the whole score matrix,
// ties and NaN scores included, for one branch and for late fusion's mean of two; a target whose block scores it
// differently from the target scoring (another summation order) is counted again with its block's value.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <limits>

#include "eval/evaluate.h"
#include "eval/item_blocks.h"

namespace mmsr {
namespace {

constexpr int64_t kUsers = 24, kItems = 101, kDim = 8;

struct Case {
  std::vector<torch::Tensor> states, tables;
  torch::Tensor target;
  std::vector<std::vector<int32_t>> excluded;
};

// Item vectors with exact duplicates (ties), a NaN item for some users' scores, and histories to exclude.
Case make_case(size_t branches, uint64_t seed) {
  torch::manual_seed(seed);
  Case c;
  for (size_t b = 0; b < branches; ++b) {
    auto table = torch::randn({kItems + 1, kDim});
    table.slice(0, 50, 60).copy_(table.slice(0, 10, 20));  // items 50-59 tie with items 10-19
    table[77] = table[3];
    table[90].fill_(std::numeric_limits<float>::quiet_NaN());
    c.tables.push_back(table);
    c.states.push_back(torch::randn({kUsers, kDim}));
  }
  c.target = torch::randint(1, kItems + 1, {kUsers}, torch::kLong);
  c.target[0] = 90;  // a NaN target: counts as +inf, ties with other NaN items
  c.target[1] = 13;  // ties with item 53
  const auto* t = c.target.data_ptr<int64_t>();
  for (int64_t u = 0; u < kUsers; ++u) {
    std::vector<int32_t> ex = {0};
    for (int64_t j = 0; j < u % 7; ++j) ex.push_back(int32_t((u * 13 + j * 31) % kItems + 1));
    if (u == 2) ex.push_back(53);  // the item that ties with its target is masked
    std::sort(ex.begin(), ex.end());
    ex.erase(std::unique(ex.begin(), ex.end()), ex.end());
    ex.erase(std::remove(ex.begin(), ex.end(), int32_t(t[u])), ex.end());
    c.excluded.push_back(ex);
  }
  return c;
}

const BranchScore kDot = [](size_t, const torch::Tensor& s, const torch::Tensor& items) {
  return torch::matmul(s, items.t());
};

// The whole matrix per output, with the evaluation's own counting (higher_and_tied).
std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> whole(const Case& c, const BranchScore& score) {
  auto mask = torch::ones({kUsers, kItems + 1}, torch::kBool);
  for (int64_t u = 0; u < kUsers; ++u)
    for (int32_t i : c.excluded[size_t(u)]) mask[u][i] = false;
  std::vector<torch::Tensor> scores;
  torch::Tensor fused;
  for (size_t b = 0; b < c.tables.size(); ++b) {
    auto s = score(b, c.states[b], c.tables[b]);
    fused = fused.defined() ? fused + s : s.clone();
    scores.push_back(s);
  }
  if (scores.size() > 1) scores.push_back(fused / double(c.tables.size()));
  std::vector<torch::Tensor> higher, tied;
  for (auto& s : scores) {
    auto [h, t] = higher_and_tied(s, mask, c.target.unsqueeze(1));
    higher.push_back(h);
    tied.push_back(t);
  }
  return {higher, tied};
}

void expect_whole_matrix_counts(size_t branches, int64_t items_per_block) {
  const Case c = make_case(branches, 7 + branches);
  const auto [higher, tied] = whole(c, kDot);
  const ItemBlockRanks r = rank_in_item_blocks(kDot, c.tables, {c.states, c.target, c.excluded}, items_per_block, 0);
  ASSERT_EQ(r.higher.size(), higher.size());
  for (size_t o = 0; o < higher.size(); ++o) {
    EXPECT_TRUE(torch::equal(r.higher[o], higher[o])) << "output " << o << " block " << items_per_block;
    EXPECT_TRUE(torch::equal(r.tied[o], tied[o])) << "output " << o << " block " << items_per_block;
  }
  // A one-item block is a matrix-vector product, which sums in another order than the targets' [U, U] product: its
  // rows are counted again (still exact). Wider blocks are the same kernel as the targets' scoring here.
  if (items_per_block > 1) EXPECT_EQ(r.recounted_rows, 0) << "block " << items_per_block;
  EXPECT_GT(tied.back().sum().item<int64_t>(), 0);  // the case has ties to count
}

TEST(ItemBlocks, CountsEqualTheWholeMatrixForOneBranch) {
  for (int64_t block : {1, 7, 32, 101, 102, 1000}) expect_whole_matrix_counts(1, block);
}

TEST(ItemBlocks, CountsEqualTheWholeMatrixForTheMeanOfTwoBranches) {
  for (int64_t block : {5, 64}) expect_whole_matrix_counts(2, block);
}

TEST(ItemBlocks, TopListsAreTheBestCandidatesOfTheWholeMatrix) {
  Case c = make_case(1, 3);
  c.tables[0][90].normal_();  // distinct scores: one correct list
  c.tables[0].slice(0, 50, 60).normal_();
  c.tables[0][77].normal_();
  const int64_t k = 10;
  auto mask = torch::ones({kUsers, kItems + 1}, torch::kBool);
  for (int64_t u = 0; u < kUsers; ++u)
    for (int32_t i : c.excluded[size_t(u)]) mask[u][i] = false;
  auto scores = kDot(0, c.states[0], c.tables[0]).masked_fill(mask.logical_not(), -1e30);
  const auto expected = std::get<1>(scores.topk(k, 1));
  for (int64_t block : {9, 40}) {
    const ItemBlockRanks r = rank_in_item_blocks(kDot, c.tables, {c.states, c.target, c.excluded}, block, k);
    EXPECT_TRUE(torch::equal(r.top, expected)) << "block " << block;
  }
}

// With every score tied (a popularity-like model before training), the top lists are the lowest-numbered candidates:
// the order does not depend on the blocks.
TEST(ItemBlocks, TiedTopListsKeepTheLowestItems) {
  Case c = make_case(1, 5);
  const BranchScore same = [](size_t, const torch::Tensor& s, const torch::Tensor& items) {
    return torch::zeros({s.size(0), items.size(0)});
  };
  for (int64_t block : {9, 1000}) {
    const ItemBlockRanks r = rank_in_item_blocks(same, c.tables, {c.states, c.target, c.excluded}, block, 5);
    for (int64_t u = 0; u < kUsers; ++u) {
      std::vector<int64_t> expected;
      for (int32_t i = 1; int64_t(expected.size()) < 5; ++i)
        if (!std::binary_search(c.excluded[size_t(u)].begin(), c.excluded[size_t(u)].end(), i)) expected.push_back(i);
      EXPECT_TRUE(torch::equal(r.top[u], torch::tensor(expected, torch::kLong))) << "user " << u << " block " << block;
    }
  }
}

// A kernel that gives a [U, U] product other low bits than a block (simulated: the target scoring is nudged):
// without the recount, every target would rank against a value its block never computed.
TEST(ItemBlocks, ATargetScoredDifferentlyByItsBlockIsCountedAgain) {
  const Case c = make_case(1, 11);
  const BranchScore nudged_when_square = [](size_t, const torch::Tensor& s, const torch::Tensor& items) {
    auto out = torch::matmul(s, items.t());
    return items.size(0) == s.size(0) ? out * (1 + 1e-6) : out;
  };
  const auto [higher, tied] = whole(c, kDot);
  const ItemBlockRanks r =
      rank_in_item_blocks(nudged_when_square, c.tables, {c.states, c.target, c.excluded}, 16, 0);
  EXPECT_GT(r.recounted_rows, kUsers / 2);
  EXPECT_TRUE(torch::equal(r.higher[0], higher[0]));
  EXPECT_TRUE(torch::equal(r.tied[0], tied[0]));
}

TEST(ItemBlocks, TheShapeKeepsABatchsScoresWithinTheCache) {
  const torch::Device cpu(torch::kCPU);
  for (int64_t items : {12101, 1000000}) {
    const EvaluationShape shape = evaluation_shape(0, 0, items, cpu);
    EXPECT_EQ(shape.users, 256);
    EXPECT_EQ(shape.items_per_block, 1024);  // 1 MB of scores
  }
  EXPECT_EQ(evaluation_shape(0, 0, 100, cpu).items_per_block, 101);  // never wider than the catalogue
  EXPECT_EQ(evaluation_shape(7, 500, 12101, cpu).users, 7);
  EXPECT_EQ(evaluation_shape(7, 500, 12101, cpu).items_per_block, 500);
}

}  // namespace
}  // namespace mmsr

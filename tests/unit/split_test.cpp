// The protocol's splits (mmsr/split.h) on small data counted by hand: leave-one-out, the global temporal split with
// its cuts given or from shares, the targets rules, the published parts, and the data each one refuses.
#include <gtest/gtest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "mmsr/dataset_cache.h"
#include "mmsr/errors.h"
#include "mmsr/split.h"
#include "test_support.h"

namespace mmsr {
namespace {

// u1: a@1 b@2 c@5 d@8 e@9; u2: f@3 a@6 b@7; u3: g@8 h@10. With valid_start 5 and test_start 8: u1 trains on a b,
// validates c, is tested on d and e; u2 trains on f and validates a and b; u3 has no earlier item for g.
Dataset timed() {
  Dataset d;
  d.name = "timed";
  d.item_tokens = {"<pad>", "a", "b", "c", "d", "e", "f", "g", "h"};
  d.user_tokens = {"u1", "u2", "u3"};
  d.sequences = {{1, 2, 3, 4, 5}, {6, 1, 2}, {7, 8}};
  d.times = {{1, 2, 5, 8, 9}, {3, 6, 7}, {8, 10}};
  return d;
}

SplitOptions temporal(const std::string& targets = "every") {
  SplitOptions o;
  o.kind = "temporal";
  o.valid_start = 5;
  o.test_start = 8;
  o.targets = targets;
  return o;
}

std::vector<std::pair<int32_t, int32_t>> pairs(const std::vector<EvaluationEvent>& events) {
  std::vector<std::pair<int32_t, int32_t>> out;
  for (const auto& e : events) out.emplace_back(e.user, e.position);
  return out;
}

using Pairs = std::vector<std::pair<int32_t, int32_t>>;

TEST(Split, TemporalTrainsOnlyOnInteractionsBeforeTheCut) {
  const Dataset d = timed();
  const Split s(d, temporal());
  for (int64_t u = 0; u < s.num_users(); ++u)
    for (int64_t t = 0; t < s.train_length(u); ++t) EXPECT_LT(d.times[size_t(u)][size_t(t)], 5.0) << "user " << u;
  EXPECT_EQ(s.train_length(0), 2);
  EXPECT_EQ(s.train_length(1), 1);
  EXPECT_EQ(s.train_length(2), 0);
  for (const auto& e : s.events(false)) EXPECT_GE(d.times[size_t(e.user)][size_t(e.position)], 5.0);
  for (const auto& e : s.events(true)) EXPECT_GE(d.times[size_t(e.user)][size_t(e.position)], 8.0);
  EXPECT_EQ(s.item_counts()[1], 1);  // a once in training (u1); u2's a is validation
  EXPECT_EQ(s.item_counts()[3], 0);
  EXPECT_EQ(s.valid_target_counts()[1], 1);
  EXPECT_EQ(s.valid_target_counts()[3], 1);
}

TEST(Split, EveryNextItemCountsEachTestEventOnce) {
  const Dataset d = timed();
  const Split s(d, temporal());
  EXPECT_EQ(pairs(s.events(false)), (Pairs{{0, 2}, {1, 1}, {1, 2}}));
  EXPECT_EQ(pairs(s.events(true)), (Pairs{{0, 3}, {0, 4}, {2, 1}}));  // u3's g has nothing before it
  std::set<std::pair<int32_t, int32_t>> distinct;
  for (const auto& e : s.events(true)) EXPECT_TRUE(distinct.insert({e.user, e.position}).second);
  const auto summary = nlohmann::json::parse(s.summary_json());
  EXPECT_EQ(summary["test_events"], 3);
  EXPECT_EQ(summary["test_users"], 2);
  EXPECT_EQ(summary["test_users_without_history"], 1);
  EXPECT_EQ(summary["training_interactions"], 3);
  EXPECT_EQ(summary["cold_test_targets"], 3);   // d, e, h never trained on
  EXPECT_EQ(summary["cold_valid_targets"], 1);  // c
}

TEST(Split, FirstAndLastTargets) {
  const Dataset d = timed();
  const Split first(d, temporal("first")), last(d, temporal("last"));
  EXPECT_EQ(pairs(first.events(false)), (Pairs{{0, 2}, {1, 1}}));
  EXPECT_EQ(pairs(first.events(true)), (Pairs{{0, 3}, {2, 1}}));  // u3's first event with an earlier item
  EXPECT_EQ(pairs(last.events(false)), (Pairs{{0, 2}, {1, 2}}));
  EXPECT_EQ(pairs(last.events(true)), (Pairs{{0, 4}, {2, 1}}));
}

TEST(Split, TemporalCutsFromSharesOfAllInteractions) {
  // Sorted times 1 2 3 5 6 7 8 8 9 10: the last 30% begins at 8 (ties take the 4 interactions at 8 or later), the
  // validation period's 30% counts back from there and begins at 5.
  const Dataset d = timed();
  SplitOptions o;
  o.kind = "temporal";
  o.valid_share = 0.3;
  o.test_share = 0.3;
  const Split s(d, o);
  const auto summary = nlohmann::json::parse(s.summary_json());
  EXPECT_EQ(summary["valid_start"], 5.0);
  EXPECT_EQ(summary["test_start"], 8.0);
  EXPECT_EQ(pairs(s.events(true)), pairs(Split(d, temporal()).events(true)));
}

TEST(Split, LeaveOneOutEventsAreTheUsers) {
  Dataset d = timed();
  d.sequences.pop_back(), d.times.pop_back(), d.user_tokens.pop_back();
  const Split s(d);
  EXPECT_EQ(pairs(s.events(false)), (Pairs{{0, 3}, {1, 1}}));
  EXPECT_EQ(pairs(s.events(true)), (Pairs{{0, 4}, {1, 2}}));
  EXPECT_EQ(s.train_length(0), 3);
}

TEST(Split, PublishedPartsAreKeptAndMustFollowTime) {
  Dataset d = timed();
  d.parts = {{0, 0, 0, 1, 2}, {0, 2, 2}, {1, 2}};
  const Split s(d, SplitOptions{"published"});
  EXPECT_EQ(s.train_length(0), 3);
  EXPECT_EQ(pairs(s.events(false)), (Pairs{{0, 3}}));  // u3's validation item has nothing before it
  EXPECT_EQ(pairs(s.events(true)), (Pairs{{0, 4}, {1, 1}, {1, 2}, {2, 1}}));
  d.parts[1] = {0, 2, 1};
  EXPECT_NE(test::input_error_of([&] { Split(d, SplitOptions{"published"}); })
                .find("user 'u2' has a training or validation interaction after a later part's"),
            std::string::npos);
}

TEST(Split, DataWithoutTheNeededColumnIsAnInputError) {
  Dataset d = timed();
  d.times.clear();
  EXPECT_NE(test::input_error_of([&] { Split(d, temporal()); }).find("the data has no timestamps"), std::string::npos);
  EXPECT_NE(test::input_error_of([&] { Split(d, SplitOptions{"published"}); }).find("ship no split of their own"),
            std::string::npos);
  d = timed();
  SplitOptions late = temporal();
  late.test_start = 100;  // nothing left to test
  EXPECT_NE(test::input_error_of([&] { Split(d, late); }).find("has no test event"), std::string::npos);
}

TEST(Split, PreprocessingCarriesTimesAndPartsAndTheCacheKeepsThem) {
  RawSequences raw;
  raw.source = "t";
  raw.item_tokens = {"a", "b", "c", "d"};
  raw.user_tokens = {"u"};
  raw.sequences = {{0, 0, 1, 2, 3}};
  raw.times = {{1, 2, 3, 4, 5}};
  raw.parts = {{0, 0, 0, 1, 2}};
  PreprocessOptions o;
  o.drop_consecutive_repeats = true;
  o.keep_last = 3;
  const Dataset d = preprocess(raw, o, "t");
  ASSERT_EQ(d.sequences[0].size(), 3u);
  EXPECT_EQ(d.times[0], (std::vector<double>{3, 4, 5}));
  EXPECT_EQ(d.parts[0], (std::vector<uint8_t>{0, 1, 2}));
  const auto back = decode_prepared_dataset(encode_prepared_dataset(d));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->times, d.times);
  EXPECT_EQ(back->parts, d.parts);
  // The checksum follows the times where the data has them.
  RawSequences moved = raw;
  moved.times[0][4] = 6;
  EXPECT_NE(preprocess(moved, o, "t").checksum, d.checksum);
  RawSequences untimed = raw;
  untimed.times.clear(), untimed.parts.clear();
  EXPECT_NE(preprocess(untimed, o, "t").checksum, d.checksum);
}

// What `mmsr data stats` says of time and of a published split: the first timestamp, where the last 20% and 10% of
// the interactions begin (sorted 1 2 3 5 6 7 8 8 9 10: positions 8 and 9), the last; interactions per part.
TEST(Split, DataStatsGiveTheTimeSpanAndThePublishedParts) {
  Dataset d = timed();
  d.parts = {{0, 0, 0, 1, 2}, {0, 2, 2}, {1, 2}};
  const DatasetStats st = compute_stats(d);
  EXPECT_EQ(st.time_points, (std::vector<double>{1, 9, 10, 10}));
  EXPECT_EQ(st.published_parts, (std::vector<int64_t>{4, 2, 4}));
  d.times.clear(), d.parts.clear();
  EXPECT_TRUE(compute_stats(d).time_points.empty());
  EXPECT_TRUE(compute_stats(d).published_parts.empty());
}

}  // namespace
}  // namespace mmsr

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "mmsr/dataset.h"
#include "mmsr/errors.h"
#include "mmsr/readers.h"
#include "mmsr/split.h"
#include "test_support.h"

namespace mmsr {

using test::TempDir;

std::string error_of(const std::function<void()>& f) { return test::input_error_of(f); }

TEST(Readers, S3RecLines) {
  TempDir t;
  auto p = t.file("d.txt", "1 10 11 12\n2 11 13 10 14\n\n");
  RawSequences r = read_s3rec(p);
  ASSERT_EQ(r.sequences.size(), 2u);
  EXPECT_EQ(r.user_tokens[1], "2");
  ASSERT_EQ(r.sequences[1].size(), 4u);
  EXPECT_EQ(r.item_tokens[r.sequences[1][1]], "13");
  EXPECT_EQ(r.sequences[0][1], r.sequences[1][0]);  // item "11" interned once
  EXPECT_EQ(error_of([&] { read_s3rec(t.file("bad.txt", "1 2 3\n7\n")); }),
            t.path("bad.txt") + ":2: expected 'user item item ...' (S3-Rec format), found only a user");
  EXPECT_NE(error_of([&] { read_s3rec(t.file("dup.txt", "1 2 3\n1 4\n")); }).find(":2: user '1' appears on two lines"),
            std::string::npos);
}

TEST(Readers, UserItemPairsKeepFileOrder) {
  TempDir t;
  RawSequences r = read_user_item_pairs(t.file("d.txt", "1 7\n2 8\n1 9\n"));
  ASSERT_EQ(r.sequences.size(), 2u);
  EXPECT_EQ(r.item_tokens[r.sequences[0][1]], "9");
  EXPECT_EQ(error_of([&] { read_user_item_pairs(t.file("bad.txt", "1 7\n1 7 8\n")); }),
            t.path("bad.txt") + ":2: found 3 fields where the lines before have 2; a time column is on every line or on "
                                "none");
  EXPECT_EQ(error_of([&] { read_user_item_pairs(t.file("bad.txt", "1 7 8 9\n")); }),
            t.path("bad.txt") + ":1: expected 'user item' or 'user item timestamp' (SASRec format), found 4 fields");
  // With a time column: each user's items by time, and the times kept.
  RawSequences timed = read_user_item_pairs(t.file("timed.txt", "1 7 30\n2 8 5\n1 9 10\n"));
  EXPECT_EQ(timed.item_tokens[size_t(timed.sequences[0][0])], "9");
  EXPECT_EQ(timed.times[0], (std::vector<double>{10, 30}));
  EXPECT_TRUE(r.times.empty());
  // The format's ids are integers: a name is a malformed line, not a new item.
  EXPECT_EQ(error_of([&] { read_user_item_pairs(t.file("named.txt", "1 7\na x\n")); }),
            t.path("named.txt") + ":2: user 'a' is not a non-negative integer id; the SASRec format has integer ids (format = "
                                  "\"recbole\" reads named ids)");
}

// Formats that promise integer ids name one item by 4, 04 and 004 (they were three items), and one user likewise.
TEST(Readers, IntegerIdsAreNumbersNotSpellings) {
  TempDir t;
  RawSequences pairs = read_user_item_pairs(t.file("p.txt", "1 4\n01 04\n001 004\n2 5\n"));
  ASSERT_EQ(pairs.sequences.size(), 2u);
  EXPECT_EQ(pairs.item_tokens.size(), 2u);  // 4 and 5
  ASSERT_EQ(pairs.sequences[0].size(), 3u);
  EXPECT_EQ(pairs.sequences[0][0], pairs.sequences[0][2]);
  EXPECT_EQ(pairs.item_tokens[pairs.sequences[0][0]], "4");
  RawSequences lines = read_s3rec(t.file("s.txt", "1 4 04 004 0\n2 00 7\n"));
  EXPECT_EQ(lines.item_tokens[lines.sequences[0][1]], "4");
  EXPECT_EQ(lines.sequences[0][0], lines.sequences[0][2]);
  EXPECT_EQ(lines.sequences[0][3], lines.sequences[1][0]);  // 0 and 00
  EXPECT_NE(error_of([&] { read_s3rec(t.file("dup.txt", "1 2\n001 3\n")); }).find("appears on two lines"),
            std::string::npos);
}

TEST(Readers, RecBoleSortsByTimestampStably) {
  TempDir t;
  auto p = t.file("d.inter",
                  "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                  "u1\ti3\t5\t30\nu1\ti1\t4\t10\nu2\ti2\t3\t5\nu1\ti2\t1\t10\n");
  RawSequences r = read_recbole_inter(p);
  ASSERT_EQ(r.sequences.size(), 2u);
  std::vector<std::string> u1;
  for (int32_t i : r.sequences[0]) u1.push_back(r.item_tokens[i]);
  EXPECT_EQ(u1, (std::vector<std::string>{"i1", "i2", "i3"}));  // i1 and i2 tie at 10: file order
  EXPECT_EQ(error_of([&] {
              read_recbole_inter(t.file("bad.inter", "user_id:token\titem_id:token\ttimestamp:float\nu\ti\tsoon\n"));
            }),
            t.path("bad.inter") + ":2: timestamp 'soon' is not a number");
  EXPECT_EQ(error_of([&] { read_recbole_inter(t.file("h.inter", "user\titem\n")); }),
            t.path("h.inter") + ":1: header field 'user' has no type; RecBole headers look like 'user_id:token'");
}

// Thousands of tokens (the interning table grows several times), rows in no particular user order.
TEST(Readers, ManyTokensKeepTheirFirstSeenOrder) {
  TempDir t;
  std::string text = "user_id:token\titem_id:token\ttimestamp:float\n";
  const int users = 3000;
  for (int round = 0; round < 2; ++round)
    for (int u = 0; u < users; ++u) {
      const int user = (u * 7919) % users;  // a permutation of 0..users-1
      text += "user" + std::to_string(user) + "\titem" + std::to_string((user * 3 + round) % 5000) + "\t" +
              std::to_string(round) + "\n";
    }
  RawSequences r = read_recbole_inter(t.file("many.inter", text));
  ASSERT_EQ(r.user_tokens.size(), size_t(users));
  for (int u = 0; u < users; ++u) {
    const int user = (u * 7919) % users;
    ASSERT_EQ(r.user_tokens[size_t(u)], "user" + std::to_string(user));
    ASSERT_EQ(r.sequences[size_t(u)].size(), 2u);
    EXPECT_EQ(r.item_tokens[size_t(r.sequences[size_t(u)][0])], "item" + std::to_string(user * 3 % 5000));
    EXPECT_EQ(r.item_tokens[size_t(r.sequences[size_t(u)][1])], "item" + std::to_string((user * 3 + 1) % 5000));
  }
  std::set<std::string> distinct(r.item_tokens.begin(), r.item_tokens.end());
  EXPECT_EQ(distinct.size(), r.item_tokens.size());
}

TEST(Readers, RecBoleItemFieldsAttachByToken) {
  TempDir t;
  auto p = t.file("d.item", "item_id:token\tmovie_title:token_seq\tclass:token_seq\n"
                            "i1\tToy Story\tAnimation Comedy\ni9\tUnused\tDrama\n");
  ItemTable table = read_recbole_items(p);
  EXPECT_EQ(table.fields, (std::vector<std::string>{"movie_title", "class"}));
  Dataset d;
  d.item_tokens = {"<pad>", "i2", "i1"};
  d.user_tokens = {"u"};
  d.sequences = {{1, 2, 1}};
  d.compute_checksum();
  std::string before = d.checksum;
  attach_item_fields(d, table);
  EXPECT_EQ(d.item_fields["movie_title"][2], "Toy Story");
  EXPECT_EQ(d.item_fields["class"][1], "");  // i2 has no row
  EXPECT_NE(d.checksum, before);             // side information is part of the dataset's identity
  // token_seq columns are also attribute sets, one attribute per word.
  const ItemAttributes& classes = d.attributes.at("class");
  EXPECT_EQ(classes.vocabulary(), 2);  // Drama belongs to an item the data does not hold
  EXPECT_EQ(classes.of_item[2].size(), 2u);
  EXPECT_TRUE(classes.of_item[1].empty());
  EXPECT_EQ(error_of([&] { read_recbole_items(t.file("b.item", "item_id:token\tx:token\ni1\n")); }),
            t.path("b.item") + ":2: expected 2 tab-separated fields, found 1");
}

TEST(Readers, S3RecAttributeFileByItemToken) {
  TempDir t;
  Dataset d;
  d.item_tokens = {"<pad>", "7", "3", "5"};
  d.user_tokens = {"u"};
  d.sequences = {{1, 2, 3}};
  d.compute_checksum();
  std::string before = d.checksum;
  // Item 5 has no entry; item 99 is not in the data (filtered away): ignored.
  attach_item_attributes_json(d, t.file("a.json", R"({"3": [4, 8], "7": [8, 8, 2], "99": [1]})"), "attributes");
  const ItemAttributes& a = d.attributes.at("attributes");
  EXPECT_EQ(a.vocabulary(), 3);  // 8, 2, 4 (1 belongs to item 99)
  EXPECT_EQ(a.of_item[1].size(), 2u);  // item "7": 8 and 2, the repeat dropped
  EXPECT_EQ(a.tokens[size_t(a.of_item[1][0])], "8");
  EXPECT_EQ(a.of_item[2].size(), 2u);
  EXPECT_TRUE(a.of_item[3].empty());
  EXPECT_EQ(a.max_per_item(), 2);
  EXPECT_NE(d.checksum, before);
  EXPECT_NE(error_of([&] { attach_item_attributes_json(d, t.file("b.json", "[1, 2]"), "x"); })
                .find("b.json: expected a JSON object"),
            std::string::npos);
  EXPECT_NE(error_of([&] { attach_item_attributes_json(d, t.file("c.json", R"({"3": 4})"), "x"); })
                .find("c.json: item \"3\": expected a list of attributes"),
            std::string::npos);
  EXPECT_NE(error_of([&] { attach_item_attributes_json(d, t.file("e.json", "{\"3\": [1,"), "x"); })
                .find("e.json: not valid JSON"),
            std::string::npos);
}

TEST(Readers, UniSRecRebuildsTheFullSequence) {
  TempDir t;
  const std::string header = "user_id:token\titem_id_list:token_seq\titem_id:token\n";
  t.file("S.train.inter", header + "0\t1\t2\n");
  t.file("S.valid.inter", header + "0\t1 2\t3\n");
  t.file("S.test.inter", header + "0\t1 2 3\t4\n");
  RawSequences r = read_unisrec(t.path("S"));
  ASSERT_EQ(r.sequences.size(), 1u);
  EXPECT_EQ(r.sequences[0].size(), 4u);
  t.file("S.valid.inter", header + "0\t1 9\t3\n");
  EXPECT_NE(error_of([&] { read_unisrec(t.path("S")); })
                .find("S.valid.inter:2: the history of user '0' does not continue the user's earlier rows"),
            std::string::npos);
}

namespace {

// A user's rebuilt sequence as its item tokens.
std::vector<std::string> tokens_of(const RawSequences& r, size_t user) {
  std::vector<std::string> out;
  for (int32_t id : r.sequences[user]) out.push_back(r.item_tokens[size_t(id)]);
  return out;
}

// Rows as UniSRec's processing writes them, with histories cut to the last `window` items: every training position,
// then the validation and the test row; `reverse` lists a user's training rows last to first (as the released
// Scientific files do).
struct WindowedFiles {
  std::string train, valid, test;
  void add(const std::string& user, const std::vector<std::string>& seq, size_t window, bool reverse) {
    auto row = [&](size_t target) {
      std::string h;
      for (size_t i = target > window ? target - window : 0; i < target; ++i) h += (h.empty() ? "" : " ") + seq[i];
      return user + "\t" + h + "\t" + seq[target] + "\n";
    };
    std::vector<std::string> rows;
    for (size_t p = 1; p + 2 < seq.size(); ++p) rows.push_back(row(p));
    if (reverse) std::reverse(rows.begin(), rows.end());
    for (const auto& r : rows) train += r;
    valid += row(seq.size() - 2);
    test += row(seq.size() - 1);
  }
};

}  // namespace

TEST(Readers, UniSRecWindowsOfLongHistoriesAreChainedIntoTheWholeSequence) {
  TempDir t;
  const std::string header = "user_id:token\titem_id_list:token_seq\titem_id:token\n";
  const std::vector<std::string> longer = {"a", "b", "c", "d", "e", "f", "g", "h", "i"}, shorter = {"x", "y", "z"},
                                 repeats = {"p", "q", "p", "q", "p", "r", "p"};  // shorter windows match too
  WindowedFiles f;
  f.add("u1", longer, 3, /*reverse=*/true);
  f.add("u2", shorter, 3, /*reverse=*/false);
  f.add("u3", repeats, 3, /*reverse=*/true);
  t.file("S.train.inter", header + f.train);
  t.file("S.valid.inter", header + f.valid);
  t.file("S.test.inter", header + f.test);
  RawSequences r = read_unisrec(t.path("S"));
  ASSERT_EQ(r.user_tokens, (std::vector<std::string>{"u1", "u2", "u3"}));
  EXPECT_EQ(tokens_of(r, 0), longer);
  EXPECT_EQ(tokens_of(r, 1), shorter);
  EXPECT_EQ(tokens_of(r, 2), repeats);
  // Without the training file only the last windows are known: the validation row reaches one item further back.
  std::filesystem::remove(t.path("S.train.inter"));
  r = read_unisrec(t.path("S"));
  EXPECT_EQ(tokens_of(r, 0), (std::vector<std::string>{"e", "f", "g", "h", "i"}));
}

TEST(Readers, UniSRecWindowsThatDisagreeOrMissARowAreRefusedWithTheirLine) {
  TempDir t;
  const std::string header = "user_id:token\titem_id_list:token_seq\titem_id:token\n";
  WindowedFiles f;
  f.add("u1", {"a", "b", "c", "d", "e", "f", "g", "h"}, 3, false);
  t.file("S.valid.inter", header + f.valid);
  t.file("S.test.inter", header + f.test);
  std::string changed = f.train;  // the row of target 'e' (line 5) says its history ends with 'x'
  changed.replace(changed.find("b c d\te"), 7, "b c x\te");
  t.file("S.train.inter", header + changed);
  EXPECT_NE(error_of([&] { read_unisrec(t.path("S")); })
                .find("S.train.inter:5: the history of user 'u1' does not continue the user's earlier rows (they end "
                      "with 'd', this history with 'x')"),
            std::string::npos);
  std::string missing = f.train;  // the row of target 'd' is gone: the next row's window skips an item
  const std::string row_of_d = "u1\ta b c\td\n";
  missing.erase(missing.find(row_of_d), row_of_d.size());
  t.file("S.train.inter", header + missing);
  EXPECT_NE(error_of([&] { read_unisrec(t.path("S")); }).find("does not continue the user's earlier rows"),
            std::string::npos);
  t.file("S.train.inter", header + f.train + "u9\ta\tb\n");
  EXPECT_NE(error_of([&] { read_unisrec(t.path("S")); })
                .find("S.train.inter:7: user 'u9' has a training row but no test row"),
            std::string::npos);
}

// The released Scientific files keep whole histories (up to 35 items): chaining their training rows rebuilds exactly
// the sequences their test rows hold, so the dataset (and every stored run's identity) is the one read before.
TEST(Readers, UniSRecScientificTrainingRowsAgreeWithTheTestRows) {
  if (!test::shared_data_available("scientific-mm/Scientific.train.inter"))
    GTEST_SKIP() << "../shared/data/scientific-mm is absent: real-data check skipped";
  const std::string prefix = std::string(MMSR_SHARED_DATA_DIR) + "/scientific-mm/Scientific";
  TempDir t;
  for (const char* split : {".valid.inter", ".test.inter"})
    std::filesystem::create_symlink(prefix + split, t.path(std::string("S") + split));
  const RawSequences all = read_unisrec(prefix), without_training = read_unisrec(t.path("S"));
  EXPECT_EQ(all.user_tokens.size(), 2928u);
  EXPECT_EQ(all.user_tokens, without_training.user_tokens);
  EXPECT_EQ(all.item_tokens, without_training.item_tokens);
  EXPECT_EQ(all.sequences, without_training.sequences);
}

// The Amazon Reviews 2023 leave-last-out CSVs: training rows in any order within a user, then the published
// validation and test rows, which are what leave-one-out holds out.
TEST(Readers, Amazon2023LeaveLastOutKeepsThePublishedSplit) {
  TempDir t;
  const std::string header = "user_id,parent_asin,rating,timestamp,history\n";
  t.file("B.train.csv", header + "A,i2,5,2000,i1\nA,i1,4,1000,\nC,i9,5,10,\nC,i8,5,20,i9\n");
  t.file("B.valid.csv", header + "A,i3,5,3000,i1 i2\nC,i7,4,30,i9 i8\n");
  t.file("B.test.csv", header + "C,i6,4,40,i8 i7\nA,i4,5,4000,i1 i2 i3\n");
  RawSequences r = read_amazon2023(t.path("B"));
  ASSERT_EQ(r.user_tokens, (std::vector<std::string>{"A", "C"}));
  EXPECT_EQ(tokens_of(r, 0), (std::vector<std::string>{"i1", "i2", "i3", "i4"}));
  EXPECT_EQ(tokens_of(r, 1), (std::vector<std::string>{"i9", "i8", "i7", "i6"}));  // a window of the history is fine
  // Without the history column too.
  t.file("P.train.csv", "user_id,parent_asin,rating,timestamp\nA,i1,4,1000\n");
  t.file("P.valid.csv", "user_id,parent_asin,rating,timestamp\nA,i2,4,2000\n");
  t.file("P.test.csv", "user_id,parent_asin,rating,timestamp\nA,i3,4,3000\n");
  EXPECT_EQ(tokens_of(read_amazon2023(t.path("P")), 0), (std::vector<std::string>{"i1", "i2", "i3"}));
}

// The timestamp split: several validation and test rows per user, users first seen after training; the file of a row
// is its published part.
TEST(Readers, Amazon2023KeepsATimestampSplitsPartsAndRefusesHistoriesThatDisagree) {
  TempDir t;
  const std::string header = "user_id,parent_asin,rating,timestamp,history\n";
  t.file("B.train.csv", header + "A,i1,4,1000,\nA,i2,5,2000,i1\n");
  t.file("B.valid.csv", header + "A,i3,5,3000,i1 i2\n");
  t.file("B.test.csv", header + "A,i5,5,5000,i1 i2 i3 i4\nZ,i4,5,4500,\nA,i4,5,4000,i1 i2 i3\n");
  RawSequences r = read_amazon2023(t.path("B"));
  ASSERT_EQ(r.user_tokens, (std::vector<std::string>{"A", "Z"}));
  EXPECT_EQ(tokens_of(r, 0), (std::vector<std::string>{"i1", "i2", "i3", "i4", "i5"}));
  EXPECT_EQ(r.parts[0], (std::vector<uint8_t>{kTrainPart, kTrainPart, kValidPart, kTestPart, kTestPart}));
  EXPECT_EQ(r.times[0], (std::vector<double>{1000, 2000, 3000, 4000, 5000}));
  EXPECT_EQ(r.parts[1], (std::vector<uint8_t>{kTestPart}));
  t.file("B.test.csv", header + "A,i4,5,4000,i1 i9 i3\n");
  EXPECT_NE(error_of([&] { read_amazon2023(t.path("B")); })
                .find("B.test.csv:2: the history of user 'A' is not the items before this row in time order"),
            std::string::npos);
}

TEST(Readers, MissingFileSaysWhatToCheck) {
  EXPECT_NE(error_of([] { read_s3rec("/nonexistent/x.txt"); }).find("/nonexistent/x.txt: no such data file"),
            std::string::npos);
}

TEST(Preprocess, KCoreIsIterative) {
  RawSequences raw;
  raw.item_tokens = {"a", "b", "c"};
  raw.user_tokens = {"u1", "u2", "u3"};
  // c occurs twice only with u3; after removing c (k=3: count 2), u3 keeps [a, b] and drops below 3.
  raw.sequences = {{0, 1, 0, 1}, {0, 1, 1, 0}, {2, 2, 0}};
  PreprocessOptions o;
  o.k_core = 3;
  Dataset d = preprocess(raw, o, "x");
  EXPECT_EQ(d.num_users(), 2);
  EXPECT_EQ(d.num_items(), 2);
}

TEST(Preprocess, RepeatsKeepLastAndMinLength) {
  RawSequences raw;
  raw.item_tokens = {"a", "b", "c"};
  raw.user_tokens = {"u1", "u2"};
  raw.sequences = {{0, 0, 1, 1, 2}, {0, 1}};
  PreprocessOptions o;
  o.drop_consecutive_repeats = true;
  o.keep_last = 2;
  o.min_length = 2;  // leave-one-out still needs 3
  EXPECT_THROW(preprocess(raw, o, "x"), InputError);
  o.keep_last = 0;
  Dataset d = preprocess(raw, o, "x");
  ASSERT_EQ(d.num_users(), 1);
  EXPECT_EQ(d.sequences[0], (std::vector<int32_t>{1, 2, 3}));
}

TEST(Split, LeaveOneOutAsMethodsDefinesIt) {
  Dataset d;
  d.item_tokens = {"<pad>", "a", "b", "c", "d", "e"};
  d.user_tokens = {"u"};
  d.sequences = {{1, 2, 3, 4, 5}};
  Split s(d);
  EXPECT_EQ(s.train_length(0), 3);
  ASSERT_EQ(s.events(false).size(), 1u);
  ASSERT_EQ(s.events(true).size(), 1u);
  EXPECT_EQ(s.target(s.events(false)[0]), 4);  // second-to-last
  EXPECT_EQ(s.target(s.events(true)[0]), 5);   // last
  EXPECT_EQ(s.events(true)[0].position, 4);    // the validation item is part of the test input
  EXPECT_EQ(s.item_counts()[4], 0);  // validation and test items are not training data
  EXPECT_EQ(s.item_counts()[1], 1);
}

// What `mmsr data stats` and the protocol card report, counted by hand: training parts {1} and {4, 5}; validation
// targets 2 and 6, test targets 3 and 1 (item 1 was trained on).
TEST(DatasetStats, ColdTargetsPerSplitItemsWithoutTrainingAndLengthQuantiles) {
  Dataset d;
  d.item_tokens = {"<pad>", "a", "b", "c", "d", "e", "f"};
  d.user_tokens = {"u1", "u2"};
  d.sequences = {{1, 2, 3}, {4, 5, 6, 1}};
  const DatasetStats st = compute_stats(d);
  EXPECT_EQ(st.cold_valid_items, 2);
  EXPECT_EQ(st.cold_test_items, 1);
  EXPECT_EQ(st.items_not_in_training, 3);  // b, c, f
  EXPECT_EQ(st.length_quantiles, (std::vector<int64_t>{3, 3, 3, 3, 3}));  // (n - 1) q rounds down to the first user
}

TEST(Synthetic, DeterministicWithColdTargets) {
  SyntheticOptions o;
  o.users = 300;
  o.items = 100;
  o.cold_target_rate = 0.3;
  Dataset a = generate_synthetic(o), b = generate_synthetic(o);
  EXPECT_EQ(a.checksum, b.checksum);
  o.seed = 8;
  EXPECT_NE(generate_synthetic(o).checksum, a.checksum);
  DatasetStats st = compute_stats(a);
  EXPECT_GT(st.cold_test_items, 0);
  EXPECT_EQ(a.features.at("text").values.size(), size_t(101 * o.feature_dim));
}

namespace {
Dataset small_dataset() {
  Dataset d;
  d.item_tokens = {"<pad>", "a", "b", "c", "d", "e", "f"};
  d.user_tokens = {"u1", "u2"};
  d.sequences = {{1, 2, 3}, {4, 5, 6, 1}};
  d.compute_checksum();
  return d;
}
}  // namespace

TEST(Negatives, DrawnOutsideTheHistoryAndRepeatable) {
  Dataset d = small_dataset();
  auto a = draw_negatives(d, 2, 7), b = draw_negatives(d, 2, 7);
  EXPECT_EQ(a, b);
  ASSERT_EQ(a[0].size(), 2u);
  for (int32_t i : a[0]) EXPECT_TRUE(i >= 4 && i <= 6) << i;  // u1 touched a, b, c
  std::vector<int32_t> u2 = a[1];
  std::sort(u2.begin(), u2.end());
  EXPECT_EQ(u2, (std::vector<int32_t>{2, 3}));  // the only items u2 never touched
  EXPECT_THROW(draw_negatives(d, 3, 7), InputError);
}

TEST(Negatives, FileRefusalsNameTheLine) {
  TempDir t;
  Dataset d = small_dataset();
  auto ok = read_negatives(t.file("n.txt", "u1 d e\nu2 b c\nu9 a a\n"), d, 2);
  EXPECT_EQ(ok[1], (std::vector<int32_t>{2, 3}));
  EXPECT_EQ(error_of([&] { read_negatives(t.file("c.txt", "u1 d e f\n"), d, 2); }),
            t.path("c.txt") + ":1: expected 2 negatives after the user, found 3 (set [protocol].negatives to match the file)");
  EXPECT_EQ(error_of([&] { read_negatives(t.file("i.txt", "u1 d zz\n"), d, 2); }),
            t.path("i.txt") + ":1: negative item 'zz' is not an item of the dataset");
  EXPECT_NE(error_of([&] { read_negatives(t.file("m.txt", "u1 d e\n"), d, 2); }).find("no negatives for user 'u2'"),
            std::string::npos);
}

TEST(Negatives, TheLastFMFileOfTheS3RecPaper) {
  if (!test::shared_data_available("s3rec/LastFM_sample.txt")) GTEST_SKIP() << "../shared/data absent";
  const std::string dir = std::string(MMSR_SHARED_DATA_DIR) + "/s3rec/";
  Dataset d = preprocess(read_s3rec(dir + "LastFM.txt"), PreprocessOptions{}, "LastFM");
  auto n = read_negatives(dir + "LastFM_sample.txt", d, 99);
  ASSERT_EQ(n.size(), 1090u);
  EXPECT_EQ(n[0].size(), 99u);
}

}  // namespace mmsr

namespace mmsr {

TEST(Synthetic, TokenFeaturesHaveANoiseFirstTokenAndVaryingLengths) {
  SyntheticOptions o;
  o.users = 50;
  o.items = 40;
  o.clusters = 4;
  Dataset d = generate_synthetic(o);
  const TokenFeatureMatrix& text = d.token_features.at("text_tokens");
  EXPECT_EQ(text.tokens, 8);
  std::set<int> lengths;
  for (int64_t id = 1; id <= d.num_items(); ++id) {
    int length = 0;
    for (int64_t t = 0; t < text.tokens; ++t) length += text.mask[size_t(id * text.tokens + t)];
    EXPECT_GE(length, 2);
    EXPECT_EQ(text.mask[size_t(id * text.tokens)], 1);  // the [CLS] is always real
    lengths.insert(length);
  }
  EXPECT_GT(lengths.size(), 3u);
  const TokenFeatureMatrix& image = d.token_features.at("image_tokens");
  for (int64_t id = 1; id <= d.num_items(); ++id)
    for (int64_t t = 0; t < image.tokens; ++t) EXPECT_EQ(image.mask[size_t(id * image.tokens + t)], 1);
  // Same options, same bytes.
  Dataset again = generate_synthetic(o);
  EXPECT_EQ(again.checksum, d.checksum);
}

}  // namespace mmsr

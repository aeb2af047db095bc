// The baselines' host support, end to end: a trained model evaluated under a second protocol, the popularity
// baseline (no backbone, no loss) against ranks computed by hand, and FDSA reading item side information.
#include <gtest/gtest.h>

#include <set>

#include "e2e/e2e_support.h"
#include "mmsr/errors.h"
#include "mmsr/report.h"
#include "mmsr/runner.h"

namespace mmsr {

using namespace test::e2e;
using test::TempDir;

namespace {

// The message of the InputError a text raises ("" when it parses).
std::string error_of(const std::string& text) {
  return test::input_error_of([&] { parse(text); });
}

}  // namespace

TEST(AlsoEvaluate, OneTrainingTwoProtocolsTwoBoards) {
  TempDir t;
  const std::string store = t.path("s.sqlite");
  std::string text = tiny("loss = \"softmax\"") + kSampledToo;
  Experiment ex = parse(text);
  ASSERT_EQ(ex.also_evaluate.size(), 1u);
  EXPECT_NE(ex.also_evaluate[0].protocol_hash, ex.protocol_hash);
  GridSummary s = run_experiment(ex, text, plugins(), quiet(store));
  EXPECT_EQ(s.finished, 2);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs WHERE status='finished'"), 4);
  // Trained once per seed: epochs are recorded with the main protocol's run only.
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM epochs"), 4);
  // The variant reports the epoch selected under the main protocol.
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs a JOIN runs b ON a.seed = b.seed AND a.id < b.id "
                         "WHERE a.best_epoch = b.best_epoch AND a.protocol_hash <> b.protocol_hash"),
            2);
  ReportOptions r;
  r.stores = {store};
  auto boards = build_leaderboards(r);
  ASSERT_EQ(boards.size(), 2u);
  double hr_full = 0, hr_sampled = 0;
  for (const auto& b : boards) {
    bool sampled = b.protocol_json.find("\"sampled\"") != std::string::npos;
    (sampled ? hr_sampled : hr_full) = b.rows[0].mean[1];  // hr@10
    if (sampled) EXPECT_NE(b.protocol_json.find("selected_under"), std::string::npos);
  }
  EXPECT_GT(hr_sampled, hr_full);  // 20 negatives instead of 60 items
  // Rerunning skips both records of each run.
  GridSummary again = run_experiment(ex, text, plugins(), quiet(store));
  EXPECT_EQ(again.skipped, 2);
}

TEST(AlsoEvaluate, ARunSelectedUnderTheSampledProtocolIsAnotherBoard) {
  std::string sampled = tiny("loss = \"softmax\"");
  sampled.replace(sampled.find("max_len = 10"), 12,
                  "max_len = 10\ncandidates = \"sampled\"\nnegatives = 20\nnegatives_seed = 3");
  EXPECT_NE(parse(sampled).protocol_hash, parse(tiny("loss = \"softmax\"") + kSampledToo).also_evaluate[0].protocol_hash);
}

TEST(AlsoEvaluate, KeysThatDecideTrainingAreRefused) {
  std::string e = error_of(tiny("loss = \"softmax\"") + "\n[[also_evaluate]]\nmax_len = 5\n");
  EXPECT_NE(e.find("e2e.toml:23: [[also_evaluate]] #1.max_len: decides training or selection"), std::string::npos) << e;
  e = error_of(tiny("loss = \"softmax\"") + "\n[[also_evaluate]]\nties = \"expected\"\n");
  EXPECT_NE(e.find("[[also_evaluate]] #1: changes nothing"), std::string::npos) << e;
  e = error_of(tiny("loss = \"softmax\"") + "\n[[also_evaluate]]\nnegatvies = 5\n");
  EXPECT_NE(e.find("unknown key 'negatvies' (did you mean 'negatives'?)"), std::string::npos) << e;
}

TEST(PopRec, RanksEqualTheCountsRankingComputedByHand) {
  TempDir t;
  const std::string store = t.path("s.sqlite");
  std::string text = tiny_with_models(
         "[[model]]\nname = \"PopRec\"\ntower = { plugin = \"popularity\" }\n");
  Experiment ex = parse(text);
  GridSummary s = run_experiment(ex, text, plugins(), quiet(store));
  EXPECT_EQ(s.finished, 2);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM epochs"), 0);  // nothing to train
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs WHERE best_epoch = 0"), 2);

  Dataset data = load_dataset(ex);
  Split split(data);
  const auto& counts = split.item_counts();
  std::vector<double> expected;
  for (const auto& e : split.events(true)) {
    std::set<int32_t> history(split.history(e.user), split.history(e.user) + e.position);
    const int32_t target = split.target(e);
    double higher = 0, equal = 0;
    for (int32_t i = 1; i <= data.num_items(); ++i) {
      if (i == target || history.count(i)) continue;
      higher += counts[i] > counts[target];
      equal += counts[i] == counts[target];
    }
    expected.push_back(1 + higher + equal / 2);  // the expected tie rule
  }
  auto ranks = column(store, "SELECT rank FROM user_ranks WHERE run_id = 1 AND split = 'test' ORDER BY user");
  ASSERT_EQ(ranks.size(), expected.size());
  for (size_t u = 0; u < ranks.size(); ++u) EXPECT_DOUBLE_EQ(ranks[u], expected[u]) << "user " << u;
}

TEST(PopularityGroups, GroupsPartitionTheUsersAndAverageToTheOverallMetric) {
  TempDir t;
  const std::string store = t.path("s.sqlite");
  std::string text = tiny("loss = \"softmax\"");
  text.replace(text.find("seeds = [1, 2]"), 14, "seeds = [1]\npopularity_groups = 3");
  Experiment ex = parse(text);
  run_experiment(ex, text, plugins(), quiet(store));
  Dataset data = load_dataset(ex);
  Split split(data);
  int64_t cold = 0;
  for (const auto& e : split.events(true)) cold += split.item_counts()[size_t(split.target(e))] == 0;
  ASSERT_GT(cold, 0);  // the generator's cold test targets
  EXPECT_EQ(count(store, "SELECT users FROM popularity_metrics WHERE grp = 0 AND name = 'ndcg' AND k = 10"), cold);
  EXPECT_EQ(count(store, "SELECT SUM(users) FROM popularity_metrics WHERE name = 'ndcg' AND k = 10"), 120);
  EXPECT_EQ(count(store, "SELECT COUNT(DISTINCT grp) FROM popularity_metrics"), 4);  // 0 and three quantiles
  auto weighted = column(store, "SELECT SUM(value * users) / 120.0 FROM popularity_metrics WHERE name = 'ndcg' AND k = 10");
  auto overall = column(store, "SELECT value FROM metrics WHERE split = 'test' AND name = 'ndcg' AND k = 10");
  ASSERT_EQ(weighted.size(), 1u);
  EXPECT_NEAR(weighted[0], overall[0], 1e-12);
}

TEST(PopRec, CountingValidationItemsIsADifferentModel) {
  TempDir t;
  std::string text = tiny_with_models(
         "[[model]]\nname = \"PopRec\"\ntower = { plugin = \"popularity\", counts = [\"train\", \"train+valid\"] }\n");
  run_experiment(parse(text), text, plugins(), quiet(t.path("s.sqlite")));
  auto ndcg = column(t.path("s.sqlite"),
                     "SELECT value FROM metrics WHERE split='test' AND name='ndcg' AND k=20 ORDER BY run_id");
  ASSERT_EQ(ndcg.size(), 4u);
  EXPECT_EQ(ndcg[0], ndcg[1]);  // seeds do not matter to counting
  EXPECT_NE(ndcg[0], ndcg[2]);
}

TEST(PopRec, AModelWithParametersButNoLossIsAnInputError) {
  TempDir t;
  std::string text = kTiny;
  text = text.substr(0, text.find("loss = ["));
  try {
    run_experiment(parse(text), text, plugins(), quiet(t.path("s.sqlite")));
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("model 'SASRec' has parameters to train but no loss"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(t.path("s.sqlite")));
}

TEST(Fdsa, TrainsOnPooledFeaturesAndRefusesDataWithoutAny) {
  TempDir t;
  std::string text = tiny("loss = \"softmax\"");
  const std::string sasrec = "backbone = { plugin = \"sasrec\", layers = 1 }";
  text.replace(text.find(sasrec), sasrec.size(), "backbone = { plugin = \"fdsa\", layers = 1, features = [\"text\"] }");
  GridSummary s = run_experiment(parse(text), text, plugins(), quiet(t.path("s.sqlite")));
  EXPECT_EQ(s.finished, 2);
  std::string bare = text;
  bare.replace(bare.find(", features = [\"text\"]"), 21, "");
  try {
    run_experiment(parse(bare), bare, plugins(), quiet(t.path("b.sqlite")));
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("fdsa: no item features to read"), std::string::npos) << e.what();
  }
}

// BERT4Rec learns the synthetic data's sequential structure through its Cloze task: it ranks the test targets above
// the popularity ranking. Its training targets are its own, so it refuses a tower of several branches.
TEST(Bert4rec, TrainsOnTheClozeTaskAndBeatsPopularity) {
  TempDir t;
  const std::string store = t.path("s.sqlite");
  std::string text = tiny_with_models(R"(
[[model]]
name = "PopRec"
tower = { plugin = "popularity" }

[[model]]
name = "BERT4Rec"
tower = { plugin = "id", dim = 16 }
backbone = { plugin = "bert4rec", layers = 1, heads = 1, dropout = 0.1, attn_dropout = 0.1 }
loss = "softmax"
)");
  text.replace(text.find("seeds = [1, 2]"), 14, "seeds = [1]");
  text.replace(text.find("users = 120"), 11, "users = 400");
  text.replace(text.find("epochs = 2"), 10, "epochs = 30\nlr = 0.005");
  GridSummary s = run_experiment(parse(text), text, plugins(), quiet(store));
  ASSERT_EQ(s.finished, 2);
  auto ndcg = [&](const std::string& model) {
    return column(store, "SELECT m.value FROM metrics m JOIN runs r ON r.id = m.run_id WHERE r.model_name = '" + model +
                             "' AND m.split = 'test' AND m.name = 'ndcg' AND m.k = 10");
  };
  ASSERT_EQ(ndcg("BERT4Rec").size(), 1u);
  ASSERT_EQ(ndcg("PopRec").size(), 1u);
  EXPECT_GT(ndcg("BERT4Rec")[0], 1.3 * ndcg("PopRec")[0]);

  std::string late = tiny_with_models(R"(
[[model]]
name = "LF"
tower = { plugin = "late_fusion", dim = 16 }
backbone = "bert4rec"
loss = "softmax"
)");
  std::string error = test::input_error_of([&] { run_experiment(parse(late), late, plugins(), quiet(t.path("l.sqlite"))); });
  EXPECT_NE(error.find("needs an item tower with one branch"), std::string::npos) << error;
}

TEST(Fdsa, ReadsTheS3RecAttributeFileOfLastFM) {
  if (!test::shared_data_available("s3rec/LastFM_item2attributes.json"))
    GTEST_SKIP() << "../shared/data/s3rec is absent: real-data check skipped";
  std::string text = std::string("[data]\nformat = \"s3rec\"\npath = \"") + MMSR_SHARED_DATA_DIR +
                     "/s3rec/LastFM.txt\"\nattribute_file = \"" + MMSR_SHARED_DATA_DIR +
                     "/s3rec/LastFM_item2attributes.json\"\n[[model]]\nname = \"FDSA\"\ntower = \"id\"\n"
                     "backbone = \"fdsa\"\nloss = \"softmax\"\n";
  Dataset data = load_dataset(parse(text));
  ASSERT_EQ(data.attributes.count("attributes"), 1u);
  EXPECT_EQ(data.attributes.at("attributes").vocabulary(), 388);  // the 388 tags of ../shared/data/README.md
}

}  // namespace mmsr

namespace mmsr {

using namespace test::e2e;
using test::TempDir;

// The synthetic data's generated pooled "text" and "image" features, through the towers that read them.
TEST(Multimodal, TextOnlyEarlyAndLateFusionTrainOnGeneratedFeatures) {
  TempDir t;
  const std::string store = t.path("s.sqlite");
  std::string text = tiny_with_models(R"(
[[model]]
name = "Text"
tower = { plugin = "modality", modality = "text", dim = 16 }
backbone = { plugin = "sasrec", layers = 1 }
loss = "softmax"

[[model]]
name = "EF"
tower = { plugin = "early_fusion", dim = 16 }
backbone = { plugin = "sasrec", layers = 1 }
loss = "softmax"

[[model]]
name = "LF"
tower = { plugin = "late_fusion", dim = 16 }
backbone = { plugin = "sasrec", layers = 1 }
loss = { plugin = "softmax", branches = "fused" }
)");
  GridSummary s = run_experiment(parse(text), text, plugins(), quiet(store));
  EXPECT_EQ(s.finished, 6);
  EXPECT_EQ(s.failed, 0);
  // Late fusion is three branches: each is ranked, and so is their mean.
  for (const char* branch : {"id", "text", "image", "fused"})
    EXPECT_EQ(count(store, std::string("SELECT COUNT(*) FROM metrics m JOIN runs r ON r.id = m.run_id WHERE "
                                       "r.model_name = 'LF' AND m.split = 'test' AND m.name = 'ndcg' AND m.k = 10 "
                                       "AND m.branch = '") + branch + "'"),
              2)
        << branch;
  // The leaderboard shows the branches and the popularity groups.
  ReportOptions r;
  r.stores = {store};
  std::string md = render(build_leaderboards(r), "md");
  EXPECT_NE(md.find("| model | fused | id | image | text |"), std::string::npos) << md;
  EXPECT_NE(md.find("By popularity group of the test target"), std::string::npos) << md;
}

TEST(Multimodal, OdmtAndUnisrecTrainEndToEnd) {
  TempDir t;
  const std::string store = t.path("s.sqlite");
  std::string text = tiny_with_models(R"(
[[model]]
name = "ODMT"
tower = { plugin = "imt", dim = 16, layers = 1, text = "text_tokens", image = "image_tokens" }
backbone = { plugin = "sasrec", layers = 1 }
loss = ["inbatch", { plugin = "distill", temperature = 0.5, alpha = 2 }]

[[model]]
name = "UniSRec"
tower = { plugin = "unisrec", dim = 16 }
backbone = { plugin = "sasrec", layers = 1 }
loss = "softmax"
)");
  GridSummary s = run_experiment(parse(text), text, plugins(), quiet(store));
  EXPECT_EQ(s.finished, 4);
  EXPECT_EQ(s.failed, 0);
  EXPECT_EQ(count(store, "SELECT COUNT(DISTINCT m.branch) FROM metrics m JOIN runs r ON r.id = m.run_id "
                         "WHERE r.model_name = 'ODMT'"),
            4);  // id, text, image, fused
  // The distillation's terms and its ramp-up weight are recorded per epoch.
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM epochs WHERE terms LIKE '%distill/kl_id_to_text%' AND "
                         "terms LIKE '%distill/weight%'"),
            4);
}

TEST(Multimodal, ATowerReadingAnUndeclaredModalityIsAnInputError) {
  TempDir t;
  std::string text = tiny_with_models(
         "[[model]]\nname = \"Audio\"\ntower = { plugin = \"modality\", modality = \"audio\" }\n"
         "backbone = \"sasrec\"\nloss = \"softmax\"\n");
  try {
    run_experiment(parse(text), text, plugins(), quiet(t.path("s.sqlite")));
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("modality: the experiment has no modality 'audio' (it has: image, "
                                         "image_tokens, text, text_tokens)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(t.path("s.sqlite")));
}

}  // namespace mmsr

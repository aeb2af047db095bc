// End to end: real plugins loaded from the build tree, a tiny synthetic grid, the store it writes, the
// leaderboard; and a smoke run on real data when ../shared is present.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "mmsr/config.h"
#include "mmsr/engine.h"
#include "mmsr/interrupt.h"
#include "mmsr/load.h"
#include "mmsr/errors.h"
#include "mmsr/report.h"
#include "mmsr/runner.h"
#include "mmsr/split.h"
#include "e2e/e2e_support.h"

namespace mmsr {

using test::TempDir;

using namespace test::e2e;

namespace {

// The newest checkpoints of a store's runs (<key>.pt; the previous one of each is <key>.pt.prev).
int64_t checkpoints_in(const std::string& folder) {
  int64_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(folder)) n += e.path().extension() == ".pt";
  return n;
}

// The tiny grid with one seed, two losses and this many epochs: the run the resume tests interrupt.
std::string one_run_grid(int epochs) {
  std::string text = test::e2e::tiny("loss = [\"softmax\", \"bce\"]");
  text.replace(text.find("epochs = 2"), 10, "epochs = " + std::to_string(epochs));
  text.replace(text.find("seeds = [1, 2]"), 14, "seeds = [1]");
  return text;
}

// Two stores of the same grid hold the same per-epoch losses and the same metrics, compared with ==.
void expect_same_results(const std::string& a, const std::string& b) {
  const std::string losses = "SELECT loss FROM epochs ORDER BY epoch";
  EXPECT_EQ(test::e2e::column(a, losses), test::e2e::column(b, losses));
  const std::string metrics = "SELECT value FROM metrics ORDER BY split, branch, name, k";
  auto ma = test::e2e::column(a, metrics), mb = test::e2e::column(b, metrics);
  ASSERT_FALSE(ma.empty());
  EXPECT_EQ(ma, mb);
}

}  // namespace

TEST(EndToEnd, TinyGridWritesTheStoreAndResumes) {
  TempDir t;
  const std::string store = t.path("s.sqlite");
  std::string text = tiny("loss = \"softmax\"");
  Experiment ex = parse(text);
  GridSummary s = run_experiment(ex, text, plugins(), quiet(store));
  EXPECT_EQ(s.finished, 2);
  EXPECT_EQ(s.failed, 0);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs WHERE status='finished'"), 2);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM epochs"), 4);
  // Per-user ranks for every user, validation and test, per run.
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM user_ranks"), 2 * 2 * 120);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM metrics WHERE split='test' AND name='ndcg' AND k=10"), 2);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM timings WHERE phase='train'"), 2);
  // Running the same file again finishes nothing new.
  GridSummary again = run_experiment(ex, text, plugins(), quiet(store));
  EXPECT_EQ(again.skipped, 2);
  EXPECT_EQ(again.finished, 0);
  // One leaderboard row: two seeds of one configuration.
  ReportOptions r;
  r.stores = {store};
  auto boards = build_leaderboards(r);
  ASSERT_EQ(boards.size(), 1u);
  ASSERT_EQ(boards[0].rows.size(), 1u);
  EXPECT_EQ(boards[0].rows[0].seeds.size(), 2u);
  std::string md = render(boards, "md");
  EXPECT_NE(md.find("| SASRec | 2 |"), std::string::npos) << md;
}

// "to_first_step" is the time from the run's launch to its first training step, recorded once: it was recorded
// again at every epoch's first step, and the store kept the last (in a 40-epoch study it equalled the training time).
TEST(EndToEnd, TheTimeToTheFirstStepIsRecordedOnce) {
  const std::string text = one_run_grid(3);
  const Experiment ex = parse(text);
  const Dataset data = load_dataset(ex);
  const Split split(data);
  RunCallbacks callbacks;
  callbacks.launched_at_ticks = std::chrono::steady_clock::now().time_since_epoch().count();
  const RunOutcome out = train_and_evaluate(ex, ex.runs[0], data, split, plugins(), callbacks);
  ASSERT_EQ(out.status, "finished");
  int64_t recorded = 0;
  for (const auto& t : out.timings) recorded += t.phase == "to_first_step";
  EXPECT_EQ(recorded, 1);
}

// A feature file's provenance sidecar travels with every run into the store, the JSON report and the protocol card;
// a feature file without one is recorded as of unknown provenance.
TEST(EndToEnd, FeatureProvenanceTravelsFromTheSidecarToTheReport) {
  TempDir t;
  std::string rows, map;
  for (int i = 0; i < 60; ++i) rows += std::string(16, char(i)), map += "i" + std::to_string(i + 1) + "\t" + std::to_string(i) + "\n";
  t.file("extra.npy", test::npy("<f4", {60, 4}, rows));
  t.file("extra.map", map);
  t.file("extra.npy.provenance.json",
         R"({"extractor": "scripts/encode_text.py", "encoder": "all-MiniLM-L6-v2", "content": "pooled", "shape": [60, 4],
             "dtype": "float32", "input_sha256": "ab12"})");
  std::string text = one_run_grid(1);
  text.replace(text.find("[protocol]"), 10, "[[modality]]\nname = \"extra\"\npath = \"" + t.path("extra.npy") +
                                                "\"\nid_map = \"" + t.path("extra.map") +
                                                "\"\n[protocol]\ndiversity_modality = \"extra\"");
  run_experiment(parse(text), text, plugins(), quiet(t.path("s.sqlite")));
  ReportOptions r;
  r.stores = {t.path("s.sqlite")};
  auto boards = build_leaderboards(r);
  ASSERT_EQ(boards[0].inputs_json.size(), 1u);
  const std::string json = render(boards, "json"), md = render(boards, "md");
  EXPECT_NE(json.find("\"encoder\": \"all-MiniLM-L6-v2\""), std::string::npos) << json.substr(0, 400);
  EXPECT_NE(md.find("extra: extra.npy (xxh3 "), std::string::npos) << md;
  EXPECT_NE(md.find("encoder all-MiniLM-L6-v2, content pooled, shape [60,4], dtype float32"), std::string::npos) << md;
  EXPECT_NE(md.find("| diversity@10 |"), std::string::npos) << md;  // intra-list diversity in the declared modality
  EXPECT_NE(json.find("\"beyond_accuracy\""), std::string::npos);

  std::filesystem::remove(t.path("extra.npy.provenance.json"));
  run_experiment(parse(text), text, plugins(), quiet(t.path("bare.sqlite")));
  r.stores = {t.path("bare.sqlite")};
  EXPECT_NE(render(build_leaderboards(r), "md").find("extra: extra.npy (xxh3 "), std::string::npos);
  EXPECT_NE(render(build_leaderboards(r), "md").find(", provenance unknown"), std::string::npos);
}

// A global temporal split end to end on a RecBole file with timestamps: one rank per test event (every next item),
// the split's summary in the store, and a protocol card that says where the data was cut.
TEST(EndToEnd, ATemporalSplitRanksEveryTestEventAndTheCardSaysWhereTheDataWasCut) {
  TempDir t;
  std::string rows = "user_id:token\titem_id:token\ttimestamp:float\n";
  for (int u = 0; u < 60; ++u)
    for (int k = 0; k < 8; ++k)
      rows += "u" + std::to_string(u) + "\ti" + std::to_string((u * 7 + k * 3) % 40) + "\t" +
              std::to_string(1000 + u * 13 + k * 100) + "\n";
  t.file("d.inter", rows);
  std::string text = tiny("loss = \"softmax\"");
  text.replace(text.find("seeds = [1, 2]"), 14, "seeds = [1]");
  text.replace(text.find("[data.synthetic]"), text.find("[protocol]") - text.find("[data.synthetic]"),
               "[data]\nformat = \"recbole\"\npath = \"" + t.path("d.inter") + "\"\n");
  text.replace(text.find("max_len = 10"), 12, "max_len = 10\nsplit = \"temporal\"\nvalid_share = 0.15\ntest_share = 0.2");
  const Experiment ex = parse(text);
  run_experiment(ex, text, plugins(), quiet(t.path("s.sqlite")));
  const Dataset data = load_dataset(ex);
  const Split split(data, split_options(protocol_options(ex.protocol)));
  ASSERT_GT(split.events(true).size(), size_t(data.num_users()));  // several test events per user
  EXPECT_EQ(count(t.path("s.sqlite"), "SELECT COUNT(*) FROM user_ranks WHERE split = 'test'"),
            int64_t(split.events(true).size()));
  EXPECT_EQ(count(t.path("s.sqlite"), "SELECT COUNT(*) FROM user_ranks WHERE split = 'valid'"),
            int64_t(split.events(false).size()));
  EXPECT_EQ(count(t.path("s.sqlite"), "SELECT json_extract(split, '$.test_events') FROM runs"),
            int64_t(split.events(true).size()));
  ReportOptions r;
  r.stores = {t.path("s.sqlite")};
  const std::string md = render(build_leaderboards(r), "md");
  EXPECT_NE(md.find("global temporal: training before "), std::string::npos) << md;
  EXPECT_NE(md.find("every next item of a period is ranked"), std::string::npos) << md;
  // Beyond accuracy on every full-ranking board: coverage, popularity and novelty at each K.
  EXPECT_EQ(count(t.path("s.sqlite"), "SELECT COUNT(*) FROM metrics WHERE name IN ('coverage', 'popularity', 'novelty')"),
            9);
  EXPECT_NE(md.find("| model | coverage@10 | popularity@10 | novelty@10 |"), std::string::npos) << md;
}

// Runs an experiment text into its own store and returns the first row of its first leaderboard.
static LeaderboardRow trained_row(const std::string& text, const std::string& store) {
  run_experiment(parse(text), text, plugins(), quiet(store));
  ReportOptions r;
  r.stores = {store};
  return build_leaderboards(r)[0].rows[0];
}

TEST(EndToEnd, SameSeedSameNumbersAndMetricsIndependentOfEvalBatch) {
  TempDir t;
  std::string a = tiny("loss = \"inbatch\""), b = a;
  b.replace(b.find("threads = 1"), 11, "threads = 1\neval_batch_size = 7");
  auto x = trained_row(a, t.path("a.sqlite")), x2 = trained_row(a, t.path("a2.sqlite")),
       y = trained_row(b, t.path("b.sqlite"));
  ASSERT_EQ(x.mean.size(), y.mean.size());
  for (size_t i = 0; i < x.mean.size(); ++i) {
    EXPECT_EQ(x.mean[i], x2.mean[i]) << x.metric_labels[i];  // a CPU run repeats exactly
    EXPECT_NEAR(x.mean[i], y.mean[i], 1e-12) << x.metric_labels[i];
  }
}

// Scoring the catalogue in blocks of 7 items instead of whole gives every stored rank, tie count and metric
// (the beyond-accuracy ones read the top lists) exactly, for a single-branch model and for late fusion's mean.
TEST(EndToEnd, RanksAndMetricsDoNotDependOnTheItemBlock) {
  TempDir t;
  const std::string models = R"(
[[model]]
name = "SASRec"
tower = { plugin = "id", dim = 16 }
backbone = { plugin = "sasrec", layers = 1 }
loss = "softmax"
[[model]]
name = "LF"
tower = { plugin = "late_fusion", dim = 16 }
backbone = { plugin = "sasrec", layers = 1 }
loss = "softmax"
)";
  std::string a = tiny_with_models(models), b = a;
  b.replace(b.find("threads = 1"), 11, "threads = 1\neval_item_block = 7");
  const std::string sa = t.path("a.sqlite"), sb = t.path("b.sqlite");
  run_experiment(parse(a), a, plugins(), quiet(sa));
  run_experiment(parse(b), b, plugins(), quiet(sb));
  const std::string ranks = "SELECT rank + 1000 * ties FROM user_ranks ORDER BY run_id, split, branch, user";
  const std::string metrics = "SELECT value FROM metrics ORDER BY run_id, split, branch, name, k";
  EXPECT_EQ(column(sa, ranks), column(sb, ranks));
  EXPECT_EQ(column(sa, metrics), column(sb, metrics));
  EXPECT_GT(count(sa, "SELECT COUNT(DISTINCT branch) FROM user_ranks"), 2);  // late fusion's branches and "fused"
  EXPECT_GT(count(sa, "SELECT COUNT(*) FROM metrics WHERE name = 'coverage'"), 0);
}

TEST(EndToEnd, APluginRefusingItsParametersIsAnInputErrorBeforeAnyWrite) {
  TempDir t;
  std::string text = tiny("loss = \"softmax\"");
  text.replace(text.find("layers = 1"), 10, "layers = 1, heads = 3");  // 3 does not divide 16
  try {
    run_experiment(parse(text), text, plugins(), quiet(t.path("s.sqlite")));
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("e2e.toml: model 'SASRec' cannot be built: sasrec: heads = 3 does not divide"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(t.path("s.sqlite")));
}

// Each plugin accepts its own parameters, but the loss names a branch the ID tower does not make: refused before
// any run trains (found when a study's runs each failed after their model was built).
TEST(EndToEnd, PluginsThatRefuseEachOtherAreAnInputErrorBeforeAnyWrite) {
  TempDir t;
  std::string text = tiny("loss = [\"inbatch\", { plugin = \"distill\", teacher = \"image\", students = [\"id\"] }]");
  try {
    run_experiment(parse(text), text, plugins(), quiet(t.path("s.sqlite")));
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("e2e.toml: model 'SASRec' cannot train: distill: the model has no branch 'image'"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(t.path("s.sqlite")));
}

TEST(EndToEnd, CudaRequestedWithoutAGpuIsAnInputError) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present: see GpuRunMatchesCpu";
  TempDir t;
  std::string text = tiny("loss = \"softmax\"");
  text.replace(text.find("threads = 1"), 11, "threads = 1\ndevice = \"cuda\"");
  EXPECT_THROW(run_experiment(parse(text), text, plugins(), quiet(t.path("s.sqlite"))), InputError);
  EXPECT_FALSE(std::filesystem::exists(t.path("s.sqlite")));
}

TEST(EndToEnd, GpuRunMatchesCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device here";
  TempDir t;
  std::string cpu = tiny("loss = \"softmax\""), gpu = cpu;
  cpu.replace(cpu.find("threads = 1"), 11, "threads = 1\ndevice = \"cpu\"");
  gpu.replace(gpu.find("threads = 1"), 11, "threads = 1\ndevice = \"cuda\"");
  auto c = trained_row(cpu, t.path("c.sqlite")), g = trained_row(gpu, t.path("g.sqlite"));
  // Different kernels and random streams: the same model family, not the same bits.
  for (size_t i = 0; i < c.mean.size(); ++i) EXPECT_NEAR(c.mean[i], g.mean[i], 0.1) << c.metric_labels[i];
}

// bf16 autocast is a CUDA feature: on the CPU a bf16 grid runs in fp32 and gives the fp32 numbers exactly (a run
// of its own: precision is part of the run's identity).
TEST(EndToEnd, Bf16OnTheCpuRunsInFp32) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present: bf16 would be used";
  TempDir t;
  std::string fp32 = tiny("loss = \"softmax\""), bf16 = fp32;
  bf16.replace(bf16.find("threads = 1"), 11, "threads = 1\nprecision = \"bf16\"");
  auto a = trained_row(fp32, t.path("a.sqlite")), b = trained_row(bf16, t.path("b.sqlite"));
  ASSERT_EQ(a.mean.size(), b.mean.size());
  for (size_t i = 0; i < a.mean.size(); ++i) EXPECT_EQ(a.mean[i], b.mean[i]) << a.metric_labels[i];
  EXPECT_NE(a.config_key, b.config_key);
}

TEST(EndToEnd, AnInterruptedRunIsRecordedAndTheNextInvocationFinishesIt) {
  TempDir t;
  const std::string store = t.path("s.sqlite");
  std::string text = tiny("loss = \"softmax\"");
  request_interrupt();  // as SIGINT would, before the first step
  GridSummary first = run_experiment(parse(text), text, plugins(), quiet(store));
  clear_interrupt();
  EXPECT_TRUE(first.interrupted);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs WHERE status='interrupted'"), 1);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs"), 1);  // the grid stopped there
  GridSummary second = run_experiment(parse(text), text, plugins(), quiet(store));
  EXPECT_EQ(second.finished, 2);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs WHERE status='finished'"), 2);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs"), 2);
}

TEST(EndToEnd, RowsThatWouldReadTheSameShowWhatTellsThemApart) {
  TempDir t;
  const std::string store = t.path("s.sqlite");
  std::string a = tiny("loss = \"softmax\""), b = a;
  b.replace(b.find("epochs = 2"), 10, "epochs = 1");
  run_experiment(parse(a), a, plugins(), quiet(store));
  run_experiment(parse(b), b, plugins(), quiet(store));
  ReportOptions r;
  r.stores = {store};
  auto rows = build_leaderboards(r)[0].rows;
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].grid_label, "train.epochs=2");
  EXPECT_EQ(rows[1].grid_label, "train.epochs=1");
}

TEST(EndToEnd, SampledEvaluationIsItsOwnBoard) {
  TempDir t;
  const std::string store = t.path("s.sqlite");
  std::string full = tiny("loss = \"softmax\""), sampled = full;
  sampled += "\n[protocol]\ncandidates = \"sampled\"\nnegatives = 20\nnegatives_seed = 3\n";
  full += "\n[protocol]\nmax_len = 10\n";
  sampled.replace(sampled.find("[protocol]\nmax_len = 10\n"), 24, "");
  sampled.replace(sampled.find("[protocol]\ncandidates"), 10, "[protocol]\nmax_len = 10");
  full.replace(full.find("[protocol]\nmax_len = 10\n"), 24, "");
  EXPECT_NE(parse(full).protocol_hash, parse(sampled).protocol_hash);
  run_experiment(parse(full), full, plugins(), quiet(store));
  run_experiment(parse(sampled), sampled, plugins(), quiet(store));
  ReportOptions r;
  r.stores = {store};
  auto boards = build_leaderboards(r);
  ASSERT_EQ(boards.size(), 2u);  // never one table
  // 20 negatives instead of 60 items: the same model ranks its targets higher.
  double hr_full = 0, hr_sampled = 0;
  for (const auto& b : boards) {
    double hr = b.rows[0].mean[1];  // hr@10
    (b.protocol_json.find("sampled") != std::string::npos ? hr_sampled : hr_full) = hr;
  }
  EXPECT_GT(hr_sampled, hr_full);
}

TEST(EndToEnd, LossesCompose) {
  TempDir t;
  std::string text = kTiny;
  GridSummary s = run_experiment(parse(text), text, plugins(), quiet(t.path("s.sqlite")));
  EXPECT_EQ(s.finished, 2);
  EXPECT_EQ(count(t.path("s.sqlite"), "SELECT COUNT(*) FROM epochs WHERE terms LIKE '%softmax/ce_id%' AND terms LIKE '%inbatch/ce_id%'"), 4);
}

TEST(EndToEnd, RealDataSmokeOnLastFM) {
  if (!test::shared_data_available("s3rec/LastFM.txt"))
    GTEST_SKIP() << "../shared/data/s3rec/LastFM.txt is absent: real-data smoke run skipped";
  TempDir t;
  std::string text = std::string(R"(
[experiment]
name = "lastfm-smoke"
seeds = [1]
[data]
format = "s3rec"
path = ")") + MMSR_SHARED_DATA_DIR + R"(/s3rec/LastFM.txt"
[protocol]
max_len = 50
[train]
epochs = 3
batch_size = 256
[[model]]
name = "SASRec"
tower = { plugin = "id", dim = 32 }
backbone = { plugin = "sasrec" }
loss = "softmax"
)";
  Experiment ex = parse(text);
  GridSummary s = run_experiment(ex, text, plugins(), quiet(t.path("s.sqlite")));
  ASSERT_EQ(s.finished, 1);
  // Every LastFM user is ranked, and three epochs already beat chance (HR@10 of a random ranking
  // over 3,646 items is about 0.003).
  EXPECT_EQ(count(t.path("s.sqlite"), "SELECT COUNT(*) FROM user_ranks WHERE split='test'"), 1090);
  EXPECT_EQ(count(t.path("s.sqlite"),
                  "SELECT COUNT(*) FROM metrics WHERE split='test' AND name='hr' AND k=10 AND value > 0.01"),
            1);
}

}  // namespace mmsr

namespace mmsr {

// Every experiment file shipped in examples/ parses against the real plugins (data files are not read). The plugin
// template's grid needs the template's own plugin: scripts/plugin_template_check.sh runs it.
TEST(Examples, EveryExampleFileParses) {
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(MMSR_EXAMPLES_DIR)) {
    if (entry.path().extension() != ".toml") continue;
    if (entry.path().parent_path().filename() == "plugin-template") continue;
    ++files;
    auto& r = test::e2e::plugins();
    EXPECT_NO_THROW(load_experiment(
        entry.path().string(), [&](PluginKind k, const std::string& n) { return r.find(k, n); },
        [&](PluginKind k) { return r.names(k); }))
        << entry.path();
  }
  EXPECT_GE(files, 8);
}

}  // namespace mmsr

namespace mmsr {

// A run stopped after its second epoch resumes from its checkpoint and ends exactly where an uninterrupted run
// ends: the same per-epoch losses, the same selected epoch, the same test metrics (dropout and sampled negatives
// draw from the restored random state; the data order is replayed).
TEST(EndToEnd, AnInterruptedRunResumesFromItsCheckpointWithTheSameResult) {
  TempDir t;
  const std::string text = one_run_grid(4);
  Experiment ex = test::e2e::parse(text);
  const std::string a = t.path("a.sqlite"), b = t.path("b.sqlite");
  run_experiment(ex, text, test::e2e::plugins(), test::e2e::quiet(a));

  RunOptions stop = test::e2e::quiet(b);
  stop.interrupt_after_epoch = 2;
  GridSummary first = run_experiment(ex, text, test::e2e::plugins(), stop);
  clear_interrupt();
  EXPECT_TRUE(first.interrupted);
  EXPECT_EQ(test::e2e::count(b, "SELECT COUNT(*) FROM runs WHERE status='interrupted'"), 1);
  EXPECT_EQ(test::e2e::count(b, "SELECT COUNT(*) FROM epochs"), 2);
  ASSERT_TRUE(std::filesystem::exists(b + ".checkpoints"));
  EXPECT_EQ(checkpoints_in(b + ".checkpoints"), 1);

  GridSummary second = run_experiment(ex, text, test::e2e::plugins(), test::e2e::quiet(b));
  EXPECT_EQ(second.finished, 1);
  EXPECT_EQ(test::e2e::count(b, "SELECT COUNT(*) FROM runs"), 1);  // the same record went on
  EXPECT_EQ(test::e2e::count(b, "SELECT COUNT(*) FROM epochs"), 4);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(b + ".checkpoints"), {}), 0);  // removed at the end

  expect_same_results(a, b);
  EXPECT_EQ(test::e2e::count(a, "SELECT best_epoch FROM runs"), test::e2e::count(b, "SELECT best_epoch FROM runs"));
}

namespace {

void overwrite(const std::string& file, size_t offset, const std::string& bytes) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(std::streamoff(offset));
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

struct Damage {
  std::string name;
  bool previous_too;  // damage the previous checkpoint as well: the run must start again from its first epoch
  std::function<void(const std::string&)> apply;
};

class DamagedCheckpoint : public ::testing::TestWithParam<Damage> {};
void PrintTo(const Damage& d, std::ostream* os) { *os << d.name; }

}  // namespace

// A checkpoint damaged on disk is never resumed from: the run continues from the previous checkpoint or from its
// first epoch, and ends exactly as the uninterrupted run (the issue's case: 512 zero bytes in the middle made a run
// "resume after epoch 3" and finish with slightly different metrics).
TEST_P(DamagedCheckpoint, IsSetAsideAndTheRunEndsAsIfUninterrupted) {
  const Damage& damage = GetParam();
  TempDir t;
  const std::string text = one_run_grid(5);
  Experiment ex = test::e2e::parse(text);
  const std::string a = t.path("a.sqlite"), b = t.path("b.sqlite");
  run_experiment(ex, text, test::e2e::plugins(), test::e2e::quiet(a));

  RunOptions stop = test::e2e::quiet(b);
  stop.interrupt_after_epoch = 3;
  run_experiment(ex, text, test::e2e::plugins(), stop);
  clear_interrupt();
  std::string newest;
  for (const auto& e : std::filesystem::directory_iterator(b + ".checkpoints"))
    if (e.path().extension() == ".pt") newest = e.path().string();
  ASSERT_FALSE(newest.empty());
  ASSERT_TRUE(std::filesystem::exists(newest + ".prev"));
  damage.apply(newest);
  if (damage.previous_too) damage.apply(newest + ".prev");

  GridSummary again = run_experiment(ex, text, test::e2e::plugins(), test::e2e::quiet(b));
  EXPECT_EQ(again.finished, 1);
  EXPECT_EQ(test::e2e::count(b, "SELECT COUNT(*) FROM runs WHERE status = 'finished' AND error IS NULL"), 1);
  EXPECT_EQ(test::e2e::count(b, "SELECT COUNT(*) FROM epochs"), 5);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(b + ".checkpoints"), {}), 0);  // .damaged removed too
  expect_same_results(a, b);
}

INSTANTIATE_TEST_SUITE_P(
    Damages, DamagedCheckpoint,
    ::testing::Values(
        Damage{"zeroed_512_bytes_in_the_middle", false,
               [](const std::string& f) { overwrite(f, std::filesystem::file_size(f) / 2, std::string(512, '\0')); }},
        Damage{"random_bytes", false,
               [](const std::string& f) { overwrite(f, std::filesystem::file_size(f) / 3, "\x13\x37\xca\xfe\xba\xbe"); }},
        Damage{"cut_short", false,
               [](const std::string& f) { std::filesystem::resize_file(f, std::filesystem::file_size(f) * 2 / 3); }},
        Damage{"empty", false, [](const std::string& f) { std::filesystem::resize_file(f, 0); }},
        Damage{"both_zeroed", true,
               [](const std::string& f) { overwrite(f, std::filesystem::file_size(f) / 2, std::string(512, '\0')); }},
        Damage{"both_empty", true, [](const std::string& f) { std::filesystem::resize_file(f, 0); }}),
    [](const auto& info) { return info.param.name; });

}  // namespace mmsr

// Data-parallel training of one run over two processes of this machine (c10d over Gloo): the same result as one
// process on the combined batch, records written once by rank 0, and an interrupted run that resumes exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "e2e/e2e_support.h"
#include "mmsr/engine.h"
#include "mmsr/interrupt.h"
#include "mmsr/runner.h"

namespace mmsr {

using test::TempDir;
using namespace test::e2e;

namespace {

// One model trained by one process and by two, otherwise identical: no dropout and a loss whose value is a mean
// over the batch's targets (full softmax), so the two must agree up to float rounding.
const char* kOneAndTwo = R"(
[experiment]
name = "data parallel"
seeds = [1]
[data.synthetic]
users = 300
items = 80
clusters = 6
max_length = 12
[protocol]
max_len = 10
[train]
epochs = 4
patience = 0
batch_size = 50
threads = 1
[[model]]
name = "one process"
tower = { plugin = "id", dim = 16 }
backbone = { plugin = "sasrec", layers = 1, dropout = 0.0 }
loss = "softmax"
[[model]]
name = "two processes"
tower = { plugin = "id", dim = 16 }
backbone = { plugin = "sasrec", layers = 1, dropout = 0.0 }
loss = "softmax"
train = { processes = 2 }
)";

std::vector<double> epoch_column(const std::string& store, const std::string& model, const std::string& expr) {
  return column(store, "SELECT " + expr + " FROM epochs JOIN runs ON runs.id = epochs.run_id WHERE model_name = '" +
                           model + "' ORDER BY epoch");
}

}  // namespace

TEST(DataParallel, TwoProcessesTrainLikeOneOnTheCombinedBatch) {
  if (!data_parallel_available()) GTEST_SKIP() << "this build has no Gloo (libgloo-dev)";
  TempDir t;
  const std::string file = t.file("grid.toml", kOneAndTwo), store = t.path("dp.sqlite");
  CliResult r = run_cli("run " + file + " --store " + store + " -q --no-report");
  ASSERT_EQ(r.code, 0) << r.output;
  // Rank 0 records the run once; the other process writes nothing.
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs WHERE status = 'finished'"), 2);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs WHERE device = 'cpu x2 processes'"), 1);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM epochs"), 8);
  const auto one = epoch_column(store, "one process", "loss"), two = epoch_column(store, "two processes", "loss");
  ASSERT_EQ(one.size(), 4u);
  ASSERT_EQ(two.size(), 4u);
  for (size_t e = 0; e < one.size(); ++e) EXPECT_NEAR(two[e], one[e], 1e-4 * std::abs(one[e])) << "epoch " << e + 1;
  // Training moved (the comparison is not of untrained models) ...
  EXPECT_LT(one.back(), one.front() - 0.05);
  // ... and the validation metric follows the same path (a rounding difference may swap a tied rank or two).
  const std::string ndcg = "json_extract(valid, '$.\"ndcg@10\"')";
  const auto v1 = epoch_column(store, "one process", ndcg), v2 = epoch_column(store, "two processes", ndcg);
  for (size_t e = 0; e < v1.size(); ++e) EXPECT_NEAR(v2[e], v1[e], 0.01) << "epoch " << e + 1;
  EXPECT_FALSE(std::filesystem::exists(store + ".checkpoints") &&
               std::filesystem::directory_iterator(store + ".checkpoints") != std::filesystem::directory_iterator());
}

// Dropout and sampled negatives draw from a stream per process and epoch, so a stopped run goes on exactly.
TEST(DataParallel, AnInterruptedRunResumesToTheSameResult) {
  if (!data_parallel_available()) GTEST_SKIP() << "this build has no Gloo (libgloo-dev)";
  TempDir t;
  std::string text = tiny("loss = [\"softmax\", \"bce\"]\ntrain = { processes = 2 }");
  text.replace(text.find("epochs = 2"), 10, "epochs = 4");
  text.replace(text.find("seeds = [1, 2]"), 14, "seeds = [1]");
  const std::string file = t.file("grid.toml", text);
  Experiment ex = parse(text, t.path(""));
  auto options = [&](const std::string& store) {
    RunOptions o = quiet(store);
    o.worker_command = {MMSR_BINARY, "run", file, "--store", store, "-q"};
    return o;
  };
  const std::string a = t.path("a.sqlite"), b = t.path("b.sqlite");
  GridSummary whole = run_experiment(ex, text, plugins(), options(a));
  ASSERT_EQ(whole.finished, 1);

  RunOptions stop = options(b);
  stop.interrupt_after_epoch = 2;
  GridSummary first = run_experiment(ex, text, plugins(), stop);
  clear_interrupt();
  EXPECT_TRUE(first.interrupted);
  EXPECT_EQ(count(b, "SELECT COUNT(*) FROM epochs"), 2);
  GridSummary second = run_experiment(ex, text, plugins(), options(b));
  EXPECT_EQ(second.finished, 1);

  const std::string losses = "SELECT loss FROM epochs ORDER BY epoch";
  EXPECT_EQ(column(a, losses), column(b, losses));
  const std::string metrics = "SELECT value FROM metrics ORDER BY split, branch, name, k";
  auto ma = column(a, metrics), mb = column(b, metrics);
  ASSERT_FALSE(ma.empty());
  EXPECT_EQ(ma, mb);
}

}  // namespace mmsr

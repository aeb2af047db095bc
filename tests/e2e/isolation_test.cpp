// Runs in child processes: a crash, an abort or a hang inside a plugin fails that run only; two runners on one
// store share a grid without doing any run twice; a dead runner's claim is taken over.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "e2e/e2e_support.h"
#include "mmsr/store.h"

namespace mmsr {

using test::TempDir;
using namespace test::e2e;

namespace {

using Result = CliResult;

Result mmsr_cli(const std::string& args) { return run_cli(args); }

std::string text_of(const std::string& db, const std::string& sql) {
  sqlite3* h;
  sqlite3_open(db.c_str(), &h);
  sqlite3_stmt* st;
  sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr);
  std::string out = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)
                        ? reinterpret_cast<const char*>(sqlite3_column_text(st, 0))
                        : "";
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

// A grid of a model that fails at its at_call-th forward call (epoch 1 has 4 training calls and 1 validation call)
// and a SASRec that works.
std::string with_failing_model(const std::string& how, int at_call = 3) {
  std::string t = tiny_with_models(R"(
[[model]]
name = "Failing"
tower = { plugin = "id", dim = 16 }
backbone = { plugin = "crash_test", how = ")" + how + R"(", at_call = )" + std::to_string(at_call) + R"( }
loss = "softmax"

[[model]]
name = "SASRec"
tower = { plugin = "id", dim = 16 }
backbone = { plugin = "sasrec", layers = 1 }
loss = "softmax"
)");
  t.replace(t.find("seeds = [1, 2]"), 14, "seeds = [1]");
  return t;
}

}  // namespace

TEST(Isolation, ASegfaultInAPluginFailsItsRunAndTheGridGoesOn) {
  TempDir t;
  const std::string file = t.file("grid.toml", with_failing_model("segfault")), store = t.path("s.sqlite");
  Result r = mmsr_cli(std::string("--plugin ") + MMSR_CRASH_PLUGIN + " run " + file + " --store " + store + " -q --no-report");
  EXPECT_EQ(r.code, 1) << r.output;  // some runs failed
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs WHERE model_name='SASRec' AND status='finished'"), 1) << r.output;
  const std::string error = text_of(store, "SELECT error FROM runs WHERE model_name='Failing'");
  EXPECT_EQ(text_of(store, "SELECT status FROM runs WHERE model_name='Failing'"), "failed");
  EXPECT_NE(error.find("killed by signal 11 (Segmentation fault)"), std::string::npos) << error;
  EXPECT_NE(r.output.find("2 runs: 1 finished now, 0 already finished, 1 failed"), std::string::npos) << r.output;
  // Nothing of the failed run reaches a report.
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM metrics m JOIN runs r ON r.id = m.run_id WHERE r.model_name='Failing'"), 0);
}

TEST(Isolation, AnAbortIsRecordedWithTheRunsLastLines) {
  TempDir t;
  const std::string file = t.file("grid.toml", with_failing_model("abort", 8)), store = t.path("s.sqlite");
  Result r = mmsr_cli(std::string("--plugin ") + MMSR_CRASH_PLUGIN + " run " + file + " --store " + store + " -v --no-report");
  EXPECT_EQ(r.code, 1) << r.output;
  const std::string error = text_of(store, "SELECT error FROM runs WHERE model_name='Failing'");
  EXPECT_NE(error.find("signal 6 (Aborted)"), std::string::npos) << error;
  EXPECT_NE(error.find("last lines:"), std::string::npos) << error;
  EXPECT_NE(error.find("Failing seed 1 epoch 1"), std::string::npos) << error;  // its verbose epoch line
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs WHERE model_name='SASRec' AND status='finished'"), 1);
  // Rerunning retries the failed run only, from its last checkpoint (after epoch 1); this plugin fails at the 8th
  // call of a process, which the rest of the run never reaches: a transient crash costs one epoch.
  Result again = mmsr_cli(std::string("--plugin ") + MMSR_CRASH_PLUGIN + " run " + file + " --store " + store + " -q --no-report");
  EXPECT_NE(again.output.find("Failing seed 1: resuming after epoch 1 from its checkpoint"), std::string::npos) << again.output;
  EXPECT_NE(again.output.find("2 runs: 1 finished now, 1 already finished, 0 failed"), std::string::npos) << again.output;
}

// runs.error holds the error's first line; LibTorch's backtrace goes to the run's output only.
TEST(Isolation, ALibTorchErrorIsStoredWithoutItsBacktrace) {
  TempDir t;
  const std::string file = t.file("grid.toml", with_failing_model("torch_error")), store = t.path("s.sqlite");
  Result r = mmsr_cli(std::string("--plugin ") + MMSR_CRASH_PLUGIN + " run " + file + " --store " + store + " -q --no-report");
  EXPECT_EQ(r.code, 1) << r.output;
  const std::string error = text_of(store, "SELECT error FROM runs WHERE model_name='Failing'");
  EXPECT_NE(error.find("the crash_test backbone's tensor check failed on purpose"), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  EXPECT_EQ(error.find("frame #"), std::string::npos) << error;
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs WHERE model_name='SASRec' AND status='finished'"), 1);
}

TEST(Isolation, ARunPastItsTimeLimitIsStopped) {
  TempDir t;
  const std::string file = t.file("grid.toml", with_failing_model("hang")), store = t.path("s.sqlite");
  // The limit leaves the grid's healthy run (well under a second alone) room on a loaded machine.
  Result r = mmsr_cli(std::string("--plugin ") + MMSR_CRASH_PLUGIN + " run " + file + " --store " + store +
                      " -q --no-report --run-timeout 8");
  EXPECT_EQ(r.code, 1) << r.output;
  const std::string error = text_of(store, "SELECT error FROM runs WHERE model_name='Failing'");
  EXPECT_NE(error.find("stopped at the time limit of 8.0s"), std::string::npos) << error;
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs WHERE model_name='SASRec' AND status='finished'"), 1);
  EXPECT_EQ(mmsr_cli("run " + file + " --store " + store + " --no-isolation --run-timeout 2").code, 2);
}

// The issue's race: the run's result was committed, then the time limit stopped its process. The store decides once:
// the run is finished, counted as finished, and the message says so (it said "failed ... nothing was recorded").
TEST(Isolation, ATimeLimitAfterTheResultWasRecordedLeavesItFinished) {
  TempDir t;
  std::string text = tiny("loss = \"softmax\"");
  text.replace(text.find("seeds = [1, 2]"), 14, "seeds = [1]");
  const std::string file = t.file("grid.toml", text), store = t.path("s.sqlite");
  Result r = mmsr_cli("run " + file + " --store " + store + " -q --no-report --run-timeout 10 --linger-after-run 60");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("finished just before the time limit"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 runs: 1 finished now, 0 already finished, 0 failed"), std::string::npos) << r.output;
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs WHERE status='finished' AND error IS NULL"), 1);
  EXPECT_GT(count(store, "SELECT COUNT(*) FROM metrics"), 0);
}

// --jobs 2: two runs at a time, each in its own process; a crash still fails its run only, every run is recorded
// once, and the counts add up. The runs linger 3 s after recording their result, so two runs in turn would start at
// least 3 s apart; side by side they start together.
TEST(Isolation, JobsTrainRunsSideBySideEachOnce) {
  TempDir t;
  std::string text = with_failing_model("segfault");
  text.replace(text.find("seeds = [1]"), 11, "seeds = [1, 2]");
  const std::string file = t.file("grid.toml", text), store = t.path("s.sqlite");
  Result r = mmsr_cli(std::string("--plugin ") + MMSR_CRASH_PLUGIN + " run " + file + " --store " + store +
                      " -q --no-report --jobs 2 --linger-after-run 3");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("4 runs: 2 finished now, 0 already finished, 2 failed"), std::string::npos) << r.output;
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs"), 4);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs WHERE model_name='SASRec' AND status='finished'"), 2);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs WHERE model_name='Failing' AND error LIKE '%signal 11%'"), 2);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs a JOIN runs b ON a.model_name = 'SASRec' AND b.model_name = "
                         "'SASRec' AND a.seed = 1 AND b.seed = 2 WHERE ABS(julianday(a.started_at) - "
                         "julianday(b.started_at)) * 86400 < 2"),
            1) << r.output;
  Result refused = mmsr_cli(std::string("--plugin ") + MMSR_CRASH_PLUGIN + " run " + file + " --store " + store +
                            " --jobs 2 --no-isolation");
  EXPECT_EQ(refused.code, 2);
  EXPECT_NE(refused.output.find("--jobs needs isolation"), std::string::npos) << refused.output;
}

// One row in `experiments` per `mmsr run` invocation, whatever the number of runs (each run's own process used to
// add one).
TEST(Isolation, OneExperimentRowPerInvocation) {
  TempDir t;
  const std::string file = t.file("grid.toml", tiny("loss = \"softmax\"")), store = t.path("s.sqlite");
  ASSERT_EQ(mmsr_cli("run " + file + " --store " + store + " -q --no-report").code, 0);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs"), 2);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM experiments"), 1);
  EXPECT_EQ(count(store, "SELECT COUNT(DISTINCT experiment_id) FROM runs"), 1);
  ASSERT_EQ(mmsr_cli("run " + file + " --store " + store + " -q --no-report").code, 0);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM experiments"), 2);
}

TEST(Isolation, TwoRunnersOnOneStoreNeverDoARunTwice) {
  TempDir t;
  std::string text = tiny("loss = \"softmax\"");
  text.replace(text.find("seeds = [1, 2]"), 14, "seeds = [1, 2, 3, 4, 5, 6, 7, 8]");
  const std::string file = t.file("grid.toml", text), store = t.path("s.sqlite");
  const std::string cmd = std::string(MMSR_BINARY) + " run " + file + " --store " + store + " -q --no-report";
  // Both start together; each reports how many runs it finished itself.
  FILE* a = popen((cmd + " 2>&1").c_str(), "r");
  FILE* b = popen((cmd + " 2>&1").c_str(), "r");
  auto drain = [](FILE* f) {
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
    pclose(f);
    return out;
  };
  std::string out_a = drain(a), out_b = drain(b);
  auto finished_now = [](const std::string& out) {
    auto at = out.find("8 runs: ");
    return at == std::string::npos ? -1 : std::stoi(out.substr(at + 8));
  };
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs WHERE status='finished'"), 8) << out_a << out_b;
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs"), 8);
  EXPECT_EQ(finished_now(out_a) + finished_now(out_b), 8) << out_a << "\n---\n" << out_b;
}

TEST(Isolation, ADeadRunnersClaimIsTakenOverALiveOnesIsNot) {
  TempDir t;
  const std::string path = t.path("s.sqlite");
  Store store(path);
  const int64_t exp = store.add_experiment("x", "x.toml", "", "");
  store.put_dataset("d", "d", "synthetic", "{}");
  RunRecord r;
  r.run_key = "k1";
  r.experiment_id = exp;
  r.model_name = "M";
  r.config_json = "{}";
  r.protocol_json = "{}";
  r.dataset_checksum = "d";
  r.plugins_json = "{}";
  r.device = "cpu";
  ASSERT_TRUE(store.claim_run({r}, 300).claimed);
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  auto set_holder = [&](const std::string& holder, const std::string& heartbeat) {
    sqlite3_exec(store.handle(), ("UPDATE runs SET claimed_by='" + holder + "', heartbeat=" + heartbeat).c_str(),
                 nullptr, nullptr, nullptr);
  };
  set_holder(std::string(host) + ":1", "0");  // pid 1 exists: a live runner of this machine
  auto c = store.claim_run({r}, 300);
  EXPECT_FALSE(c.claimed);
  EXPECT_EQ(c.holder, std::string(host) + ":1");
  set_holder(std::string(host) + ":999999999", "0");  // no such process: its runner is gone
  EXPECT_TRUE(store.claim_run({r}, 300).claimed);
  set_holder("elsewhere:42", "strftime('%s','now')");  // another machine, recent heartbeat
  EXPECT_FALSE(store.claim_run({r}, 300).claimed);
  set_holder("elsewhere:42", "strftime('%s','now') - 1000");  // silent for longer than stale_seconds
  EXPECT_TRUE(store.claim_run({r}, 300).claimed);
  EXPECT_EQ(count(path, "SELECT COUNT(*) FROM runs"), 1);
  // Another runner finished it between this runner's look and its claim: the claim says so and takes nothing.
  sqlite3_exec(store.handle(), "UPDATE runs SET status='finished', claimed_by='elsewhere:42'", nullptr, nullptr, nullptr);
  auto done = store.claim_run({r}, 300);
  EXPECT_FALSE(done.claimed);
  EXPECT_TRUE(done.already_finished);
  EXPECT_EQ(count(path, "SELECT COUNT(*) FROM runs WHERE status='finished'"), 1);
}

}  // namespace mmsr

namespace mmsr {

// A disk that refuses writes (here a file-size limit: the checkpoint cannot be written) stops the grid with one
// clear line and exit code 2; the finished run is untouched, the refused one is recorded as failed with the reason.
TEST(Isolation, AFullDiskStopsTheGridWithAClearError) {
  TempDir t;
  std::string text = tiny("loss = \"softmax\"");
  const std::string file = t.file("grid.toml", text), store = t.path("s.sqlite");
  ASSERT_EQ(mmsr_cli("run " + file + " --store " + store + " -q --no-report --seeds 1").code, 0);
  const std::string metrics_before = text_of(store, "SELECT group_concat(value) FROM metrics");
  // Seed 2 under a 100 kB file-size limit: its checkpoint (about 115 kB) cannot be written.
  Result full = run_cli("run " + file + " --store " + store + " -q --no-report", "prlimit --fsize=100000 ");
  EXPECT_EQ(full.code, 2) << full.output;
  EXPECT_NE(full.output.find("is the disk full?"), std::string::npos) << full.output;
  EXPECT_EQ(text_of(store, "SELECT status FROM runs WHERE seed = 1"), "finished");
  EXPECT_EQ(text_of(store, "SELECT status FROM runs WHERE seed = 2"), "failed");
  EXPECT_NE(text_of(store, "SELECT error FROM runs WHERE seed = 2").find("cannot write the run's checkpoint"),
            std::string::npos);
  EXPECT_EQ(text_of(store, "SELECT group_concat(value) FROM metrics m JOIN runs r ON r.id = m.run_id WHERE r.seed = 1"),
            metrics_before);
}

}  // namespace mmsr

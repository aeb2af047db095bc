// Grids split across machines: --shard i/n runs a deterministic share of the runs, and mmsr merge combines the
// stores, keeping each run once and reporting conflicts.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdio>
#include <string>

#include "e2e/e2e_support.h"
#include "mmsr/merge.h"
#include "mmsr/report.h"
#include "mmsr/runner.h"

namespace mmsr {

using test::TempDir;
using namespace test::e2e;

namespace {

int cli_code(const std::string& args, std::string* output = nullptr) {
  CliResult r = run_cli(args);
  if (output) *output = r.output;
  return r.code;
}

}  // namespace

TEST(Scale, ShardsCoverTheGridOnceAndMergeIntoTheUnshardedResult) {
  TempDir t;
  std::string text = tiny("loss = \"softmax\"");
  text.replace(text.find("seeds = [1, 2]"), 14, "seeds = [1, 2, 3, 4, 5, 6, 7, 8]");
  Experiment ex = parse(text);
  run_experiment(ex, text, plugins(), quiet(t.path("all.sqlite")));
  int total = 0;
  for (int i = 1; i <= 3; ++i) {
    RunOptions o = quiet(t.path("shard" + std::to_string(i) + ".sqlite"));
    o.shard_index = i;
    o.shard_count = 3;
    GridSummary s = run_experiment(ex, text, plugins(), o);
    EXPECT_EQ(s.total, s.finished);
    total += s.finished;
  }
  EXPECT_EQ(total, 8);  // every run in exactly one share
  MergeSummary m = merge_stores(t.path("merged.sqlite"), {t.path("shard1.sqlite"), t.path("shard2.sqlite"),
                                                          t.path("shard3.sqlite")});
  EXPECT_EQ(m.copied, 8);
  EXPECT_TRUE(m.conflicts.empty());
  ReportOptions a, b;
  a.stores = {t.path("all.sqlite")};
  b.stores = {t.path("merged.sqlite")};
  EXPECT_EQ(render(build_leaderboards(a), "csv"), render(build_leaderboards(b), "csv"));
  EXPECT_EQ(count(t.path("merged.sqlite"), "SELECT COUNT(*) FROM user_ranks"),
            count(t.path("all.sqlite"), "SELECT COUNT(*) FROM user_ranks"));
  EXPECT_EQ(count(t.path("merged.sqlite"), "SELECT COUNT(*) FROM epochs"),
            count(t.path("all.sqlite"), "SELECT COUNT(*) FROM epochs"));
  // Merging again adds nothing; the same runs computed elsewhere agree.
  MergeSummary again = merge_stores(t.path("merged.sqlite"), {t.path("all.sqlite")});
  EXPECT_EQ(again.copied, 0);
  EXPECT_EQ(again.already, 8);
  EXPECT_TRUE(again.conflicts.empty());
}

TEST(Scale, AConflictIsReportedAndTheTargetKept) {
  TempDir t;
  std::string text = tiny("loss = \"softmax\"");
  const std::string file = t.file("grid.toml", text);
  ASSERT_EQ(cli_code("run " + file + " --store " + t.path("a.sqlite") + " -q --no-report"), 0);
  ASSERT_EQ(cli_code("run " + file + " --store " + t.path("b.sqlite") + " -q --no-report"), 0);
  sqlite3* db;
  sqlite3_open(t.path("b.sqlite").c_str(), &db);
  sqlite3_exec(db, "UPDATE metrics SET value = value + 0.01 WHERE run_id = 1 AND name = 'ndcg' AND k = 10 AND split = 'test'",
               nullptr, nullptr, nullptr);
  sqlite3_close(db);
  std::string out;
  EXPECT_EQ(cli_code("merge --into " + t.path("a.sqlite") + " " + t.path("b.sqlite"), &out), 1) << out;
  EXPECT_NE(out.find("1 conflicts"), std::string::npos) << out;
  EXPECT_NE(out.find("test/fused/ndcg@10"), std::string::npos) << out;
  EXPECT_EQ(cli_code("merge --into " + t.path("a.sqlite") + " " + t.path("a.sqlite"), &out), 2) << out;
  EXPECT_EQ(cli_code("merge --into " + t.path("c.sqlite") + " " + file, &out), 2) << out;
  EXPECT_EQ(cli_code("run " + file + " --store " + t.path("a.sqlite") + " --shard 0/2", &out), 2) << out;
}

}  // namespace mmsr

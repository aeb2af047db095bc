// mmsr status: what a store's runners are doing, read from the store alone.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "e2e/e2e_support.h"

namespace mmsr {

using namespace test::e2e;
using test::TempDir;

TEST(Status, SaysWhatFinishedAndWhatIsRunningWithoutWritingTheStore) {
  TempDir t;
  const std::string store = t.path("s.sqlite");
  const std::string file = t.file("grid.toml", tiny("loss = \"softmax\""));
  ASSERT_EQ(run_cli("run " + file + " --store " + store + " -q --no-report").code, 0);
  CliResult r = run_cli("status --store " + store);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("2 runs recorded: 2 finished"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("finished: 2 runs"), std::string::npos) << r.output;

  // A run whose runner died mid-training (elsewhere, its heartbeat long stale): where it stood, and that a rerun
  // resumes it. The store is only read.
  sqlite3* db;
  ASSERT_EQ(sqlite3_open(store.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "UPDATE runs SET status = 'running', claimed_by = 'elsewhere:1', heartbeat = 0 WHERE seed = 2",
               nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto bytes = [&] {
    std::ifstream in(store, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string before = bytes();
  r = run_cli("status --store " + store);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("1 finished, 1 running"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("SASRec seed 2 (elsewhere:1, its runner is gone: a rerun resumes it): epoch 2, validation "
                          "ndcg@10"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("at most 0s of training left"), std::string::npos) << r.output;  // its 2 epochs are done
  EXPECT_EQ(bytes(), before);

  r = run_cli("status --store " + t.path("absent.sqlite"));
  EXPECT_EQ(r.code, 2) << r.output;
}

}  // namespace mmsr

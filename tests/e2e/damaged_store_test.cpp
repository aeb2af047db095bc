// Stores under damage: commands that only read a store never write to it; a store with a damaged page is refused
// by `mmsr run` with the command that salvages it, and `mmsr merge` salvages every run it can still read.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "e2e/e2e_support.h"

namespace mmsr {

using test::TempDir;
using namespace test::e2e;

namespace {

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A store with the tiny grid's two finished runs; returns the experiment file.
std::string finished_grid(TempDir& t, const std::string& store) {
  const std::string file = t.file("grid.toml", tiny("loss = \"softmax\""));
  CliResult r = run_cli("run " + file + " --store " + store + " -q --no-report");
  EXPECT_EQ(r.code, 0) << r.output;
  return file;
}

int64_t page_size(const std::string& store) { return count(store, "PRAGMA page_size"); }

}  // namespace

TEST(DamagedStore, ReportOnAnEmptyFileSaysSoAndLeavesItEmpty) {
  TempDir t;
  const std::string empty = t.file("empty.sqlite", "");
  CliResult r = run_cli("report --store " + empty);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("is empty, not an mmsr results store"), std::string::npos) << r.output;
  EXPECT_EQ(std::filesystem::file_size(empty), 0u);
  EXPECT_FALSE(std::filesystem::exists(empty + "-wal"));
}

// A finished run is copied from the write-ahead log into the store file: the .sqlite alone (a user copying it
// without its -wal) holds every finished run.
TEST(DamagedStore, FinishedRunsLiveInTheStoreFileNotOnlyInItsLog) {
  TempDir t;
  const std::string store = t.path("s.sqlite");
  finished_grid(t, store);
  const std::string copy = t.path("copy.sqlite");
  std::filesystem::copy_file(store, copy);  // without its -wal and -shm
  EXPECT_EQ(count(copy, "SELECT COUNT(*) FROM runs WHERE status='finished'"), 2);
  CliResult r = run_cli("report --store " + copy);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("SASRec"), std::string::npos) << r.output;
}

TEST(DamagedStore, ReportAndMergeSourcesAreOnlyRead) {
  TempDir t;
  const std::string store = t.path("s.sqlite");
  finished_grid(t, store);
  const std::string before = bytes_of(store);
  ASSERT_EQ(run_cli("report --store " + store + " -o " + t.path("r.md")).code, 0);
  ASSERT_EQ(run_cli("merge --into " + t.path("m.sqlite") + " " + store).code, 0);
  EXPECT_EQ(bytes_of(store), before);
  EXPECT_EQ(count(t.path("m.sqlite"), "SELECT COUNT(*) FROM runs WHERE status='finished'"), 2);
}

// The case: a store with a corrupt page. `run` refuses it before writing (it used to write into it), `report`
// says it is damaged (it said "internal error"), and `merge` copies what is still readable into a new store.
TEST(DamagedStore, ACorruptPageIsRefusedByRunAndSalvagedByMerge) {
  TempDir t;
  const std::string store = t.path("s.sqlite");
  const std::string file = finished_grid(t, store);
  const int64_t page = page_size(store), pages = int64_t(std::filesystem::file_size(store)) / page;
  ASSERT_GT(pages, 4);
  {
    // The last page: rows of the last tables written (ranks, timings), not the schema.
    std::fstream f(store, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(std::streamoff((pages - 1) * page + 8));
    const std::string junk(size_t(page - 16), '\xA5');
    f.write(junk.data(), std::streamsize(junk.size()));
  }
  const std::string before = bytes_of(store);
  CliResult run = run_cli("run " + file + " --store " + store + " -q --no-report");
  EXPECT_EQ(run.code, 2) << run.output;
  EXPECT_NE(run.output.find("the results store is damaged"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("mmsr merge --into"), std::string::npos) << run.output;
  EXPECT_EQ(bytes_of(store), before);

  CliResult report = run_cli("report --store " + store);
  EXPECT_TRUE(report.code == 0 || report.code == 2) << report.output;
  EXPECT_EQ(report.output.find("internal error"), std::string::npos) << report.output;

  const std::string repaired = t.path("repaired.sqlite");
  CliResult merge = run_cli("merge --into " + repaired + " " + store);
  EXPECT_TRUE(merge.code == 0 || merge.code == 2) << merge.output;
  EXPECT_EQ(merge.output.find("internal error"), std::string::npos) << merge.output;
  if (merge.code == 0) {
    EXPECT_EQ(run_cli("run " + file + " --store " + repaired + " -q --no-report").code, 0);
    EXPECT_EQ(count(repaired, "SELECT COUNT(*) FROM runs WHERE status='finished'"), 2);
  } else {
    EXPECT_FALSE(std::filesystem::exists(repaired)) << "a failed merge left its new target behind";
  }
  EXPECT_EQ(bytes_of(store), before);
}

}  // namespace mmsr

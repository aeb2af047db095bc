#include <gtest/gtest.h>
#include <sqlite3.h>

#include "mmsr/errors.h"
#include "mmsr/store.h"
#include "test_support.h"

namespace mmsr {

using test::TempDir;

namespace {
RunRecord record(const std::string& key) {
  RunRecord r;
  r.run_key = key;
  r.model_name = "m";
  r.config_key = "c";
  r.config_json = "{}";
  r.protocol_hash = "p";
  r.protocol_json = "{}";
  r.dataset_checksum = "d";
  r.plugins_json = "{}";
  r.fingerprint = "f";
  r.device = "cpu";
  return r;
}
}  // namespace

TEST(Store, AFinishedRunIsCompleteAndAnUnfinishedOneIsRestarted) {
  TempDir t;
  Store s(t.path("s.sqlite"));
  int64_t e = s.add_experiment("x", "x.toml", "", "");
  s.put_dataset("d", "data", "src", "{}");
  RunRecord r = record("k1");
  r.experiment_id = e;
  int64_t id = s.begin_run(r);
  s.add_epoch(id, 1, 0.5, "{}", "{}", 1.0);
  EXPECT_EQ(*s.run_status("k1"), "running");
  EXPECT_TRUE(s.finished_runs().empty());  // an unfinished run is never reported
  // Starting it again continues the same record (its epochs stay until the runner truncates them: a resume from
  // the checkpoint keeps the epochs it holds, a fresh start drops them all).
  int64_t id2 = s.begin_run(r);
  EXPECT_EQ(id, id2);
  auto epochs = [&] {
    sqlite3_stmt* st;
    sqlite3_prepare_v2(s.handle(), "SELECT COUNT(*) FROM epochs", -1, &st, nullptr);
    sqlite3_step(st);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
  };
  EXPECT_EQ(epochs(), 1);
  s.truncate_epochs(id2, 0);
  EXPECT_EQ(epochs(), 0);
  s.finish_run(id2, 1, {{"test", "fused", "hr", 10, 0.25}}, {{"test", "fused", 0, 3.0, 0}}, {{"train", 1.0, 10.0}});
  auto runs = s.finished_runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].id, id2);
  EXPECT_EQ(s.run_metrics(id2).size(), 1u);
  EXPECT_FALSE(s.run_status("nope").has_value());
}

// A store begun now records the defaults its grids resolve with; one holding runs without that record was made
// before the speed options became defaults and keeps the original ones (however often it is opened again).
TEST(Store, AStoreMadeBeforeTheFastDefaultsKeepsTheOriginalOnes) {
  TempDir t;
  const std::string fresh = t.path("fresh.sqlite"), old = t.path("old.sqlite");
  EXPECT_FALSE(store_keeps_original_train_defaults(fresh));  // not there yet
  {
    Store s(fresh);
    s.put_dataset("d", "data", "src", "{}");
    RunRecord r = record("k1");
    r.experiment_id = s.add_experiment("x", "x.toml", "", "");
    s.begin_run(r);
  }
  EXPECT_FALSE(store_keeps_original_train_defaults(fresh));
  {
    Store s(old);
    s.put_dataset("d", "data", "src", "{}");
    RunRecord r = record("k1");
    r.experiment_id = s.add_experiment("x", "x.toml", "", "");
    s.begin_run(r);
    sqlite3_exec(s.handle(), "DELETE FROM meta WHERE key = 'train_defaults'", nullptr, nullptr, nullptr);
  }
  EXPECT_TRUE(store_keeps_original_train_defaults(old));
  { Store reopened(old); }
  EXPECT_TRUE(store_keeps_original_train_defaults(old));
  EXPECT_TRUE(Store(old, StoreAccess::ReadOnly).keeps_original_train_defaults());
}

TEST(Store, RefusesForeignAndNewerFiles) {
  TempDir t;
  auto foreign = t.path("other.sqlite");
  {
    sqlite3* db;
    sqlite3_open(foreign.c_str(), &db);
    sqlite3_exec(db, "CREATE TABLE x(a)", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  EXPECT_THROW(Store{foreign}, InputError);
  auto text = t.file("text.sqlite", "this is not a database, just some text that is long enough to matter\n");
  EXPECT_THROW(Store{text}, InputError);
  auto newer = t.path("newer.sqlite");
  { Store s(newer); }
  {
    sqlite3* db;
    sqlite3_open(newer.c_str(), &db);
    sqlite3_exec(db, "UPDATE meta SET value='99' WHERE key='schema_version'", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  try {
    Store s(newer);
    FAIL() << "a newer store must be refused";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("store schema 99"), std::string::npos);
  }
}

}  // namespace mmsr

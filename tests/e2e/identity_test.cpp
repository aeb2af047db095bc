// Run identities across mmsr versions: a store whose runs were keyed with the SDK's layout version in the build
// fingerprint (schema 3 and before) is re-keyed when opened, so that the same grid skips its finished runs instead
// of training them again; a merge of such a store copies its runs under their current identity.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <string>

#include "e2e/e2e_support.h"
#include "mmsr/identity.h"
#include "mmsr/merge.h"
#include "mmsr/registry.h"
#include "mmsr/runner.h"
#include "mmsr/store.h"
#include "mmsr/text.h"

namespace mmsr {

using namespace test::e2e;
using test::TempDir;

namespace {

void sql(const std::string& store, const std::string& statement) {
  sqlite3* db;
  sqlite3_open(store.c_str(), &db);
  char* err = nullptr;
  ASSERT_EQ(sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_close(db);
}

// Rewrites a store as an mmsr of schema 3 left it: fingerprints with an SDK segment, and run keys that hash the
// whole fingerprint (main records) or the main record's key (the [[also_evaluate]] records).
void make_it_old(const std::string& store) {
  const std::string old_fp = std::string("sdk=3;") + identity_fingerprint(host_fingerprint());
  sql(store, "UPDATE runs SET fingerprint = '" + old_fp + "'");
  sqlite3* db;
  sqlite3_open(store.c_str(), &db);
  sqlite3_stmt* st;
  sqlite3_prepare_v2(db, "SELECT id, config, seed, protocol_hash, dataset_checksum, plugins, config_key FROM runs "
                         "ORDER BY id", -1, &st, nullptr);
  struct Row { std::string id, config, protocol_hash, checksum, plugins, config_key; uint64_t seed; };
  std::vector<Row> rows;
  auto text = [&](int c) { return std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, c))); };
  while (sqlite3_step(st) == SQLITE_ROW)
    rows.push_back({text(0), text(1), text(3), text(4), text(5), text(6), uint64_t(sqlite3_column_int64(st, 2))});
  sqlite3_finalize(st);
  sqlite3_close(db);
  // The grid's main protocol is the first record of each (configuration, seed); its variant follows it.
  std::map<std::string, std::string> main_key;
  for (const auto& r : rows) {
    const std::string group = r.config_key + "/" + std::to_string(r.seed);
    std::string key;
    if (!main_key.count(group)) {
      key = Hasher().add(r.config).add_u64(r.seed).add(r.protocol_hash).add(r.checksum).add(r.plugins).add(old_fp).hex();
      main_key[group] = key;
    } else {
      key = Hasher().add(main_key[group]).add(r.protocol_hash).hex();
    }
    sql(store, "UPDATE runs SET run_key = '" + key + "' WHERE id = " + r.id);
  }
  sql(store, "UPDATE meta SET value = '3' WHERE key = 'schema_version'");
}

}  // namespace

TEST(Identity, TheSdkVersionIsNotPartOfARunsIdentity) {
  const std::string a = "sdk=3;torch=2.9.1;cuda=none;compiler=GNU-12.2.0", b = "sdk=4;torch=2.9.1;cuda=none;compiler=GNU-12.2.0";
  EXPECT_EQ(identity_fingerprint(a), "torch=2.9.1;cuda=none;compiler=GNU-12.2.0");
  EXPECT_EQ(run_identity("{}", 1, "p", "d", "{}", a), run_identity("{}", 1, "p", "d", "{}", b));
  EXPECT_NE(run_identity("{}", 1, "p", "d", "{}", a),
            run_identity("{}", 1, "p", "d", "{}", "sdk=4;torch=2.10.0;cuda=none;compiler=GNU-12.2.0"));
  EXPECT_NE(run_identity("{}", 1, "p", "d", "{}", a), run_identity("{}", 2, "p", "d", "{}", a));
}

TEST(Identity, AStoreKeyedWithTheSdkVersionIsReKeyedAndItsRunsAreNotRedone) {
  TempDir t;
  const std::string text = tiny("loss = \"softmax\"") + kSampledToo;
  Experiment ex = parse(text);
  const std::string store = t.path("s.sqlite"), merged = t.path("merged.sqlite");
  GridSummary first = run_experiment(ex, text, plugins(), quiet(store));
  ASSERT_EQ(first.finished, 2);
  const auto keys = [](const std::string& s) {
    std::vector<std::string> out;
    sqlite3* db;
    sqlite3_open(s.c_str(), &db);
    sqlite3_stmt* st;
    sqlite3_prepare_v2(db, "SELECT run_key FROM runs ORDER BY id", -1, &st, nullptr);
    while (sqlite3_step(st) == SQLITE_ROW) out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  };
  const auto current = keys(store);
  ASSERT_EQ(current.size(), 4u);  // 2 seeds x (main protocol + the sampled one)
  make_it_old(store);
  const auto old = keys(store);
  for (size_t i = 0; i < old.size(); ++i) EXPECT_NE(old[i], current[i]);

  // A merge reads the old store as it is and copies its runs under their current identity.
  MergeSummary m = merge_stores(merged, {store});
  EXPECT_EQ(m.copied, 4);
  EXPECT_EQ(keys(merged), current);
  EXPECT_EQ(keys(store), old);  // the source was only read

  // Opening it for a run re-keys it: every run is found finished, none is trained again.
  GridSummary again = run_experiment(ex, text, plugins(), quiet(store));
  EXPECT_EQ(again.finished, 0);
  EXPECT_EQ(again.skipped, 2);
  EXPECT_EQ(keys(store), current);
  EXPECT_EQ(count(store, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'schema_version'"), kStoreSchemaVersion);
  GridSummary merged_again = run_experiment(ex, text, plugins(), quiet(merged));
  EXPECT_EQ(merged_again.skipped, 2);
}

// A store made before the speed options became defaults (its runs trained without them, and no record of the
// defaults it was made with) is resumed by `mmsr run` with the same grid file: nothing is trained again, and the
// run says why. The same file into a new store trains with the options, as new runs.
TEST(Identity, AStoreMadeBeforeTheFastDefaultsResumesItsRunsAsTheyWere) {
  TempDir t;
  const std::string grid = t.path("tiny.toml"), old_store = t.path("old.sqlite"), new_store = t.path("new.sqlite");
  std::string text = tiny("loss = \"softmax\"");
  text.replace(text.find("seeds = [1, 2]"), 14, "seeds = [1]");
  std::ofstream(grid) << text;
  GridSummary first = run_experiment(parse(text, "/tmp", TrainDefaults::original), text, plugins(), quiet(old_store));
  ASSERT_EQ(first.finished, 1);
  sql(old_store, "DELETE FROM meta WHERE key = 'train_defaults'");
  const CliResult again = run_cli("run " + grid + " --store " + old_store + " --no-report");
  EXPECT_EQ(again.code, 0) << again.output;
  EXPECT_NE(again.output.find("was made before fast_dropout and length_buckets were on by default"), std::string::npos)
      << again.output;
  EXPECT_EQ(count(old_store, "SELECT COUNT(*) FROM runs"), 1) << again.output;
  EXPECT_EQ(count(old_store, "SELECT COUNT(*) FROM runs WHERE config LIKE '%fast_dropout%'"), 0);

  const CliResult fresh = run_cli("run " + grid + " --store " + new_store + " --no-report -q");
  EXPECT_EQ(fresh.code, 0) << fresh.output;
  EXPECT_EQ(count(new_store, "SELECT COUNT(*) FROM runs WHERE config LIKE '%\"fast_dropout\":true%' AND "
                             "config LIKE '%\"length_buckets\":true%'"), 1);
}

}  // namespace mmsr

#include "mmsr/store.h"

#include <sqlite3.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <stdexcept>
#include <utility>

#include "mmsr/errors.h"
#include "mmsr/identity.h"
#include "mmsr/input_files.h"
#include "mmsr/text.h"

namespace mmsr {
namespace {

// A store whose pages fail SQLite's checks: named, with the command that copies out every run still readable.
std::string damaged_store_message(const std::string& file, const std::string& what) {
  return file + ": the results store is damaged (" + what + "); copy what it still holds into a new store with "
         "`mmsr merge --into repaired.sqlite " + file + "` and use that";
}

// A write the disk refuses (full, read-only, failing) is the user's to fix, not a bug: it becomes an InputError
// with the store's path and what to do, so the command exits with 2.
[[noreturn]] void throw_sqlite(sqlite3* db, int rc, const std::string& what) {
  const int primary = rc & 0xff;
  std::string file = sqlite3_db_filename(db, "main") ? sqlite3_db_filename(db, "main") : "the results store";
  if (primary == SQLITE_FULL)
    throw InputError(file + ": the disk is full (" + what + "); free some space and rerun: finished runs are kept");
  if (primary == SQLITE_READONLY || primary == SQLITE_CANTOPEN || primary == SQLITE_PERM)
    throw InputError(file + ": cannot write the results store (" + what +
                     "); check the file and its folder are writable, or pass another --store");
  if (primary == SQLITE_IOERR)
    throw InputError(file + ": the disk failed while writing the results store (" + what + ")");
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) throw InputError(damaged_store_message(file, what));
  throw std::runtime_error("SQLite: " + what);
}

// A prepared statement that finalizes itself; bind() takes values in order.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("SQLite: ") + sqlite3_errmsg(db) + " in: " + sql);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement& bind(int i, int64_t v) { return check(sqlite3_bind_int64(stmt_, i, v)); }
  Statement& bind(int i, double v) { return check(sqlite3_bind_double(stmt_, i, v)); }
  Statement& bind(int i, const std::string& v) {
    return check(sqlite3_bind_text(stmt_, i, v.c_str(), int(v.size()), SQLITE_TRANSIENT));
  }
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw_sqlite(db_, rc, sqlite3_errmsg(db_));
  }
  void run() {
    step();
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  int64_t integer(int col) { return sqlite3_column_int64(stmt_, col); }
  double real(int col) { return sqlite3_column_double(stmt_, col); }
  std::string text(int col) {
    const unsigned char* t = sqlite3_column_text(stmt_, col);
    return t ? reinterpret_cast<const char*>(t) : "";
  }

 private:
  Statement& check(int rc) {
    if (rc != SQLITE_OK) throw std::runtime_error(std::string("SQLite bind: ") + sqlite3_errmsg(db_));
    return *this;
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) { exec("BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    exec("COMMIT");
    done_ = true;
  }

 private:
  void exec(const char* sql) {
    char* err = nullptr;
    if (int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err); rc != SQLITE_OK) {
      std::string m = err ? err : "?";
      sqlite3_free(err);
      throw_sqlite(db_, rc, m);
    }
  }
  sqlite3* db_;
  bool done_ = false;
};

const char* kSchema = R"SQL(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS experiments (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, file TEXT NOT NULL, description TEXT,
  config_text TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS datasets (
  checksum TEXT PRIMARY KEY, name TEXT NOT NULL, source TEXT NOT NULL, stats TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT, run_key TEXT NOT NULL UNIQUE,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  model_name TEXT NOT NULL, grid_label TEXT NOT NULL, config_key TEXT NOT NULL, config TEXT NOT NULL,
  protocol_hash TEXT NOT NULL, protocol TEXT NOT NULL,
  dataset_checksum TEXT NOT NULL REFERENCES datasets(checksum),
  seed INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running','finished','failed','diverged','interrupted')),
  error TEXT, plugins TEXT NOT NULL, fingerprint TEXT NOT NULL, device TEXT NOT NULL,
  best_epoch INTEGER, started_at TEXT NOT NULL, finished_at TEXT, claimed_by TEXT, heartbeat REAL, inputs TEXT, split TEXT);
CREATE INDEX IF NOT EXISTS runs_by_group ON runs(dataset_checksum, protocol_hash, config_key);
CREATE TABLE IF NOT EXISTS epochs (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, epoch INTEGER NOT NULL,
  loss REAL, terms TEXT NOT NULL, valid TEXT NOT NULL, seconds REAL NOT NULL,
  PRIMARY KEY (run_id, epoch));
CREATE TABLE IF NOT EXISTS metrics (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, split TEXT NOT NULL,
  branch TEXT NOT NULL, name TEXT NOT NULL, k INTEGER NOT NULL, value REAL NOT NULL,
  PRIMARY KEY (run_id, split, branch, name, k));
CREATE TABLE IF NOT EXISTS user_ranks (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, split TEXT NOT NULL,
  branch TEXT NOT NULL, user INTEGER NOT NULL, rank REAL NOT NULL, ties INTEGER NOT NULL,
  PRIMARY KEY (run_id, split, branch, user)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS popularity_metrics (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, split TEXT NOT NULL, branch TEXT NOT NULL,
  grp INTEGER NOT NULL, name TEXT NOT NULL, k INTEGER NOT NULL, value REAL NOT NULL, users INTEGER NOT NULL,
  PRIMARY KEY (run_id, split, branch, grp, name, k));
CREATE TABLE IF NOT EXISTS timings (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, phase TEXT NOT NULL,
  seconds REAL NOT NULL, peak_rss_mb REAL, PRIMARY KEY (run_id, phase));
)SQL";

}  // namespace

Store::Store(const std::string& path, StoreAccess access) : path_(path), access_(access) {
  const bool read_only = access == StoreAccess::ReadOnly;
  if (read_only) {
    require_readable_file(path, "results store");
  } else {
    require_writable_path(path, "results store");
    if (on_read_only_file_system(path))
      throw InputError(path + ": is on a read-only file system; write the results to a path on a writable one "
                              "(mmsr report reads a store where it is)");
  }
  const int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  const std::string name = read_only ? sqlite_read_only_uri(path) : path;
  if (sqlite3_open_v2(name.c_str(), &db_, flags | SQLITE_OPEN_URI, nullptr) != SQLITE_OK) {
    std::string m = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw InputError(path + ": cannot open the results store: " + m);
  }
  sqlite3_busy_timeout(db_, 30000);
  try {
    if (read_only) open_read_only();
    else migrate();
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

void Store::check_integrity() {
  std::vector<std::string> problems;
  try {
    Statement q(db_, "PRAGMA quick_check(3)");
    while (q.step())
      if (q.text(0) != "ok") problems.push_back(q.text(0));
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    problems.push_back(e.what());
  }
  if (!problems.empty()) throw InputError(damaged_store_message(path_, "SQLite's check: " + problems[0]));
}

void Store::checkpoint_log() {
  // PASSIVE: copies what no reader still needs and never waits; finished runs then live in the store file itself,
  // not only in its -wal (which a user copying the .sqlite alone would lose).
  sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
}

// Identifies the store without writing to it. A store of an older schema is copied into memory and migrated there,
// so that reports read old stores as they are.
void Store::open_read_only() {
  const int version = stored_schema_version(/*empty_is_new=*/false);
  if (version == kStoreSchemaVersion) return;
  sqlite3* memory = nullptr;
  if (sqlite3_open(":memory:", &memory) != SQLITE_OK) throw std::runtime_error("SQLite: cannot open a memory database");
  sqlite3_backup* backup = sqlite3_backup_init(memory, "main", db_, "main");
  const int rc = backup ? sqlite3_backup_step(backup, -1) : sqlite3_errcode(memory);
  sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE) {
    sqlite3_close(memory);
    throw_sqlite(db_, rc, "reading the store to upgrade it in memory");
  }
  sqlite3_close(db_);
  db_ = memory;
  const StoreAccess access = access_;
  access_ = StoreAccess::ReadWrite;  // the copy in memory is this process's own
  migrate();
  access_ = access;
}

Store::~Store() {
  if (db_) sqlite3_close(db_);
}

void Store::exec(const std::string& sql) {
  char* err = nullptr;
  if (int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err); rc != SQLITE_OK) {
    std::string m = err ? err : "?";
    sqlite3_free(err);
    throw_sqlite(db_, rc, m);
  }
}

int Store::stored_schema_version(bool empty_is_new) {
  // Refuse a file that is some other SQLite database (or not a database) before changing anything.
  int64_t tables = 0;
  bool has_meta = false;
  try {
    Statement q(db_, "SELECT name FROM sqlite_master WHERE type='table'");
    while (q.step()) {
      ++tables;
      if (q.text(0) == "meta") has_meta = true;
    }
  } catch (const InputError&) {
    throw;  // damaged: the message says how to salvage it
  } catch (const std::exception&) {
    throw InputError(path_ + ": not an mmsr results store (not a SQLite database); " + another_store_hint());
  }
  if (tables == 0 && !empty_is_new)
    throw InputError(path_ + ": is empty, not an mmsr results store (was its -wal file lost?); " + another_store_hint());
  if (tables > 0 && !has_meta)
    throw InputError(path_ + ": a SQLite database that is not an mmsr results store; " + another_store_hint());
  int version = kStoreSchemaVersion;  // a new store
  if (has_meta) {
    Statement q(db_, "SELECT value FROM meta WHERE key='schema_version'");
    version = q.step() ? std::atoi(q.text(0).c_str()) : 0;
    if (version > kStoreSchemaVersion)
      throw InputError(path_ + ": written by a newer mmsr (store schema " + std::to_string(version) +
                       ", this build reads up to " + std::to_string(kStoreSchemaVersion) +
                       "); upgrade mmsr or use another store");
  }
  return version;
}

bool Store::keeps_original_train_defaults() {
  if (Statement q(db_, "SELECT value FROM meta WHERE key='train_defaults'"); q.step()) return false;
  Statement runs(db_, "SELECT COUNT(*) FROM runs");
  return runs.step() && runs.integer(0) > 0;
}

bool store_keeps_original_train_defaults(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  try {
    return Store(path, StoreAccess::ReadOnly).keeps_original_train_defaults();
  } catch (const InputError&) {
    return false;
  }
}

std::string Store::another_store_hint() const {
  return access_ == StoreAccess::ReadOnly ? "name an mmsr results store" : "pass another path";
}

bool Store::runs_has_column(const std::string& name) {
  Statement cols(db_, "PRAGMA table_info(runs)");
  while (cols.step())
    if (cols.text(1) == name) return true;
  return false;
}

void Store::migrate() {
  const int version = stored_schema_version(/*empty_is_new=*/true);
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA foreign_keys=ON");
  exec("PRAGMA synchronous=NORMAL");
  Transaction tx(db_);
  exec(kSchema);
  exec("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '" +
       std::to_string(kStoreSchemaVersion) + "'), ('created_by', 'mmsr')");
  // A store begun now records that its grids resolve with the current [train] defaults; one that already holds runs
  // without that record was made before them and keeps the original ones.
  if (Statement q(db_, "SELECT COUNT(*) FROM runs"); q.step() && q.integer(0) == 0)
    exec("INSERT OR IGNORE INTO meta(key, value) VALUES ('train_defaults', 'fast')");
  // Forward migrations are additive: new tables are created above, new columns added here.
  if (!runs_has_column("claimed_by")) {
    exec("ALTER TABLE runs ADD COLUMN claimed_by TEXT");
    exec("ALTER TABLE runs ADD COLUMN heartbeat REAL");
  }
  if (!runs_has_column("inputs")) exec("ALTER TABLE runs ADD COLUMN inputs TEXT");
  if (!runs_has_column("split")) exec("ALTER TABLE runs ADD COLUMN split TEXT");
  // Schema 4: run identities without the SDK's layout version (mmsr/identity.h).
  const auto renamed = version < 4 ? rekey_runs() : std::vector<std::pair<std::string, std::string>>{};
  exec("UPDATE meta SET value = '" + std::to_string(kStoreSchemaVersion) +
       "' WHERE key = 'schema_version' AND CAST(value AS INTEGER) < " + std::to_string(kStoreSchemaVersion));
  tx.commit();
  // An unfinished run's checkpoint follows its new identity (after the commit: a failed rename only costs the run
  // its resume point, never the store its records).
  for (const auto& [from, to] : renamed) {
    const std::string old_file = checkpoint_file(path_, from), new_file = checkpoint_file(path_, to);
    std::error_code ec;
    if (std::filesystem::exists(old_file, ec) && !std::filesystem::exists(new_file, ec))
      std::filesystem::rename(old_file, new_file, ec);
  }
}

std::string checkpoint_file(const std::string& store_path, const std::string& run_key) {
  return (std::filesystem::path(store_path + ".checkpoints") / (run_key + ".pt")).string();
}

std::string sqlite_read_only_uri(const std::string& path) {
  std::string uri = "file:";
  for (char c : std::filesystem::absolute(path).string()) {
    if (c == '%' || c == '?' || c == '#') {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", static_cast<unsigned char>(c));
      uri += hex;
    } else {
      uri += c;
    }
  }
  std::error_code ec;
  const bool immutable = on_read_only_file_system(path) && !std::filesystem::exists(path + "-shm", ec);
  return uri + (immutable ? "?mode=ro&immutable=1" : "?mode=ro");
}

std::vector<std::string> checkpoint_files(const std::string& path) {
  return {path, path + ".prev", path + ".tmp", path + ".damaged", path + ".prev.damaged"};
}

std::vector<std::pair<std::string, std::string>> Store::rekey_runs() {
  std::vector<StoredRun> runs;
  {
    // Finished runs first: when two stored runs now share an identity (the same run computed before and after an
    // SDK bump), the finished one takes it and the other keeps its old key, out of the way.
    Statement q(db_,
                "SELECT id, run_key, status, config, config_key, protocol_hash, dataset_checksum, plugins, fingerprint, "
                "seed FROM runs ORDER BY status = 'finished' DESC, id");
    while (q.step())
      runs.push_back({q.text(0), q.text(1), q.text(2), q.text(3), q.text(4), q.text(5), q.text(6), q.text(7),
                      q.text(8), uint64_t(q.integer(9))});
  }
  const auto now = current_identities(runs);
  std::set<std::string> taken;
  for (const auto& r : runs) taken.insert(r.run_key);
  std::vector<std::pair<std::string, std::string>> renamed;
  Statement update(db_, "UPDATE runs SET run_key = ? WHERE id = ?");
  for (const auto& r : runs) {
    auto it = now.find(r.id);
    if (it == now.end() || taken.count(it->second)) continue;
    update.bind(1, it->second).bind(2, int64_t(std::stoll(r.id))).run();
    taken.insert(it->second);
    if (r.status != "finished") renamed.emplace_back(r.run_key, it->second);
  }
  return renamed;
}

int64_t Store::add_experiment(const std::string& name, const std::string& file,
                              const std::string& description, const std::string& config_text) {
  Statement s(db_,
              "INSERT INTO experiments(name, file, description, config_text, created_at) "
              "VALUES (?, ?, ?, ?, ?)");
  s.bind(1, name).bind(2, file).bind(3, description).bind(4, config_text).bind(5, utc_now_iso());
  s.run();
  return sqlite3_last_insert_rowid(db_);
}

void Store::put_dataset(const std::string& checksum, const std::string& name,
                        const std::string& source, const std::string& stats_json) {
  Statement s(db_, "INSERT OR IGNORE INTO datasets(checksum, name, source, stats) VALUES (?, ?, ?, ?)");
  s.bind(1, checksum).bind(2, name).bind(3, source).bind(4, stats_json);
  s.run();
}

std::optional<std::string> Store::run_status(const std::string& run_key) {
  Statement s(db_, "SELECT status FROM runs WHERE run_key = ?");
  s.bind(1, run_key);
  if (s.step()) return s.text(0);
  return std::nullopt;
}

namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string this_host() {
  char name[256] = {0};
  gethostname(name, sizeof(name) - 1);
  return name;
}

// Whether the runner that holds a claim may still be working on it: a process of this machine is asked
// directly; a runner elsewhere is alive while its heartbeat is recent.
bool holder_alive(const std::string& holder, double heartbeat, double stale_seconds) {
  if (holder.empty()) return false;
  auto colon = holder.rfind(':');
  if (colon != std::string::npos && holder.substr(0, colon) == this_host()) {
    pid_t pid = pid_t(std::atoll(holder.c_str() + colon + 1));
    if (pid == getpid()) return false;  // an earlier attempt of this very process, abandoned
    if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM)) return false;
    // A killed process whose parent died too may linger as a zombie until it is reaped: it is gone.
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    auto close = text.rfind(')');
    return close == std::string::npos || close + 2 >= text.size() || text[close + 2] != 'Z';
  }
  return unix_now() - heartbeat < stale_seconds;
}

// The status of a run and, when it is running under a live claim, who holds it ("" otherwise); nullopt when the
// store has no record of it.
std::optional<std::pair<std::string, std::string>> run_holder(sqlite3* db, const std::string& run_key,
                                                              double stale_seconds) {
  Statement q(db, "SELECT status, COALESCE(claimed_by, ''), COALESCE(heartbeat, 0) FROM runs WHERE run_key = ?");
  q.bind(1, run_key);
  if (!q.step()) return std::nullopt;
  std::string status = q.text(0);
  std::string holder = status == "running" && holder_alive(q.text(1), q.real(2), stale_seconds) ? q.text(1) : "";
  return std::make_pair(status, holder);
}

}  // namespace

std::string Store::claimant_id() { return this_host() + ":" + std::to_string(getpid()); }

Store::Claim Store::claim_run(const std::vector<RunRecord>& records, double stale_seconds) {
  Claim claim;
  const std::string me = claimant_id();
  Transaction tx(db_);
  std::vector<bool> finished(records.size(), false);
  for (size_t i = 0; i < records.size(); ++i) {
    auto held = run_holder(db_, records[i].run_key, stale_seconds);
    if (!held) continue;
    finished[i] = held->first == "finished";
    if (!held->second.empty()) {
      claim.holder = held->second;
      return claim;  // another runner is on it; the transaction rolls back having changed nothing
    }
  }
  // Decided inside the transaction: a run another runner finished since this one last looked is not run again.
  if (std::all_of(finished.begin(), finished.end(), [](bool f) { return f; })) {
    claim.already_finished = true;
    return claim;
  }
  claim.ids.assign(records.size(), 0);
  for (size_t i = 0; i < records.size(); ++i) {
    if (finished[i]) continue;
    const RunRecord& r = records[i];
    {
      // An unfinished earlier attempt keeps its id and its epochs: the run may resume from its checkpoint.
      Statement again(db_,
                      "UPDATE runs SET status='running', error=NULL, finished_at=NULL, experiment_id=?, claimed_by=?, "
                      "heartbeat=?, inputs=?, split=? WHERE run_key=? AND status <> 'finished' RETURNING id");
      again.bind(1, r.experiment_id).bind(2, me).bind(3, unix_now()).bind(4, r.inputs_json).bind(5, r.split_json);
      again.bind(6, r.run_key);
      if (again.step()) {
        claim.ids[i] = again.integer(0);
        continue;
      }
    }
    Statement s(db_,
                "INSERT INTO runs(run_key, experiment_id, model_name, grid_label, config_key, config, "
                "protocol_hash, protocol, dataset_checksum, seed, status, plugins, fingerprint, device, "
                "started_at, claimed_by, heartbeat, inputs, split) VALUES (?,?,?,?,?,?,?,?,?,?,'running',?,?,?,?,?,?,?,?)");
    s.bind(1, r.run_key).bind(2, r.experiment_id).bind(3, r.model_name).bind(4, r.grid_label);
    s.bind(5, r.config_key).bind(6, r.config_json).bind(7, r.protocol_hash).bind(8, r.protocol_json);
    s.bind(9, r.dataset_checksum).bind(10, int64_t(r.seed)).bind(11, r.plugins_json);
    s.bind(12, r.fingerprint).bind(13, r.device).bind(14, utc_now_iso()).bind(15, me).bind(16, unix_now());
    s.bind(17, r.inputs_json).bind(18, r.split_json);
    s.run();
    claim.ids[i] = sqlite3_last_insert_rowid(db_);
  }
  tx.commit();
  claim.claimed = true;
  return claim;
}

std::string Store::live_holder(const std::string& run_key, double stale_seconds) {
  auto held = run_holder(db_, run_key, stale_seconds);
  return held ? held->second : "";
}

void Store::heartbeat(const std::vector<int64_t>& ids) {
  Statement s(db_, "UPDATE runs SET heartbeat = ? WHERE id = ? AND status = 'running'");
  for (int64_t id : ids)
    if (id) {
      s.bind(1, unix_now()).bind(2, id);
      s.run();
    }
}

int64_t Store::fail_unfinished(const std::string& run_key, const std::string& status, const std::string& error) {
  Statement s(db_, "UPDATE runs SET status=?, error=?, finished_at=? WHERE run_key=? AND status IN ('running', 'interrupted')");
  s.bind(1, status).bind(2, error).bind(3, utc_now_iso()).bind(4, run_key);
  s.run();
  return sqlite3_changes(db_);
}

void Store::truncate_epochs(int64_t run_id, int64_t after_epoch) {
  Statement s(db_, "DELETE FROM epochs WHERE run_id = ? AND epoch > ?");
  s.bind(1, run_id).bind(2, after_epoch);
  s.run();
}

int64_t Store::begin_run(const RunRecord& r) {
  Claim c = claim_run({r}, 0.0);
  if (c.already_finished) throw std::runtime_error("run " + r.run_key + " is already finished");
  if (!c.claimed) throw std::runtime_error("run " + r.run_key + " is being run by " + c.holder);
  return c.ids[0];
}

void Store::add_epoch(int64_t run_id, int64_t epoch, double loss, const std::string& terms_json,
                      const std::string& valid_json, double seconds) {
  Statement s(db_,
              "INSERT OR REPLACE INTO epochs(run_id, epoch, loss, terms, valid, seconds) "
              "VALUES (?,?,?,?,?,?)");
  s.bind(1, run_id).bind(2, epoch).bind(3, loss).bind(4, terms_json).bind(5, valid_json);
  s.bind(6, seconds);
  s.run();
}

void Store::finish_run(int64_t run_id, int64_t best_epoch, const std::vector<MetricRecord>& metrics,
                       const std::vector<RankRecord>& ranks, const std::vector<TimingRecord>& timings) {
  finish_runs({RunResult{run_id, best_epoch, metrics, ranks, timings}});
}

void Store::finish_runs(const std::vector<RunResult>& results) {
  Transaction tx(db_);
  Statement metric(db_, "INSERT INTO metrics(run_id, split, branch, name, k, value) VALUES (?,?,?,?,?,?)");
  Statement rank(db_, "INSERT INTO user_ranks(run_id, split, branch, user, rank, ties) VALUES (?,?,?,?,?,?)");
  Statement timing(db_, "INSERT OR REPLACE INTO timings(run_id, phase, seconds, peak_rss_mb) VALUES (?,?,?,?)");
  Statement group(db_,
                  "INSERT INTO popularity_metrics(run_id, split, branch, grp, name, k, value, users) "
                  "VALUES (?,?,?,?,?,?,?,?)");
  Statement status(db_, "UPDATE runs SET status='finished', best_epoch=?, finished_at=? WHERE id=?");
  for (const RunResult& r : results) {
    for (const auto& m : r.metrics) {
      metric.bind(1, r.run_id).bind(2, m.split).bind(3, m.branch).bind(4, m.name).bind(5, m.k);
      metric.bind(6, m.value);
      metric.run();
    }
    for (const auto& k : r.ranks) {
      rank.bind(1, r.run_id).bind(2, k.split).bind(3, k.branch).bind(4, k.user).bind(5, k.rank);
      rank.bind(6, k.ties);
      rank.run();
    }
    for (const auto& t : r.timings) {
      timing.bind(1, r.run_id).bind(2, t.phase).bind(3, t.seconds).bind(4, t.peak_rss_mb);
      timing.run();
    }
    for (const auto& g : r.group_metrics) {
      group.bind(1, r.run_id).bind(2, g.split).bind(3, g.branch).bind(4, g.group).bind(5, g.name).bind(6, g.k);
      group.bind(7, g.value).bind(8, g.users);
      group.run();
    }
    status.bind(1, r.best_epoch).bind(2, utc_now_iso()).bind(3, r.run_id);
    status.run();
  }
  tx.commit();
}

void Store::fail_run(int64_t run_id, const std::string& status, const std::string& error) {
  Statement s(db_, "UPDATE runs SET status=?, error=?, finished_at=? WHERE id=?");
  s.bind(1, status).bind(2, error).bind(3, utc_now_iso()).bind(4, run_id);
  s.run();
}

std::vector<FinishedRun> Store::finished_runs() {
  const std::string sql =
              "SELECT r.id, r.run_key, e.name, r.model_name, r.grid_label, r.config_key, r.config, "
              "r.protocol_hash, r.protocol, r.dataset_checksum, d.name, r.seed, r.best_epoch, "
              "COALESCE((SELECT seconds FROM timings t WHERE t.run_id=r.id AND t.phase='train'), 0), "
              "d.source, d.stats, " +
                  std::string(runs_has_column("inputs") ? "COALESCE(r.inputs, ''), " : "'', ") +
                  std::string(runs_has_column("split") ? "COALESCE(r.split, '') " : "'' ") +
                  "FROM runs r JOIN experiments e ON e.id = r.experiment_id "
              "JOIN datasets d ON d.checksum = r.dataset_checksum "
              "WHERE r.status='finished' ORDER BY r.id";
  Statement s(db_, sql.c_str());
  std::vector<FinishedRun> out;
  while (s.step()) {
    FinishedRun r;
    r.id = s.integer(0);
    r.run_key = s.text(1);
    r.experiment = s.text(2);
    r.model_name = s.text(3);
    r.grid_label = s.text(4);
    r.config_key = s.text(5);
    r.config_json = s.text(6);
    r.protocol_hash = s.text(7);
    r.protocol_json = s.text(8);
    r.dataset_checksum = s.text(9);
    r.dataset_name = s.text(10);
    r.seed = uint64_t(s.integer(11));
    r.best_epoch = s.integer(12);
    r.train_seconds = s.real(13);
    r.dataset_source = s.text(14);
    r.dataset_stats_json = s.text(15);
    r.inputs_json = s.text(16);
    r.split_json = s.text(17);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<MetricRecord> Store::run_metrics(int64_t run_id) {
  Statement s(db_, "SELECT split, branch, name, k, value FROM metrics WHERE run_id=? ORDER BY split, branch, name, k");
  s.bind(1, run_id);
  std::vector<MetricRecord> out;
  while (s.step()) out.push_back({s.text(0), s.text(1), s.text(2), s.integer(3), s.real(4)});
  return out;
}

std::vector<GroupMetricRecord> Store::run_group_metrics(int64_t run_id) {
  Statement s(db_,
              "SELECT split, branch, grp, name, k, value, users FROM popularity_metrics WHERE run_id=? "
              "ORDER BY split, branch, grp, name, k");
  s.bind(1, run_id);
  std::vector<GroupMetricRecord> out;
  while (s.step())
    out.push_back({s.text(0), s.text(1), s.integer(2), s.text(3), s.integer(4), s.real(5), s.integer(6)});
  return out;
}

std::vector<EpochRecord> Store::run_epochs(int64_t run_id) {
  Statement s(db_, "SELECT epoch, loss, terms, valid, seconds FROM epochs WHERE run_id=? ORDER BY epoch");
  s.bind(1, run_id);
  std::vector<EpochRecord> out;
  while (s.step()) out.push_back({s.integer(0), s.real(1), s.text(2), s.text(3), s.real(4)});
  return out;
}

std::vector<RankRecord> Store::run_ranks(int64_t run_id, const std::string& split, const std::string& branch) {
  Statement s(db_, "SELECT user, rank, ties FROM user_ranks WHERE run_id=? AND split=? AND branch=? ORDER BY user");
  s.bind(1, run_id).bind(2, split).bind(3, branch);
  std::vector<RankRecord> out;
  while (s.step()) out.push_back({split, branch, s.integer(0), s.real(1), s.integer(2)});
  return out;
}

std::vector<TimingRecord> Store::run_timings(int64_t run_id) {
  Statement s(db_, "SELECT phase, seconds, peak_rss_mb FROM timings WHERE run_id=? ORDER BY phase");
  s.bind(1, run_id);
  std::vector<TimingRecord> out;
  while (s.step()) out.push_back({s.text(0), s.real(1), s.real(2)});
  return out;
}

}  // namespace mmsr

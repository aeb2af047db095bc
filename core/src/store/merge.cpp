#include "mmsr/merge.h"

#include <sqlite3.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "mmsr/errors.h"
#include "mmsr/identity.h"
#include "mmsr/store.h"

namespace mmsr {
namespace {

// An SQLite error with its code, so that a run on a damaged page can be told from a bug.
struct SqliteError : std::runtime_error {
  SqliteError(int code, const std::string& what) : std::runtime_error(what), code(code) {}
  int code;
  bool damage() const {
    const int primary = code & 0xff;
    return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB || primary == SQLITE_IOERR;
  }
};

void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err); rc != SQLITE_OK) {
    std::string m = err ? err : "?";
    sqlite3_free(err);
    throw SqliteError(rc, "SQLite: " + m + " in: " + sql);
  }
}

// Rows of one query as text, for comparisons and copies by value. A step that fails (a damaged page) throws: a
// query that stopped early must never pass for a complete one.
std::vector<std::vector<std::string>> rows(sqlite3* db, const std::string& sql, const std::vector<std::string>& args) {
  sqlite3_stmt* st = nullptr;
  if (int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr); rc != SQLITE_OK)
    throw SqliteError(rc, std::string("SQLite: ") + sqlite3_errmsg(db) + " in: " + sql);
  for (size_t i = 0; i < args.size(); ++i) sqlite3_bind_text(st, int(i + 1), args[i].c_str(), -1, SQLITE_TRANSIENT);
  std::vector<std::vector<std::string>> out;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    std::vector<std::string> r;
    for (int c = 0; c < sqlite3_column_count(st); ++c) {
      const unsigned char* v = sqlite3_column_text(st, c);
      r.push_back(v ? reinterpret_cast<const char*>(v) : "");
    }
    out.push_back(std::move(r));
  }
  std::string message = sqlite3_errmsg(db);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) throw SqliteError(rc, "SQLite: " + message + " in: " + sql);
  return out;
}

bool has_table(sqlite3* db, const std::string& schema, const std::string& table) {
  return !rows(db, "SELECT 1 FROM " + schema + ".sqlite_master WHERE type='table' AND name=?", {table}).empty();
}

bool has_column(sqlite3* db, const std::string& schema, const std::string& table, const std::string& column) {
  return !rows(db, "SELECT 1 FROM pragma_table_info(?, ?) WHERE name=?", {table, schema, column}).empty();
}

// A run's final metrics, keyed for comparison.
std::map<std::string, double> metrics_of(sqlite3* db, const std::string& schema, const std::string& run_id) {
  std::map<std::string, double> out;
  for (const auto& r : rows(db, "SELECT split, branch, name, k, value FROM " + schema + ".metrics WHERE run_id=?", {run_id}))
    out[r[0] + "/" + r[1] + "/" + r[2] + "@" + r[3]] = std::stod(r[4]);
  return out;
}

// A source is only read: it must be an mmsr store this build understands, checked without changing it.
void check_source(const std::string& path) { Store(path, StoreAccess::ReadOnly); }

}  // namespace

namespace {

// Copies one source (attached as `src`) into the target in one transaction. A run whose rows sit on a damaged page
// of the source is rolled back to its savepoint and counted as unreadable; the others are copied.
class SourceCopy {
 public:
  SourceCopy(sqlite3* db, const std::string& source, MergeSummary& summary)
      : db_(db), source_(source), summary_(summary), groups_(has_table(db, "src", "popularity_metrics")),
        source_inputs_(has_column(db, "src", "runs", "inputs") ? "inputs" : "NULL"),
        source_split_(has_column(db, "src", "runs", "split") ? "split" : "NULL") {}

  void run() {
    exec(db_, "INSERT OR IGNORE INTO main.datasets SELECT checksum, name, source, stats FROM src.datasets");
    // Runs of a store written before schema 4 are compared and copied under their current identity.
    std::vector<StoredRun> stored;
    for (const auto& r : rows(db_, "SELECT id, run_key, status, config, config_key, protocol_hash, dataset_checksum, "
                                   "plugins, fingerprint, seed FROM src.runs", {}))
      stored.push_back({r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], uint64_t(std::stoull(r[9]))});
    const auto current = current_identities(stored);
    for (const auto& run : rows(db_, "SELECT id, run_key, status, model_name, experiment_id FROM src.runs ORDER BY id", {})) {
      const auto renamed = current.find(run[0]);
      const std::string key = renamed == current.end() ? run[1] : renamed->second;
      if (run[2] != "finished") {
        ++summary_.unfinished;
        continue;
      }
      exec(db_, "SAVEPOINT one_run");
      try {
        copy_run(run, key);
        exec(db_, "RELEASE one_run");
      } catch (const SqliteError& e) {
        if (!e.damage()) throw;
        exec(db_, "ROLLBACK TO one_run");
        exec(db_, "RELEASE one_run");
        ++summary_.unreadable;
      }
    }
  }

 private:
  // run: id, run_key, status, model_name, experiment_id (of the source).
  void copy_run(const std::vector<std::string>& run, const std::string& key) {
    const std::string& src_id = run[0];
    auto existing = rows(db_, "SELECT id, status FROM main.runs WHERE run_key=?", {key});
    if (!existing.empty() && existing[0][1] == "finished") {
      compare(existing[0][0], src_id, key, run[3]);
      return;
    }
    if (!existing.empty()) rows(db_, "DELETE FROM main.runs WHERE id=?", {existing[0][0]});  // an unfinished attempt
    const std::string exp = experiment_id(run[4]);
    rows(db_,
         "INSERT INTO main.runs(run_key, experiment_id, model_name, grid_label, config_key, config, protocol_hash, "
         "protocol, dataset_checksum, seed, status, error, plugins, fingerprint, device, best_epoch, started_at, "
         "finished_at, inputs, split) SELECT ?, ?, model_name, grid_label, config_key, config, protocol_hash, "
         "protocol, dataset_checksum, seed, status, error, plugins, fingerprint, device, best_epoch, started_at, "
         "finished_at, " +
             source_inputs_ + ", " + source_split_ +
             " FROM src.runs WHERE id=?",
         {key, exp, src_id});
    const std::string id = rows(db_, "SELECT last_insert_rowid()", {})[0][0];
    rows(db_, "INSERT INTO main.epochs SELECT ?, epoch, loss, terms, valid, seconds FROM src.epochs WHERE run_id=?", {id, src_id});
    rows(db_, "INSERT INTO main.metrics SELECT ?, split, branch, name, k, value FROM src.metrics WHERE run_id=?", {id, src_id});
    rows(db_, "INSERT INTO main.user_ranks SELECT ?, split, branch, user, rank, ties FROM src.user_ranks WHERE run_id=?",
         {id, src_id});
    rows(db_, "INSERT INTO main.timings SELECT ?, phase, seconds, peak_rss_mb FROM src.timings WHERE run_id=?", {id, src_id});
    if (groups_)
      rows(db_,
           "INSERT INTO main.popularity_metrics SELECT ?, split, branch, grp, name, k, value, users "
           "FROM src.popularity_metrics WHERE run_id=?",
           {id, src_id});
    ++summary_.copied;
  }

  // A run finished in both stores: the same results, or a conflict (the target's result is kept).
  void compare(const std::string& target_id, const std::string& src_id, const std::string& key,
               const std::string& model) {
    auto a = metrics_of(db_, "main", target_id), b = metrics_of(db_, "src", src_id);
    std::string detail;
    for (const auto& [k, v] : b) {
      auto it = a.find(k);
      if (it == a.end()) detail = k + " missing in the target";
      else if (std::fabs(it->second - v) > 1e-12 * std::max(1.0, std::fabs(v)))
        detail = fmt::format("{}: {:.6f} in the target, {:.6f} in {}", k, it->second, v, source_);
      if (!detail.empty()) break;
    }
    if (detail.empty() && a.size() != b.size()) detail = "a different set of metrics";
    if (detail.empty()) ++summary_.already;
    else summary_.conflicts.push_back({key, model, source_, detail});
  }

  std::string experiment_id(const std::string& src_id) {
    auto it = experiment_ids_.find(src_id);
    if (it != experiment_ids_.end()) return it->second;
    auto e = rows(db_, "SELECT name, file, COALESCE(description, ''), config_text, created_at FROM src.experiments WHERE id=?",
                  {src_id})[0];
    auto found = rows(db_, "SELECT id FROM main.experiments WHERE name=? AND file=? AND config_text=? AND created_at=?",
                      {e[0], e[1], e[3], e[4]});
    if (found.empty()) {
      rows(db_, "INSERT INTO main.experiments(name, file, description, config_text, created_at) VALUES (?,?,?,?,?)", e);
      found = rows(db_, "SELECT last_insert_rowid()", {});
    }
    return experiment_ids_[src_id] = found[0][0];
  }

  sqlite3* db_;
  const std::string& source_;
  MergeSummary& summary_;
  const bool groups_;
  const std::string source_inputs_;  // runs.inputs, or NULL from a store written before schema 5
  const std::string source_split_;   // runs.split, or NULL from a store written before schema 6
  std::map<std::string, std::string> experiment_ids_;  // source id -> target id
};

void merge_one(sqlite3* db, const std::string& source, MergeSummary& summary) {
  rows(db, "ATTACH DATABASE ? AS src", {sqlite_read_only_uri(source)});
  try {
    exec(db, "BEGIN IMMEDIATE");
    SourceCopy(db, source, summary).run();
    exec(db, "COMMIT");
  } catch (const SqliteError& e) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_exec(db, "DETACH DATABASE src", nullptr, nullptr, nullptr);
    if (e.damage())
      throw InputError(source + ": the store is too damaged to read its list of runs (" + excerpt(e.what(), 80) +
                       "); nothing was merged from it");
    throw;
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_exec(db, "DETACH DATABASE src", nullptr, nullptr, nullptr);
    throw;
  }
  exec(db, "DETACH DATABASE src");
}

void remove_store_files(const std::string& path) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(path + suffix, ec);
}

}  // namespace

MergeSummary merge_stores(const std::string& into, const std::vector<std::string>& sources) {
  MergeSummary summary;
  for (const auto& s : sources) {
    if (!std::filesystem::exists(s)) throw InputError(s + ": no such results store");
    if (std::filesystem::exists(into) && std::filesystem::equivalent(s, into))
      throw InputError(s + ": is the target of the merge itself");
    check_source(s);
  }
  const bool created = !std::filesystem::exists(into);
  try {
    Store target(into);
    if (!created) target.check_integrity();
    for (const auto& source : sources) merge_one(target.handle(), source, summary);
    target.checkpoint_log();
  } catch (...) {
    if (created) remove_store_files(into);  // a failed merge leaves no empty target behind
    throw;
  }
  return summary;
}

}  // namespace mmsr

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

void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error("SQLite: " + m + " in: " + sql);
  }
}

// Rows of one query as text, for comparisons and copies by value.
std::vector<std::vector<std::string>> rows(sqlite3* db, const std::string& sql, const std::vector<std::string>& args) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
    throw std::runtime_error(std::string("SQLite: ") + sqlite3_errmsg(db) + " in: " + sql);
  for (size_t i = 0; i < args.size(); ++i) sqlite3_bind_text(st, int(i + 1), args[i].c_str(), -1, SQLITE_TRANSIENT);
  std::vector<std::vector<std::string>> out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::vector<std::string> r;
    for (int c = 0; c < sqlite3_column_count(st); ++c) {
      const unsigned char* v = sqlite3_column_text(st, c);
      r.push_back(v ? reinterpret_cast<const char*>(v) : "");
    }
    out.push_back(std::move(r));
  }
  sqlite3_finalize(st);
  return out;
}

bool has_table(sqlite3* db, const std::string& schema, const std::string& table) {
  return !rows(db, "SELECT 1 FROM " + schema + ".sqlite_master WHERE type='table' AND name=?", {table}).empty();
}

// A run's final metrics, keyed for comparison.
std::map<std::string, double> metrics_of(sqlite3* db, const std::string& schema, const std::string& run_id) {
  std::map<std::string, double> out;
  for (const auto& r : rows(db, "SELECT split, branch, name, k, value FROM " + schema + ".metrics WHERE run_id=?", {run_id}))
    out[r[0] + "/" + r[1] + "/" + r[2] + "@" + r[3]] = std::stod(r[4]);
  return out;
}

// A source is only read: it must be an mmsr store this build understands, checked without migrating it.
void check_source(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    throw InputError(path + ": cannot open it as a results store");
  }
  std::string version;
  try {
    auto r = rows(db, "SELECT value FROM meta WHERE key='schema_version'", {});
    if (!r.empty()) version = r[0][0];
  } catch (const std::exception&) {
  }
  sqlite3_close(db);
  if (version.empty()) throw InputError(path + ": not an mmsr results store; pass mmsr stores only");
  if (std::stoi(version) > kStoreSchemaVersion)
    throw InputError(path + ": written by a newer mmsr (store schema " + version + "); upgrade mmsr to merge it");
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
  Store target(into);
  sqlite3* db = target.handle();
  for (const auto& source : sources) {
    rows(db, "ATTACH DATABASE ? AS src", {source});
    try {
      exec(db, "BEGIN IMMEDIATE");
      const bool groups = has_table(db, "src", "popularity_metrics");
      std::map<std::string, std::string> experiment_ids;  // source id -> target id
      auto experiment_id = [&](const std::string& src_id) {
        auto it = experiment_ids.find(src_id);
        if (it != experiment_ids.end()) return it->second;
        auto e = rows(db, "SELECT name, file, COALESCE(description, ''), config_text, created_at FROM src.experiments WHERE id=?",
                      {src_id})[0];
        auto found = rows(db, "SELECT id FROM main.experiments WHERE name=? AND file=? AND config_text=? AND created_at=?",
                          {e[0], e[1], e[3], e[4]});
        if (found.empty()) {
          rows(db, "INSERT INTO main.experiments(name, file, description, config_text, created_at) VALUES (?,?,?,?,?)", e);
          found = rows(db, "SELECT last_insert_rowid()", {});
        }
        return experiment_ids[src_id] = found[0][0];
      };
      exec(db, "INSERT OR IGNORE INTO main.datasets SELECT checksum, name, source, stats FROM src.datasets");
      // Runs of a store written before schema 4 are compared and copied under their current identity.
      std::vector<StoredRun> stored;
      for (const auto& r : rows(db, "SELECT id, run_key, status, config, config_key, protocol_hash, dataset_checksum, "
                                    "plugins, fingerprint, seed FROM src.runs", {}))
        stored.push_back({r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], uint64_t(std::stoull(r[9]))});
      const auto current = current_identities(stored);
      for (const auto& run : rows(db, "SELECT id, run_key, status, model_name, experiment_id FROM src.runs ORDER BY id", {})) {
        const std::string& src_id = run[0];
        const auto renamed = current.find(src_id);
        const std::string key = renamed == current.end() ? run[1] : renamed->second;
        if (run[2] != "finished") {
          ++summary.unfinished;
          continue;
        }
        auto existing = rows(db, "SELECT id, status FROM main.runs WHERE run_key=?", {key});
        if (!existing.empty() && existing[0][1] == "finished") {
          auto a = metrics_of(db, "main", existing[0][0]), b = metrics_of(db, "src", src_id);
          std::string detail;
          for (const auto& [k, v] : b) {
            auto it = a.find(k);
            if (it == a.end()) detail = k + " missing in the target";
            else if (std::fabs(it->second - v) > 1e-12 * std::max(1.0, std::fabs(v)))
              detail = fmt::format("{}: {:.6f} in the target, {:.6f} in {}", k, it->second, v, source);
            if (!detail.empty()) break;
          }
          if (detail.empty() && a.size() != b.size()) detail = "a different set of metrics";
          if (detail.empty()) ++summary.already;
          else summary.conflicts.push_back({key, run[3], source, detail});
          continue;
        }
        if (!existing.empty()) rows(db, "DELETE FROM main.runs WHERE id=?", {existing[0][0]});  // an unfinished attempt
        const std::string exp = experiment_id(run[4]);
        rows(db,
             "INSERT INTO main.runs(run_key, experiment_id, model_name, grid_label, config_key, config, protocol_hash, "
             "protocol, dataset_checksum, seed, status, error, plugins, fingerprint, device, best_epoch, started_at, "
             "finished_at) SELECT ?, ?, model_name, grid_label, config_key, config, protocol_hash, protocol, "
             "dataset_checksum, seed, status, error, plugins, fingerprint, device, best_epoch, started_at, finished_at "
             "FROM src.runs WHERE id=?",
             {key, exp, src_id});
        const std::string id = rows(db, "SELECT last_insert_rowid()", {})[0][0];
        rows(db, "INSERT INTO main.epochs SELECT ?, epoch, loss, terms, valid, seconds FROM src.epochs WHERE run_id=?", {id, src_id});
        rows(db, "INSERT INTO main.metrics SELECT ?, split, branch, name, k, value FROM src.metrics WHERE run_id=?", {id, src_id});
        rows(db, "INSERT INTO main.user_ranks SELECT ?, split, branch, user, rank, ties FROM src.user_ranks WHERE run_id=?",
             {id, src_id});
        rows(db, "INSERT INTO main.timings SELECT ?, phase, seconds, peak_rss_mb FROM src.timings WHERE run_id=?", {id, src_id});
        if (groups)
          rows(db,
               "INSERT INTO main.popularity_metrics SELECT ?, split, branch, grp, name, k, value, users "
               "FROM src.popularity_metrics WHERE run_id=?",
               {id, src_id});
        ++summary.copied;
      }
      exec(db, "COMMIT");
    } catch (...) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      sqlite3_exec(db, "DETACH DATABASE src", nullptr, nullptr, nullptr);
      throw;
    }
    exec(db, "DETACH DATABASE src");
  }
  return summary;
}

}  // namespace mmsr

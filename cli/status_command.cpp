// mmsr status --store S: what the runners of a store are doing, read from the store alone (so it works beside
// runners on other machines, and never writes): how many runs finished, failed or are running; for each running
// run its epoch, its last and best validation metric, its seconds an epoch, the training it has left at most (its
// epoch budget or its patience, whichever ends first) and whether its runner is still alive; for each failed run
// why. Runs not started yet are not in the store: `mmsr run FILE --dry-run` lists a grid.
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "mmsr/errors.h"
#include "mmsr/store.h"
#include "mmsr/text.h"

namespace mmsr::cli {
namespace {

using Row = std::vector<std::string>;

// Every row of a query, each column as text ("" for NULL).
std::vector<Row> rows_of(Store& store, const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  std::vector<Row> out;
  if (sqlite3_prepare_v2(store.handle(), sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
    throw InputError(store.path() + ": cannot read its runs (" + sqlite3_errmsg(store.handle()) + ")");
  while (sqlite3_step(st) == SQLITE_ROW) {
    Row r;
    for (int c = 0; c < sqlite3_column_count(st); ++c) {
      const auto* text = sqlite3_column_text(st, c);
      r.push_back(text ? reinterpret_cast<const char*>(text) : "");
    }
    out.push_back(std::move(r));
  }
  sqlite3_finalize(st);
  return out;
}

std::string duration(double seconds) {
  const auto s = int64_t(seconds + 0.5);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

// One running run: where its training stands, from its epochs and its configuration.
std::string running_line(Store& store, const Row& run, double stale_seconds) {
  const std::string &id = run[0], &key = run[1], &label = run[2], &seed = run[3], &holder = run[4];
  const auto config = nlohmann::json::parse(run[5], nullptr, false);
  const auto protocol = nlohmann::json::parse(run[6], nullptr, false);
  const std::string select = protocol.is_object() ? protocol.value("select", std::string("ndcg@10")) : "ndcg@10";
  const auto epochs = rows_of(store, "SELECT epoch, seconds, valid FROM epochs WHERE run_id = " + id + " ORDER BY epoch");
  std::string line = fmt::format("  {} seed {} ({}", label, seed, holder.empty() ? "no runner" : holder);
  line += store.live_holder(key, stale_seconds).empty() ? ", its runner is gone: a rerun resumes it)" : ")";
  if (epochs.empty()) return line + ": preparing its first epoch";
  int64_t best_epoch = 0;
  double best = -1, last = -1;
  std::vector<double> seconds;
  for (const auto& e : epochs) {
    const auto valid = nlohmann::json::parse(e[2], nullptr, false);
    const double v = valid.is_object() && valid.contains(select) ? valid[select].get<double>() : -1;
    if (v > best) best = v, best_epoch = std::stoll(e[0]);
    last = v;
    seconds.push_back(std::stod(e[1]));
  }
  std::nth_element(seconds.begin(), seconds.begin() + seconds.size() / 2, seconds.end());
  const double per_epoch = seconds[seconds.size() / 2];
  const int64_t epoch = std::stoll(epochs.back()[0]);
  const auto train = config.is_object() ? config.value("train", nlohmann::json::object()) : nlohmann::json::object();
  int64_t left = train.value("epochs", epoch) - epoch;
  const int64_t patience = train.value("patience", int64_t(0));
  if (patience > 0) left = std::min(left, patience - (epoch - best_epoch));
  line += fmt::format(": epoch {}, validation {} {:.4f} (best {:.4f} at epoch {}), {} an epoch, at most {} of "
                      "training left",
                      epoch, select, last, best, best_epoch, duration(per_epoch), duration(std::max<int64_t>(0, left) * per_epoch));
  return line;
}

class StatusCommand : public Command {
 public:
  explicit StatusCommand(CLI::App& app)
      : Command(app.add_subcommand("status", "what the runners of a results store are doing (reads it only)")) {
    app_->add_option("--store", store_, "the results store")->default_val(kDefaultStore);
    app_->add_option("--stale-seconds", stale_seconds_,
                     "a runner on another machine whose heartbeat is older than this is taken as gone")
        ->default_val(300.0)
        ->check(finite_in(1, 1e9));
  }

  int execute(const GlobalOptions&) override {
    Store store(store_, StoreAccess::ReadOnly);
    std::map<std::string, int64_t> by_status;
    for (const auto& r : rows_of(store, "SELECT status, COUNT(*) FROM runs WHERE protocol NOT LIKE "
                                        "'%selected_under%' GROUP BY status"))
      by_status[r[0]] = std::stoll(r[1]);
    int64_t total = 0;
    std::string counts;
    for (const auto& [status, n] : by_status) {
      total += n;
      counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", n, status);
    }
    std::cout << fmt::format("{}: {} run{} recorded{}{}\n", store_, total, total == 1 ? "" : "s", total ? ": " : "",
                             counts);
    const auto running = rows_of(store, kRunning);
    if (!running.empty()) std::cout << "running:\n";
    for (const auto& r : running) std::cout << running_line(store, r, stale_seconds_) << "\n";
    const auto failed = rows_of(store, kFailed);
    if (!failed.empty()) std::cout << "failed:\n";
    for (const auto& r : failed) std::cout << fmt::format("  {} seed {} ({}): {}\n", r[0], r[1], r[2], r[3]);
    const auto done = rows_of(store, kFinishedTimes);
    if (!done.empty() && !done[0][0].empty() && std::stoll(done[0][0]) > 0)
      std::cout << fmt::format("finished: {} run{}, {} each on average\n", done[0][0], done[0][0] == "1" ? "" : "s",
                               duration(std::stod(done[0][1])));
    return 0;
  }

 private:
  // Main records only: an [[also_evaluate]] record follows its run.
  static constexpr const char* kRunning =
      "SELECT id, run_key, model_name || CASE WHEN grid_label = '' THEN '' ELSE ' (' || grid_label || ')' END, seed, "
      "COALESCE(claimed_by, ''), config, protocol FROM runs WHERE status = 'running' AND protocol NOT LIKE "
      "'%selected_under%' ORDER BY id";
  static constexpr const char* kFailed =
      "SELECT model_name || CASE WHEN grid_label = '' THEN '' ELSE ' (' || grid_label || ')' END, seed, status, "
      "COALESCE(error, '') FROM runs WHERE status IN ('failed', 'diverged') AND protocol NOT LIKE "
      "'%selected_under%' ORDER BY id";
  static constexpr const char* kFinishedTimes =
      "SELECT COUNT(*), AVG(t.seconds) FROM runs r JOIN timings t ON t.run_id = r.id AND t.phase = 'total' WHERE "
      "r.status = 'finished' AND r.protocol NOT LIKE '%selected_under%'";
  std::string store_;
  double stale_seconds_ = 300;
};

}  // namespace

std::unique_ptr<Command> add_status_command(CLI::App& app) { return std::make_unique<StatusCommand>(app); }

}  // namespace mmsr::cli

#include "mmsr/runner.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "mmsr/engine.h"
#include "mmsr/errors.h"
#include "mmsr/features.h"
#include "mmsr/identity.h"
#include "mmsr/input_files.h"
#include "mmsr/interrupt.h"
#include "mmsr/load.h"
#include "mmsr/readers.h"
#include "mmsr/store.h"
#include "mmsr/text.h"
#include "child.h"
#include "grid.h"

namespace mmsr {

std::string run_key(const RunSpec& run, const Experiment& ex, const Dataset& data,
                    const std::string& plugins_json) {
  return run_identity(run.config_json, run.seed, ex.protocol_hash, data.checksum, plugins_json, host_fingerprint());
}

std::string plugin_versions(const RunSpec& run, const PluginRegistry& registry) {
  nlohmann::json j = nlohmann::json::object();
  auto note = [&](PluginKind kind, const std::string& name) {
    if (const ComponentEntry* e = registry.find(kind, name))
      j[name] = e->library_version.empty() ? "static" : e->library_version;
  };
  note(PluginKind::ItemTower, run.tower.plugin);
  note(PluginKind::Backbone, run.backbone.plugin);
  for (const auto& l : run.losses) note(PluginKind::Objective, l.plugin);
  return j.dump();
}

std::string checkpoint_path(const std::string& store_path, const std::string& run_key) {
  const std::string file = checkpoint_file(store_path, run_key);
  std::filesystem::create_directories(std::filesystem::path(file).parent_path());
  return file;
}

void remove_file(const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  std::filesystem::remove(path, ec);
  std::filesystem::remove(path + ".tmp", ec);
}

void remove_checkpoint(const std::string& path) {
  if (path.empty()) return;
  for (const auto& file : checkpoint_files(path)) remove_file(file);
}

int64_t run_launch_ticks(const RunOptions& options) {
  static std::atomic<bool> first{true};  // --jobs: runs are launched from several threads
  const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  return first.exchange(false) && options.command_start_ticks > 0 ? options.command_start_ticks : now;
}

std::string short_error(const std::string& what) { return one_line(what.substr(0, what.find('\n'))); }

namespace {

using Clock = std::chrono::steady_clock;

// The dataset's statistics plus how it was filtered: what a report's protocol card shows.
std::string dataset_description(const Experiment& ex, const DatasetStats& stats) {
  auto j = nlohmann::json::parse(stats_json(stats));
  auto data = nlohmann::json::parse(ex.data.to_json());
  nlohmann::json filtering = nlohmann::json::object();
  for (const char* key : {"format", "k_core", "min_length", "keep_last", "drop_consecutive_repeats"})
    if (data.contains(key)) filtering[key] = data[key];
  j["filtering"] = filtering;
  return j.dump();
}

// How a run ended when its process was stopped at the time limit: the process may have committed the result just
// before the stop arrived. The store decides, once: finished records stay finished and count as finished.
bool finished_before_the_limit(Store& store, const std::vector<RunRecord>& records) {
  for (const auto& r : records) {
    auto status = store.run_status(r.run_key);
    if (!status || *status != "finished") return false;
  }
  return true;
}

// A run's process that ended by itself with one of the SupervisedExit codes: counted, and true; false for an ending
// the parent must record (a crash, a kill, the time limit, a run the child did not find).
bool counted_by_its_exit_code(const ChildExit& exit, GridSummary& summary) {
  if (!exit.exited || exit.timed_out) return false;
  switch (exit.code) {
    case kRunFinished: ++summary.finished; return true;
    case kRunElsewhere: ++summary.elsewhere; return true;
    case kRunAlreadyDone: ++summary.skipped; return true;
    case kRunInterrupted: summary.interrupted = true; return true;
    case kRunInputError:
      // The run's process printed what to fix; the grid stops here.
      ++summary.failed;
      summary.input_error = true;
      return true;
    case kRunFailed: ++summary.failed; return true;  // the child recorded the failure itself
    default: return false;
  }
}

std::string why_the_process_ended(const ChildExit& exit, const RunOptions& options) {
  if (exit.timed_out) return fmt::format("stopped at the time limit of {}", format_seconds(options.run_timeout_seconds));
  if (exit.exited && exit.code == kRunNotInGrid)
    return "the run's process did not find this run: the experiment file, its data or mmsr itself changed while "
           "the grid ran (a run's identity depends on all three); rerun the grid";
  return "the run's process died: " + exit.describe();
}

// Runs one grid run in a child process (the same command with --supervised-run KEY). The child claims and
// records the run itself; when it dies without recording an end (a crash, an abort, a kill, its time limit), the
// run is marked failed here with the cause and the child's last lines. `shared` guards the store and the counts
// while the child is not running (--jobs runs several of these at once).
void supervise_run(const RunOptions& options, const std::vector<RunRecord>& records, const std::string& title,
                   Store& store, GridSummary& summary, double grid_after_seconds, std::mutex& shared) {
  std::unique_lock<std::mutex> lock(shared);
  for (const auto& r : records) {
    std::string holder = store.live_holder(r.run_key, options.stale_seconds);
    if (!holder.empty()) {
      ++summary.elsewhere;
      std::cerr << title << ": being run by " << holder << ", left to it\n";
      return;
    }
  }
  std::vector<std::string> argv = options.child_command;
  argv.insert(argv.end(), {"--supervised-run", records[0].run_key, "--experiment-id",
                           std::to_string(records[0].experiment_id), "--launched-at",
                           std::to_string(run_launch_ticks(options))});
  if (grid_after_seconds > 0) argv.insert(argv.end(), {"--grid-after", fmt::format("{:.0f}", grid_after_seconds)});
  lock.unlock();
  ChildExit exit = run_child(argv, options.run_timeout_seconds);
  lock.lock();
  if (exit.timed_out && finished_before_the_limit(store, records)) {
    ++summary.finished;
    std::cerr << title << ": finished just before the time limit of " << format_seconds(options.run_timeout_seconds)
              << " (its result was recorded; the stop that followed changed nothing)\n";
    return;
  }
  if (counted_by_its_exit_code(exit, summary)) return;
  ++summary.failed;
  const std::string error = why_the_process_ended(exit, options);
  std::string tail;
  for (const auto& l : exit.last_lines) tail += "\n  " + l;
  int64_t marked = 0;
  for (const auto& r : records) marked += store.fail_unfinished(r.run_key, "failed", error + (tail.empty() ? "" : "; last lines:" + tail));
  std::cerr << title << ": failed: " << error << (marked ? "" : " (no record of it was left running)") << "\n";
}

// Two entries of the grid that are one run (the same configuration, protocol, data and seed, e.g. a grid axis that
// lists a value twice, or two [[model]] tables alike) would share one record and be counted twice.
void refuse_duplicate_runs(const Experiment& ex, const Dataset& data, const PluginRegistry& registry) {
  std::map<std::string, const RunSpec*> seen;
  auto describe = [](const RunSpec& r) {
    return "model '" + r.model_name + "'" + (r.grid_label.empty() ? "" : " (" + r.grid_label + ")") + " seed " +
           std::to_string(r.seed);
  };
  for (const auto& run : ex.runs) {
    auto [it, added] = seen.emplace(run_key(run, ex, data, plugin_versions(run, registry)), &run);
    if (!added)
      throw InputError(ex.file + ": " + describe(*it->second) + " and " + describe(run) +
                       " are the same run (same configuration and seed); give each grid value and model once");
  }
}

}  // namespace

namespace {

// Intra-list diversity compares pooled vectors: a token-level modality is refused before anything is trained.
void refuse_token_level_diversity(const Experiment& ex, const Dataset& data) {
  std::vector<ParamSet> protocols = {ex.protocol};
  for (const auto& v : ex.also_evaluate) protocols.push_back(v.protocol);
  for (const auto& protocol : protocols) {
    const std::string name = protocol_options(protocol).diversity_modality;
    const FeatureTable* f = name.empty() || !data.modalities ? nullptr : data.modalities->find(name);
    if (f && !f->pooled())
      throw InputError("[protocol].diversity_modality = \"" + name +
                       "\": its features are token-level; name a modality with pooled features");
  }
}

// Everything a grid can refuse is refused here, before anything is trained or written: the sampled-evaluation
// negatives (read or drawn), two entries that are one run, a bad [train].device, and a plugin that refuses its
// parameters (every configuration is built once).
void check_grid(const Experiment& ex, const Dataset& data, const Split& split,
                const PluginRegistry& registry, const RunOptions& options) {
  sampled_negatives(ex.protocol, ex.base_dir, data);
  for (const auto& v : ex.also_evaluate) sampled_negatives(v.protocol, ex.base_dir, data);
  for (const auto& spec : ex.modalities) feature_provenance(spec.path);  // a damaged sidecar, before any write
  refuse_token_level_diversity(ex, data);
  // A supervised run's process skips the rest: its parent checked every configuration before starting it.
  if (!options.only_run_key.empty()) return;
  refuse_duplicate_runs(ex, data, registry);
  std::set<std::string> checked;
  for (const auto& r : ex.runs) {
    resolve_device(train_options(r.train).device);
    if (checked.insert(r.config_key).second) check_buildable(ex, r, data, split, registry);
  }
}

void list_runs(const Experiment& ex) {
  for (const auto& r : ex.runs)
    std::cout << fmt::format("{} seed {}{}{}\n", r.model_name, r.seed, r.grid_label.empty() ? "" : "  ", r.grid_label);
  std::cout << fmt::format("{} runs (dry run: nothing trained, nothing written)\n", ex.runs.size());
}

// The store's folder is made only when nothing in the input can still be refused.
void make_store_folder(const std::string& store_path) {
  auto parent = std::filesystem::path(store_path).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec)
    throw InputError("--store " + store_path + ": cannot create its folder " + parent.string() + " (" + ec.message() +
                     ")");
}

// The run under the main protocol, then one record per [[also_evaluate]] protocol: the same training, its own
// identity.
std::vector<RunRecord> run_records(const Experiment& ex, const RunSpec& run, const Dataset& data,
                                   const PluginRegistry& registry, int64_t experiment_id) {
  RunRecord rec;
  rec.plugins_json = plugin_versions(run, registry);
  rec.run_key = run_key(run, ex, data, rec.plugins_json);
  rec.experiment_id = experiment_id;
  rec.model_name = run.model_name;
  rec.grid_label = run.grid_label;
  rec.config_key = run.config_key;
  rec.config_json = run.config_json;
  rec.protocol_hash = ex.protocol_hash;
  rec.protocol_json = ex.protocol_json;
  rec.dataset_checksum = data.checksum;
  rec.seed = run.seed;
  rec.fingerprint = host_fingerprint();
  const TrainOptions train = train_options(run.train);
  rec.device = resolve_device(train.device);
  if (const int64_t processes = train.processes; processes > 1)
    rec.device += fmt::format(" x{} processes", processes);
  std::vector<RunRecord> records = {rec};
  for (const auto& v : ex.also_evaluate) {
    RunRecord r = rec;
    r.run_key = variant_identity(rec.run_key, v.protocol_hash);
    r.protocol_hash = v.protocol_hash;
    r.protocol_json = v.protocol_json;
    records.push_back(std::move(r));
  }
  return records;
}

// A run is skipped only when every record of it is finished.
bool all_finished(Store& store, const std::vector<RunRecord>& records) {
  for (const auto& r : records) {
    auto status = store.run_status(r.run_key);
    if (!status || *status != "finished") return false;
  }
  return true;
}

// The experiments row of this invocation (a run's own process records under its parent's row) and the dataset's.
int64_t record_experiment(Store& store, const Experiment& ex, const std::string& config_text, const Dataset& data,
                          const DatasetStats& stats, const RunOptions& options) {
  if (options.experiment_id > 0) return options.experiment_id;
  const int64_t id = store.add_experiment(ex.name, ex.file, ex.description, config_text);
  store.put_dataset(data.checksum, data.name, data_options(ex.data).format == "synthetic" ? "synthetic" : ex.data_path(),
                    dataset_description(ex, stats));
  return id;
}

// A run of the grid this command has to train (not finished, in its share).
struct PendingRun {
  const RunSpec* run;
  const std::vector<RunRecord>* records;
  std::string title;
};

// The runs still to train, in the grid's order; the finished ones are counted and named as skipped.
std::vector<PendingRun> pending_runs(GridContext& grid, const std::vector<std::vector<RunRecord>>& all) {
  const RunOptions& options = grid.options;
  std::vector<PendingRun> pending;
  for (size_t i = 0; i < grid.ex.runs.size(); ++i) {
    const RunSpec& run = grid.ex.runs[i];
    const std::string& key = all[i][0].run_key;
    const std::string title = fmt::format("[{}/{}] {}{}{} seed {}", i + 1, grid.ex.runs.size(), run.model_name,
                                          run.grid_label.empty() ? "" : " (",
                                          run.grid_label.empty() ? "" : run.grid_label + ")", run.seed);
    if (options.shard_count > 1 && shard_of(key, options.shard_count) != options.shard_index) {
      --grid.summary.total;  // another share's run
      continue;
    }
    if (!options.only_run_key.empty()) {
      if (key != options.only_run_key) continue;
      grid.summary.found = true;
    }
    if (all_finished(grid.store, all[i])) {
      ++grid.summary.skipped;
      std::cerr << title << ": already finished, skipped\n";
      continue;
    }
    pending.push_back({&run, &all[i], title});
  }
  return pending;
}

// One run after the other, each in its own process. The progress line of each shows the grid's time left: the runs
// trained so far, on average, times the runs still to train after it.
void supervise_in_turn(GridContext& grid, const std::vector<PendingRun>& pending) {
  std::mutex shared;
  double trained_seconds = 0;
  int trained = 0;
  for (size_t i = 0; i < pending.size(); ++i) {
    const auto start = Clock::now();
    const double after = trained ? trained_seconds / trained * double(pending.size() - i - 1) : 0;
    const int elsewhere = grid.summary.elsewhere;
    supervise_run(grid.options, *pending[i].records, pending[i].title, grid.store, grid.summary, after, shared);
    if (grid.summary.elsewhere == elsewhere) {  // trained here, not left to another runner
      trained_seconds += std::chrono::duration<double>(Clock::now() - start).count();
      ++trained;
    }
    if (grid.summary.interrupted || grid.summary.input_error) return;
  }
}

// --jobs N: N runs at a time, each in its own process, taken in the grid's order by whichever slot is free; a stop
// signal or an input error lets the running ones end and starts no other.
void supervise_in_parallel(GridContext& grid, const std::vector<PendingRun>& pending) {
  std::mutex shared;
  size_t next = 0;
  auto slot = [&] {
    for (;;) {
      const PendingRun* p = nullptr;
      {
        std::lock_guard<std::mutex> lock(shared);
        if (next == pending.size() || grid.summary.interrupted || grid.summary.input_error) return;
        p = &pending[next++];
      }
      supervise_run(grid.options, *p->records, p->title, grid.store, grid.summary, 0, shared);
    }
  };
  std::vector<std::thread> slots;
  for (int64_t j = 0; j < std::min<int64_t>(grid.options.jobs, int64_t(pending.size())); ++j) slots.emplace_back(slot);
  for (auto& t : slots) t.join();
}

// The grid's runs in order, each skipped, left to another runner, run in a child process or run here, until the
// grid must stop (a signal, or an input error in a run's process).
void run_each(GridContext& grid, int64_t experiment_id) {
  const RunOptions& options = grid.options;
  if (!options.only_run_key.empty()) grid.summary.found = false;
  std::vector<std::vector<RunRecord>> all;
  for (const auto& run : grid.ex.runs) all.push_back(run_records(grid.ex, run, grid.data, grid.registry, experiment_id));
  const std::vector<PendingRun> pending = pending_runs(grid, all);
  if (options.child_command.empty()) {
    for (const auto& p : pending)
      if (!run_in_this_process(grid, *p.run, *p.records, p.title)) return;
  } else if (options.jobs > 1) {
    supervise_in_parallel(grid, pending);
  } else {
    supervise_in_turn(grid, pending);
  }
}

}  // namespace

GridSummary run_experiment(const Experiment& ex, const std::string& config_text,
                           const PluginRegistry& registry, const RunOptions& options) {
  GridSummary summary;
  summary.total = int(ex.runs.size());
  auto t0 = Clock::now();
  bool from_cache = false;
  Dataset data = load_dataset(ex, DatasetCache(options.data_cache), &from_cache);
  Split split(data, split_options(protocol_options(ex.protocol)));
  DatasetStats stats = compute_stats(data);
  const double load_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  check_grid(ex, data, split, registry, options);
  if (options.dry_run) {
    list_runs(ex);
    return summary;
  }
  if (options.data_parallel_rank > 0) {
    train_share(ex, data, split, registry, options, summary);
    return summary;
  }
  make_store_folder(options.store_path);
  Store store(options.store_path);
  // A damaged store is refused before anything is written into it (a run's own process: its parent checked).
  if (options.only_run_key.empty()) store.check_integrity();
  // Announced once everything was checked: a bad input is the only line the user sees.
  if (options.announce_data)
    std::cerr << fmt::format("data: {} ({} users, {} items, {} interactions, checksum {}) in {}{}\n", data.name,
                             stats.users, stats.items, stats.interactions, data.checksum,
                             format_seconds(load_seconds), from_cache ? " (prepared data from the cache)" : "");
  const int64_t experiment_id = record_experiment(store, ex, config_text, data, stats, options);
  ProgressLine progress(options.progress, options.force_progress);
  GridContext grid{ex, data, split, registry, options, store, progress, summary, load_seconds};
  run_each(grid, experiment_id);
  return summary;
}

int64_t shard_of(const std::string& run_key, int64_t count) {
  // The identity is a hex hash: its first 15 digits, as a number, spread runs evenly over the shares.
  uint64_t v = std::stoull(run_key.substr(0, std::min<size_t>(15, run_key.size())), nullptr, 16);
  return int64_t(v % uint64_t(count)) + 1;
}

}  // namespace mmsr

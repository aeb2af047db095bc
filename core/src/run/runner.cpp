#include "mmsr/runner.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
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
#include "mmsr/readers.h"
#include "mmsr/store.h"
#include "mmsr/text.h"
#include "child.h"

namespace mmsr {
namespace {

using Clock = std::chrono::steady_clock;

// One line on a terminal, redrawn in place; nothing at all when stderr is not a terminal.
class ProgressLine {
 public:
  ProgressLine(bool enabled, bool force) : enabled_(enabled && (force || isatty(STDERR_FILENO))) {}
  void show(const std::string& text) {
    if (!enabled_) return;
    auto now = Clock::now();
    if (now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    std::fprintf(stderr, "\r\033[K%s", text.c_str());
    std::fflush(stderr);
    shown_ = true;
  }
  void clear() {
    if (enabled_ && shown_) std::fprintf(stderr, "\r\033[K");
    shown_ = false;
  }

 private:
  bool enabled_;
  bool shown_ = false;
  Clock::time_point last_{};
};

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

// A run's "to_first_step" timing counts from MMSR_COMMAND_START: the command's start for the first run it launches
// (what a user waits for), the run's own launch for every later one.
void mark_run_launch() {
  static bool first = true;
  if (!first)
    setenv("MMSR_COMMAND_START", std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()).c_str(), 1);
  first = false;
}

// Runs one grid run in a child process (the same command with --supervised-run KEY). The child claims and
// records the run itself; when it dies without recording an end (a crash, an abort, a kill, its time limit), the
// run is marked failed here with the cause and the child's last lines.
// The first line of an exception's message, for the store's runs.error: LibTorch's errors carry a backtrace of
// a dozen frames after it, which goes to the run's output (printed by the caller) rather than into the store.
std::string short_error(const std::string& what) { return one_line(what.substr(0, what.find('\n'))); }

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

void supervise_run(const RunOptions& options, const std::vector<RunRecord>& records, const std::string& title,
                   Store& store, GridSummary& summary) {
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
                           std::to_string(records[0].experiment_id)});
  mark_run_launch();
  ChildExit exit = run_child(argv, options.run_timeout_seconds);
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

// The other training processes of a data-parallel run ([train].processes > 1), started before rank 0 trains and
// ended with it: they exit by themselves when training ends; one still there some seconds later (rank 0 failed
// and left it waiting) is killed.
class DataParallelProcesses {
 public:
  DataParallelProcesses(const RunOptions& options, const RunSpec& run, const std::string& run_key) {
    const int64_t processes = run.train.get_int("processes");
    if (processes <= 1) return;
    if (options.worker_command.empty())
      throw InputError("[train].processes = " + std::to_string(processes) +
                       ": this runner cannot start processes (run the grid with `mmsr run`)");
    file_ = (std::filesystem::temp_directory_path() /
             fmt::format("mmsr-rendezvous-{}-{}", run_key.substr(0, 16), getpid())).string();
    remove_file(file_);
    for (int64_t r = 1; r < processes; ++r) {
      std::vector<std::string> argv = options.worker_command;
      argv.insert(argv.end(), {"--supervised-run", run_key, "--data-parallel-rank", std::to_string(r),
                               "--rendezvous", file_});
      pids_.push_back(start_helper(argv));
    }
  }
  ~DataParallelProcesses() {
    for (int pid : pids_) finish_helper(pid, 10.0);
    remove_file(file_);
  }
  DataParallelProcesses(const DataParallelProcesses&) = delete;
  DataParallelProcesses& operator=(const DataParallelProcesses&) = delete;
  const std::string& rendezvous_file() const { return file_; }

 private:
  std::string file_;
  std::vector<int> pids_;
};

// A data-parallel run's process of rank > 0: trains its share of the run's batches with the others and records
// nothing (rank 0 records the run).
void train_share(const Experiment& ex, const Dataset& data, const LeaveOneOutSplit& split,
                 const PluginRegistry& registry, const RunOptions& options, GridSummary& summary) {
  summary.found = false;
  for (const auto& run : ex.runs) {
    const std::string key = run_key(run, ex, data, plugin_versions(run, registry));
    if (key != options.only_run_key) continue;
    summary.found = true;
    RunCallbacks cb;
    cb.data_parallel_rank = options.data_parallel_rank;
    cb.rendezvous_file = options.rendezvous_file;
    if (options.checkpoints) cb.checkpoint_path = checkpoint_path(options.store_path, key);  // read, never written
    RunOutcome out = train_and_evaluate(ex, run, data, split, registry, cb);
    if (out.status == "finished") ++summary.finished;
    else if (out.status == "interrupted") summary.interrupted = true;
    else ++summary.failed, std::cerr << "training process " << options.data_parallel_rank << ": " << out.status
                                     << ": " << out.error << "\n";
    return;
  }
}

}  // namespace

namespace {

// The experiment's modalities: generated features of the synthetic data and the [[modality]] files (which win
// over a generated modality of the same name), memory-mapped, aligned to the dataset's item ids.
void attach_modalities(const Experiment& ex, Dataset& data) {
  if (ex.modalities.empty() && data.features.empty() && data.token_features.empty()) return;
  auto store = std::make_shared<FeatureStore>();
  for (const auto& [name, matrix] : data.features) store->add(FeatureTable::from_matrix(name, matrix));
  for (const auto& [name, matrix] : data.token_features) store->add(FeatureTable::from_tokens(name, matrix));
  for (const auto& spec : ex.modalities) store->add(FeatureTable::open(spec, data));
  data.modalities = store;
  data.compute_checksum();
}

}  // namespace

Dataset load_dataset(const Experiment& ex, const DatasetCache& cache, bool* from_cache) {
  Dataset data = load_interactions(ex, cache, from_cache);
  attach_modalities(ex, data);
  return data;
}

namespace {

// The files a reader reads for [data].path, in order: what the prepared-dataset cache's key hashes.
std::vector<std::string> reader_inputs(const std::string& format, const std::string& path) {
  return format == "unisrec" ? unisrec_files(path) : std::vector<std::string>{path};
}

}  // namespace

Dataset load_interactions(const Experiment& ex, const DatasetCache& cache, bool* from_cache) {
  if (from_cache) *from_cache = false;
  const std::string format = ex.data.get_string("format");
  if (format == "synthetic") {
    Dataset d = generate_synthetic(ex.synthetic);
    if (!ex.data.get_string("name").empty()) d.name = ex.data.get_string("name");
    return d;
  }
  const std::string path = ex.data_path();
  PreprocessOptions opt;
  opt.drop_consecutive_repeats = ex.data.get_bool("drop_consecutive_repeats");
  opt.k_core = ex.data.get_int("k_core");
  opt.min_length = ex.data.get_int("min_length");
  opt.keep_last = ex.data.get_int("keep_last");
  std::string name = ex.data.get_string("name");
  if (name.empty()) name = std::filesystem::path(path).stem().string();
  // Checked before the cache hashes them: a folder or a FIFO is named, never read or waited on.
  for (const auto& file : reader_inputs(format, path)) require_readable_file(file, "data file");
  const std::string key = cache.enabled() ? DatasetCache::key(reader_inputs(format, path), format, opt, name) : "";
  std::optional<Dataset> cached = cache.find(key);
  if (from_cache) *from_cache = cached.has_value();
  Dataset data;
  if (cached) {
    data = std::move(*cached);
  } else {
    RawSequences raw;
    if (format == "s3rec") raw = read_s3rec(path);
    else if (format == "sasrec") raw = read_user_item_pairs(path);
    else if (format == "recbole") raw = read_recbole_inter(path);
    else if (format == "unisrec") raw = read_unisrec(path);
    else throw InputError(ex.file + ": [data].format = \"" + format + "\" is not a known format");
    data = preprocess(raw, opt, name);
    std::string why;
    if (!key.empty() && !cache.put(key, data, &why))
      std::cerr << "note: the prepared-dataset cache " << cache.folder() << " is not used (" << why
                << "); set --data-cache to a writable folder, or off\n";
  }
  if (const std::string& item_file = ex.data.get_string("item_file"); !item_file.empty()) {
    std::filesystem::path p(item_file);
    if (p.is_relative()) p = std::filesystem::path(ex.base_dir) / p;
    attach_item_fields(data, read_recbole_items(p.lexically_normal().string()));
  }
  if (const std::string& file = ex.data.get_string("attribute_file"); !file.empty()) {
    std::filesystem::path p(file);
    if (p.is_relative()) p = std::filesystem::path(ex.base_dir) / p;
    attach_item_attributes_json(data, p.lexically_normal().string(), "attributes");
  }
  return data;
}

GridSummary run_experiment(const Experiment& ex, const std::string& config_text,
                           const PluginRegistry& registry, const RunOptions& options) {
  GridSummary summary;
  summary.total = int(ex.runs.size());
  auto t0 = Clock::now();
  bool from_cache = false;
  Dataset data = load_dataset(ex, DatasetCache(options.data_cache), &from_cache);
  LeaveOneOutSplit split(data);
  DatasetStats stats = compute_stats(data);
  double load_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  // Resolve devices and build every configuration once, so that a bad [train].device or a plugin that
  // refuses its parameters is an input error before anything is trained or written.
  // Sampled-evaluation negatives are read (or drawn) here too, so a bad file is caught before any training.
  sampled_negatives(ex.protocol, ex.base_dir, data);
  for (const auto& v : ex.also_evaluate) sampled_negatives(v.protocol, ex.base_dir, data);
  std::set<std::string> checked;
  // A supervised run's process skips this: its parent checked every configuration before starting it.
  if (options.only_run_key.empty()) refuse_duplicate_runs(ex, data, registry);
  if (options.only_run_key.empty())
    for (const auto& r : ex.runs) {
      resolve_device(r.train.get_string("device"));
      if (checked.insert(r.config_key).second) check_buildable(ex, r, data, split, registry);
    }
  if (options.dry_run) {
    for (const auto& r : ex.runs)
      std::cout << fmt::format("{} seed {}{}{}\n", r.model_name, r.seed,
                               r.grid_label.empty() ? "" : "  ", r.grid_label);
    std::cout << fmt::format("{} runs (dry run: nothing trained, nothing written)\n", ex.runs.size());
    return summary;
  }
  if (options.data_parallel_rank > 0) {
    train_share(ex, data, split, registry, options, summary);
    return summary;
  }

  {
    // The store's folder is made only now, when nothing in the input can still be refused.
    auto parent = std::filesystem::path(options.store_path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec)
      throw InputError("--store " + options.store_path + ": cannot create its folder " + parent.string() + " (" +
                       ec.message() + ")");
  }
  Store store(options.store_path);
  // A damaged store is refused before anything is written into it (a run's own process: its parent checked).
  if (options.only_run_key.empty()) store.check_integrity();
  // Announced once everything was checked: a bad input is the only line the user sees.
  if (options.announce_data)
    std::cerr << fmt::format("data: {} ({} users, {} items, {} interactions, checksum {}) in {}{}\n", data.name,
                             stats.users, stats.items, stats.interactions, data.checksum,
                             format_seconds(load_seconds), from_cache ? " (prepared data from the cache)" : "");
  // One row per `mmsr run` invocation: a run's own process records under its parent's row.
  const int64_t experiment_id = options.experiment_id > 0
                                    ? options.experiment_id
                                    : store.add_experiment(ex.name, ex.file, ex.description, config_text);
  if (options.experiment_id <= 0)
    store.put_dataset(data.checksum, data.name, ex.data.get_string("format") == "synthetic"
                                                  ? "synthetic"
                                                  : ex.data_path(),
                    dataset_description(ex, stats));

  ProgressLine progress(options.progress, options.force_progress);
  if (!options.only_run_key.empty()) summary.found = false;
  int index = 0;
  for (const auto& run : ex.runs) {
    ++index;
    const std::string plugins = plugin_versions(run, registry);
    RunRecord rec;
    rec.run_key = run_key(run, ex, data, plugins);
    const std::string title = fmt::format("[{}/{}] {}{}{} seed {}", index, ex.runs.size(),
                                          run.model_name, run.grid_label.empty() ? "" : " (",
                                          run.grid_label.empty() ? "" : run.grid_label + ")", run.seed);
    rec.experiment_id = experiment_id;
    rec.model_name = run.model_name;
    rec.grid_label = run.grid_label;
    rec.config_key = run.config_key;
    rec.config_json = run.config_json;
    rec.protocol_hash = ex.protocol_hash;
    rec.protocol_json = ex.protocol_json;
    rec.dataset_checksum = data.checksum;
    rec.seed = run.seed;
    rec.plugins_json = plugins;
    rec.fingerprint = host_fingerprint();
    rec.device = resolve_device(run.train.get_string("device"));
    if (const int64_t processes = run.train.get_int("processes"); processes > 1)
      rec.device += fmt::format(" x{} processes", processes);
    // The run under the main protocol, then one record per [[also_evaluate]] protocol: the same training,
    // its own identity. A run is skipped only when every record of it is finished.
    std::vector<RunRecord> records = {rec};
    for (const auto& v : ex.also_evaluate) {
      RunRecord r = rec;
      r.run_key = variant_identity(rec.run_key, v.protocol_hash);
      r.protocol_hash = v.protocol_hash;
      r.protocol_json = v.protocol_json;
      records.push_back(std::move(r));
    }
    if (options.shard_count > 1 && shard_of(rec.run_key, options.shard_count) != options.shard_index) {
      --summary.total;  // another share's run
      continue;
    }
    if (!options.only_run_key.empty()) {
      if (rec.run_key != options.only_run_key) continue;
      summary.found = true;
    }
    bool all_done = true;
    for (const auto& r : records) {
      auto status = store.run_status(r.run_key);
      all_done = all_done && status && *status == "finished";
    }
    if (all_done) {
      ++summary.skipped;
      std::cerr << title << ": already finished, skipped\n";
      continue;
    }
    if (!options.child_command.empty()) {
      supervise_run(options, records, title, store, summary);
      if (summary.interrupted || summary.input_error) break;
      continue;
    }
    Store::Claim claim = store.claim_run(records, options.stale_seconds);
    if (!claim.claimed) {
      ++summary.elsewhere;
      std::cerr << title << ": being run by " << claim.holder << ", left to it\n";
      continue;
    }
    const std::vector<int64_t> ids = claim.ids;
    // Epochs are recorded with the main protocol's run (an earlier finished one keeps its own).
    const int64_t run_id = ids[0];
    const std::string checkpoint = options.checkpoints ? checkpoint_path(options.store_path, rec.run_key) : "";
    auto fail_all = [&](const std::string& status, const std::string& error) {
      for (int64_t id : ids)
        if (id) store.fail_run(id, status, error);
      if (status != "interrupted") remove_checkpoint(checkpoint);  // an interrupted run resumes from it
    };

    auto run_start = Clock::now();
    auto last_heartbeat = run_start;
    RunCallbacks cb;
    cb.on_step = [&](const StepReport& s) {
      if (Clock::now() - last_heartbeat > std::chrono::seconds(30)) {
        store.heartbeat(ids);  // other runners see this run is alive
        last_heartbeat = Clock::now();
      }
      double elapsed = std::chrono::duration<double>(Clock::now() - run_start).count();
      double done = double(s.epoch - 1) + double(s.step) / double(s.steps_per_epoch);
      double eta = done > 0 ? elapsed / done * (double(s.max_epochs) - done) : 0;
      progress.show(fmt::format("{} | epoch {}/{} step {}/{} | loss {:.4f} | {} elapsed, at most {} left",
                                title, s.epoch, s.max_epochs, s.step, s.steps_per_epoch, s.loss,
                                format_seconds(elapsed), format_seconds(eta)));
    };
    cb.on_epoch = [&](const EpochReport& e) {
      nlohmann::json terms = nlohmann::json::object(), valid = nlohmann::json::object();
      for (auto& [n, v] : e.terms) terms[n] = v;
      for (auto& m : e.valid) valid[m.label()] = m.value;
      if (run_id) store.add_epoch(run_id, e.epoch, e.loss, terms.dump(), valid.dump(), e.seconds);
      store.heartbeat(ids);
      last_heartbeat = Clock::now();
      if (options.interrupt_after_epoch > 0 && e.epoch == options.interrupt_after_epoch) request_interrupt();
      if (options.verbose) {
        progress.clear();
        std::string v;
        for (auto& m : e.valid) v += fmt::format(" {}={:.4f}", m.label(), m.value);
        std::cerr << fmt::format("{} epoch {} loss {:.4f}{}{} ({})\n", title, e.epoch, e.loss, v,
                                 e.improved ? " *" : "", format_seconds(e.seconds));
      }
    };
    cb.checkpoint_path = checkpoint;
    cb.on_resume = [&](int64_t epoch) {
      // Epoch records past the epoch training starts after are redone (all of them on a fresh start).
      if (run_id) store.truncate_epochs(run_id, epoch);
      if (epoch == 0) return;
      progress.clear();
      std::cerr << title << ": resuming after epoch " << epoch << " from its checkpoint\n";
    };
    cb.on_warning = [&](const std::string& message) {
      progress.clear();
      std::cerr << title << ": warning: " << message << "\n";
    };
    try {
      mark_run_launch();
      DataParallelProcesses others(options, run, rec.run_key);
      cb.rendezvous_file = others.rendezvous_file();
      RunOutcome out = train_and_evaluate(ex, run, data, split, registry, cb);
      progress.clear();
      if (out.status == "interrupted") {
        fail_all(out.status, out.error);
        summary.interrupted = true;
        std::cerr << title << ": interrupted (" << out.error << "); rerun the same command to go on\n";
        break;
      }
      if (out.status != "finished") {
        fail_all(out.status, out.error);
        ++summary.failed;
        std::cerr << title << ": " << out.status << ": " << out.error << "\n";
        continue;
      }
      out.timings.push_back({"data_load", load_seconds, 0});
      std::vector<RunResult> results;
      if (ids[0])
        results.push_back({ids[0], out.best_epoch, out.metrics, out.ranks, out.timings, out.group_metrics});
      for (size_t v = 0; v < out.variants.size(); ++v) {
        if (!ids[v + 1]) continue;
        // A variant's timings are its training's, except its own test evaluation.
        std::vector<TimingRecord> timings = out.timings;
        for (auto& t : timings)
          if (t.phase == "test_eval") t.seconds = out.variants[v].test_eval_seconds;
        results.push_back({ids[v + 1], out.best_epoch, out.variants[v].metrics, out.variants[v].ranks, timings,
                           out.variants[v].group_metrics});
      }
      store.finish_runs(results);
      store.checkpoint_log();
      remove_checkpoint(checkpoint);
      if (options.linger_after_run_seconds > 0)
        std::this_thread::sleep_for(std::chrono::duration<double>(options.linger_after_run_seconds));
      ++summary.finished;
      const std::string& select = ex.protocol.get_string("select");
      auto selected = [&](const std::vector<MetricRecord>& metrics) {
        for (const auto& m : metrics)
          if (m.split == "test" && m.branch == "fused" && m.name + "@" + std::to_string(m.k) == select) return m.value;
        return std::nan("");
      };
      std::string line = fmt::format("test {}={:.4f}", select, selected(out.metrics));
      for (size_t v = 0; v < out.variants.size(); ++v)
        line += fmt::format(", also_evaluate #{} {:.4f}", v + 1, selected(out.variants[v].metrics));
      double secs = std::chrono::duration<double>(Clock::now() - run_start).count();
      std::cerr << fmt::format("{}: {} (best epoch {}, {})\n", title, line, out.best_epoch,
                               format_seconds(secs));
    } catch (const InputError& e) {
      progress.clear();
      try {
        fail_all("failed", e.what());
      } catch (const std::exception&) {
        // The store itself may be what failed (a full disk): the message below says so.
      }
      throw;
    } catch (const std::exception& e) {
      progress.clear();
      fail_all("failed", short_error(e.what()));
      ++summary.failed;
      std::cerr << title << ": failed: " << e.what() << "\n";  // in full, with any backtrace: the run's output
    }
  }
  return summary;
}

int64_t shard_of(const std::string& run_key, int64_t count) {
  // The identity is a hex hash: its first 15 digits, as a number, spread runs evenly over the shares.
  uint64_t v = std::stoull(run_key.substr(0, std::min<size_t>(15, run_key.size())), nullptr, 16);
  return int64_t(v % uint64_t(count)) + 1;
}

}  // namespace mmsr

// One run of a grid trained and recorded in this process: claimed in the store, trained with progress, epoch
// records, heartbeats and a checkpoint, then its results under every protocol written in one transaction.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "grid.h"
#include "child.h"
#include "mmsr/engine.h"
#include "mmsr/load.h"
#include "mmsr/errors.h"
#include "mmsr/interrupt.h"
#include "mmsr/text.h"

namespace mmsr {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The other training processes of a data-parallel run ([train].processes > 1), started before rank 0 trains and
// ended with it: they exit by themselves when training ends; one still there some seconds later (rank 0 failed
// and left it waiting) is killed.
class DataParallelProcesses {
 public:
  DataParallelProcesses(const RunOptions& options, const RunSpec& run, const std::string& run_key) {
    const int64_t processes = train_options(run.train).processes;
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

// A claimed run: its records' ids in the store and its checkpoint.
struct ClaimedRun {
  const RunSpec& spec;
  const std::string& title;
  std::vector<int64_t> ids;  // main protocol first, then each [[also_evaluate]] one (0: finished earlier)
  std::string checkpoint;
  Clock::time_point started = Clock::now();
  Clock::time_point last_heartbeat = started;

  void fail_all(Store& store, const std::string& status, const std::string& error) const {
    for (int64_t id : ids)
      if (id) store.fail_run(id, status, error);
    if (status != "interrupted") remove_checkpoint(checkpoint);  // an interrupted run resumes from it
  }
};

// What the user sees and the store records while the run trains.
RunCallbacks progress_callbacks(GridContext& grid, ClaimedRun& run) {
  // Epochs are recorded with the main protocol's run (an earlier finished one keeps its own).
  const int64_t run_id = run.ids[0];
  RunCallbacks cb;
  cb.on_step = [&grid, &run](const StepReport& s) {
    if (Clock::now() - run.last_heartbeat > std::chrono::seconds(30)) {
      grid.store.heartbeat(run.ids);  // other runners see this run is alive
      run.last_heartbeat = Clock::now();
    }
    const double elapsed = seconds_since(run.started);
    const double done = double(s.epoch - 1) + double(s.step) / double(s.steps_per_epoch);
    const double eta = done > 0 ? elapsed / done * (double(s.max_epochs) - done) : 0;
    const double after = grid.options.grid_after_seconds;
    grid.progress.show(fmt::format("{} | epoch {}/{} step {}/{} | loss {:.4f} | {} elapsed, at most {} left{}",
                                   run.title, s.epoch, s.max_epochs, s.step, s.steps_per_epoch, s.loss,
                                   format_seconds(elapsed), format_seconds(eta),
                                   after > 0 ? " | grid: about " + format_seconds(after) + " more after it" : ""));
  };
  cb.on_epoch = [&grid, &run, run_id](const EpochReport& e) {
    nlohmann::json terms = nlohmann::json::object(), valid = nlohmann::json::object();
    for (auto& [n, v] : e.terms) terms[n] = v;
    for (auto& m : e.valid) valid[m.label()] = m.value;
    if (run_id) grid.store.add_epoch(run_id, e.epoch, e.loss, terms.dump(), valid.dump(), e.seconds);
    grid.store.heartbeat(run.ids);
    run.last_heartbeat = Clock::now();
    if (grid.options.interrupt_after_epoch > 0 && e.epoch == grid.options.interrupt_after_epoch) request_interrupt();
    if (!grid.options.verbose) return;
    grid.progress.clear();
    std::string v;
    for (auto& m : e.valid) v += fmt::format(" {}={:.4f}", m.label(), m.value);
    std::cerr << fmt::format("{} epoch {} loss {:.4f}{}{} ({})\n", run.title, e.epoch, e.loss, v,
                             e.improved ? " *" : "", format_seconds(e.seconds));
  };
  cb.checkpoint_path = run.checkpoint;
  cb.on_resume = [&grid, &run, run_id](int64_t epoch) {
    // Epoch records past the epoch training starts after are redone (all of them on a fresh start).
    if (run_id) grid.store.truncate_epochs(run_id, epoch);
    if (epoch == 0) return;
    grid.progress.clear();
    std::cerr << run.title << ": resuming after epoch " << epoch << " from its checkpoint\n";
  };
  cb.on_warning = [&grid, &run](const std::string& message) {
    grid.progress.clear();
    std::cerr << run.title << ": warning: " << message << "\n";
  };
  return cb;
}

// The results of every protocol, in one transaction.
void record_results(GridContext& grid, const ClaimedRun& run, RunOutcome& out) {
  out.timings.push_back({"data_load", grid.load_seconds, 0});
  std::vector<RunResult> results;
  if (run.ids[0]) results.push_back({run.ids[0], out.best_epoch, out.metrics, out.ranks, out.timings, out.group_metrics});
  for (size_t v = 0; v < out.variants.size(); ++v) {
    if (!run.ids[v + 1]) continue;
    // A variant's timings are its training's, except its own test evaluation.
    std::vector<TimingRecord> timings = out.timings;
    for (auto& t : timings)
      if (t.phase == "test_eval") t.seconds = out.variants[v].test_eval_seconds;
    results.push_back({run.ids[v + 1], out.best_epoch, out.variants[v].metrics, out.variants[v].ranks, timings,
                       out.variants[v].group_metrics});
  }
  grid.store.finish_runs(results);
  grid.store.checkpoint_log();
  remove_checkpoint(run.checkpoint);
}

// "test ndcg@10=0.1234, also_evaluate #1 0.2345": the selection metric of each protocol.
std::string result_line(const Experiment& ex, const RunOutcome& out) {
  const std::string select = protocol_options(ex.protocol).select;
  auto selected = [&](const std::vector<MetricRecord>& metrics) {
    for (const auto& m : metrics)
      if (m.split == "test" && m.branch == "fused" && m.name + "@" + std::to_string(m.k) == select) return m.value;
    return std::nan("");
  };
  std::string line = fmt::format("test {}={:.4f}", select, selected(out.metrics));
  for (size_t v = 0; v < out.variants.size(); ++v)
    line += fmt::format(", also_evaluate #{} {:.4f}", v + 1, selected(out.variants[v].metrics));
  return line;
}

// Trains the claimed run; false when a signal stopped it (the grid stops too).
bool train_and_record(GridContext& grid, ClaimedRun& run, const std::string& run_key) {
  RunCallbacks cb = progress_callbacks(grid, run);
  cb.launched_at_ticks = run_launch_ticks(grid.options);
  DataParallelProcesses others(grid.options, run.spec, run_key);
  cb.rendezvous_file = others.rendezvous_file();
  RunOutcome out = train_and_evaluate(grid.ex, run.spec, grid.data, grid.split, grid.registry, cb);
  grid.progress.clear();
  if (out.status == "interrupted") {
    run.fail_all(grid.store, out.status, out.error);
    grid.summary.interrupted = true;
    std::cerr << run.title << ": interrupted (" << out.error << "); rerun the same command to go on\n";
    return false;
  }
  if (out.status != "finished") {
    run.fail_all(grid.store, out.status, out.error);
    ++grid.summary.failed;
    std::cerr << run.title << ": " << out.status << ": " << out.error << "\n";
    return true;
  }
  record_results(grid, run, out);
  if (grid.options.linger_after_run_seconds > 0)
    std::this_thread::sleep_for(std::chrono::duration<double>(grid.options.linger_after_run_seconds));
  ++grid.summary.finished;
  std::cerr << fmt::format("{}: {} (best epoch {}, {})\n", run.title, result_line(grid.ex, out), out.best_epoch,
                           format_seconds(seconds_since(run.started)));
  return true;
}

}  // namespace

bool run_in_this_process(GridContext& grid, const RunSpec& spec, const std::vector<RunRecord>& unclaimed,
                         const std::string& title) {
  if (grid.inputs_json.empty()) grid.inputs_json = input_files_json(grid.ex);
  std::vector<RunRecord> records = unclaimed;
  for (auto& r : records) r.inputs_json = grid.inputs_json, r.split_json = grid.split.summary_json();
  Store::Claim claim = grid.store.claim_run(records, grid.options.stale_seconds);
  if (claim.already_finished) {
    ++grid.summary.skipped;
    std::cerr << title << ": already finished, skipped\n";
    return true;
  }
  if (!claim.claimed) {
    ++grid.summary.elsewhere;
    std::cerr << title << ": being run by " << claim.holder << ", left to it\n";
    return true;
  }
  const std::string& key = records[0].run_key;
  ClaimedRun run{spec, title, claim.ids,
                 grid.options.checkpoints ? checkpoint_path(grid.options.store_path, key) : ""};
  try {
    return train_and_record(grid, run, key);
  } catch (const InputError& e) {
    grid.progress.clear();
    try {
      run.fail_all(grid.store, "failed", e.what());
    } catch (const std::exception&) {
      // The store itself may be what failed (a full disk): the message below says so.
    }
    throw;
  } catch (const std::exception& e) {
    grid.progress.clear();
    run.fail_all(grid.store, "failed", short_error(e.what()));
    ++grid.summary.failed;
    std::cerr << title << ": failed: " << e.what() << "\n";  // in full, with any backtrace: the run's output
    return true;
  }
}

void train_share(const Experiment& ex, const Dataset& data, const Split& split,
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

}  // namespace mmsr

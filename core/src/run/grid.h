// Internal to the grid runner: what runner.cpp (the grid: checks, the store, one process per run) and
// in_process.cpp (one run trained and recorded in this process) share.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "mmsr/dataset.h"
#include "mmsr/registry.h"
#include "mmsr/runner.h"
#include "mmsr/store.h"

namespace mmsr {

// One line on a terminal, redrawn in place; nothing at all when stderr is not a terminal.
class ProgressLine {
 public:
  ProgressLine(bool enabled, bool force) : enabled_(enabled && (force || isatty(STDERR_FILENO))) {}
  void show(const std::string& text) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
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
  std::chrono::steady_clock::time_point last_{};
};

// What every run of a grid shares once the inputs are checked and the store is open.
struct GridContext {
  const Experiment& ex;
  const Dataset& data;
  const Split& split;
  const PluginRegistry& registry;
  const RunOptions& options;
  Store& store;
  ProgressLine& progress;
  GridSummary& summary;
  double load_seconds = 0;
  // The files the runs read (mmsr/load.h input_files_json): hashed once, when this process first claims a run.
  std::string inputs_json{};
};

// Claims the run's records, trains it here and records its result (or its failure). False when the grid must stop
// (a signal); an InputError (a full disk, ...) propagates after the records are marked failed.
bool run_in_this_process(GridContext& grid, const RunSpec& run, const std::vector<RunRecord>& records,
                         const std::string& title);

// A data-parallel run's process of rank > 0: trains its share of the run's batches with the others and records
// nothing (rank 0 records the run).
void train_share(const Experiment& ex, const Dataset& data, const Split& split,
                 const PluginRegistry& registry, const RunOptions& options, GridSummary& summary);

// The run's identity and the versions of the plugins it uses (JSON), as the store keeps them.
std::string run_key(const RunSpec& run, const Experiment& ex, const Dataset& data, const std::string& plugins_json);
std::string plugin_versions(const RunSpec& run, const PluginRegistry& registry);

// The run's checkpoint file under the store (its folder made), and every file of it removed.
std::string checkpoint_path(const std::string& store_path, const std::string& run_key);
void remove_checkpoint(const std::string& path);
void remove_file(const std::string& path);

// When a run is launched, for its "to_first_step" timing: the command's start for the first run the command launches
// (what a user waits for), now for every later one (steady-clock ticks).
int64_t run_launch_ticks(const RunOptions& options);

// The first line of an exception's message, for the store's runs.error: LibTorch's errors carry a backtrace of
// a dozen frames after it, which goes to the run's output (printed by the caller) rather than into the store.
std::string short_error(const std::string& what);

}  // namespace mmsr

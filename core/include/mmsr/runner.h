// Runs an experiment's grid into a store: loads the data once, skips runs that are already finished (so
// rerunning the same command resumes the grid), and records every run, epoch, metric and per-user rank.
#pragma once

#include <string>

#include "mmsr/config.h"
#include "mmsr/registry.h"

namespace mmsr {

struct RunOptions {
  std::string store_path;
  bool dry_run = false;  // parse, expand and load data; train nothing, write nothing
  bool progress = true;  // a live progress line (only when stderr is a terminal)
  bool verbose = false;  // one line per epoch
};

struct GridSummary {
  int total = 0, finished = 0, skipped = 0, failed = 0;
  bool interrupted = false;  // a signal stopped the grid; the current run is recorded as 'interrupted'
};

// Loads the dataset an experiment names (file readers + preprocessing, or the generator), with its item
// attributes and its modalities (memory-mapped feature files aligned to the item ids).
Dataset load_dataset(const Experiment& experiment);
// The same without modalities.
Dataset load_interactions(const Experiment& experiment);

GridSummary run_experiment(const Experiment& experiment, const std::string& config_text,
                           const PluginRegistry& registry, const RunOptions& options);

}  // namespace mmsr

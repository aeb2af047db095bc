// Runs an experiment's grid into a store: loads the data once, skips runs that are already finished (so
// rerunning the same command resumes the grid), and records every run, epoch, metric and per-user rank.
#pragma once

#include <string>
#include <vector>

#include "mmsr/config.h"
#include "mmsr/dataset_cache.h"
#include "mmsr/load.h"
#include "mmsr/registry.h"

namespace mmsr {

struct RunOptions {
  std::string store_path;
  std::string data_cache;  // the prepared-dataset cache's folder ("" = none; mmsr run --data-cache)
  bool dry_run = false;  // parse, expand and load data; train nothing, write nothing
  bool progress = true;  // a live progress line (only when stderr is a terminal)
  bool verbose = false;  // one line per epoch
  bool force_progress = false;  // draw the progress line even when stderr is not a terminal (a supervised child)
  bool announce_data = true;    // the "data: ..." line
  // A supervised child's side: about how long the grid's runs after this one will take (0 = not known yet), which
  // its progress line shows beside its own time left.
  double grid_after_seconds = 0;
  // Isolation: when set, every run executes in a child process started with this command line plus
  // "--supervised-run KEY", so that a crash, abort or kill inside a plugin fails that run only.
  std::vector<std::string> child_command;
  // With isolation: how many runs train at a time, each in its own process (mmsr run --jobs).
  int64_t jobs = 1;
  double run_timeout_seconds = 0;  // with isolation: a run still going after this long is stopped (0 = none)
  std::string only_run_key;        // the supervised child's side: this run only
  int64_t experiment_id = 0;       // the supervised child's side: its parent's row in `experiments` (0 = add one)
  double stale_seconds = 300;      // a runner on another machine whose heartbeat is older than this is gone
  // End-of-epoch checkpoints in <store>.checkpoints/: an interrupted, killed or crashed run resumes from its last
  // finished epoch and ends with the same result as an uninterrupted one (on the CPU).
  bool checkpoints = true;
  // Sharding (mmsr run --shard i/n): only the runs whose identity falls in share i of n (1-based); every run of
  // the grid is in exactly one share, whatever machine computes it.
  int64_t shard_index = 1, shard_count = 1;
  // Data-parallel runs ([train].processes > 1): the command line that starts one of a run's other training
  // processes (plus "--supervised-run KEY --data-parallel-rank R --rendezvous FILE").
  std::vector<std::string> worker_command;
  // The side of such a process (rank > 0): train the run only_run_key with the group meeting at rendezvous_file;
  // nothing is written to the store.
  int data_parallel_rank = 0;
  std::string rendezvous_file;
  // When the command started (steady-clock ticks; 0 = unknown): a run's "to_first_step" timing counts from it for
  // the first run the command launches, from its own launch for the others. A run's own process is told its launch.
  int64_t command_start_ticks = 0;
  // Tests: act as if a stop signal arrived right after this epoch of every run (0 = never).
  int64_t interrupt_after_epoch = 0;
  // Tests: a run's process waits this long after recording its result, so that a time limit arrives after the
  // commit (the race a run's final state must survive).
  double linger_after_run_seconds = 0;
};

struct GridSummary {
  int total = 0, finished = 0, skipped = 0, failed = 0;
  int elsewhere = 0;         // runs another live runner was working on: left to it
  bool found = true;         // with only_run_key: whether the run is in the grid
  bool input_error = false;  // a run's process stopped on something the user must fix (exit code 2): grid stopped
  bool interrupted = false;  // a signal stopped the grid; the current run is recorded as 'interrupted'
};

// How a supervised run's process (mmsr run --supervised-run KEY) tells its parent how the run ended.
enum SupervisedExit : int {
  kRunFinished = 0,
  kRunFailed = 1,         // recorded as failed by the run's process
  kRunInputError = 2,     // something the user must fix (a full disk, ...): the grid stops
  kRunElsewhere = 3,      // another live runner holds it
  kRunNotInGrid = 4,      // the experiment file no longer has it
  kRunAlreadyDone = 5,    // finished meanwhile by another runner
  kRunInterrupted = 130,  // stopped by a signal
};

GridSummary run_experiment(const Experiment& experiment, const std::string& config_text,
                           const PluginRegistry& registry, const RunOptions& options);

// The share (1..count) a run identity belongs to: a function of the identity only.
int64_t shard_of(const std::string& run_key, int64_t count);

}  // namespace mmsr

// Training and evaluation of one run. The interface is torch-free so that the command line, the runner and
// the store do not pay for LibTorch headers; the implementation lives in core/src/train.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "mmsr/config.h"
#include "mmsr/dataset.h"
#include "mmsr/metrics.h"
#include "mmsr/registry.h"
#include "mmsr/store.h"

namespace mmsr {

struct EpochReport {
  int64_t epoch = 0;
  double loss = 0;
  std::vector<std::pair<std::string, double>> terms;  // mean over the epoch's steps
  std::vector<MetricValue> valid;                     // empty when not evaluated this epoch
  double seconds = 0;
  bool improved = false;
};

struct StepReport {
  int64_t epoch = 0, max_epochs = 0, step = 0, steps_per_epoch = 0;
  double loss = 0;
};

struct RunCallbacks {
  std::function<void(const EpochReport&)> on_epoch;
  std::function<void(const StepReport&)> on_step;
  // Called once before training, with the epoch it continues after: the last epoch of the checkpoint it resumes
  // from, or 0 (no checkpoint, or none that passed its check).
  std::function<void(int64_t epoch)> on_resume;
  // One line the user should see (a damaged checkpoint set aside).
  std::function<void(const std::string&)> on_warning;
  // Where the run keeps its end-of-epoch checkpoint (model, optimizer, random state, early-stopping state); empty:
  // none. An existing file is resumed from; the file is removed when the run ends with a result.
  std::string checkpoint_path;
  // Data-parallel training ([train].processes > 1): this process's rank in the run's group and the file the group
  // meets through. Rank 0 trains, evaluates and records; the other ranks only train their share of each batch.
  int data_parallel_rank = 0;
  std::string rendezvous_file;
  // When the run was launched (steady-clock ticks, comparable across the processes of one machine; 0 = unknown):
  // the "to_first_step" timing is the time from it to the first training step.
  int64_t launched_at_ticks = 0;
};

// The selected model evaluated under one [[also_evaluate]] protocol (same order as Experiment::also_evaluate).
struct VariantOutcome {
  std::vector<MetricRecord> metrics;
  std::vector<RankRecord> ranks;
  std::vector<GroupMetricRecord> group_metrics;
  double test_eval_seconds = 0;
};

struct RunOutcome {
  std::string status = "finished";  // or "diverged", "interrupted"
  std::string error;
  std::string device;
  int64_t best_epoch = 0;
  std::vector<MetricRecord> metrics;  // valid and test, per branch and fused
  std::vector<RankRecord> ranks;      // per-user test (and valid) ranks of the selected epoch
  std::vector<TimingRecord> timings;
  std::vector<GroupMetricRecord> group_metrics;  // test metrics by target popularity group
  std::vector<VariantOutcome> variants;
};

// The item vectors' branches, the evaluation protocol and the metric selection all come from the experiment.
RunOutcome train_and_evaluate(const Experiment& experiment, const RunSpec& run, const Dataset& data,
                              const Split& split, const PluginRegistry& registry,
                              const RunCallbacks& callbacks);

// Builds the run's model once on the CPU and drops it: a plugin that refuses its parameters (say, heads that do
// not divide the dimension) becomes an InputError naming the model before anything is trained or written.
void check_buildable(const Experiment& experiment, const RunSpec& run, const Dataset& data,
                     const Split& split, const PluginRegistry& registry);

// The negatives of sampled evaluation, per user, when the protocol says candidates = "sampled" (from its file,
// relative to base_dir, or drawn from its seed); empty for full ranking.
std::vector<std::vector<int32_t>> sampled_negatives(const ParamSet& protocol, const std::string& base_dir,
                                                    const Dataset& data);

// Whether this build can train a run over several processes (c10d's Gloo backend was found at build time).
bool data_parallel_available();

// Whether LibTorch sees a CUDA device here.
bool cuda_available();

// The CPU kernels LibTorch dispatches to on this machine ("AVX2", "AVX512", ...): float results are reproducible
// between machines only where this and the build fingerprint agree.
std::string cpu_capability();

// The device a [train].device value resolves to here ("cpu", "cuda:0", ...); InputError for a bad value.
std::string resolve_device(const std::string& requested);

}  // namespace mmsr

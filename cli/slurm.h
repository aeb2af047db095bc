// mmsr slurm: a grid as a Slurm job array (one task per shard) and a dependent job that merges the shards' stores
// and writes the report. Slurm does the scheduling; mmsr only writes the scripts and submits them.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace mmsr::cli {

struct SlurmOptions {
  std::string experiment_file;  // absolute
  std::string out_dir;          // absolute: shard stores, logs, the merged store and the report
  std::string mmsr_binary;      // absolute
  std::vector<std::string> plugins;
  int shards = 2;
  int gpus_per_task = 0;
  int cpus_per_task = 0;  // 0: Slurm's default; also mmsr's --threads when set
  std::string time_limit = "24:00:00";
  std::string partition, account;
  std::vector<std::string> extra;  // further #SBATCH options, passed through as written
  bool print_only = false;
};

// The array script and the merge script.
std::pair<std::string, std::string> slurm_scripts(const SlurmOptions& options);

// Writes both scripts into out_dir/slurm/ and submits them with sbatch (the merge after every task, whatever their
// outcome), or prints them with print_only. Returns the exit code.
int submit_to_slurm(const SlurmOptions& options);

}  // namespace mmsr::cli

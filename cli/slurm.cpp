#include "slurm.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "mmsr/errors.h"

namespace mmsr::cli {
namespace {

// Single-quoted for the shell.
std::string q(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string header(const SlurmOptions& o, const std::string& name, const std::string& log) {
  std::string h = "#!/bin/bash\n";
  h += "#SBATCH --job-name=" + name + "\n";
  h += "#SBATCH --output=" + log + "\n";
  h += "#SBATCH --time=" + o.time_limit + "\n";
  if (!o.partition.empty()) h += "#SBATCH --partition=" + o.partition + "\n";
  if (!o.account.empty()) h += "#SBATCH --account=" + o.account + "\n";
  return h;
}

std::string plugin_args(const SlurmOptions& o) {
  std::string s;
  for (const auto& p : o.plugins) s += " --plugin " + q(p);
  return s;
}

std::string run_output(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[256];
  while (fgets(buf, sizeof(buf), p)) out += buf;
  if (pclose(p) != 0) throw InputError("`" + cmd + "` failed: " + out);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

}  // namespace

std::pair<std::string, std::string> slurm_scripts(const SlurmOptions& o) {
  const std::string stores = o.out_dir + "/shards";
  std::string array = header(o, "mmsr-grid", o.out_dir + "/slurm/shard-%a.log");
  array += fmt::format("#SBATCH --array=1-{}\n", o.shards);
  if (o.gpus_per_task > 0) array += fmt::format("#SBATCH --gpus-per-task={}\n", o.gpus_per_task);
  if (o.cpus_per_task > 0) array += fmt::format("#SBATCH --cpus-per-task={}\n", o.cpus_per_task);
  for (const auto& e : o.extra) array += "#SBATCH " + e + "\n";
  array += "set -euo pipefail\n";
  array += "# One share of the grid per task, by run identity (mmsr run --shard); a task that is requeued or rerun\n"
           "# skips its finished runs and resumes the others from their checkpoints.\n";
  array += fmt::format("exec {}{} run {} --shard \"$SLURM_ARRAY_TASK_ID/{}\" --store {}/shard-\"$SLURM_ARRAY_TASK_ID\".sqlite "
                       "--no-report -q{}\n",
                       q(o.mmsr_binary), plugin_args(o), q(o.experiment_file), o.shards, q(stores),
                       o.cpus_per_task > 0 ? fmt::format(" --threads {}", o.cpus_per_task) : "");
  std::string merge = header(o, "mmsr-merge", o.out_dir + "/slurm/merge.log");
  merge += "set -euo pipefail\n";
  merge += "# Runs after every task of the array, whatever their outcome: what finished is merged and reported.\n";
  merge += fmt::format("shopt -s nullglob\nstores=({}/shard-*.sqlite)\n", q(stores));
  merge += fmt::format("{} merge --into {} \"${{stores[@]}}\"\n", q(o.mmsr_binary), q(o.out_dir + "/grid.sqlite"));
  merge += fmt::format("{} report --store {} --output-dir {}\n", q(o.mmsr_binary), q(o.out_dir + "/grid.sqlite"),
                       q(o.out_dir + "/report"));
  return {array, merge};
}

int submit_to_slurm(const SlurmOptions& o) {
  if (o.shards < 1) throw InputError("--shards must be at least 1");
  auto [array, merge] = slurm_scripts(o);
  if (o.print_only) {
    std::cout << "# " << o.out_dir << "/slurm/grid.sbatch\n" << array << "\n# " << o.out_dir << "/slurm/merge.sbatch\n"
              << merge;
    return 0;
  }
  std::error_code ec;
  std::filesystem::create_directories(o.out_dir + "/slurm", ec);
  std::filesystem::create_directories(o.out_dir + "/shards", ec);
  if (ec) throw InputError(o.out_dir + ": cannot create the job folder (" + ec.message() + ")");
  const std::string array_path = o.out_dir + "/slurm/grid.sbatch", merge_path = o.out_dir + "/slurm/merge.sbatch";
  std::ofstream(array_path) << array;
  std::ofstream(merge_path) << merge;
  if (run_output("command -v sbatch || true").empty())
    throw InputError("sbatch is not on the PATH: run this on a Slurm login node, or use --print to see the scripts "
                     "(written to " + o.out_dir + "/slurm/)");
  const std::string array_id = run_output("sbatch --parsable " + q(array_path));
  const std::string merge_id =
      run_output("sbatch --parsable --dependency=afterany:" + array_id.substr(0, array_id.find(';')) + " " + q(merge_path));
  std::cerr << fmt::format("submitted job array {} ({} tasks) and merge job {}; the report will be in {}/report/\n",
                           array_id, o.shards, merge_id, o.out_dir);
  std::cout << array_id << " " << merge_id << "\n";
  return 0;
}

}  // namespace mmsr::cli

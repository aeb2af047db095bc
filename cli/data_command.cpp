// mmsr data stats FILE: the experiment's dataset after preprocessing, its side information and its modalities.
// mmsr slurm FILE: the grid as a Slurm job array (slurm.cpp writes the scripts).
#include <algorithm>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "commands.h"
#include "mmsr/config.h"
#include "mmsr/features.h"
#include "mmsr/input_files.h"
#include "mmsr/load.h"
#include "mmsr/text.h"
#include "slurm.h"

namespace mmsr::cli {
namespace {

void print_attributes(const Dataset& d) {
  for (const auto& [field, a] : d.attributes) {
    int64_t total = 0, without = 0;
    for (size_t i = 1; i < a.of_item.size(); ++i) {
      total += int64_t(a.of_item[i].size());
      without += a.of_item[i].empty();
    }
    std::cout << fmt::format("attribute field '{}': {} values, {:.2f} per item (at most {}), {} items without\n", field,
                             a.vocabulary(), double(total) / double(std::max<int64_t>(1, d.num_items())),
                             a.max_per_item(), without);
  }
}

void print_modalities(const Dataset& d) {
  if (!d.modalities) return;
  for (const auto& name : d.modalities->names()) {
    const FeatureTable* t = d.modalities->find(name);
    const int64_t items = d.num_items(), covered = items - t->missing_items();
    std::cout << fmt::format("modality '{}': {} x {}{} {}, {} rows, covers {} of {} items ({:.1f}%){}\n", name,
                             t->pooled() ? "1" : std::to_string(t->tokens()), t->dim(),
                             t->pooled() ? " (pooled)" : " tokens",
                             t->dtype() == FeatureDtype::Float16 ? "float16" : "float32", t->rows(), covered, items,
                             100.0 * double(covered) / double(std::max<int64_t>(1, items)),
                             t->has_mask() ? ", with a token mask" : "");
  }
}

class DataCommand : public Command {
 public:
  explicit DataCommand(CLI::App& app) : Command(app.add_subcommand("data", "inspect datasets")) {
    stats_ = app_->add_subcommand("stats", "statistics of an experiment's dataset after preprocessing");
    stats_->add_option("FILE", file_, "experiment TOML file")->required();
    app_->require_subcommand(1);
  }

  int execute(const GlobalOptions& global) override {
    PluginRegistry registry;
    load_plugins(registry, global.plugin_libs);
    auto ex = load_experiment(
        file_, [&](PluginKind k, const std::string& n) { return registry.find(k, n); },
        [&](PluginKind k) { return registry.names(k); });
    auto d = load_dataset(ex, DatasetCache(DatasetCache::default_folder()));
    auto st = compute_stats(d);
    std::cout << fmt::format(
        "dataset {} (checksum {})\nusers {}\nitems {}\ninteractions {}\nsequence length: mean {:.2f}, "
        "median {:.1f}, min {}, max {}\n",
        d.name, d.checksum, st.users, st.items, st.interactions, st.mean_length, st.median_length, st.min_length,
        st.max_length);
    if (st.length_quantiles.size() == 5)
      std::cout << fmt::format("sequence length at 10/25/50/75/90% of users: {}\n", fmt::join(st.length_quantiles, " / "));
    std::cout << fmt::format(
        "density {:.6f}\nunder leave-one-out: items in no training part: {}; validation targets unseen in "
        "training: {}; test targets unseen in training: {}\n",
        st.density, st.items_not_in_training, st.cold_valid_items, st.cold_test_items);
    if (st.time_points.size() == 4)
      std::cout << fmt::format("timestamps: first {}, last {}; the last 20% / 10% of interactions begin at {} / {}\n",
                               timestamp_text(st.time_points[0]), timestamp_text(st.time_points[3]),
                               timestamp_text(st.time_points[1]), timestamp_text(st.time_points[2]));
    if (st.published_parts.size() == 3)
      std::cout << fmt::format("published split: {} training, {} validation, {} test interactions\n",
                               st.published_parts[0], st.published_parts[1], st.published_parts[2]);
    print_attributes(d);
    print_modalities(d);
    return 0;
  }

 private:
  CLI::App* stats_;
  std::string file_;
};

class SlurmCommand : public Command {
 public:
  explicit SlurmCommand(CLI::App& app)
      : Command(app.add_subcommand("slurm", "run a grid on a Slurm cluster: a job array of shards, then merge and report")) {
    app_->add_option("FILE", file_, "experiment TOML file")->required();
    app_->add_option("--out", dir_, "folder for the shards' stores, logs, the merged store and the report")
        ->capture_default_str();
    app_->add_option("--shards", o_.shards, "array tasks (shares of the grid)")->capture_default_str()->check(CLI::Range(1, 100000));
    app_->add_option("--gpus-per-task", o_.gpus_per_task, "GPUs per task")->check(CLI::Range(0, 64));
    app_->add_option("--cpus-per-task", o_.cpus_per_task, "CPUs per task (also mmsr's --threads)")->check(CLI::Range(0, 1024));
    app_->add_option("--time", o_.time_limit, "time limit per task (Slurm format)")->capture_default_str();
    app_->add_option("--partition", o_.partition, "Slurm partition");
    app_->add_option("--account", o_.account, "Slurm account");
    app_->add_option("--sbatch", o_.extra, "another #SBATCH option, as written (repeatable), e.g. --sbatch=--qos=long");
    app_->add_flag("--print", o_.print_only, "print the two scripts instead of submitting them");
  }

  int execute(const GlobalOptions& global) override {
    require_readable_file(file_, "experiment file");
    {
      // Refuse a bad grid now rather than in every task of the array.
      PluginRegistry registry;
      load_plugins(registry, global.plugin_libs);
      load_experiment(
          file_, [&](PluginKind k, const std::string& n) { return registry.find(k, n); },
          [&](PluginKind k) { return registry.names(k); });
    }
    o_.experiment_file = std::filesystem::absolute(file_).string();
    o_.out_dir = std::filesystem::absolute(dir_).lexically_normal().string();
    o_.mmsr_binary = std::filesystem::read_symlink("/proc/self/exe").string();
    for (const auto& p : global.plugin_libs) o_.plugins.push_back(std::filesystem::absolute(p).string());
    return submit_to_slurm(o_);
  }

 private:
  SlurmOptions o_;
  std::string file_, dir_ = "results/slurm-grid";
};

}  // namespace

std::unique_ptr<Command> add_data_command(CLI::App& app) { return std::make_unique<DataCommand>(app); }
std::unique_ptr<Command> add_slurm_command(CLI::App& app) { return std::make_unique<SlurmCommand>(app); }

}  // namespace mmsr::cli

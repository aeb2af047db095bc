// mmsr: the command line. Exit codes: 0 success, 1 some runs failed, 2 bad input (nothing written),
// 130 interrupted by a signal (the current run recorded as interrupted).
#include <algorithm>
#include <cmath>
#include <chrono>
#include <csignal>
#include <malloc.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "mmsr/config.h"
#include "mmsr/features.h"
#include "mmsr/errors.h"
#include "mmsr/input_files.h"
#include "mmsr/interrupt.h"
#include "mmsr/merge.h"
#include "mmsr/readers.h"
#include "mmsr/registry.h"
#include "mmsr/report.h"
#include "mmsr/runner.h"
#include "mmsr/text.h"
#include "slurm.h"

namespace {

std::string executable_dir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : p.parent_path().string();
}

void load_plugins(mmsr::PluginRegistry& registry, const std::vector<std::string>& extra) {
  for (const auto& lib : extra) registry.load_library(lib);
  for (const auto& dir : mmsr::default_plugin_dirs(executable_dir())) registry.load_directory(dir);
}

std::string read_file(const std::string& path, const std::string& what) {
  mmsr::require_readable_file(path, what);
  std::ifstream in(path);
  if (!in) throw mmsr::InputError(path + ": cannot open the " + what);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// CLI11's Range lets nan through (every comparison with it is false): numbers given on the command line must be
// finite and in range.
CLI::Validator finite_in(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        double v = 0;
        try {
          size_t used = 0;
          v = std::stod(text, &used);
          if (used != text.size()) return "'" + text + "' is not a number";
        } catch (const std::exception&) {
          return "'" + text + "' is not a number";
        }
        if (!std::isfinite(v)) return "'" + text + "' is not a finite number";
        if (v < lo || v > hi) return fmt::format("{} is not in [{}, {}]", text, lo, hi);
        return "";
      },
      fmt::format("FINITE in [{}, {}]", lo, hi));
}

void print_params(const mmsr::ParamDecl& decl) {
  size_t width = 4;
  for (const auto& s : decl.specs()) width = std::max(width, s.name.size());
  for (const auto& s : decl.specs()) {
    std::string range = s.describe_range();
    std::cout << fmt::format("  {:<{}}  {:<16} = {:<10} {}{}\n", s.name, width, mmsr::to_string(s.type),
                             mmsr::format_value(s.default_value), s.doc,
                             range.empty() ? "" : " (" + range + ")");
  }
}

int cmd_plugins(const mmsr::PluginRegistry& registry, const std::string& show) {
  if (!show.empty()) {
    auto entries = registry.find_any(show);
    if (entries.empty()) {
      std::vector<std::string> all;
      for (auto* e : registry.entries()) all.push_back(e->name);
      throw mmsr::InputError("no plugin named '" + show + "'" + mmsr::did_you_mean(show, all) +
                             "; `mmsr plugins` lists them");
    }
    for (const auto* e : entries) {
      std::cout << fmt::format("{} ({}) — {}\n  from {} version {}\n", e->name, mmsr::to_string(e->kind),
                               e->description, e->library.empty() ? "built in" : e->library,
                               e->library_version);
      print_params(e->params);
    }
    return 0;
  }
  for (auto kind : {mmsr::PluginKind::ItemTower, mmsr::PluginKind::Backbone, mmsr::PluginKind::Objective}) {
    std::cout << (kind == mmsr::PluginKind::Objective ? std::string("losses")
                                                      : mmsr::to_string(kind) + "s") << ":\n";
    for (const auto& name : registry.names(kind)) {
      const auto* e = registry.find(kind, name);
      std::cout << fmt::format("  {:<16} {} [{} {}]\n", name, e->description,
                               std::filesystem::path(e->library).filename().string(), e->library_version);
    }
  }
  std::cout << "\nexperiment sections ([experiment], [data], [data.synthetic], [protocol], [train]): "
               "`mmsr plugins show-config`\n";
  return 0;
}

int cmd_show_config() {
  std::cout << "[experiment]\n";
  print_params(mmsr::experiment_section());
  std::cout << "[data]\n";
  print_params(mmsr::data_section());
  std::cout << "[data.synthetic]\n";
  print_params(mmsr::synthetic_section());
  std::cout << "[protocol]\n";
  print_params(mmsr::protocol_section());
  std::cout << "[train]  (also per model as [model.train]; arrays are grid axes)\n";
  print_params(mmsr::train_section());
  return 0;
}

}  // namespace

// Writes a file whole or not at all: the report goes to a temporary name first, then is renamed over the target.
void write_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) throw mmsr::InputError(path + ": cannot write here (check the directory exists and is writable)");
    f << text;
    if (!f.flush()) throw mmsr::InputError(path + ": writing failed (disk full?)");
  }
  std::filesystem::rename(tmp, path);
}

int cmd_report(mmsr::ReportOptions options, const std::vector<std::string>& diff, const std::string& output,
               const std::string& dir, const std::string& default_store) {
  if (diff.size() == 2) {
    std::string text = mmsr::diff_reports(read_file(diff[0], "JSON report"), read_file(diff[1], "JSON report"), diff[0],
                                          diff[1]);
    if (output.empty()) std::cout << text; else write_atomically(output, text);
    return 0;
  }
  if (options.stores.empty()) options.stores.push_back(default_store);
  if (options.format.empty()) {
    const std::string ext = std::filesystem::path(output).extension().string();
    options.format = ext == ".html" ? "html" : ext == ".csv" ? "csv" : ext == ".json" ? "json" : "md";
  }
  auto boards = mmsr::build_leaderboards(options);
  if (!dir.empty()) {
    std::filesystem::create_directories(dir);
    for (const char* format : {"md", "html", "csv", "json"})
      write_atomically((std::filesystem::path(dir) / (std::string("report.") + format)).string(),
                       mmsr::render(boards, format));
    std::cerr << "wrote " << dir << "/report.{md,html,csv,json}\n";
    return 0;
  }
  std::string text = mmsr::render(boards, options.format);
  if (output.empty()) std::cout << text; else write_atomically(output, text);
  return 0;
}

int main(int argc, char** argv) {
  // Training allocates and frees tensors of tens of MB every step. glibc serves those with mmap and returns
  // them to the kernel on free, so every step page-faults them in again (measured: half the CPU time in the
  // kernel on Beauty). Keeping them in the heap removes that cost.
  // A file-size limit (ulimit -f) should be a clear "disk full" error from the store, not a kill by SIGXFSZ.
  std::signal(SIGXFSZ, SIG_IGN);
  // When the command started, for the "to_first_step" timing of its runs (a run's own process inherits it).
  if (!std::getenv("MMSR_COMMAND_START"))
    setenv("MMSR_COMMAND_START",
           std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()).c_str(), 1);
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
  CLI::App app{"mmsr: a benchmarking host for (multimodal) sequential recommenders"};
  app.require_subcommand(1);
  std::vector<std::string> plugin_libs;
  app.add_option("--plugin", plugin_libs, "load this plugin library too (repeatable)");

  auto* run = app.add_subcommand("run", "run an experiment grid into a results store");
  std::string run_file, store_path = "results/mmsr.sqlite";
  bool dry_run = false, quiet = false, verbose = false, no_report = false;
  run->add_option("FILE", run_file, "experiment TOML file")->required();
  run->add_option("--store", store_path, "results store (SQLite)")->capture_default_str();
  run->add_flag("--dry-run", dry_run, "check the file and the data, list the runs, write nothing");
  run->add_flag("-q,--quiet", quiet, "no progress line");
  run->add_flag("-v,--verbose", verbose, "one line per epoch");
  run->add_flag("--no-report", no_report, "do not print the leaderboard at the end");
  std::vector<uint64_t> only_seeds;
  run->add_option("--seeds", only_seeds,
                  "run only these of the experiment's seeds (e.g. a first look with one seed; the runs are the "
                  "same as in the full grid, which a later run without --seeds completes)");
  std::vector<std::string> only_models;
  run->add_option("--models", only_models,
                  "run only these models (their [[model]] names; the runs are the same as in the full grid)");
  int64_t threads = -1;
  run->add_option("--threads", threads,
                  "CPU threads per run, overriding [train].threads (not part of a run's identity: e.g. two "
                  "grids side by side with --threads 1 each)")
      ->check(CLI::Range(int64_t(0), int64_t(1024)));

  bool no_isolation = false;
  run->add_flag("--no-isolation", no_isolation,
                "train every run inside this process (faster to start; a crash in a plugin then stops the grid)");
  std::string shard;
  run->add_option("--shard", shard,
                  "run only share I of N of the grid (e.g. 2/4; by run identity, so every run is in exactly one "
                  "share); combine the stores with mmsr merge");
  std::string data_cache = mmsr::DatasetCache::default_folder();
  run->add_option("--data-cache", data_cache,
                  "folder of prepared datasets (read and preprocessed once, keyed by the files' bytes, the options "
                  "and the reader's code); off = read the files every time. Default: $MMSR_DATA_CACHE, else "
                  "$XDG_CACHE_HOME/mmsr/datasets, else ~/.cache/mmsr/datasets")
      ->capture_default_str();
  bool no_checkpoints = false;
  run->add_flag("--no-checkpoints", no_checkpoints,
                "no end-of-epoch checkpoints (an interrupted run then restarts from its first epoch)");
  double run_timeout = 0;
  run->add_option("--run-timeout", run_timeout,
                  "stop a run that is still going after this many seconds and record it as failed (0 = no limit)")
      ->check(finite_in(0.0, 1e9));
  std::string supervised_key;
  bool tty_progress = false;
  // The child side of isolation: run this one run and exit with a mmsr::SupervisedExit code.
  run->add_option("--supervised-run", supervised_key)->group("");
  int64_t parent_experiment_id = 0;
  run->add_option("--experiment-id", parent_experiment_id)->group("");
  double linger_after_run = 0;  // tests only: see RunOptions::linger_after_run_seconds
  run->add_option("--linger-after-run", linger_after_run)->group("")->check(finite_in(0, 3600));
  run->add_flag("--tty-progress", tty_progress)->group("");
  // The other processes of a data-parallel run: train run KEY's share as rank R, meeting at FILE.
  int data_parallel_rank = 0;
  std::string rendezvous_file;
  run->add_option("--data-parallel-rank", data_parallel_rank)->group("");
  run->add_option("--rendezvous", rendezvous_file)->group("");

  auto* plugins = app.add_subcommand("plugins", "list plugins, or show one's parameters");
  std::string show_name;
  auto* show = plugins->add_subcommand("show", "print a plugin's parameters from its declaration");
  show->add_option("NAME", show_name, "plugin name")->required();
  auto* show_config = plugins->add_subcommand("show-config", "print the experiment file's core sections");

  auto* report = app.add_subcommand("report", "leaderboards from results stores (Markdown, HTML, CSV, JSON)");
  mmsr::ReportOptions ropt;
  ropt.format.clear();
  std::string report_output, report_dir;
  report->add_option("--store", ropt.stores, "results store(s); several are merged (e.g. from several machines)")
      ->expected(1, -1);
  report->add_option("--format", ropt.format, "md, html, csv or json (default: from --output's extension, else md)");
  report->add_option("-o,--output", report_output, "write to this file instead of the terminal");
  report->add_option("--output-dir", report_dir, "write report.md, report.html, report.csv and report.json here");
  report->add_option("--baseline", ropt.baseline,
                     "model (or 'Model (grid)' row label) every row is compared with; default: the best on validation");
  report->add_option("--alpha", ropt.alpha, "significance level after Holm's correction")
      ->capture_default_str()
      ->check(finite_in(1e-6, 0.5));
  report->add_option("--split", ropt.split, "test or valid")->capture_default_str()->check(CLI::IsMember({"test", "valid"}));
  report->add_option("--branch", ropt.branch, "branch to rank by (fused = the model's score)")->capture_default_str();
  auto* diff = report->add_subcommand("diff", "compare two JSON reports (mmsr report --format json)");
  std::string diff_old, diff_new;
  diff->add_option("OLD", diff_old, "the earlier JSON report")->required();
  diff->add_option("NEW", diff_new, "the later JSON report")->required();

  auto* merge = app.add_subcommand("merge", "combine results stores (e.g. the shards of a grid) into one");
  std::string merge_into;
  std::vector<std::string> merge_from;
  merge->add_option("--into", merge_into, "the store to add the runs to (created if absent)")->required();
  merge->add_option("STORES", merge_from, "stores to read (only read)")->required()->expected(1, -1);

  auto* slurm = app.add_subcommand("slurm", "run a grid on a Slurm cluster: a job array of shards, then merge and report");
  mmsr::cli::SlurmOptions sopt;
  std::string slurm_file, slurm_dir = "results/slurm-grid";
  slurm->add_option("FILE", slurm_file, "experiment TOML file")->required();
  slurm->add_option("--out", slurm_dir, "folder for the shards' stores, logs, the merged store and the report")
      ->capture_default_str();
  slurm->add_option("--shards", sopt.shards, "array tasks (shares of the grid)")->capture_default_str()->check(CLI::Range(1, 100000));
  slurm->add_option("--gpus-per-task", sopt.gpus_per_task, "GPUs per task")->check(CLI::Range(0, 64));
  slurm->add_option("--cpus-per-task", sopt.cpus_per_task, "CPUs per task (also mmsr's --threads)")->check(CLI::Range(0, 1024));
  slurm->add_option("--time", sopt.time_limit, "time limit per task (Slurm format)")->capture_default_str();
  slurm->add_option("--partition", sopt.partition, "Slurm partition");
  slurm->add_option("--account", sopt.account, "Slurm account");
  slurm->add_option("--sbatch", sopt.extra, "another #SBATCH option, as written (repeatable), e.g. --sbatch=--qos=long");
  slurm->add_flag("--print", sopt.print_only, "print the two scripts instead of submitting them");

  auto* data = app.add_subcommand("data", "inspect datasets");
  auto* stats = data->add_subcommand("stats", "statistics of an experiment's dataset after preprocessing");
  std::string stats_file;
  stats->add_option("FILE", stats_file, "experiment TOML file")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    // One line, like every other bad input.
    std::string message = e.what();
    for (char& c : message)
      if (c == '\n') c = ' ';
    std::cerr << "error: " << message << " (mmsr --help, or mmsr <command> --help, lists the options)\n";
    return 2;
  }

  try {
    if (*report) return cmd_report(ropt, *diff ? std::vector<std::string>{diff_old, diff_new} : std::vector<std::string>{},
                                   report_output, report_dir, store_path);
    if (*slurm) {
      mmsr::require_readable_file(slurm_file, "experiment file");
      {
        // Refuse a bad grid now rather than in every task of the array.
        mmsr::PluginRegistry check_registry;
        load_plugins(check_registry, plugin_libs);
        mmsr::load_experiment(slurm_file, [&](mmsr::PluginKind k, const std::string& n) { return check_registry.find(k, n); },
                              [&](mmsr::PluginKind k) { return check_registry.names(k); });
      }
      sopt.experiment_file = std::filesystem::absolute(slurm_file).string();
      sopt.out_dir = std::filesystem::absolute(slurm_dir).lexically_normal().string();
      sopt.mmsr_binary = std::filesystem::read_symlink("/proc/self/exe").string();
      for (const auto& p : plugin_libs) sopt.plugins.push_back(std::filesystem::absolute(p).string());
      return mmsr::cli::submit_to_slurm(sopt);
    }
    if (*merge) {
      auto m = mmsr::merge_stores(merge_into, merge_from);
      std::cerr << fmt::format("{}: {} runs added, {} already there with the same results, {} unfinished runs left "
                               "out, {} conflicts{}\n",
                               merge_into, m.copied, m.already, m.unfinished, m.conflicts.size(),
                               m.unreadable ? fmt::format(", {} finished runs unreadable (on damaged pages) left out",
                                                          m.unreadable)
                                            : "");
      for (const auto& c : m.conflicts)
        std::cerr << fmt::format("conflict: run {} ({}) from {}: {}; the target's result was kept\n", c.run_key, c.model,
                                 c.source, c.detail);
      return m.conflicts.empty() ? 0 : 1;
    }
    if (*plugins && *show_config) return cmd_show_config();
    mmsr::PluginRegistry registry;
    load_plugins(registry, plugin_libs);
    auto lookup = [&](mmsr::PluginKind k, const std::string& n) { return registry.find(k, n); };
    auto names = [&](mmsr::PluginKind k) { return registry.names(k); };
    if (*plugins) return cmd_plugins(registry, *show ? show_name : "");
    if (*stats) {
      auto ex = mmsr::load_experiment(stats_file, lookup, names);
      auto d = mmsr::load_dataset(ex, mmsr::DatasetCache(mmsr::DatasetCache::default_folder()));
      auto st = mmsr::compute_stats(d);
      std::cout << fmt::format(
          "dataset {} (checksum {})\nusers {}\nitems {}\ninteractions {}\nsequence length: mean {:.2f}, "
          "median {:.1f}, min {}, max {}\ndensity {:.6f}\ntest targets unseen in training: {}\n",
          d.name, d.checksum, st.users, st.items, st.interactions, st.mean_length, st.median_length,
          st.min_length, st.max_length, st.density, st.cold_test_items);
      for (const auto& [field, a] : d.attributes) {
        int64_t total = 0, without = 0;
        for (size_t i = 1; i < a.of_item.size(); ++i) {
          total += int64_t(a.of_item[i].size());
          without += a.of_item[i].empty();
        }
        std::cout << fmt::format("attribute field '{}': {} values, {:.2f} per item (at most {}), {} items without\n",
                                 field, a.vocabulary(), double(total) / double(std::max<int64_t>(1, d.num_items())),
                                 a.max_per_item(), without);
      }
      if (d.modalities)
        for (const auto& name : d.modalities->names()) {
          const mmsr::FeatureTable* t = d.modalities->find(name);
          std::cout << fmt::format("modality '{}': {} x {}{} {}, {} rows, {} items without a row{}\n", name,
                                   t->pooled() ? "1" : std::to_string(t->tokens()), t->dim(),
                                   t->pooled() ? " (pooled)" : " tokens",
                                   t->dtype() == mmsr::FeatureDtype::Float16 ? "float16" : "float32", t->rows(),
                                   t->missing_items(), t->has_mask() ? ", with a token mask" : "");
        }
      return 0;
    }
    if (*run) {
      std::string text = read_file(run_file, "experiment file");
      std::string base = std::filesystem::absolute(run_file).parent_path().string();
      auto ex = mmsr::parse_experiment(text, run_file, base, lookup, names);
      if (!only_seeds.empty()) {
        for (uint64_t s : only_seeds)
          if (std::find(ex.seeds.begin(), ex.seeds.end(), s) == ex.seeds.end())
            throw mmsr::InputError(run_file + ": --seeds " + std::to_string(s) +
                                   " is not one of [experiment].seeds");
        std::vector<mmsr::RunSpec> kept;
        for (auto& r : ex.runs)
          if (std::find(only_seeds.begin(), only_seeds.end(), r.seed) != only_seeds.end()) kept.push_back(r);
        ex.runs = std::move(kept);
      }
      if (!only_models.empty()) {
        std::vector<std::string> known;
        for (const auto& r : ex.runs)
          if (std::find(known.begin(), known.end(), r.model_name) == known.end()) known.push_back(r.model_name);
        for (const auto& m : only_models)
          if (std::find(known.begin(), known.end(), m) == known.end()) {
            std::string list;
            for (const auto& k : known) list += (list.empty() ? "\"" : ", \"") + k + "\"";
            throw mmsr::InputError(run_file + ": --models \"" + m + "\" is not a model of the file (it has " + list + ")");
          }
        std::vector<mmsr::RunSpec> kept;
        for (auto& r : ex.runs)
          if (std::find(only_models.begin(), only_models.end(), r.model_name) != only_models.end()) kept.push_back(r);
        ex.runs = std::move(kept);
      }
      if (threads >= 0)
        for (auto& r : ex.runs) {
          auto values = r.train.values();
          values["threads"] = threads;
          r.train = mmsr::ParamSet(values);
        }
      mmsr::RunOptions opt;
      opt.store_path = store_path;
      opt.dry_run = dry_run;
      opt.progress = !quiet;
      opt.verbose = verbose;
      opt.run_timeout_seconds = run_timeout;
      if (!shard.empty()) {
        auto slash = shard.find('/');
        try {
          if (slash == std::string::npos) throw std::invalid_argument("no slash");
          opt.shard_index = std::stoll(shard.substr(0, slash));
          opt.shard_count = std::stoll(shard.substr(slash + 1));
        } catch (const std::exception&) {
          opt.shard_count = 0;
        }
        if (opt.shard_count < 1 || opt.shard_index < 1 || opt.shard_index > opt.shard_count)
          throw mmsr::InputError("--shard " + shard + ": use I/N with 1 <= I <= N, e.g. --shard 1/4");
      }
      opt.checkpoints = !no_checkpoints;
      if (data_cache == "off") data_cache.clear();
      opt.data_cache = data_cache;
      // This program again, with the same plugins and settings: a run's own process (isolation) and the other
      // processes of a data-parallel run start from it.
      std::vector<std::string> same_run = {std::filesystem::read_symlink("/proc/self/exe").string()};
      for (const auto& lib : plugin_libs) same_run.insert(same_run.end(), {"--plugin", lib});
      same_run.insert(same_run.end(), {"run", run_file, "--store", store_path});
      if (threads >= 0) same_run.insert(same_run.end(), {"--threads", std::to_string(threads)});
      if (!only_seeds.empty()) {
        // The same view of the grid as this process (its [i/n] numbering), though the run is chosen by identity.
        same_run.push_back("--seeds");
        for (auto seed : only_seeds) same_run.push_back(std::to_string(seed));
      }
      if (!only_models.empty()) {
        same_run.push_back("--models");
        for (const auto& m : only_models) same_run.push_back(m);
      }
      if (no_checkpoints) same_run.push_back("--no-checkpoints");
      opt.linger_after_run_seconds = linger_after_run;
      if (linger_after_run > 0) same_run.insert(same_run.end(), {"--linger-after-run", std::to_string(linger_after_run)});
      same_run.insert(same_run.end(), {"--data-cache", data_cache.empty() ? "off" : data_cache});
      if (!dry_run) {
        opt.worker_command = same_run;
        opt.worker_command.push_back("-q");
      }
      if (!supervised_key.empty()) {
        opt.only_run_key = supervised_key;
        opt.experiment_id = parent_experiment_id;
        opt.announce_data = false;
        opt.force_progress = tty_progress;
        opt.data_parallel_rank = data_parallel_rank;
        opt.rendezvous_file = rendezvous_file;
      } else if (!no_isolation && !dry_run) {
        // Each run in a child process.
        opt.child_command = same_run;
        if (quiet) opt.child_command.push_back("-q");
        if (verbose) opt.child_command.push_back("-v");
        if (!quiet && isatty(STDERR_FILENO)) opt.child_command.push_back("--tty-progress");
      } else if (run_timeout > 0) {
        throw mmsr::InputError("--run-timeout needs isolation: drop --no-isolation");
      }
      mmsr::install_interrupt_handlers();
      auto summary = mmsr::run_experiment(ex, text, registry, opt);
      if (dry_run) return 0;
      if (summary.interrupted) return 130;
      if (summary.input_error) return 2;  // the run's process printed the one-line error
      if (!supervised_key.empty()) {
        if (!summary.found) {
          std::cerr << "error: " << run_file << " no longer has this run (was the file edited while the grid ran?)\n";
          return mmsr::kRunNotInGrid;
        }
        return summary.failed > 0      ? mmsr::kRunFailed
               : summary.elsewhere > 0 ? mmsr::kRunElsewhere
               : summary.skipped > 0   ? mmsr::kRunAlreadyDone
                                       : mmsr::kRunFinished;
      }
      std::cerr << fmt::format("{} runs: {} finished now, {} already finished, {} failed{}\n", summary.total,
                               summary.finished, summary.skipped, summary.failed,
                               summary.elsewhere ? fmt::format(", {} left to another runner", summary.elsewhere) : "");
      if (!no_report) {
        mmsr::ReportOptions r;
        r.stores = {store_path};
        std::cout << mmsr::render(mmsr::build_leaderboards(r), "md");
      }
      return summary.failed > 0 ? 1 : 0;
    }
  } catch (const mmsr::InputError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

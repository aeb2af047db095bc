// mmsr run FILE: a grid into a results store. The parent process checks every input, then starts each run in a
// process of its own (the same command with --supervised-run KEY), which claims, trains and records it.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "commands.h"
#include "mmsr/config.h"
#include "mmsr/errors.h"
#include "mmsr/interrupt.h"
#include "mmsr/report.h"
#include "mmsr/runner.h"
#include "mmsr/store.h"

namespace mmsr::cli {
namespace {

// The options only mmsr itself passes to a run's own process (hidden from --help).
struct ChildSide {
  std::string supervised_key;     // run this one run and exit with a SupervisedExit code
  int64_t parent_experiment_id = 0;
  double linger_after_run = 0;    // tests only: see RunOptions::linger_after_run_seconds
  bool tty_progress = false;
  int64_t launched_at = 0;        // when the parent launched this run (steady-clock ticks)
  double grid_after = 0;          // about how long the grid's later runs will take (the parent's estimate)
  int data_parallel_rank = 0;     // a data-parallel run's other process: train run KEY's share as rank R
  std::string rendezvous_file;    // ... meeting the others at this file
};

class RunCommand : public Command {
 public:
  explicit RunCommand(CLI::App& app) : Command(app.add_subcommand("run", "run an experiment grid into a results store")) {
    declare_user_options();
    declare_child_options();
  }

  int execute(const GlobalOptions& global) override {
    PluginRegistry registry;
    load_plugins(registry, global.plugin_libs);
    const std::string text = read_file(file_, "experiment file");
    const std::string base = std::filesystem::absolute(file_).parent_path().string();
    Experiment ex = parse_experiment(
        text, file_, base, [&](PluginKind k, const std::string& n) { return registry.find(k, n); },
        [&](PluginKind k) { return registry.names(k); }, train_defaults());
    share_the_cores();
    keep_only_the_chosen_runs(ex);
    RunOptions opt = run_options(global);
    install_interrupt_handlers();
    GridSummary summary = run_experiment(ex, text, registry, opt);
    return finish(summary);
  }

 private:
  void declare_user_options() {
    app_->add_option("FILE", file_, "experiment TOML file")->required();
    app_->add_option("--store", store_, "results store (SQLite)")->capture_default_str();
    app_->add_flag("--dry-run", dry_run_, "check the file and the data, list the runs, write nothing");
    app_->add_flag("-q,--quiet", quiet_, "no progress line");
    app_->add_flag("-v,--verbose", verbose_, "one line per epoch");
    app_->add_flag("--no-report", no_report_, "do not print the leaderboard at the end");
    app_->add_option("--seeds", seeds_,
                     "run only these of the experiment's seeds (e.g. a first look with one seed; the runs are the "
                     "same as in the full grid, which a later run without --seeds completes)");
    app_->add_option("--models", models_,
                     "run only these models (their [[model]] names; the runs are the same as in the full grid)");
    app_->add_option("--threads", threads_,
                     "CPU threads per run, overriding [train].threads (not part of a run's identity: e.g. two "
                     "grids side by side with --threads 1 each)")
        ->check(CLI::Range(int64_t(0), int64_t(1024)));
    app_->add_option("--jobs,-j", jobs_,
                     "runs trained at a time, each in its own process with the CPU's cores shared out unless --threads "
                     "says otherwise (not part of a run's identity)")
        ->check(CLI::Range(int64_t(1), int64_t(256)));
    app_->add_flag("--no-isolation", no_isolation_,
                   "train every run inside this process (faster to start; a crash in a plugin then stops the grid)");
    app_->add_option("--shard", shard_,
                     "run only share I of N of the grid (e.g. 2/4; by run identity, so every run is in exactly one "
                     "share); combine the stores with mmsr merge");
    app_->add_option("--data-cache", data_cache_,
                     "folder of prepared datasets (read and preprocessed once, keyed by the files' bytes, the options "
                     "and the reader's code); off = read the files every time. Default: $MMSR_DATA_CACHE, else "
                     "$XDG_CACHE_HOME/mmsr/datasets, else ~/.cache/mmsr/datasets")
        ->capture_default_str();
    app_->add_flag("--no-checkpoints", no_checkpoints_,
                   "no end-of-epoch checkpoints (an interrupted run then restarts from its first epoch)");
    app_->add_option("--run-timeout", run_timeout_,
                     "stop a run that is still going after this many seconds and record it as failed (0 = no limit)")
        ->check(finite_in(0.0, 1e9));
  }

  void declare_child_options() {
    app_->add_option("--supervised-run", child_.supervised_key)->group("");
    app_->add_option("--experiment-id", child_.parent_experiment_id)->group("");
    app_->add_option("--launched-at", child_.launched_at)->group("");
    app_->add_option("--grid-after", child_.grid_after)->group("");
    app_->add_option("--linger-after-run", child_.linger_after_run)->group("")->check(finite_in(0, 3600));
    app_->add_flag("--tty-progress", child_.tty_progress)->group("");
    app_->add_option("--data-parallel-rank", child_.data_parallel_rank)->group("");
    app_->add_option("--rendezvous", child_.rendezvous_file)->group("");
  }

  // A store made before the speed options became defaults resolves its grids as it always did (mmsr/config.h).
  TrainDefaults train_defaults() const {
    if (!store_keeps_original_train_defaults(store_)) return kCurrentTrainDefaults;
    if (child_.supervised_key.empty() && !quiet_)
      std::cerr << "note: " << store_ << " was made before fast_dropout and length_buckets were on by default; its "
                << "grids keep them off where the file does not set them, so its runs resume as they were\n";
    return TrainDefaults::original;
  }

  // --jobs N without --threads: each run gets an equal share of the cores.
  void share_the_cores() {
    if (jobs_ <= 1) return;
    if (no_isolation_) throw InputError("--jobs needs isolation: drop --no-isolation");
    if (threads_ < 0) threads_ = std::max<int64_t>(1, int64_t(std::thread::hardware_concurrency()) / jobs_);
  }

  // --seeds, --models and --threads: the same runs (same identities) as the full grid, fewer of them.
  void keep_only_the_chosen_runs(Experiment& ex) const {
    for (uint64_t s : seeds_)
      if (std::find(ex.seeds.begin(), ex.seeds.end(), s) == ex.seeds.end())
        throw InputError(file_ + ": --seeds " + std::to_string(s) + " is not one of [experiment].seeds");
    std::vector<std::string> known;
    for (const auto& r : ex.runs)
      if (std::find(known.begin(), known.end(), r.model_name) == known.end()) known.push_back(r.model_name);
    for (const auto& m : models_)
      if (std::find(known.begin(), known.end(), m) == known.end()) {
        std::string list;
        for (const auto& k : known) list += (list.empty() ? "\"" : ", \"") + k + "\"";
        throw InputError(file_ + ": --models \"" + m + "\" is not a model of the file (it has " + list + ")");
      }
    std::vector<RunSpec> kept;
    for (auto& r : ex.runs) {
      const bool seed_kept = seeds_.empty() || std::find(seeds_.begin(), seeds_.end(), r.seed) != seeds_.end();
      const bool model_kept = models_.empty() || std::find(models_.begin(), models_.end(), r.model_name) != models_.end();
      if (!seed_kept || !model_kept) continue;
      if (threads_ >= 0) {
        auto values = r.train.values();
        values["threads"] = threads_;
        r.train = ParamSet(values);
      }
      kept.push_back(r);
    }
    ex.runs = std::move(kept);
  }

  void parse_shard(RunOptions& opt) const {
    if (shard_.empty()) return;
    auto slash = shard_.find('/');
    try {
      if (slash == std::string::npos) throw std::invalid_argument("no slash");
      opt.shard_index = std::stoll(shard_.substr(0, slash));
      opt.shard_count = std::stoll(shard_.substr(slash + 1));
    } catch (const std::exception&) {
      opt.shard_count = 0;
    }
    if (opt.shard_count < 1 || opt.shard_index < 1 || opt.shard_index > opt.shard_count)
      throw InputError("--shard " + shard_ + ": use I/N with 1 <= I <= N, e.g. --shard 1/4");
  }

  // This program again, with the same plugins and settings: a run's own process (isolation) and the other
  // processes of a data-parallel run start from it.
  std::vector<std::string> same_run_command(const GlobalOptions& global, const std::string& data_cache) const {
    std::vector<std::string> argv = {std::filesystem::read_symlink("/proc/self/exe").string()};
    for (const auto& lib : global.plugin_libs) argv.insert(argv.end(), {"--plugin", lib});
    argv.insert(argv.end(), {"run", file_, "--store", store_});
    if (threads_ >= 0) argv.insert(argv.end(), {"--threads", std::to_string(threads_)});
    if (!seeds_.empty()) {
      // The same view of the grid as this process (its [i/n] numbering), though the run is chosen by identity.
      argv.push_back("--seeds");
      for (auto seed : seeds_) argv.push_back(std::to_string(seed));
    }
    if (!models_.empty()) {
      argv.push_back("--models");
      for (const auto& m : models_) argv.push_back(m);
    }
    if (no_checkpoints_) argv.push_back("--no-checkpoints");
    if (child_.linger_after_run > 0) argv.insert(argv.end(), {"--linger-after-run", std::to_string(child_.linger_after_run)});
    argv.insert(argv.end(), {"--data-cache", data_cache.empty() ? "off" : data_cache});
    return argv;
  }

  RunOptions run_options(const GlobalOptions& global) const {
    RunOptions opt;
    opt.store_path = store_;
    opt.dry_run = dry_run_;
    opt.progress = !quiet_;
    opt.verbose = verbose_;
    opt.run_timeout_seconds = run_timeout_;
    parse_shard(opt);
    opt.checkpoints = !no_checkpoints_;
    opt.data_cache = data_cache_ == "off" ? "" : data_cache_;
    opt.linger_after_run_seconds = child_.linger_after_run;
    opt.command_start_ticks = child_.launched_at > 0 ? child_.launched_at : process_start_ticks();
    const std::vector<std::string> same_run = same_run_command(global, opt.data_cache);
    if (!dry_run_) {
      opt.worker_command = same_run;
      opt.worker_command.push_back("-q");
    }
    if (!child_.supervised_key.empty()) {
      opt.only_run_key = child_.supervised_key;
      opt.experiment_id = child_.parent_experiment_id;
      opt.announce_data = false;
      opt.force_progress = child_.tty_progress;
      opt.grid_after_seconds = child_.grid_after;
      opt.data_parallel_rank = child_.data_parallel_rank;
      opt.rendezvous_file = child_.rendezvous_file;
    } else if (!no_isolation_ && !dry_run_) {
      // Each run in a child process.
      opt.child_command = same_run;
      if (quiet_) opt.child_command.push_back("-q");
      if (verbose_) opt.child_command.push_back("-v");
      // Several runs at a time would draw over each other's progress line: each then prints its end only.
      if (!quiet_ && isatty(STDERR_FILENO) && jobs_ == 1) opt.child_command.push_back("--tty-progress");
      opt.jobs = jobs_;
    } else if (run_timeout_ > 0) {
      throw InputError("--run-timeout needs isolation: drop --no-isolation");
    }
    return opt;
  }

  int finish(const GridSummary& summary) const {
    if (dry_run_) return 0;
    if (summary.interrupted) return 130;
    if (summary.input_error) return 2;  // the run's process printed the one-line error
    if (!child_.supervised_key.empty()) return supervised_exit(summary);
    std::cerr << fmt::format("{} runs: {} finished now, {} already finished, {} failed{}\n", summary.total,
                             summary.finished, summary.skipped, summary.failed,
                             summary.elsewhere ? fmt::format(", {} left to another runner", summary.elsewhere) : "");
    if (!no_report_) {
      ReportOptions r;
      r.stores = {store_};
      std::cout << render(build_leaderboards(r), "md");
    }
    return summary.failed > 0 ? 1 : 0;
  }

  int supervised_exit(const GridSummary& summary) const {
    if (!summary.found) {
      std::cerr << "error: " << file_ << " no longer has this run (was the file edited while the grid ran?)\n";
      return kRunNotInGrid;
    }
    return summary.failed > 0      ? kRunFailed
           : summary.elsewhere > 0 ? kRunElsewhere
           : summary.skipped > 0   ? kRunAlreadyDone
                                   : kRunFinished;
  }

  std::string file_, store_ = kDefaultStore, shard_, data_cache_ = DatasetCache::default_folder();
  bool dry_run_ = false, quiet_ = false, verbose_ = false, no_report_ = false, no_isolation_ = false,
       no_checkpoints_ = false;
  std::vector<uint64_t> seeds_;
  std::vector<std::string> models_;
  int64_t threads_ = -1, jobs_ = 1;
  double run_timeout_ = 0;
  ChildSide child_;
};

}  // namespace

std::unique_ptr<Command> add_run_command(CLI::App& app) { return std::make_unique<RunCommand>(app); }

}  // namespace mmsr::cli

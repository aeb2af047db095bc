// mmsr report [diff OLD NEW] and mmsr merge: leaderboards from stores, and stores combined.
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "commands.h"
#include "mmsr/merge.h"
#include "mmsr/report.h"

namespace mmsr::cli {
namespace {

class ReportCommand : public Command {
 public:
  explicit ReportCommand(CLI::App& app)
      : Command(app.add_subcommand("report", "leaderboards from results stores (Markdown, HTML, CSV, JSON)")) {
    options_.format.clear();
    app_->add_option("--store", options_.stores, "results store(s); several are merged (e.g. from several machines)")
        ->expected(1, -1);
    app_->add_option("--format", options_.format, "md, html, csv or json (default: from --output's extension, else md)");
    app_->add_option("-o,--output", output_, "write to this file instead of the terminal");
    app_->add_option("--output-dir", dir_, "write report.md, report.html, report.csv and report.json here");
    app_->add_option("--baseline", options_.baseline,
                     "model (or 'Model (grid)' row label) every row is compared with; default: the best on validation");
    app_->add_option("--alpha", options_.alpha, "significance level after Holm's correction")
        ->capture_default_str()
        ->check(finite_in(1e-6, 0.5));
    app_->add_option("--split", options_.split, "test or valid")->capture_default_str()->check(CLI::IsMember({"test", "valid"}));
    app_->add_option("--branch", options_.branch, "branch to rank by (fused = the model's score)")->capture_default_str();
    diff_ = app_->add_subcommand("diff", "compare two JSON reports (mmsr report --format json)");
    diff_->add_option("OLD", diff_old_, "the earlier JSON report")->required();
    diff_->add_option("NEW", diff_new_, "the later JSON report")->required();
  }

  int execute(const GlobalOptions&) override {
    if (diff_->parsed()) {
      emit(diff_reports(read_file(diff_old_, "JSON report"), read_file(diff_new_, "JSON report"), diff_old_, diff_new_));
      return 0;
    }
    if (options_.stores.empty()) options_.stores.push_back(kDefaultStore);
    if (options_.format.empty()) {
      const std::string ext = std::filesystem::path(output_).extension().string();
      options_.format = ext == ".html" ? "html" : ext == ".csv" ? "csv" : ext == ".json" ? "json" : "md";
    }
    auto boards = build_leaderboards(options_);
    if (dir_.empty()) {
      emit(render(boards, options_.format));
      return 0;
    }
    std::filesystem::create_directories(dir_);
    for (const char* format : {"md", "html", "csv", "json"})
      write_atomically((std::filesystem::path(dir_) / (std::string("report.") + format)).string(), render(boards, format));
    std::cerr << "wrote " << dir_ << "/report.{md,html,csv,json}\n";
    return 0;
  }

 private:
  void emit(const std::string& text) const {
    if (output_.empty()) std::cout << text;
    else write_atomically(output_, text);
  }
  ReportOptions options_;
  std::string output_, dir_, diff_old_, diff_new_;
  CLI::App* diff_;
};

class MergeCommand : public Command {
 public:
  explicit MergeCommand(CLI::App& app)
      : Command(app.add_subcommand("merge", "combine results stores (e.g. the shards of a grid) into one")) {
    app_->add_option("--into", into_, "the store to add the runs to (created if absent)")->required();
    app_->add_option("STORES", from_, "stores to read (only read)")->required()->expected(1, -1);
  }

  int execute(const GlobalOptions&) override {
    auto m = merge_stores(into_, from_);
    std::cerr << fmt::format("{}: {} runs added, {} already there with the same results, {} unfinished runs left "
                             "out, {} conflicts{}\n",
                             into_, m.copied, m.already, m.unfinished, m.conflicts.size(),
                             m.unreadable ? fmt::format(", {} finished runs unreadable (on damaged pages) left out",
                                                        m.unreadable)
                                          : "");
    for (const auto& c : m.conflicts)
      std::cerr << fmt::format("conflict: run {} ({}) from {}: {}; the target's result was kept\n", c.run_key, c.model,
                               c.source, c.detail);
    return m.conflicts.empty() ? 0 : 1;
  }

 private:
  std::string into_;
  std::vector<std::string> from_;
};

}  // namespace

std::unique_ptr<Command> add_report_command(CLI::App& app) { return std::make_unique<ReportCommand>(app); }
std::unique_ptr<Command> add_merge_command(CLI::App& app) { return std::make_unique<MergeCommand>(app); }

}  // namespace mmsr::cli

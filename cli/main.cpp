// mmsr: the command line. Exit codes: 0 success, 1 some runs failed, 2 bad input (nothing written),
// 130 interrupted by a signal (the current run recorded as interrupted). Each subcommand is a Command of its own
// (commands.h); this file builds the parser and turns errors into exit codes.
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>

#include "commands.h"
#include "mmsr/allocator.h"
#include "mmsr/errors.h"

namespace {

void set_up_process() {
  // A file-size limit (ulimit -f) should be a clear "disk full" error from the store, not a kill by SIGXFSZ.
  std::signal(SIGXFSZ, SIG_IGN);
  mmsr::cli::process_start_ticks();  // when the command started, for the "to_first_step" timing of its runs
  mmsr::keep_large_allocations_in_heap();
}

}  // namespace

int main(int argc, char** argv) {
  set_up_process();
  CLI::App app{"mmsr: a benchmarking host for (multimodal) sequential recommenders"};
  app.require_subcommand(1);
  mmsr::cli::GlobalOptions global;
  app.add_option("--plugin", global.plugin_libs, "load this plugin library too (repeatable)");
  std::vector<std::unique_ptr<mmsr::cli::Command>> commands;
  commands.push_back(mmsr::cli::add_run_command(app));
  commands.push_back(mmsr::cli::add_plugins_command(app));
  commands.push_back(mmsr::cli::add_report_command(app));
  commands.push_back(mmsr::cli::add_merge_command(app));
  commands.push_back(mmsr::cli::add_slurm_command(app));
  commands.push_back(mmsr::cli::add_data_command(app));
  commands.push_back(mmsr::cli::add_status_command(app));
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
    for (const auto& command : commands)
      if (command->chosen()) return command->execute(global);
  } catch (const mmsr::InputError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

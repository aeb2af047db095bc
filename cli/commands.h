// The subcommands of the mmsr program: each declares its own options on the command line parser and runs itself.
// main.cpp only builds the parser, picks the chosen command and turns errors into exit codes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "mmsr/registry.h"

namespace mmsr::cli {

// Options given before the subcommand.
struct GlobalOptions {
  std::vector<std::string> plugin_libs;  // --plugin, repeatable
};

class Command {
 public:
  explicit Command(CLI::App* app) : app_(app) {}
  virtual ~Command() = default;
  bool chosen() const { return app_->parsed(); }
  // The process's exit code: 0 success, 1 some runs failed, 2 bad input (or an InputError thrown), 130 interrupted.
  virtual int execute(const GlobalOptions& global) = 0;

 protected:
  CLI::App* app_;
};

std::unique_ptr<Command> add_run_command(CLI::App& app);
std::unique_ptr<Command> add_plugins_command(CLI::App& app);
std::unique_ptr<Command> add_report_command(CLI::App& app);
std::unique_ptr<Command> add_merge_command(CLI::App& app);
std::unique_ptr<Command> add_slurm_command(CLI::App& app);
std::unique_ptr<Command> add_data_command(CLI::App& app);
std::unique_ptr<Command> add_status_command(CLI::App& app);

// Shared by the commands.
// When this process started (steady-clock ticks): the first call fixes it, so main() calls it first.
int64_t process_start_ticks();
inline const char* kDefaultStore = "results/mmsr.sqlite";
// The plugins given with --plugin, then those of the default plugin folders.
void load_plugins(PluginRegistry& registry, const std::vector<std::string>& extra);
// A file's whole text; an InputError naming it (as `what`) when it cannot be read.
std::string read_file(const std::string& path, const std::string& what);
// Writes a file whole or not at all: a temporary name first, then renamed over the target.
void write_atomically(const std::string& path, const std::string& text);
// CLI11's Range lets nan through (every comparison with it is false): numbers given on the command line must be
// finite and in range.
CLI::Validator finite_in(double lo, double hi);

}  // namespace mmsr::cli

// mmsr plugins [show NAME | show-config]: what can be put in an experiment file, from the declarations.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "commands.h"
#include "mmsr/config.h"
#include "mmsr/errors.h"
#include "mmsr/text.h"

namespace mmsr::cli {
namespace {

void print_params(const ParamDecl& decl) {
  size_t width = 4;
  for (const auto& s : decl.specs()) width = std::max(width, s.name.size());
  for (const auto& s : decl.specs()) {
    std::string range = s.describe_range();
    std::cout << fmt::format("  {:<{}}  {:<16} = {:<10} {}{}\n", s.name, width, to_string(s.type),
                             format_value(s.default_value), s.doc, range.empty() ? "" : " (" + range + ")");
  }
}

int show_plugin(const PluginRegistry& registry, const std::string& name) {
  auto entries = registry.find_any(name);
  if (entries.empty()) {
    std::vector<std::string> all;
    for (auto* e : registry.entries()) all.push_back(e->name);
    throw InputError("no plugin named '" + name + "'" + did_you_mean(name, all) + "; `mmsr plugins` lists them");
  }
  for (const auto* e : entries) {
    std::cout << fmt::format("{} ({}) — {}\n  from {} version {}\n", e->name, to_string(e->kind), e->description,
                             e->library.empty() ? "built in" : e->library, e->library_version);
    print_params(e->params);
  }
  return 0;
}

int list_plugins(const PluginRegistry& registry) {
  for (auto kind : {PluginKind::ItemTower, PluginKind::Backbone, PluginKind::Objective}) {
    std::cout << (kind == PluginKind::Objective ? std::string("losses") : to_string(kind) + "s") << ":\n";
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

int show_config() {
  std::cout << "[experiment]\n";
  print_params(experiment_section());
  std::cout << "[data]\n";
  print_params(data_section());
  std::cout << "[data.synthetic]\n";
  print_params(synthetic_section());
  std::cout << "[protocol]\n";
  print_params(protocol_section());
  std::cout << "[train]  (also per model as [model.train]; arrays are grid axes)\n";
  print_params(train_section());
  return 0;
}

class PluginsCommand : public Command {
 public:
  explicit PluginsCommand(CLI::App& app) : Command(app.add_subcommand("plugins", "list plugins, or show one's parameters")) {
    show_ = app_->add_subcommand("show", "print a plugin's parameters from its declaration");
    show_->add_option("NAME", name_, "plugin name")->required();
    show_config_ = app_->add_subcommand("show-config", "print the experiment file's core sections");
  }
  int execute(const GlobalOptions& global) override {
    if (show_config_->parsed()) return show_config();
    PluginRegistry registry;
    load_plugins(registry, global.plugin_libs);
    return show_->parsed() ? show_plugin(registry, name_) : list_plugins(registry);
  }

 private:
  CLI::App* show_;
  CLI::App* show_config_;
  std::string name_;
};

}  // namespace

std::unique_ptr<Command> add_plugins_command(CLI::App& app) { return std::make_unique<PluginsCommand>(app); }

}  // namespace mmsr::cli

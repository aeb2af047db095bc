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

// A Markdown table cell: pipes escaped, so a doc string never breaks its row.
std::string cell(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

void markdown_table(const ParamDecl& decl) {
  if (decl.specs().empty()) {
    std::cout << "No parameters.\n\n";
    return;
  }
  std::cout << "| key | type | default | allowed | meaning |\n|---|---|---|---|---|\n";
  for (const auto& s : decl.specs())
    std::cout << "| `" << s.name << "` | " << to_string(s.type) << " | `" << cell(format_value(s.default_value))
              << "` | " << cell(s.describe_range()) << " | " << cell(s.doc) << " |\n";
  std::cout << "\n";
}

// docs/parameters.md: every core section's and every plugin's parameters, from their declarations.
int parameter_docs(const PluginRegistry& registry) {
  std::cout << "# Parameters\n\nEvery key of the experiment file and of each plugin, with its type, default, allowed "
               "values and meaning. Generated from the declarations (`mmsr plugins docs > docs/parameters.md`); "
               "the test `Docs.ParameterTablesMatchTheDeclarations` keeps this file equal to them.\n\n"
               "## Experiment file sections\n\n";
  const std::pair<const char*, const ParamDecl*> sections[] = {
      {"[experiment]", &experiment_section()}, {"[data]", &data_section()},
      {"[data.synthetic]", &synthetic_section()}, {"[[modality]]", &modality_section()},
      {"[protocol] (and [[also_evaluate]])", &protocol_section()},
      {"[train] (and a model's train = { ... })", &train_section()}};
  for (const auto& [title, decl] : sections) {
    std::cout << "### " << title << "\n\n";
    markdown_table(*decl);
  }
  for (auto kind : {PluginKind::ItemTower, PluginKind::Backbone, PluginKind::Objective}) {
    std::cout << "## " << (kind == PluginKind::Objective ? std::string("Losses") : kind == PluginKind::ItemTower
                                                                                       ? std::string("Item towers")
                                                                                       : std::string("Backbones"))
              << "\n\n";
    for (const auto& name : registry.names(kind)) {
      const auto* e = registry.find(kind, name);
      std::cout << "### " << name << " (" << std::filesystem::path(e->library).filename().string() << " "
                << e->library_version << ")\n\n" << cell(e->description) << ".\n\n";
      markdown_table(e->params);
    }
  }
  return 0;
}

class PluginsCommand : public Command {
 public:
  explicit PluginsCommand(CLI::App& app) : Command(app.add_subcommand("plugins", "list plugins, or show one's parameters")) {
    show_ = app_->add_subcommand("show", "print a plugin's parameters from its declaration");
    show_->add_option("NAME", name_, "plugin name")->required();
    show_config_ = app_->add_subcommand("show-config", "print the experiment file's core sections");
    docs_ = app_->add_subcommand("docs", "every section's and plugin's parameters as Markdown (docs/parameters.md)");
  }
  int execute(const GlobalOptions& global) override {
    if (show_config_->parsed()) return show_config();
    PluginRegistry registry;
    load_plugins(registry, global.plugin_libs);
    if (docs_->parsed()) return parameter_docs(registry);
    return show_->parsed() ? show_plugin(registry, name_) : list_plugins(registry);
  }

 private:
  CLI::App* show_;
  CLI::App* show_config_;
  CLI::App* docs_;
  std::string name_;
};

}  // namespace

std::unique_ptr<Command> add_plugins_command(CLI::App& app) { return std::make_unique<PluginsCommand>(app); }

}  // namespace mmsr::cli

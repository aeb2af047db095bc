// The host side of the plugin SDK: loads plugin libraries (Boost.DLL), checks their descriptor before running
// any of their code, and keeps every registered component by kind and name. Libraries are loaded once and
// never unloaded (LibTorch plugins cannot be: see docs/plugins.md).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "mmsr/sdk/plugin_abi.h"
#include "mmsr/sdk/registrar.h"

namespace mmsr {

// The fingerprint this host was built with.
const char* host_fingerprint();

// Empty when the descriptor may be used; otherwise the reason, naming both values and the fix.
std::string check_descriptor(const mmsr_plugin_info* info, const std::string& library);

struct LoadedPlugin {
  std::string name, version, path;
};

class PluginRegistry : public Registrar {
 public:
  void add(ComponentEntry entry) override;

  // Loads one library: InputError on a missing entry symbol, ABI version, struct size or fingerprint mismatch.
  void load_library(const std::string& path);
  // Loads every mmsr_*.so in a directory (sorted by name, so the order is reproducible).
  void load_directory(const std::string& dir);
  // Registers a descriptor that is already in the process (a statically linked plugin, in tests).
  void register_descriptor(const mmsr_plugin_info* info, const std::string& origin);

  const ComponentEntry* find(PluginKind kind, const std::string& name) const;
  std::vector<std::string> names(PluginKind kind) const;
  std::vector<const ComponentEntry*> entries() const;
  const std::vector<LoadedPlugin>& libraries() const { return libraries_; }
  // The entry of any kind with this name (for `mmsr plugins show NAME`), or nullptr.
  std::vector<const ComponentEntry*> find_any(const std::string& name) const;

 private:
  std::map<std::pair<int, std::string>, ComponentEntry> entries_;
  std::vector<LoadedPlugin> libraries_;
  const mmsr_plugin_info* current_ = nullptr;  // the descriptor whose register_all is running
  std::string current_origin_;
};

// Where plugins are looked for: $MMSR_PLUGIN_PATH (colon-separated), then ../lib/mmsr/plugins next to the
// executable (the build tree and the installed layout agree on this).
std::vector<std::string> default_plugin_dirs(const std::string& executable_dir);

}  // namespace mmsr

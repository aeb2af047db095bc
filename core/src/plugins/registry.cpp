#include "mmsr/registry.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include <boost/dll/shared_library.hpp>

#include "mmsr/errors.h"
#include "mmsr/sdk/fingerprint.h"
#include "mmsr/text.h"

namespace mmsr {

const char* host_fingerprint() { return MMSR_BUILD_FINGERPRINT; }

// "torch 1.13.0 (here 2.9.1), cxx11abi 0 (here 1)": the parts of two build fingerprints ("key=value;...") that
// differ, so that the message names what to rebuild with and still fits on a line.
std::string fingerprint_difference(const std::string& plugin, const std::string& host) {
  auto parts = [](const std::string& f) {
    std::map<std::string, std::string> out;
    std::stringstream in(f);
    for (std::string part; std::getline(in, part, ';');) {
      const auto eq = part.find('=');
      out[part.substr(0, eq)] = eq == std::string::npos ? "" : part.substr(eq + 1);
    }
    return out;
  };
  const auto a = parts(plugin), b = parts(host);
  std::string out;
  auto note = [&](const std::string& key, const std::string& theirs, const std::string& ours) {
    out += (out.empty() ? "" : ", ") + key + " " + theirs + " (here " + ours + ")";
  };
  for (const auto& [key, value] : a) {
    auto it = b.find(key);
    if (it == b.end()) note(key, value, "none");
    else if (it->second != value) note(key, value, it->second);
  }
  for (const auto& [key, value] : b)
    if (!a.count(key)) note(key, "none", value);
  return out.empty() ? "[" + plugin + "]" : out;
}

std::string check_descriptor(const mmsr_plugin_info* info, const std::string& library) {
  if (!info) return library + ": the plugin entry returned no descriptor";
  // abi_version is the first field in every version of the struct, so it is always safe to read.
  if (info->abi_version != MMSR_PLUGIN_ABI_VERSION)
    return library + ": plugin ABI version " + std::to_string(info->abi_version) +
           ", this mmsr expects " + std::to_string(MMSR_PLUGIN_ABI_VERSION) +
           ": rebuild the plugin against this mmsr's SDK";
  if (info->struct_size < sizeof(mmsr_plugin_info))
    return library + ": descriptor is " + std::to_string(info->struct_size) + " bytes, this mmsr needs " +
           std::to_string(sizeof(mmsr_plugin_info)) + ": rebuild the plugin against this mmsr's SDK";
  if (!info->name || !info->version || !info->fingerprint || !info->register_all)
    return library + ": the descriptor has an empty field (name, version, fingerprint or register_all)";
  if (std::string(info->fingerprint) != host_fingerprint())
    return library + ": plugin '" + info->name + "' was built with " +
           fingerprint_difference(info->fingerprint, host_fingerprint()) +
           ": rebuild it against this mmsr (mmsr_add_plugin does)";
  return "";
}

void PluginRegistry::add(ComponentEntry entry) {
  if (current_) {
    entry.library = current_origin_;
    entry.library_version = current_->version;
  }
  auto key = std::make_pair(int(entry.kind), entry.name);
  auto it = entries_.find(key);
  if (it != entries_.end())
    throw InputError("two plugins register the " + to_string(entry.kind) + " '" + entry.name +
                     "': " + it->second.library + " and " + entry.library +
                     "; remove one from the plugin path");
  entries_.emplace(key, std::move(entry));
}

void PluginRegistry::register_descriptor(const mmsr_plugin_info* info, const std::string& origin) {
  std::string problem = check_descriptor(info, origin);
  if (!problem.empty()) throw InputError(problem);
  for (const auto& l : libraries_)
    if (l.name == info->name) return;  // loaded already: registering twice would only duplicate entries
  current_ = info;
  current_origin_ = origin;
  char err[1024] = {0};
  int rc = info->register_all(reinterpret_cast<mmsr_registrar*>(static_cast<Registrar*>(this)), err,
                              sizeof err);
  current_ = nullptr;
  if (rc != 0)
    throw InputError(origin + ": plugin '" + info->name + "' failed to register: " +
                     (err[0] ? err : "no message"));
  libraries_.push_back({info->name, info->version, origin});
}

void PluginRegistry::load_library(const std::string& path) {
  // The entry symbol is named after the library: mmsr_<name>.so exports mmsr_plugin_<name>.
  std::string stem = std::filesystem::path(path).stem().string();
  if (stem.rfind("mmsr_", 0) != 0)
    throw InputError(path + ": plugin libraries are named mmsr_<name>.so");
  std::string symbol = "mmsr_plugin_" + stem.substr(5);
  // Libraries are kept for the life of the process, on purpose: objects made by a plugin may outlive any
  // registry, and a LibTorch plugin cannot be unloaded anyway.
  static auto* keep = new std::vector<boost::dll::shared_library>();
  boost::dll::shared_library lib;
  try {
    lib.load(path, boost::dll::load_mode::rtld_lazy | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    throw InputError(path + ": cannot load the plugin library: " + e.what());
  }
  if (!lib.has(symbol))
    throw InputError(path + ": no entry symbol '" + symbol +
                     "': declare the plugin with MMSR_PLUGIN(" + stem.substr(5) + ", \"version\")");
  auto entry = lib.get<const mmsr_plugin_info*()>(symbol);
  const mmsr_plugin_info* info = entry();
  keep->push_back(lib);
  register_descriptor(info, path);
}

void PluginRegistry::load_directory(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return;
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind("mmsr_", 0) == 0 && e.path().extension() == ".so") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) load_library(f);
}

const ComponentEntry* PluginRegistry::find(PluginKind kind, const std::string& name) const {
  auto it = entries_.find({int(kind), name});
  return it == entries_.end() ? nullptr : &it->second;
}

std::vector<std::string> PluginRegistry::names(PluginKind kind) const {
  std::vector<std::string> out;
  for (const auto& [key, e] : entries_)
    if (key.first == int(kind)) out.push_back(e.name);
  return out;
}

std::vector<const ComponentEntry*> PluginRegistry::entries() const {
  std::vector<const ComponentEntry*> out;
  for (const auto& [key, e] : entries_) out.push_back(&e);
  return out;
}

std::vector<const ComponentEntry*> PluginRegistry::find_any(const std::string& name) const {
  std::vector<const ComponentEntry*> out;
  for (const auto& [key, e] : entries_)
    if (e.name == name) out.push_back(&e);
  return out;
}

std::vector<std::string> default_plugin_dirs(const std::string& executable_dir) {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("MMSR_PLUGIN_PATH")) {
    std::string s = env;
    size_t start = 0;
    for (size_t i = 0; i <= s.size(); ++i)
      if (i == s.size() || s[i] == ':') {
        if (i > start) dirs.push_back(s.substr(start, i - start));
        start = i + 1;
      }
  }
  dirs.push_back((std::filesystem::path(executable_dir) / ".." / "lib" / "mmsr" / "plugins")
                     .lexically_normal()
                     .string());
  return dirs;
}

}  // namespace mmsr

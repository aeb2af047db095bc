#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "commands.h"
#include "mmsr/errors.h"
#include "mmsr/input_files.h"

namespace mmsr::cli {
namespace {

std::string executable_dir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : p.parent_path().string();
}

}  // namespace

int64_t process_start_ticks() {
  static const int64_t ticks = std::chrono::steady_clock::now().time_since_epoch().count();
  return ticks;
}

void load_plugins(PluginRegistry& registry, const std::vector<std::string>& extra) {
  for (const auto& lib : extra) registry.load_library(lib);
  for (const auto& dir : default_plugin_dirs(executable_dir())) registry.load_directory(dir);
}

std::string read_file(const std::string& path, const std::string& what) {
  require_readable_file(path, what);
  std::ifstream in(path);
  if (!in) throw InputError(path + ": cannot open the " + what);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) throw InputError(path + ": cannot write here (check the directory exists and is writable)");
    f << text;
    if (!f.flush()) throw InputError(path + ": writing failed (disk full?)");
  }
  std::filesystem::rename(tmp, path);
}

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

}  // namespace mmsr::cli

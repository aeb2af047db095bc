// Registers every plugin of the tree, linked statically into the test binary (generated: static_plugins.cpp).
#pragma once

#include <cstdlib>
#include <string>

#include "mmsr/registry.h"

namespace mmsr::test {
void register_static_plugins(PluginRegistry& registry);

// One registry per test binary holding every static plugin (tests may add test-only entries to it), and the
// plugin libraries named in MMSR_CONFORMANCE_PLUGINS (colon-separated): an out-of-tree plugin is checked by the
// same conformance suites as the tree's (scripts/plugin_template_check.sh).
inline PluginRegistry& static_registry() {
  static PluginRegistry* r = [] {
    auto* reg = new PluginRegistry();
    register_static_plugins(*reg);
    if (const char* extra = std::getenv("MMSR_CONFORMANCE_PLUGINS")) {
      std::string list = extra;
      for (size_t start = 0, end; start < list.size(); start = end + 1) {
        end = list.find(':', start);
        if (end == std::string::npos) end = list.size();
        if (end > start) reg->load_library(list.substr(start, end - start));
      }
    }
    return reg;
  }();
  return *r;
}
}  // namespace mmsr::test

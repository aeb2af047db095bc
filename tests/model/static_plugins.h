// Registers every plugin of the tree, linked statically into the test binary (generated: static_plugins.cpp).
#pragma once

#include "mmsr/registry.h"

namespace mmsr::test {
void register_static_plugins(PluginRegistry& registry);

// One registry per test binary holding every static plugin (tests may add test-only entries to it).
inline PluginRegistry& static_registry() {
  static PluginRegistry* r = [] {
    auto* reg = new PluginRegistry();
    register_static_plugins(*reg);
    return reg;
  }();
  return *r;
}
}  // namespace mmsr::test

// Registers every plugin of the tree, linked statically into the test binary (generated: static_plugins.cpp).
#pragma once

#include "mmsr/registry.h"

namespace mmsr::test {
void register_static_plugins(PluginRegistry& registry);
}

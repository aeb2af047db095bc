#include <gtest/gtest.h>

#include "mmsr/errors.h"
#include "mmsr/registry.h"

namespace mmsr {

namespace {
std::string load_error(const std::string& file) {
  PluginRegistry r;
  try {
    r.load_library(std::string(MMSR_BAD_PLUGIN_DIR) + "/" + file);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Loader, RefusesAWrongAbiVersionNamingBothValues) {
  std::string e = load_error("mmsr_bad_abi.so");
  EXPECT_NE(e.find("plugin ABI version 42, this mmsr expects 1: rebuild the plugin"), std::string::npos) << e;
}

TEST(Loader, RefusesAWrongFingerprintNamingBoth) {
  std::string e = load_error("mmsr_bad_fingerprint.so");
  // Only the parts that differ, each with this mmsr's value: what to rebuild with, in a line that fits.
  EXPECT_NE(e.find("torch 1.13.0 (here "), std::string::npos) << e;
  EXPECT_NE(e.find("cxx11abi 0 (here 1)"), std::string::npos) << e;
  EXPECT_LT(e.size(), 290u) << e;
}

TEST(Loader, RefusesAMissingEntry) {
  std::string e = load_error("mmsr_no_entry.so");
  EXPECT_NE(e.find("no entry symbol 'mmsr_plugin_no_entry'"), std::string::npos) << e;
}

TEST(Loader, RefusesAShortDescriptor) {
  std::string e = load_error("mmsr_bad_size.so");
  EXPECT_NE(e.find("descriptor is 8 bytes"), std::string::npos) << e;
}

TEST(Loader, LoadsTheBuiltPluginsOnceEach) {
  PluginRegistry r;
  r.load_directory(MMSR_PLUGIN_DIR);
  EXPECT_NE(r.find(PluginKind::Backbone, "sasrec"), nullptr);
  EXPECT_NE(r.find(PluginKind::ItemTower, "id"), nullptr);
  EXPECT_NE(r.find(PluginKind::Objective, "inbatch"), nullptr);
  const ComponentEntry* e = r.find(PluginKind::Backbone, "sasrec");
  EXPECT_EQ(e->library_version, "1.1.0");
  EXPECT_NE(e->params.find("layers"), nullptr);
  // Loading the same directory again registers nothing twice.
  EXPECT_NO_THROW(r.load_directory(MMSR_PLUGIN_DIR));
}

}  // namespace mmsr

// Shared helpers for the tests: temporary folders and a registry of declared (not built) components.
#pragma once

#include <gtest/gtest.h>

#include <ftw.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <functional>

#include "mmsr/errors.h"
#include "mmsr/registry.h"

namespace mmsr::test {

// A .npy file (format 1.0) with the given descr, shape and raw little-endian payload.
inline std::string npy(const std::string& descr, const std::vector<int64_t>& shape, const std::string& payload,
                       bool fortran = false) {
  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ", ";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
                       ", 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += char(1);
  out += char(0);
  out += char(header.size() & 0xff);
  out += char(header.size() >> 8);
  return out + header + payload;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mmsr-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  // Not std::filesystem::remove_all: the PyPI LibTorch exports its own copy of that symbol (from the
  // toolset it was built with), which the dynamic linker may bind instead of libstdc++'s and which crashes.
  ~TempDir() {
    nftw(path_.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
         FTW_DEPTH | FTW_PHYS);
  }
  std::string file(const std::string& name, const std::string& content = "") const {
    auto p = (std::filesystem::path(path_) / name).string();
    if (!content.empty() || !std::filesystem::exists(p)) std::ofstream(p) << content;
    return p;
  }
  std::string path(const std::string& name) const { return (std::filesystem::path(path_) / name).string(); }
  const std::string& dir() const { return path_; }

 private:
  std::string path_;
};

// A registry holding declarations shaped like the real plugins, for parsing tests (factories unused).
inline PluginRegistry declared_registry() {
  PluginRegistry r;
  r.add_item_tower("id", "ids", ParamDecl().integer("dim", 64, 1, 4096, "dimension"), nullptr);
  r.add_backbone("sasrec", "self-attention",
                 ParamDecl()
                     .integer("layers", 2, 1, 48, "blocks")
                     .real("dropout", 0.1, 0.0, 0.99, "dropout")
                     .choice("norm", "post", {"post", "pre"}, "norm position")
                     .boolean("ff_dropout", true, "dropout inside the feed-forward")
                     .added_after_release(),
                 nullptr);
  r.add_objective("softmax", "full softmax", ParamDecl(), nullptr);
  return r;
}

// The message of the InputError the call raises ("" when it raises none).
inline std::string input_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

inline bool shared_data_available(const std::string& relative) {
  return std::filesystem::exists(std::string(MMSR_SHARED_DATA_DIR) + "/" + relative);
}

}  // namespace mmsr::test

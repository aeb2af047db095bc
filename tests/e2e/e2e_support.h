// What the end-to-end tests share: the real plugins of the build tree, a parser bound to them, a tiny synthetic
// experiment, and a way to ask the store a question.
#pragma once

#include <sqlite3.h>
#include <sys/wait.h>

#include <cstdio>

#include <string>

#include "mmsr/config.h"
#include "mmsr/registry.h"
#include "mmsr/runner.h"
#include "test_support.h"

namespace mmsr::test::e2e {

inline PluginRegistry& plugins() {
  static PluginRegistry* r = [] {
    auto* reg = new PluginRegistry();
    reg->load_directory(MMSR_PLUGIN_DIR);
    return reg;
  }();
  return *r;
}

inline Experiment parse(const std::string& text, const std::string& base = "/tmp",
                        TrainDefaults defaults = kCurrentTrainDefaults) {
  auto& r = plugins();
  return parse_experiment(
      text, "e2e.toml", base, [&](PluginKind k, const std::string& n) { return r.find(k, n); },
      [&](PluginKind k) { return r.names(k); }, defaults);
}

inline int64_t count(const std::string& db_path, const std::string& sql) {
  sqlite3* db;
  sqlite3_open(db_path.c_str(), &db);
  sqlite3_stmt* st;
  sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
  int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

inline const char* kTiny = R"(
[experiment]
name = "tiny"
seeds = [1, 2]
[data.synthetic]
users = 120
items = 60
clusters = 6
max_length = 12
[protocol]
max_len = 10
[train]
epochs = 2
batch_size = 32
threads = 1
[[model]]
name = "SASRec"
tower = { plugin = "id", dim = 16 }
backbone = { plugin = "sasrec", layers = 1 }
loss = ["softmax", "inbatch"]
)";

// A second protocol for the tiny experiment: the same trained models against 20 sampled negatives.
inline const char* kSampledToo = R"(
[[also_evaluate]]
candidates = "sampled"
negatives = 20
negatives_seed = 3
)";

inline std::string tiny(const std::string& loss_line) {
  std::string t = kTiny;
  t.replace(t.find("loss = [\"softmax\", \"inbatch\"]"), 29, loss_line);
  return t;
}

// The tiny experiment with its [[model]] entries replaced by the given ones.
inline std::string tiny_with_models(const std::string& models) {
  std::string t = kTiny;
  return t.substr(0, t.find("[[model]]")) + models;
}

inline RunOptions quiet(const std::string& store) {
  RunOptions o;
  o.store_path = store;
  o.progress = false;
  return o;
}

// A column of numbers from the store, in the query's order.
inline std::vector<double> column(const std::string& db_path, const std::string& sql) {
  sqlite3* db;
  sqlite3_open(db_path.c_str(), &db);
  sqlite3_stmt* st;
  sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
  std::vector<double> out;
  while (sqlite3_step(st) == SQLITE_ROW) out.push_back(sqlite3_column_double(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// The mmsr program of this build run with these arguments: its exit code and its stdout and stderr together.
struct CliResult {
  int code = -1;
  std::string output;
};
inline CliResult run_cli(const std::string& args, const std::string& prefix = "") {
  CliResult r;
  FILE* p = popen((prefix + std::string(MMSR_BINARY) + " " + args + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace mmsr::test::e2e

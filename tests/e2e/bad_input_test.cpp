// Every kind of bad input through the command line: one line naming the file, line, key or plugin and what to do,
// exit code 2, and a results store left exactly as it was (compared row by row before and after).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "e2e/e2e_support.h"

namespace mmsr {

using test::TempDir;
using namespace test::e2e;

namespace {

// Every row of every table, in a fixed order: equal digests mean an unchanged store.
std::string store_digest(const std::string& path) {
  sqlite3* db;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return "unopenable";
  std::string out;
  std::vector<std::string> tables;
  sqlite3_stmt* st;
  sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name", -1, &st, nullptr);
  while (sqlite3_step(st) == SQLITE_ROW) tables.push_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  for (const auto& t : tables) {
    out += "#" + t + "\n";
    sqlite3_prepare_v2(db, ("SELECT * FROM \"" + t + "\" ORDER BY 1, 2").c_str(), -1, &st, nullptr);
    while (sqlite3_step(st) == SQLITE_ROW) {
      for (int c = 0; c < sqlite3_column_count(st); ++c) {
        const unsigned char* v = sqlite3_column_text(st, c);
        out += (v ? reinterpret_cast<const char*>(v) : "NULL") + std::string("|");
      }
      out += "\n";
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return out;
}

using Outcome = CliResult;

Outcome cli(const std::string& args) { return run_cli(args); }

// A small real-format dataset: 30 users, 20 items, in S3-Rec lines.
std::string s3rec_lines() {
  std::string out;
  for (int u = 1; u <= 30; ++u) {
    out += std::to_string(u);
    for (int k = 0; k < 6; ++k) out += " " + std::to_string(1 + (u * 7 + k * 3) % 20);
    out += "\n";
  }
  return out;
}

const char* kBase = R"([experiment]
name = "bad-input"
seeds = [1]

[data]
format = "s3rec"
path = "data.txt"

[protocol]
max_len = 10

[train]
epochs = 1
batch_size = 16
threads = 1

[[model]]
name = "SASRec"
tower = { plugin = "id", dim = 16 }
backbone = { plugin = "sasrec", layers = 1 }
loss = "softmax"
)";

std::string edit(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  if (at == std::string::npos) throw std::runtime_error("test setup: '" + from + "' not in the base file");
  return text.replace(at, from.size(), to);
}

using test::npy;

std::string float_rows(int64_t rows, int64_t dim, float nan_at = -1) {
  std::vector<float> v(size_t(rows * dim));
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i % 7) * 0.1f;
  if (nan_at >= 0) v[size_t(nan_at)] = std::nanf("");
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

std::string with_modality(const std::string& extra) {
  return edit(kBase, "[protocol]", "[[modality]]\nname = \"text\"\npath = \"text.npy\"\n" + extra + "\n[protocol]");
}

const char* kTextModel = R"(
[[model]]
name = "Text"
tower = { plugin = "modality", modality = "text", dim = 16 }
backbone = { plugin = "sasrec", layers = 1 }
loss = "softmax"
)";

struct Case {
  std::string name;
  std::string toml;                            // grid.toml ("" = the base)
  std::map<std::string, std::string> files;    // more files beside it
  std::string args;                            // {file}, {store}, {dir} are substituted
  std::string expected;                        // a part of the one-line message
};

std::string repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

// The second round of reliability cases (docs/reliability.md): what a hostile user found, each as a class.
template <typename Add>
void add_second_round(std::vector<Case>& c, Add&& add, const std::string& run) {
  const std::string data = s3rec_lines();
  // Every input path x every special file: a folder, a FIFO (whose open() would block) and a device (/dev/null).
  struct Input {
    std::string name;
    std::function<std::pair<std::string, std::string>(const std::string&)> toml_and_args;  // given the path
  };
  const std::string attr = "path = \"data.txt\"\nattribute_file = ";
  const std::string sampled = "max_len = 10\ncandidates = \"sampled\"\nnegatives = 5\nnegatives_file = ";
  std::vector<Input> inputs = {
      {"data file", [&](const std::string& p) { return std::make_pair(edit(kBase, "path = \"data.txt\"", "path = \"" + p + "\""), run); }},
      {"attribute file", [&](const std::string& p) { return std::make_pair(edit(kBase, "path = \"data.txt\"", attr + "\"" + p + "\""), run); }},
      {"item file", [&](const std::string& p) { return std::make_pair(edit(kBase, "path = \"data.txt\"", "path = \"data.txt\"\nitem_file = \"" + p + "\""), run); }},
      {"negatives file", [&](const std::string& p) { return std::make_pair(edit(kBase, "max_len = 10", sampled + "\"" + p + "\""), run); }},
      {"feature file", [&](const std::string& p) { return std::make_pair(edit(with_modality(""), "text.npy", p) + kTextModel, run); }},
      {"id map", [&](const std::string& p) { return std::make_pair(with_modality("id_map = \"" + p + "\"") + kTextModel, run); }},
      {"experiment file", [&](const std::string& p) { return std::make_pair(std::string(), "run {dir}/" + p + " --store {store} -q --no-report"); }},
      {"store", [&](const std::string& p) { return std::make_pair(std::string(), "run {file} --store {dir}/" + p + " -q --no-report"); }},
      {"report store", [&](const std::string& p) { return std::make_pair(std::string(), "report --store {dir}/" + p); }},
      {"merge source", [&](const std::string& p) { return std::make_pair(std::string(), "merge --into {dir}/merged.sqlite {dir}/" + p); }},
      {"report diff", [&](const std::string& p) { return std::make_pair(std::string(), "report diff {dir}/" + p + " {dir}/" + p); }},
  };
  struct Special { std::string name, file, content, expected; };
  const std::vector<Special> specials = {{"a folder", "special", "<dir>", "is a folder"},
                                         {"a FIFO", "special", "<fifo>", "is a FIFO"},
                                         {"a device", "../../../../../../../dev/null", "", "is a device"}};
  for (const auto& in : inputs)
    for (const auto& sp : specials) {
      auto [toml, args] = in.toml_and_args(sp.file);
      std::map<std::string, std::string> files = {{"text.npy", npy("<f4", {21, 4}, float_rows(21, 4))}};
      if (!sp.content.empty()) files[sp.file] = sp.content;
      add(in.name + " is " + sp.name, toml, files, sp.expected, args);
    }
  // Parsers bound their depth; messages quote short excerpts.
  const std::string with_attr = edit(kBase, "path = \"data.txt\"", attr + "\"attr.json\"");
  add("attribute JSON nested 100,000 deep (objects)", with_attr,
      {{"attr.json", repeat("{\"a\": ", 100000) + "1" + std::string(100000, '}')}}, "nested more than 64 levels");
  add("attribute JSON nested 100,000 deep (arrays)", with_attr,
      {{"attr.json", "{\"1\": " + std::string(100000, '[') + std::string(100000, ']') + "}"}}, "nested more than 64");
  add("attribute JSON with trailing garbage", with_attr, {{"attr.json", "{\"1\": [\"a\"]} {\"2\": []}"}}, "not valid JSON");
  add("attribute JSON with a duplicate key", with_attr, {{"attr.json", "{\"1\": [\"a\"], \"1\": [\"b\"]}"}},
      "appears twice");
  add("attribute file covering no item", with_attr, {{"attr.json", "{\"x1\": [\"a\"], \"x2\": [\"b\"]}"}},
      "none of its 2 items");
  add("item file covering no item", edit(kBase, "path = \"data.txt\"", "path = \"data.txt\"\nitem_file = \"i.item\""),
      {{"i.item", "item_id:token\tbrand:token\nx1\ta\nx2\tb\n"}}, "none of its 2 items");
  add("feature file covering no item", with_modality("id_map = \"map.tsv\"\nmissing = \"zero\"") + kTextModel,
      {{"map.tsv", "x1\t0\nx2\t1\n"}, {"text.npy", npy("<f4", {21, 4}, float_rows(21, 4))}}, "none of the data's");
  add("a NUL byte in an id", "", {{"data.txt", data + std::string("31 4 x\0y 7\n", 11)}}, "x\\x00y");
  add("a negative item id", "", {{"data.txt", data + "31 4 -5 7\n"}}, "not a non-negative integer id");
  add("a NaN feature row named by its item", with_modality("") + kTextModel,
      {{"text.npy", npy("<f4", {21, 4}, float_rows(21, 4, 45))}}, "(item '");
  add("a section that is not a table", "data = 5\n" + edit(kBase, "[data]\nformat = \"s3rec\"\npath = \"data.txt\"", ""), {},
      "data must be a table ([data])");
  add("a store that is /dev/null", "", {}, "is a device", "run {file} --store /dev/null -q --no-report");
  add("merge into a file that is not a store", "", {{"notes.txt", "some notes\n"}}, "pass another path",
      "merge --into {dir}/notes.txt {store}");
  // Accepted silently before.
  add("a seed given twice", edit(kBase, "seeds = [1]", "seeds = [1, 1]"), {}, "seed 1 is given twice");
  add("a grid value given twice", edit(kBase, "epochs = 1", "epochs = 1\nlr = [0.001, 0.001]"), {}, "are the same run");
  add("two models alike", std::string(kBase) + "\n[[model]]\nname = \"SASRec\"\ntower = { plugin = \"id\", dim = 16 }\n"
      "backbone = { plugin = \"sasrec\", layers = 1 }\nloss = \"softmax\"\n", {}, "SASRec");
  const std::string recbole = edit(kBase, "format = \"s3rec\"", "format = \"recbole\"");
  for (const std::string& t : {"nan", "inf", "-inf"})
    add("a RecBole timestamp " + t, recbole,
        {{"data.txt", "user_id:token\titem_id:token\ttimestamp:float\n1\t2\t1\n1\t3\t" + t + "\n"}},
        "is not a finite number");
  // Numeric options x nan, inf, negative.
  for (const std::string& v : {"nan", "inf", "-1"}) {
    add("--run-timeout " + v, "", {}, "--run-timeout", run + " --run-timeout " + v);
    add("--alpha " + v, "", {}, "--alpha", "report --store {store} --alpha " + v);
    add("--threads " + v, "", {}, "--threads", run + " --threads " + v);
  }
}

std::vector<Case> cases() {
  const std::string run = "run {file} --store {store} -q --no-report";
  const std::string data = s3rec_lines();
  std::vector<Case> c;
  auto add = [&](std::string name, std::string toml, std::map<std::string, std::string> files, std::string expected,
                 std::string args = "") {
    if (!files.count("data.txt")) files["data.txt"] = data;
    c.push_back({std::move(name), std::move(toml), std::move(files), args.empty() ? run : args, std::move(expected)});
  };
  // The experiment file.
  add("malformed TOML", edit(kBase, "max_len = 10", "max_len = [10"), {}, "grid.toml:");
  add("unknown section", edit(kBase, "[protocol]", "[protocl]"), {}, "protocl");
  add("misspelled key", edit(kBase, "epochs = 1", "epoch = 1"), {}, "unknown key 'epoch'");
  add("wrong type", edit(kBase, "epochs = 1", "epochs = \"one\""), {}, "epochs");
  add("out of range", edit(kBase, "epochs = 1", "epochs = 0"), {}, "epochs");
  add("negative learning rate", edit(kBase, "epochs = 1", "epochs = 1\nlr = -0.1"), {}, "lr");
  add("unknown backbone", edit(kBase, "plugin = \"sasrec\"", "plugin = \"sasrek\""), {}, "sasrek");
  add("unknown tower", edit(kBase, "plugin = \"id\"", "plugin = \"idd\""), {}, "idd");
  add("unknown loss", edit(kBase, "loss = \"softmax\"", "loss = \"softmx\""), {}, "softmx");
  add("unknown plugin parameter", edit(kBase, "layers = 1", "layerz = 1"), {}, "layerz");
  add("plugin parameter of the wrong type", edit(kBase, "layers = 1", "layers = \"one\""), {}, "layers");
  add("plugin parameter out of range", edit(kBase, "layers = 1", "layers = 1, dropout = 1.5"), {}, "dropout");
  add("a model the plugin refuses", edit(kBase, "layers = 1", "layers = 1, heads = 3"), {}, "heads = 3");
  add("parameters but no loss", edit(kBase, "loss = \"softmax\"\n", ""), {}, "no loss");
  add("no model", kBase + std::string(), {}, "model", "");  // replaced below
  c.back().toml = std::string(kBase).substr(0, std::string(kBase).find("[[model]]"));
  add("no seeds", edit(kBase, "seeds = [1]", "seeds = []"), {}, "seeds");
  add("selection metric not computed", edit(kBase, "max_len = 10", "max_len = 10\nselect = \"ndcg@7\""), {}, "ndcg@7");
  add("unknown metric", edit(kBase, "max_len = 10", "max_len = 10\nmetrics = [\"auc\"]"), {}, "auc");
  add("unknown tie rule", edit(kBase, "max_len = 10", "max_len = 10\nties = \"random\""), {}, "random");
  add("[[also_evaluate]] changing training", edit(kBase, "[train]", "[[also_evaluate]]\nmax_len = 5\n\n[train]"), {},
      "decides training or selection");
  add("unknown data format", edit(kBase, "format = \"s3rec\"", "format = \"csv\""), {}, "csv");
  // Data.
  add("missing data file", edit(kBase, "path = \"data.txt\"", "path = \"nope.txt\""), {}, "nope.txt");
  add("data path is a directory", edit(kBase, "path = \"data.txt\"", "path = \".\""), {}, "");
  add("non-numeric id", "", {{"data.txt", data + "31 4 x 7\n"}}, "data.txt:31");
  add("empty data file", "", {{"data.txt", ""}}, "data.txt");
  add("no user left after filtering", edit(kBase, "path = \"data.txt\"", "path = \"data.txt\"\nmin_length = 100"), {},
      "no user is left");
  add("SASRec pairs with one column", edit(kBase, "format = \"s3rec\"", "format = \"sasrec\""),
      {{"data.txt", "1 2\n1 3\n1\n"}}, "data.txt:3");
  add("a temporal split of data without timestamps", edit(kBase, "max_len = 10", "max_len = 10\nsplit = \"temporal\""), {},
      "the data has no timestamps");
  add("a published split of data that ships none", edit(kBase, "max_len = 10", "max_len = 10\nsplit = \"published\""), {},
      "ship no split of their own");
  add("a temporal cut that leaves no test event",
      edit(edit(kBase, "format = \"s3rec\"", "format = \"recbole\""), "max_len = 10",
           "max_len = 10\nsplit = \"temporal\"\nvalid_start = 5\ntest_start = 50"),
      {{"data.txt", "user_id:token\titem_id:token\ttimestamp:float\n1\t2\t1\n1\t3\t2\n1\t4\t7\n2\t2\t3\n2\t4\t4\n2\t3\t8\n"}},
      "has no test event");
  add("temporal keys under leave-one-out", edit(kBase, "max_len = 10", "max_len = 10\ntest_share = 0.2"), {},
      "applies to split = \"temporal\"");
  add("RecBole file without its header", edit(kBase, "format = \"s3rec\"", "format = \"recbole\""),
      {{"data.txt", "1\t2\t3\n"}}, "data.txt");
  add("malformed attribute file", edit(kBase, "path = \"data.txt\"", "path = \"data.txt\"\nattribute_file = \"attr.json\""),
      {{"attr.json", "{\"1\": [1, 2"}}, "attr.json");
  add("missing negatives file",
      edit(kBase, "max_len = 10", "max_len = 10\ncandidates = \"sampled\"\nnegatives = 5\nnegatives_file = \"neg.txt\""),
      {}, "neg.txt");
  add("negatives file with too few negatives",
      edit(kBase, "max_len = 10", "max_len = 10\ncandidates = \"sampled\"\nnegatives = 5\nnegatives_file = \"neg.txt\""),
      {{"neg.txt", "1 2 3\n"}}, "neg.txt:1");
  // Feature files.
  add("missing feature file", with_modality("") + kTextModel, {}, "text.npy");
  add("not a .npy file", with_modality("") + kTextModel, {{"text.npy", "hello"}}, "not a .npy file");
  add("damaged provenance sidecar", with_modality("") + kTextModel,
      {{"text.npy", npy("<f4", {21, 4}, float_rows(21, 4))}, {"text.npy.provenance.json", "{\"encoder\": "}},
      "text.npy.provenance.json: not valid JSON");
  add("provenance sidecar not an object", with_modality("") + kTextModel,
      {{"text.npy", npy("<f4", {21, 4}, float_rows(21, 4))}, {"text.npy.provenance.json", "[1, 2]"}},
      "expected a JSON object");
  add("truncated .npy header", with_modality("") + kTextModel, {{"text.npy", std::string("\x93NUMPY\x01\x00\x00\x01{'descr': '<f4'", 23)}},
      "truncated");
  add("integer features", with_modality("") + kTextModel, {{"text.npy", npy("<i4", {20, 4}, float_rows(20, 4))}},
      "<i4");
  add("too few feature rows", with_modality("") + kTextModel, {{"text.npy", npy("<f4", {5, 4}, float_rows(5, 4))}},
      "items have no row");
  add("feature payload shorter than its shape", with_modality("") + kTextModel,
      {{"text.npy", npy("<f4", {20, 4}, float_rows(10, 4))}}, "text.npy");
  add("raw file not a multiple of its dimension", with_modality("format = \"raw\"\ndim = 3") + kTextModel,
      {{"text.npy", float_rows(20, 4)}}, "text.npy");
  add("NaN in features", with_modality("") + kTextModel,
      {{"text.npy", npy("<f4", {21, 4}, float_rows(21, 4, 45))}}, "non-finite");
  add("a tower reading an undeclared modality", edit(kBase, "[[model]]", std::string(kTextModel) + "\n[[model]]"), {},
      "modality");
  // Stores.
  add("a SQLite file that is not a store", "", {{"other.sqlite", ""}}, "not an mmsr results store",
      "run {file} --store {dir}/foreign.sqlite -q --no-report");
  add("a text file as the store", "", {{"notes.sqlite", "just some notes\n"}}, "not an mmsr results store",
      "run {file} --store {dir}/notes.sqlite -q --no-report");
  add("a store from a newer mmsr", "", {}, "newer mmsr", "run {file} --store {dir}/newer.sqlite -q --no-report");
  add("a store on a read-only file system", "", {}, "/proc/mmsr-test.sqlite",
      "run {file} --store /proc/mmsr-test.sqlite -q --no-report");
  add("a store whose folder is a file", "", {{"afile", "x"}}, "afile", "run {file} --store {dir}/afile/s.sqlite -q");
  // Plugins and the command line.
  add("plugin built for another ABI", "", {}, "ABI", std::string("--plugin ") + MMSR_BAD_PLUGIN_DIR + "/mmsr_bad_abi.so " + run);
  add("plugin built with another fingerprint", "", {}, "fingerprint",
      std::string("--plugin ") + MMSR_BAD_PLUGIN_DIR + "/mmsr_bad_fingerprint.so " + run);
  add("plugin that is not a plugin", "", {{"lib.so", "not a library"}}, "lib.so", "--plugin {dir}/lib.so " + run);
  add("a seed not in the experiment", "", {}, "--seeds 9", run + " --seeds 9");
  add("an unknown option", "", {}, "--epochs", run + " --epochs 3");
  add("a report baseline not on any board", "", {}, "--baseline Nope", "report --store {store} --baseline Nope");
  add("a report of a missing store", "", {}, "missing.sqlite", "report --store {dir}/missing.sqlite");
  add("a diff of a file that is not a report", "", {{"a.json", "{\"x\": 1}"}}, "not a JSON report",
      "report diff {dir}/a.json {dir}/a.json");
  add_second_round(c, add, run);
  return c;
}

// One store with one finished run, copied into every case's folder.
const std::string& seed_store() {
  static TempDir* dir = new TempDir();
  static std::string path = [] {
    std::string p = dir->path("seed.sqlite");
    dir->file("grid.toml", kBase);
    dir->file("data.txt", s3rec_lines());
    Outcome r = cli("run " + dir->path("grid.toml") + " --store " + p + " -q --no-report");
    EXPECT_EQ(r.code, 0) << r.output;
    return p;
  }();
  return path;
}

std::string substitute(std::string s, const std::map<std::string, std::string>& vars) {
  for (const auto& [k, v] : vars)
    for (size_t at; (at = s.find(k)) != std::string::npos;) s.replace(at, k.size(), v);
  return s;
}

class BadInput : public ::testing::TestWithParam<Case> {};

// Found by argument-dependent lookup (same namespace as Case): test names show the case, not its bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

}  // namespace

TEST_P(BadInput, OneClearLineExitCodeTwoAndTheStoreUnchanged) {
  const Case& c = GetParam();
  TempDir t;
  t.file("grid.toml", c.toml.empty() ? kBase : c.toml);
  for (const auto& [name, content] : c.files) {
    if (content == "<dir>") std::filesystem::create_directories(t.path(name));
    else if (content == "<fifo>") ASSERT_EQ(::mkfifo(t.path(name).c_str(), 0600), 0);
    else std::ofstream(t.path(name), std::ios::binary) << content;
  }
  const std::string store = t.path("s.sqlite");
  std::filesystem::copy_file(seed_store(), store);
  std::filesystem::copy_file(seed_store(), t.path("newer.sqlite"));
  {
    sqlite3* db;
    sqlite3_open(t.path("newer.sqlite").c_str(), &db);
    sqlite3_exec(db, "UPDATE meta SET value='99' WHERE key='schema_version'", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    sqlite3_open(t.path("foreign.sqlite").c_str(), &db);
    sqlite3_exec(db, "CREATE TABLE customers(id INTEGER)", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  const std::string before = store_digest(store), newer_before = store_digest(t.path("newer.sqlite"));
  const std::string args =
      substitute(c.args, {{"{file}", t.path("grid.toml")}, {"{store}", store}, {"{dir}", t.dir()}});
  Outcome r = cli(args);
  EXPECT_EQ(r.code, 2) << c.name << ": mmsr " << args << "\n" << r.output;
  EXPECT_NE(r.output.find(c.expected), std::string::npos) << c.name << ": expected '" << c.expected << "' in\n" << r.output;
  // One line: the message, nothing else (no stack of notes, no partial progress).
  std::string text = r.output;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  EXPECT_EQ(text.find('\n'), std::string::npos) << c.name << ": more than one line:\n" << r.output;
  EXPECT_LT(text.size(), 300u) << c.name << ": a line of " << text.size() << " bytes";
  EXPECT_FALSE(std::filesystem::exists(t.path("merged.sqlite"))) << c.name << ": a merge target was left";
  EXPECT_EQ(store_digest(store), before) << c.name << ": the store changed";
  EXPECT_EQ(store_digest(t.path("newer.sqlite")), newer_before) << c.name << ": the newer store changed";
}

INSTANTIATE_TEST_SUITE_P(Cases, BadInput, ::testing::ValuesIn(cases()), [](const auto& info) {
  std::string n;
  for (char ch : info.param.name) n += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return n;
});

// docs/reliability.md counts them: 53 from the first round, 61 from the second.
TEST(BadInputSuite, HasTheCasesTheDocsCount) { EXPECT_EQ(cases().size(), 120u); }

}  // namespace mmsr

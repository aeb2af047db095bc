// A fixed grid (tests/fixtures/golden/grid.toml: every plugin, every core section, a grid axis, a second protocol)
// is run and its store compared with tests/fixtures/golden/expected.txt: the run identities' parts exactly, and,
// on a host whose LibTorch, compiler and CPU kernels are those the file was made with, the run keys and every
// stored number. A refactoring that means to keep behaviour must keep this test green.
//
// Regenerate the file only on purpose: MMSR_UPDATE_GOLDEN=1 build/bin/mmsr_unit_tests --gtest_filter='Golden.*'
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "e2e/e2e_support.h"
#include "mmsr/engine.h"
#include "mmsr/identity.h"

namespace mmsr {

using namespace test::e2e;
using test::TempDir;

namespace {

const std::string kGoldenDir = std::string(MMSR_FIXTURES_DIR) + "/golden";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// Every row of a query, its columns joined by tabs (numbers as %.9g, text as it is).
std::vector<std::vector<std::string>> rows(const std::string& store, const std::string& sql) {
  sqlite3* db;
  sqlite3_open(store.c_str(), &db);
  sqlite3_stmt* st;
  sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
  std::vector<std::vector<std::string>> out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int c = 0; c < sqlite3_column_count(st); ++c) {
      if (sqlite3_column_type(st, c) == SQLITE_FLOAT) row.push_back(number(sqlite3_column_double(st, c)));
      else if (sqlite3_column_type(st, c) == SQLITE_NULL) row.push_back("null");
      else row.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, c)));
    }
    out.push_back(std::move(row));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// One line per fact: "<kind>\t<run>\t<what>\t<value>". Kind "part" is host-independent and compared exactly;
// "key" and "num" depend on the host's numerics.
std::string snapshot(const std::string& store) {
  const std::string label =
      "r.model_name || ' ' || r.grid_label || ' seed ' || r.seed || ' ' || substr(r.protocol_hash, 1, 12)";
  std::ostringstream out;
  out << "host\t-\tbuild\t" << identity_fingerprint(host_fingerprint()) << " cpu=" << cpu_capability() << "\n";
  for (const auto& r : rows(store, "SELECT " + label + ", r.config, r.protocol, r.dataset_checksum, r.plugins, "
                                   "r.status, r.best_epoch, r.run_key FROM runs r ORDER BY 1")) {
    out << "part\t" << r[0] << "\tconfig\t" << r[1] << "\n"
        << "part\t" << r[0] << "\tprotocol\t" << r[2] << "\n"
        << "part\t" << r[0] << "\tdataset\t" << r[3] << "\n"
        << "part\t" << r[0] << "\tplugins\t" << r[4] << "\n"
        << "part\t" << r[0] << "\tstatus\t" << r[5] << "\n"
        << "num\t" << r[0] << "\tbest_epoch\t" << r[6] << "\n"
        << "key\t" << r[0] << "\trun_key\t" << r[7] << "\n";
  }
  const std::string from = " FROM runs r JOIN ";
  for (const auto& r : rows(store, "SELECT " + label + ", m.split || '/' || m.branch || '/' || m.name || '@' || m.k, "
                                   "m.value" + from + "metrics m ON m.run_id = r.id ORDER BY 1, 2"))
    out << "num\t" << r[0] << "\tmetric " << r[1] << "\t" << r[2] << "\n";
  for (const auto& r : rows(store, "SELECT " + label + ", g.split || '/' || g.branch || '/g' || g.grp || '/' || g.name "
                                   "|| '@' || g.k, g.value, g.users" + from +
                                   "popularity_metrics g ON g.run_id = r.id ORDER BY 1, 2"))
    out << "num\t" << r[0] << "\tgroup " << r[1] << "\t" << r[2] << " users=" << r[3] << "\n";
  for (const auto& r : rows(store, "SELECT " + label + ", e.epoch, e.loss, e.terms" + from +
                                   "epochs e ON e.run_id = r.id ORDER BY 1, 2"))
    out << "num\t" << r[0] << "\tepoch " << r[1] << "\t" << r[2] << " " << r[3] << "\n";
  for (const auto& r : rows(store, "SELECT " + label + ", u.split || '/' || u.branch, SUM(u.rank), SUM(u.ties), "
                                   "COUNT(*)" + from + "user_ranks u ON u.run_id = r.id GROUP BY 1, 2 ORDER BY 1, 2"))
    out << "num\t" << r[0] << "\tranks " << r[1] << "\tsum=" << r[2] << " ties=" << r[3] << " users=" << r[4] << "\n";
  return out.str();
}

struct Fact {
  std::string kind, value;
};

std::map<std::string, Fact> facts(const std::string& text) {
  std::map<std::string, Fact> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const size_t a = line.find('\t'), b = line.find('\t', a + 1), c = line.find('\t', b + 1);
    if (c == std::string::npos) continue;
    out[line.substr(a + 1, c - a - 1)] = {line.substr(0, a), line.substr(c + 1)};
  }
  return out;
}

// The numbers of two renderings of one fact, equal within float noise (the rest of the text exactly).
bool same_numbers(const std::string& a, const std::string& b) {
  std::istringstream sa(a), sb(b);
  std::string x, y;
  while (true) {
    const bool more_a = bool(sa >> x), more_b = bool(sb >> y);
    if (more_a != more_b) return false;
    if (!more_a) return true;
    if (x == y) continue;
    const size_t ex = x.find('='), ey = y.find('=');
    const std::string nx = x.substr(ex == std::string::npos ? 0 : ex + 1), ny = y.substr(ey == std::string::npos ? 0 : ey + 1);
    char* end_x;
    char* end_y;
    const double vx = std::strtod(nx.c_str(), &end_x), vy = std::strtod(ny.c_str(), &end_y);
    if (*end_x || *end_y || x.substr(0, ex + 1) != y.substr(0, ey + 1)) return false;
    if (std::fabs(vx - vy) > 1e-6 * std::max(1.0, std::fabs(vx))) return false;
  }
}

}  // namespace

// The grid is read as for a store made before the speed options became defaults (TrainDefaults::original): the
// identities it pins are those such stores hold.
TEST(Golden, AFixedGridKeepsItsRunIdentitiesAndMetrics) {
  TempDir t;
  const std::string store = t.path("golden.sqlite");
  const std::string text = read_file(kGoldenDir + "/grid.toml");
  GridSummary s = run_experiment(parse(text, kGoldenDir, TrainDefaults::original), text, plugins(), quiet(store));
  ASSERT_EQ(s.failed, 0);
  const std::string now = snapshot(store);
  if (std::getenv("MMSR_UPDATE_GOLDEN")) {
    std::ofstream(kGoldenDir + "/expected.txt") << now;
    GTEST_SKIP() << "wrote " << kGoldenDir << "/expected.txt";
  }
  const auto expected = facts(read_file(kGoldenDir + "/expected.txt")), actual = facts(now);
  ASSERT_FALSE(expected.empty()) << "tests/fixtures/golden/expected.txt is missing";
  const bool same_host = expected.at("-\tbuild").value == actual.at("-\tbuild").value;
  if (!same_host)
    std::printf("[golden] this host (%s) is not the one the expected file was made on (%s): run keys and numbers "
                "are not compared, the identities' parts are\n",
                actual.at("-\tbuild").value.c_str(), expected.at("-\tbuild").value.c_str());
  for (const auto& [what, fact] : expected) {
    if (fact.kind == "host") continue;
    auto it = actual.find(what);
    if (it == actual.end()) {
      ADD_FAILURE() << "no longer stored: " << what;
      continue;
    }
    if (fact.kind == "part") EXPECT_EQ(it->second.value, fact.value) << what;
    if (fact.kind == "key" && same_host) EXPECT_EQ(it->second.value, fact.value) << what;
    if (fact.kind == "num" && same_host) EXPECT_TRUE(same_numbers(it->second.value, fact.value))
        << what << ": " << it->second.value << ", expected " << fact.value;
  }
  for (const auto& [what, fact] : actual)
    if (!expected.count(what)) ADD_FAILURE() << "newly stored: " << what << " = " << fact.value;
}

}  // namespace mmsr

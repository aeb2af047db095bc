// Reports end to end: a tiny grid with a floor model, a hyper-parameter axis, a multi-branch model and a second
// protocol; its leaderboards, statistics, exports, diff, and the HTML page opened in a real headless browser.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "e2e/e2e_support.h"
#include "mmsr/errors.h"
#include "mmsr/metrics.h"
#include "mmsr/report.h"
#include "mmsr/runner.h"

namespace mmsr {

using test::TempDir;
using namespace test::e2e;

namespace {

const char* kModels = R"(
[[model]]
name = "PopRec"
tower = { plugin = "popularity" }

[[model]]
name = "SASRec"
tower = { plugin = "id", dim = [8, 16] }
backbone = { plugin = "sasrec", layers = 1 }
loss = "softmax"

[[model]]
name = "LF"
tower = { plugin = "late_fusion", dim = 16 }
backbone = { plugin = "sasrec", layers = 1 }
loss = { plugin = "inbatch", branches = "fused" }

[[also_evaluate]]
candidates = "sampled"
negatives = 20
negatives_seed = 7
)";

// One store with the tiny grid, made once for the whole suite (8 runs, a few seconds).
const std::string& shared_store() {
  static TempDir* dir = new TempDir();
  static std::string store = [] {
    std::string path = dir->path("report.sqlite");
    std::string text = tiny_with_models(kModels);
    auto summary = run_experiment(parse(text), text, plugins(), quiet(path));
    EXPECT_EQ(summary.failed, 0);
    return path;
  }();
  return store;
}

std::vector<Leaderboard> boards(const std::string& baseline = "") {
  ReportOptions r;
  r.stores = {shared_store()};
  r.baseline = baseline;
  return build_leaderboards(r);
}

const Leaderboard& full_board(const std::vector<Leaderboard>& bs) {
  for (const auto& b : bs)
    if (b.protocol_json.find("\"sampled\"") == std::string::npos) return b;
  throw std::runtime_error("no full-ranking board");
}

}  // namespace

TEST(Report, OneBoardPerProtocolAndARowPerConfiguration) {
  auto bs = boards();
  ASSERT_EQ(bs.size(), 2u);  // full ranking and 20 sampled negatives, never mixed
  for (const auto& b : bs) {
    ASSERT_EQ(b.rows.size(), 4u);  // PopRec, SASRec dim 8 and 16, LF
    for (const auto& r : b.rows) EXPECT_EQ(r.seeds.size(), 2u) << r.label();
  }
}

// A row chosen at the last epoch of its budget (2 here) in some seed is marked and explained under the table.
TEST(Report, RowsChosenAtTheLastEpochOfTheirBudgetAreMarked) {
  auto bs = boards();
  const Leaderboard& b = full_board(bs);
  const std::string markdown = render({b}, "md");
  int marked = 0;
  for (const auto& r : b.rows) {
    const int64_t at_budget = count(shared_store(), "SELECT COUNT(*) FROM runs WHERE status = 'finished' AND model_name = '" +
                                                        r.model + "' AND config_key = '" + r.config_key +
                                                        "' AND best_epoch = 2 AND protocol NOT LIKE '%sampled%'");
    EXPECT_EQ(r.capped_seeds, at_budget) << r.label();
    const auto note = markdown.find("‡ Chosen at the last epoch of a 2-epoch budget");
    const bool explained = note != std::string::npos &&
                           markdown.find(r.label() + " (" + std::to_string(at_budget) + " of " +
                                             std::to_string(r.seeds.size()) + " seeds)",
                                         note) != std::string::npos;
    EXPECT_EQ(explained, at_budget > 0) << r.label();
    marked += at_budget > 0;
  }
  EXPECT_GT(marked, 0);  // the tiny grid's 2 epochs leave some model still improving
}

TEST(Report, SelectionAndReferenceAreChosenOnValidation) {
  const auto bs = boards();
  const auto& b = full_board(bs);
  // Of SASRec's two configurations exactly one is selected: the better one on validation, whatever the test says.
  std::vector<const LeaderboardRow*> sasrec;
  for (const auto& r : b.rows)
    if (r.model == "SASRec") sasrec.push_back(&r);
  ASSERT_EQ(sasrec.size(), 2u);
  EXPECT_NE(sasrec[0]->selected, sasrec[1]->selected);
  const auto* chosen = sasrec[0]->selected ? sasrec[0] : sasrec[1];
  const auto* other = sasrec[0]->selected ? sasrec[1] : sasrec[0];
  EXPECT_GE(chosen->valid_select.mean, other->valid_select.mean);
  // Without a baseline the reference is the row with the best validation score.
  ASSERT_GE(b.reference, 0);
  for (const auto& r : b.rows) EXPECT_LE(r.valid_select.mean, b.rows[size_t(b.reference)].valid_select.mean);
  // A baseline by model name picks that model's validation-selected configuration.
  const auto named = boards("SASRec");
  const auto& nb = full_board(named);
  EXPECT_EQ(nb.rows[size_t(nb.reference)].model, "SASRec");
  EXPECT_TRUE(nb.rows[size_t(nb.reference)].selected);
  EXPECT_THROW(boards("SASRek"), InputError);
}

TEST(Report, ComparisonsArePairedOverUsersAndHolmAdjusted) {
  const auto bs = boards("PopRec");
  const auto& b = full_board(bs);
  const auto& ref = b.rows[size_t(b.reference)];
  EXPECT_EQ(ref.model, "PopRec");
  EXPECT_TRUE(ref.vs_reference.empty());
  size_t compared = 0;
  for (const auto& r : b.rows) {
    if (&r == &ref) continue;
    ASSERT_EQ(r.vs_reference.size(), r.metric_labels.size());
    for (size_t m = 0; m < r.metric_labels.size(); ++m) {
      const auto& c = r.vs_reference[m];
      EXPECT_EQ(c.users, 120u);  // every user of the tiny data is one pair
      EXPECT_EQ(c.seeds.size(), 2u);
      EXPECT_GE(c.wilcoxon_holm, c.wilcoxon.p_value);
      EXPECT_GE(c.t_holm, c.t.p_value);
      EXPECT_LE(c.wilcoxon_holm, 1.0);
      EXPECT_NEAR(c.improvement, (r.mean[m] - ref.mean[m]) / ref.mean[m], 1e-12);
      ++compared;
    }
  }
  EXPECT_EQ(compared, 3u * b.rows[0].metric_labels.size());
  // The per-user pairs reproduce the board's means: averaging a row's per-user metric over users gives its mean.
  // (Checked through the sign of the effects: a row above the reference on average has W+ > W- unless ties dominate.)
  for (const auto& r : b.rows)
    for (size_t m = 0; m < r.vs_reference.size(); ++m)
      if (std::fabs(r.vs_reference[m].t.statistic) > 3) EXPECT_EQ(r.vs_reference[m].t.statistic > 0, r.mean[m] > ref.mean[m]);
}

TEST(Report, PlacesMarkTheBestAndTheSecondOfEveryColumn) {
  const auto bs = boards();
  for (const auto& b : bs)
    for (size_t m = 0; m < b.rows[0].metric_labels.size(); ++m) {
      int firsts = 0, seconds = 0;
      double best = -1;
      for (const auto& r : b.rows) best = std::max(best, r.mean[m]);
      for (const auto& r : b.rows) {
        firsts += r.place[m] == 1;
        seconds += r.place[m] == 2;
        if (r.place[m] == 1) EXPECT_EQ(r.mean[m], best);
      }
      EXPECT_EQ(firsts, 1);
      EXPECT_EQ(seconds, 1);
    }
}

TEST(Report, AxesCurvesBranchesAndProtocolCard) {
  const auto bs = boards();
  const auto& b = full_board(bs);
  ASSERT_EQ(b.axes.size(), 1u);
  EXPECT_EQ(b.axes[0].model, "SASRec");
  EXPECT_EQ(b.axes[0].parameter, "tower.dim");
  ASSERT_EQ(b.axes[0].lines.size(), 1u);
  EXPECT_EQ(b.axes[0].lines.begin()->second.size(), 2u);
  for (const auto& r : b.rows) {
    if (r.model == "PopRec") {
      EXPECT_TRUE(r.curve.empty());  // nothing trained
      continue;
    }
    ASSERT_EQ(r.curve.size(), 2u) << r.label();  // two epochs, averaged over the two seeds
    EXPECT_EQ(r.curve[0].seeds, 2u);
    EXPECT_TRUE(std::isfinite(r.curve[1].valid));
    EXPECT_GT(r.mean_peak_rss_mb, 0);
  }
  std::string md = render(bs, "md");
  EXPECT_NE(md.find("| model | fused | id | image | text |"), std::string::npos) << md;
  EXPECT_NE(md.find("Filtering: format synthetic, no k-core"), std::string::npos) << md;
  EXPECT_NE(md.find("Candidates: the target against 20 negatives per user"), std::string::npos) << md;
  EXPECT_NE(md.find("Ties: expected"), std::string::npos) << md;
  EXPECT_NE(md.find("Seeds: 1, 2."), std::string::npos) << md;
}

TEST(Report, CsvAndJsonCarryTheSameNumbers) {
  const auto bs = boards("PopRec");
  auto j = nlohmann::json::parse(render(bs, "json"));
  ASSERT_EQ(j.size(), bs.size());
  const auto& row = bs[0].rows[1];
  const auto& jr = j[0]["rows"][1];
  EXPECT_EQ(jr["label"], row.label());
  EXPECT_DOUBLE_EQ(jr["metrics"]["ndcg@10"]["mean"].get<double>(), row.mean[4]);
  std::string csv = render(bs, "csv");
  size_t lines = 0;
  for (char c : csv) lines += c == '\n';
  EXPECT_EQ(lines, 1 + 2 * 4 * row.metric_labels.size());  // header + boards x rows x metrics
}

TEST(Report, DiffFindsChangedRowsAndNothingInAReportAgainstItself) {
  const std::string a = render(boards(), "json");
  EXPECT_NE(diff_reports(a, a, "a", "b").find("No differences"), std::string::npos);
  auto j = nlohmann::json::parse(a);
  j[0]["rows"][0]["metrics"]["ndcg@10"]["mean"] = j[0]["rows"][0]["metrics"]["ndcg@10"]["mean"].get<double>() + 0.01;
  j[1]["rows"].erase(j[1]["rows"].begin());
  std::string d = diff_reports(a, j.dump(), "old.json", "new.json");
  EXPECT_NE(d.find("| ndcg@10 |"), std::string::npos) << d;
  EXPECT_NE(d.find("+0.0100"), std::string::npos) << d;
  EXPECT_NE(d.find("only in old.json"), std::string::npos) << d;
  EXPECT_THROW(diff_reports("{", a, "broken.json", "b"), InputError);
  EXPECT_THROW(diff_reports("[{\"x\": 1}]", a, "other.json", "b"), InputError);
}

// The page in a real browser: no script error, the expected rows in each table, data points in every plot.
TEST(Report, HtmlRendersInAHeadlessBrowser) {
  const auto bs = boards("PopRec");
  const std::string html = render(bs, "html");
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);  // nothing fetched: works offline
  std::filesystem::create_directories(MMSR_TEST_ARTIFACT_DIR);
  const std::string page = std::string(MMSR_TEST_ARTIFACT_DIR) + "/report.html";
  std::ofstream(page) << html;
  const std::string cmd = std::string("python3 ") + MMSR_SCRIPTS_DIR + "/check_report_html.py " + page +
                          " --screenshot " + MMSR_TEST_ARTIFACT_DIR + "/report.png" +
                          " --expect-table b0-leaderboard=4 --expect-table b1-leaderboard=4"
                          " --expect-table b0-significance=3 --expect-table b0-branches=1 --expect-table b0-beyond=4"
                          " --min-charts 8";
  int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  if (WEXITSTATUS(rc) == 77) GTEST_SKIP() << "no Chromium on this machine (scripts/setup.sh installs it)";
  EXPECT_EQ(WEXITSTATUS(rc), 0) << "see " << page;
}

}  // namespace mmsr

namespace mmsr {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// An example grid made cheap (one seed, one epoch, optionally less data) without changing its shape: the same
// models, protocols and breakdowns reach the report.
std::string shrunk(std::string text, const std::vector<std::pair<std::string, std::string>>& edits) {
  for (const auto& [from, to] : edits) {
    size_t at = 0;
    while ((at = text.find(from, at)) != std::string::npos) {
      text.replace(at, from.size(), to);
      at += to.size();
    }
  }
  std::string out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("seeds = [", 0) == 0) line = "seeds = [1]";
    size_t e = line.find("epochs = ");
    if (e != std::string::npos && line.find('#') > e) {
      size_t end = e + 9;
      while (end < line.size() && std::isdigit(static_cast<unsigned char>(line[end]))) ++end;
      line = line.substr(0, e) + "epochs = 1" + line.substr(end);
    }
    out += line + "\n";
  }
  return out;
}

int check_in_browser(const std::vector<Leaderboard>& bs, const std::string& name, const std::string& expect) {
  std::filesystem::create_directories(MMSR_TEST_ARTIFACT_DIR);
  const std::string page = std::string(MMSR_TEST_ARTIFACT_DIR) + "/" + name + ".html";
  std::ofstream(page) << render(bs, "html");
  const std::string cmd = std::string("python3 ") + MMSR_SCRIPTS_DIR + "/check_report_html.py " + page +
                          " --screenshot " + MMSR_TEST_ARTIFACT_DIR + "/" + name + ".png " + expect;
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 1;
}

}  // namespace

// The quick start's grid (every model family), at one seed and one epoch on less data: its report renders.
TEST(Report, QuickStartGridReportRendersInAHeadlessBrowser) {
  TempDir t;
  const std::string file = std::string(MMSR_EXAMPLES_DIR) + "/quickstart.toml";
  std::string text = shrunk(read_text(file), {{"users = 1500", "users = 200"}, {"items = 1000", "items = 120"}});
  Experiment ex = parse(text, MMSR_EXAMPLES_DIR);
  auto summary = run_experiment(ex, text, plugins(), quiet(t.path("q.sqlite")));
  ASSERT_EQ(summary.failed, 0);
  ReportOptions r;
  r.stores = {t.path("q.sqlite")};
  auto bs = build_leaderboards(r);
  ASSERT_EQ(bs.size(), 1u);
  const std::string rows = std::to_string(bs[0].rows.size());
  EXPECT_GE(bs[0].rows.size(), 10u);
  int rc = check_in_browser(bs, "quickstart", "--expect-table b0-leaderboard=" + rows + " --min-charts 5");
  if (rc == 77) GTEST_SKIP() << "no Chromium on this machine (scripts/setup.sh installs it)";
  EXPECT_EQ(rc, 0);
}

// The LastFM parity grid (both protocols), at one seed and one epoch: its report renders.
TEST(Report, ParityGridReportRendersInAHeadlessBrowser) {
  const std::string data = std::string(MMSR_SHARED_DATA_DIR) + "/s3rec/LastFM.txt";
  if (!std::filesystem::exists(data)) GTEST_SKIP() << "no " << data;
  TempDir t;
  const std::string dir = std::string(MMSR_EXAMPLES_DIR) + "/parity";
  std::string text = shrunk(read_text(dir + "/lastfm.toml"), {{"../../../shared/data", MMSR_SHARED_DATA_DIR}});
  Experiment ex = parse(text, dir);
  auto summary = run_experiment(ex, text, plugins(), quiet(t.path("p.sqlite")));
  ASSERT_EQ(summary.failed, 0);
  ReportOptions r;
  r.stores = {t.path("p.sqlite")};
  auto bs = build_leaderboards(r);
  ASSERT_EQ(bs.size(), 2u);  // full ranking and the paper's 99 negatives
  const std::string rows = std::to_string(bs[0].rows.size());
  int rc = check_in_browser(bs, "parity-lastfm",
                            "--expect-table b0-leaderboard=" + rows + " --expect-table b1-leaderboard=" + rows);
  if (rc == 77) GTEST_SKIP() << "no Chromium on this machine (scripts/setup.sh installs it)";
  EXPECT_EQ(rc, 0);
}

}  // namespace mmsr

// The report as Markdown, CSV and JSON.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "internal.h"
#include "mmsr/errors.h"
#include "mmsr/report.h"

namespace mmsr {
namespace report_detail {
namespace {

nlohmann::json summary_json(const stats::Summary& s) {
  return {{"mean", s.mean}, {"std", s.sd}, {"ci95", {s.ci_low, s.ci_high}}, {"n", s.n}};
}

nlohmann::json test_json(const stats::PairedTest& t, double holm) {
  return {{"method", t.method}, {"n", t.n},   {"statistic", std::isfinite(t.statistic) ? t.statistic : 0.0},
          {"p", t.p_value},     {"p_holm", holm}, {"effect", std::isfinite(t.effect) ? t.effect : 0.0}};
}

std::string seeds_text(const std::vector<unsigned long long>& seeds) {
  std::string s;
  for (auto x : seeds) s += (s.empty() ? "" : ", ") + std::to_string(x);
  return s;
}

std::vector<unsigned long long> all_seeds(const Leaderboard& b) {
  std::set<unsigned long long> s;
  for (const auto& r : b.rows) s.insert(r.seeds.begin(), r.seeds.end());
  return {s.begin(), s.end()};
}

std::string candidates_title(const nlohmann::json& p) {
  if (p.value("candidates", "full") != "sampled") return "full ranking";
  return fmt::format("{} sampled negatives", p.value("negatives", int64_t(0)));
}

// Per-branch scores of multi-branch models, and scores by the target's popularity group, when the board has them.
// A Markdown cell of a mean over seeds and its standard deviation.
std::string sd_cell(double mean, double sd) { return fmt::format(" {:.4f} ± {:.4f} |", mean, sd); }

void markdown_breakdowns(const Leaderboard& b, std::ostringstream& out) {
  const std::vector<std::string> branches = side_branches(b);
  if (!branches.empty()) {
    out << "By branch (test " << b.select << "; fused = the mean of the branch scores, which the board ranks by):\n\n";
    out << "| model | fused |";
    for (const auto& br : branches) out << " " << br << " |";
    out << "\n|---|---|";
    for (size_t i = 0; i < branches.size(); ++i) out << "---|";
    out << "\n";
    for (const auto& r : b.rows) {
      if (r.by_branch.empty()) continue;
      out << "| " << r.label() << " |";
      auto cell = [&](const std::string& br) {
        auto it = r.by_branch.find(br);
        return it == r.by_branch.end() ? std::string(" |")
                                       : sd_cell(it->second.first, it->second.second);
      };
      out << cell("fused");
      for (const auto& br : branches) out << cell(br);
      out << "\n";
    }
    out << "\n";
  }
  const std::map<int64_t, int64_t> users = popularity_users(b);
  if (users.empty()) return;
  out << "By popularity group of the test target (test " << b.select
      << "; group 0 = items never seen in training, then equal-sized item quantiles, least popular first; test targets: ";
  for (auto it = users.begin(); it != users.end(); ++it)
    out << (it == users.begin() ? "" : ", ") << it->first << ": " << it->second;
  out << "):\n\n| model |";
  for (const auto& [g, n] : users) out << " group " << g << " |";
  out << "\n|---|";
  for (size_t i = 0; i < users.size(); ++i) out << "---|";
  out << "\n";
  for (const auto& r : b.rows) {
    out << "| " << r.label() << " |";
    for (const auto& [g, n] : users) {
      auto it = r.by_group.find(g);
      out << (it == r.by_group.end() ? std::string(" |")
                                     : sd_cell(it->second.first, it->second.second));
    }
    out << "\n";
  }
  out << "\n";
}

// The test's top-K lists beyond accuracy (eval/beyond.h), mean ± standard deviation over seeds.
void markdown_beyond(const Leaderboard& b, std::ostringstream& out) {
  const auto labels = beyond_labels(b);
  if (labels.empty()) return;
  out << "Beyond accuracy (the test's top-K lists, full ranking; coverage = share of the catalogue recommended to "
         "anyone, popularity = mean training count of the recommended items, novelty = their mean self-information "
         "in bits, diversity = their mean pairwise cosine distance in the declared modality; mean ± sd over seeds, no "
         "per-target test):\n\n| model |";
  for (const auto& l : labels) out << " " << l << " |";
  out << "\n|---|";
  for (size_t i = 0; i < labels.size(); ++i) out << "---|";
  out << "\n";
  for (const auto& r : b.rows) {
    out << "| " << r.label() << " |";
    for (const auto& l : labels) {
      auto it = r.beyond.find(l);
      out << (it == r.beyond.end() ? std::string(" |") : sd_cell(it->second.mean, it->second.sd));
    }
    out << "\n";
  }
  out << "\n";
}

std::string interval(const stats::Summary& s) {
  return s.n > 1 ? fmt::format("{:.4f} [{:.4f}, {:.4f}]", s.mean, s.ci_low, s.ci_high) : fmt::format("{:.4f} (1 seed)", s.mean);
}

void markdown_significance(const Leaderboard& b, std::ostringstream& out) {
  if (b.reference < 0) return;
  const auto& ref = b.rows[size_t(b.reference)];
  const size_t col = select_column(ref.metric_labels, b.select);
  size_t tests = 0;
  for (const auto& r : b.rows)
    for (const auto& c : r.vs_reference) tests += c.users > 0;
  if (tests == 0) return;
  out << fmt::format(
      "Against the reference {} on test {} (paired over test targets; Holm over the board's {} comparisons; effect: "
      "rank-biserial r for Wilcoxon, d_z for t):\n\n",
      ref.label(), b.select, tests);
  out << "| model | mean [95% CI] | Δ | Wilcoxon p | Holm | r | paired t p | Holm | d_z | users | seeds paired |\n"
         "|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : b.rows) {
    const auto& s = r.summary[col];
    if (&r == &ref) {
      out << fmt::format("| {} (reference) | {} | | | | | | | | | |\n", r.label(), interval(s));
      continue;
    }
    if (r.vs_reference.empty() || r.vs_reference[col].users == 0) continue;
    const auto& c = r.vs_reference[col];
    // A p-value below the smallest double prints as a bound, not as a zero.
    auto p = [](double v) { return v < 1e-300 ? std::string("<1e-300") : fmt::format("{:.2g}", v); };
    out << fmt::format("| {} | {} | {} | {} | {} | {:+.3f} | {} | {} | {:+.3f} | {} | {} |\n",
                       r.label(), interval(s), signed_percent(c.improvement), p(c.wilcoxon.p_value),
                       p(c.wilcoxon_holm), c.wilcoxon.effect, p(c.t.p_value), p(c.t_holm),
                       std::isfinite(c.t.effect) ? c.t.effect : 0.0, c.users,
                       c.seeds.empty() ? "none (seed means)" : seeds_text(c.seeds));
  }
  out << "\n";
}

}  // namespace

namespace {

// The board's title and protocol card.
void markdown_card(const Leaderboard& b, std::ostringstream& out) {
  auto p = nlohmann::json::parse(b.protocol_json);
  out << fmt::format("## {}: {} (protocol {})\n\n", b.dataset_name, candidates_title(p), b.protocol_hash);
  auto card = protocol_card(b);
  out << fmt::format("Protocol card. Dataset {} (checksum {}).", b.dataset_name, b.dataset_checksum);
  for (const auto& key : card_order())
    if (card.count(key)) out << " " << char(std::toupper(key[0])) << key.substr(1) << ": " << card.at(key) << ".";
  double tied_min = 1, tied_max = 0;
  for (const auto& r : b.rows) {
    tied_min = std::min(tied_min, r.tied_share.mean);
    tied_max = std::max(tied_max, r.tied_share.mean);
  }
  out << fmt::format(" Seeds: {}. Tied targets: {:.1f}% to {:.1f}% of test targets across rows.\n\n",
                     seeds_text(all_seeds(b)), 100 * tied_min, 100 * tied_max);
}

// What the cells mean, and the table's header.
void markdown_table_head(const Leaderboard& b, bool several_configs, std::ostringstream& out) {
  const auto& labels = b.rows[0].metric_labels;
  out << fmt::format("Cells: {}{} mean ± standard deviation over seeds (no spread for one seed); bold = best, "
                     "underlined = second.",
                     b.split, b.branch == "fused" ? "" : " (branch " + b.branch + ")");
  if (b.reference >= 0)
    out << fmt::format(" Δ: change of {} against the reference {} ({}); * / **: Holm-adjusted Wilcoxon p < {} / {}.",
                       b.select, b.rows[size_t(b.reference)].label(), b.reference_rule, b.alpha, b.alpha / 5);
  if (several_configs) out << " †: the configuration of its model chosen on validation " << b.select << ".";
  out << "\n\n| model | seeds |";
  for (const auto& l : labels) out << " " << l << " |";
  if (b.reference >= 0) out << " Δ " << b.select << " |";
  out << " best epoch | train time | peak memory |\n|---|---|";
  for (size_t i = 0; i < labels.size(); ++i) out << "---|";
  if (b.reference >= 0) out << "---|";
  out << "---|---|---|\n";
}

// One metric cell: mean (bold best, underlined second), spread over seeds, significance against the reference.
std::string markdown_cell(const Leaderboard& b, const LeaderboardRow& r, size_t i) {
  std::string cell = fmt::format("{:.4f}", r.mean[i]);
  if (r.place[i] == 1) cell = "**" + cell + "**";
  if (r.place[i] == 2) cell = "<u>" + cell + "</u>";
  std::string mark = r.vs_reference.empty() ? "" : significance_mark(r.vs_reference[i].wilcoxon_holm, b.alpha);
  if (!r.vs_reference.empty() && r.vs_reference[i].users == 0) mark.clear();
  std::string escaped;  // a literal asterisk in Markdown
  for (size_t m = 0; m < mark.size(); ++m) escaped += "\\*";
  return r.summary[i].n > 1 ? fmt::format(" {} ± {:.4f}{} |", cell, r.stdev[i], escaped)
                            : fmt::format(" {}{} |", cell, escaped);
}

void markdown_row(const Leaderboard& b, size_t ri, bool several_of_model, std::ostringstream& out) {
  const auto& r = b.rows[ri];
  const size_t col = select_column(b.rows[0].metric_labels, b.select);
  out << fmt::format("| {}{}{} | {} |", r.label(), several_of_model && r.selected ? " †" : "",
                     int(ri) == b.reference ? " (reference)" : "", r.seeds.size());
  for (size_t i = 0; i < r.mean.size(); ++i) out << markdown_cell(b, r, i);
  if (b.reference >= 0)
    out << " " << (int(ri) == b.reference || r.vs_reference.empty() ? "" : signed_percent(r.vs_reference[col].improvement))
        << " |";
  out << fmt::format(" {:.1f}{} | {} | {:.0f} MB |\n", r.mean_best_epoch, r.capped_seeds > 0 ? " ‡" : "",
                     human_seconds(r.mean_train_seconds), r.mean_peak_rss_mb);
}

// Rows chosen at the last epoch of their budget: said under the table, once per budget, so a model that was still
// learning does not read as a worse model.
void markdown_budget_notes(const Leaderboard& b, std::ostringstream& out) {
  std::map<int64_t, std::string> rows_by_budget;
  for (const auto& r : b.rows)
    if (r.capped_seeds > 0)
      rows_by_budget[r.epoch_budget] += fmt::format("{}{} ({} of {} seeds)", rows_by_budget[r.epoch_budget].empty() ? "" : ", ",
                                                    r.label(), r.capped_seeds, r.seeds.size());
  for (const auto& [budget, rows] : rows_by_budget)
    out << fmt::format("‡ Chosen at the last epoch of a {}-epoch budget, so still improving when training ended: a "
                       "budget's numbers, not a converged model's (raise [train].epochs to compare converged models): "
                       "{}.\n\n",
                       budget, rows);
}

}  // namespace

std::string render_markdown(const std::vector<Leaderboard>& boards) {
  std::ostringstream out;
  if (boards.empty()) return "No finished runs in the store(s).\n";
  for (const auto& b : boards) {
    markdown_card(b, out);
    if (b.rows.empty()) continue;
    std::map<std::string, int> configs = configurations_per_model(b);
    bool several_configs = false;
    for (const auto& [m, n] : configs) several_configs = several_configs || n > 1;
    markdown_table_head(b, several_configs, out);
    for (size_t ri = 0; ri < b.rows.size(); ++ri) markdown_row(b, ri, configs[b.rows[ri].model] > 1, out);
    out << "\n";
    markdown_budget_notes(b, out);
    markdown_significance(b, out);
    markdown_breakdowns(b, out);
    markdown_beyond(b, out);
  }
  return out.str();
}

namespace {

// One metric cell of a row: its summary over seeds, its place and its comparison with the board's reference.
nlohmann::json metric_json(const LeaderboardRow& r, size_t i, double alpha) {
  auto m = summary_json(r.summary[i]);
  m["place"] = r.place[i];
  if (!r.vs_reference.empty() && r.vs_reference[i].users > 0) {
    const auto& c = r.vs_reference[i];
    m["vs_reference"] = {{"improvement", c.improvement},
                         {"users", c.users},
                         {"seeds_paired", c.seeds},
                         {"wilcoxon", test_json(c.wilcoxon, c.wilcoxon_holm)},
                         {"paired_t", test_json(c.t, c.t_holm)},
                         {"mark", significance_mark(c.wilcoxon_holm, alpha)}};
  }
  return m;
}

nlohmann::json row_json(const LeaderboardRow& r, double alpha) {
  nlohmann::json jr = {{"model", r.model},
                       {"grid", r.grid_label},
                       {"label", r.label()},
                       {"config_key", r.config_key},
                       {"config", nlohmann::json::parse(r.config_json.empty() ? "{}" : r.config_json)},
                       {"seeds", r.seeds},
                       {"selected", r.selected},
                       {"valid_select", summary_json(r.valid_select)},
                       {"tied_share", summary_json(r.tied_share)},
                       {"train_seconds", r.mean_train_seconds},
                       {"peak_rss_mb", r.mean_peak_rss_mb},
                       {"best_epoch", r.mean_best_epoch},
                       {"seeds_at_epoch_budget", r.capped_seeds},
                       {"metrics", nlohmann::json::object()}};
  for (size_t i = 0; i < r.metric_labels.size(); ++i) jr["metrics"][r.metric_labels[i]] = metric_json(r, i, alpha);
  for (const auto& [branch, ms] : r.by_branch) jr["by_branch"][branch] = {{"mean", ms.first}, {"std", ms.second}};
  for (const auto& [group, ms] : r.by_group)
    jr["by_popularity_group"][std::to_string(group)] = {
        {"mean", ms.first}, {"std", ms.second}, {"users", r.group_users.at(group)}};
  for (const auto& [label, summary] : r.beyond) jr["beyond_accuracy"][label] = summary_json(summary);
  nlohmann::json curve = nlohmann::json::array();
  for (const auto& e : r.curve)
    curve.push_back({{"epoch", e.epoch},
                     {"loss", e.loss},
                     {"terms", e.terms},
                     {"valid", std::isnan(e.valid) ? nlohmann::json() : nlohmann::json(e.valid)},
                     {"seeds", e.seeds}});
  jr["curve"] = curve;
  return jr;
}

nlohmann::json axis_json(const GridAxis& a) {
  nlohmann::json ja = {{"model", a.model}, {"parameter", a.parameter}, {"lines", nlohmann::json::object()}};
  for (const auto& [line, points] : a.lines) {
    nlohmann::json jp = nlohmann::json::array();
    for (const auto& p : points) jp.push_back({{"value", p.value}, {"valid", p.valid}, {"test", p.test}});
    ja["lines"][line] = jp;
  }
  return ja;
}

}  // namespace

nlohmann::json boards_json(const std::vector<Leaderboard>& boards) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& b : boards) {
    nlohmann::json jb = {{"dataset", b.dataset_name},
                         {"dataset_checksum", b.dataset_checksum},
                         {"dataset_source", b.dataset_source},
                         {"dataset_stats", nlohmann::json::parse(b.dataset_stats_json.empty() ? "{}" : b.dataset_stats_json)},
                         {"protocol_hash", b.protocol_hash},
                         {"protocol", nlohmann::json::parse(b.protocol_json)},
                         {"protocol_card", protocol_card(b)},
                         {"select", b.select},
                         {"split", b.split},
                         {"branch", b.branch},
                         {"alpha", b.alpha},
                         {"seeds", all_seeds(b)},
                         {"reference", b.reference >= 0 ? nlohmann::json(b.rows[size_t(b.reference)].label()) : nlohmann::json()},
                         {"reference_rule", b.reference_rule},
                         {"rows", nlohmann::json::array()},
                         {"axes", nlohmann::json::array()},
                         {"inputs", nlohmann::json::array()}};
    for (const auto& inputs : b.inputs_json) jb["inputs"].push_back(nlohmann::json::parse(inputs));
    // What the protocol's split made of the data (runs.split); null for a store written before schema 6.
    jb["data_split"] = b.split_json.empty() ? nlohmann::json() : nlohmann::json::parse(b.split_json);
    for (const auto& r : b.rows) jb["rows"].push_back(row_json(r, b.alpha));
    for (const auto& a : b.axes) jb["axes"].push_back(axis_json(a));
    j.push_back(jb);
  }
  return j;
}

}  // namespace report_detail

std::string render(const std::vector<Leaderboard>& boards, const std::string& format) {
  if (format == "md") return report_detail::render_markdown(boards);
  if (format == "html") return report_detail::render_html(boards);
  if (format == "json") return report_detail::boards_json(boards).dump(2) + "\n";
  if (format != "csv") throw InputError("--format " + format + ": use md, html, csv or json");
  std::ostringstream out;
  out << "dataset,dataset_checksum,protocol_hash,model,grid,config_key,seeds,metric,mean,std,ci95_low,ci95_high,place,"
         "reference,selected,improvement,wilcoxon_p,wilcoxon_p_holm,rank_biserial,t_p,t_p_holm,d_z,users\n";
  auto quoted = [](std::string s) {
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  for (const auto& b : boards)
    for (size_t ri = 0; ri < b.rows.size(); ++ri) {
      const auto& r = b.rows[ri];
      for (size_t i = 0; i < r.metric_labels.size(); ++i) {
        const auto& s = r.summary[i];
        out << fmt::format("{},{},{},{},{},{},{},{},{:.6f},{:.6f},{:.6f},{:.6f},{},{},{},", quoted(b.dataset_name),
                           b.dataset_checksum, b.protocol_hash, quoted(r.model), quoted(r.grid_label), r.config_key,
                           r.seeds.size(), r.metric_labels[i], s.mean, s.sd, s.ci_low, s.ci_high, r.place[i],
                           int(ri) == b.reference ? 1 : 0, r.selected ? 1 : 0);
        if (!r.vs_reference.empty() && r.vs_reference[i].users > 0) {
          const auto& c = r.vs_reference[i];
          out << fmt::format("{:.6f},{:.6g},{:.6g},{:.6f},{:.6g},{:.6g},{:.6f},{}\n", c.improvement, c.wilcoxon.p_value,
                             c.wilcoxon_holm, c.wilcoxon.effect, c.t.p_value, c.t_holm,
                             std::isfinite(c.t.effect) ? c.t.effect : 0.0, c.users);
        } else {
          out << ",,,,,,,\n";
        }
      }
    }
  return out.str();
}

}  // namespace mmsr

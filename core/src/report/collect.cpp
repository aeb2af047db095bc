// Reads finished runs from the stores into leaderboards: summaries over seeds, per-user comparisons with the
// board's reference row, training curves, costs and hyper-parameter axes.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "internal.h"
#include "mmsr/errors.h"
#include "mmsr/metrics.h"
#include "mmsr/report.h"
#include "mmsr/store.h"

namespace mmsr {
namespace report_detail {

void flatten(const nlohmann::json& j, const std::string& prefix, std::map<std::string, std::string>& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      std::string key = it.key() == "params" ? prefix : (prefix.empty() ? it.key() : prefix + "." + it.key());
      flatten(it.value(), key, out);
    }
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) flatten(j[i], prefix + "[" + std::to_string(i) + "]", out);
  } else {
    out[prefix] = j.dump();
  }
}

std::pair<std::string, int64_t> split_label(const std::string& label) {
  auto at = label.find('@');
  if (at == std::string::npos) return {label, 0};
  return {label.substr(0, at), std::stoll(label.substr(at + 1))};
}

}  // namespace report_detail

namespace {

// A run's epoch budget ([train].epochs in its configuration), 0 when it does not say.
int64_t epoch_budget(const std::string& config_json) {
  if (config_json.empty()) return 0;
  auto config = nlohmann::json::parse(config_json, nullptr, false);
  if (config.is_discarded() || !config.contains("train") || !config["train"].contains("epochs")) return 0;
  const auto& epochs = config["train"]["epochs"];
  return epochs.is_number_integer() ? epochs.get<int64_t>() : 0;
}

using report_detail::flatten;
using report_detail::split_label;

// Everything read for one configuration on one board, before it is summarised.
struct Acc {
  LeaderboardRow row;
  std::map<std::string, std::vector<double>> values;         // metric label -> one value per seed
  std::map<std::string, std::vector<double>> branch_values;  // branch -> selection metric per seed
  std::map<int64_t, std::vector<double>> group_values;       // popularity group -> selection metric per seed
  std::vector<double> train_seconds, peak_rss, best_epochs, valid_select, tied;
  std::map<unsigned long long, std::vector<double>> ranks;   // seed -> per-user ranks (split, branch)
  std::map<int64_t, std::vector<EpochRecord>> epochs_by_seed;
};

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / double(v.size());
}

std::vector<std::string> metric_columns(const nlohmann::json& protocol) {
  std::vector<std::string> cols;
  for (const auto& name : protocol["metrics"])
    for (const auto& k : protocol["ks"]) cols.push_back(name.get<std::string>() + "@" + std::to_string(k.get<int64_t>()));
  return cols;
}

// Rows of one board that would read the same (same model name and grid label, e.g. the same file run twice
// with an edited setting) get the settings that tell them apart appended to their label.
void disambiguate(std::vector<LeaderboardRow>& rows) {
  std::map<std::string, std::vector<size_t>> by_label;
  for (size_t i = 0; i < rows.size(); ++i) by_label[rows[i].model + "\n" + rows[i].grid_label].push_back(i);
  for (auto& [label, idx] : by_label) {
    if (idx.size() < 2) continue;
    std::vector<std::map<std::string, std::string>> flat(idx.size());
    for (size_t j = 0; j < idx.size(); ++j) flatten(nlohmann::json::parse(rows[idx[j]].config_json), "", flat[j]);
    std::set<std::string> differing;
    for (size_t j = 1; j < idx.size(); ++j)
      for (const auto& [k, v] : flat[j])
        if (!flat[0].count(k) || flat[0].at(k) != v) differing.insert(k);
    for (const auto& [k, v] : flat[0])
      for (size_t j = 1; j < idx.size(); ++j)
        if (!flat[j].count(k)) differing.insert(k);
    for (size_t j = 0; j < idx.size(); ++j) {
      std::string extra;
      for (const auto& k : differing) extra += (extra.empty() ? "" : ", ") + k + "=" + (flat[j].count(k) ? flat[j].at(k) : "-");
      auto& g = rows[idx[j]].grid_label;
      g = g.empty() ? extra : g + "; " + extra;
    }
  }
}

// Training curves: loss, its terms and the validation selection metric, averaged over seeds epoch by epoch.
std::vector<EpochPoint> mean_curve(const std::map<int64_t, std::vector<EpochRecord>>& by_seed, const std::string& select) {
  std::map<int64_t, EpochPoint> points;
  std::map<int64_t, std::pair<double, size_t>> valid;
  for (const auto& [seed, epochs] : by_seed)
    for (const auto& e : epochs) {
      auto& p = points[e.epoch];
      p.epoch = e.epoch;
      p.loss += e.loss;
      p.seeds += 1;
      auto terms = nlohmann::json::parse(e.terms_json.empty() ? "{}" : e.terms_json);
      for (auto it = terms.begin(); it != terms.end(); ++it)
        if (it.value().is_number()) p.terms[it.key()] += it.value().get<double>();
      auto v = nlohmann::json::parse(e.valid_json.empty() ? "{}" : e.valid_json);
      if (v.contains(select) && v[select].is_number()) {
        valid[e.epoch].first += v[select].get<double>();
        valid[e.epoch].second += 1;
      }
    }
  std::vector<EpochPoint> out;
  for (auto& [epoch, p] : points) {
    p.loss /= double(p.seeds);
    for (auto& [name, value] : p.terms) value /= double(p.seeds);
    auto it = valid.find(epoch);
    p.valid = it == valid.end() ? std::numeric_limits<double>::quiet_NaN() : it->second.first / double(it->second.second);
    out.push_back(p);
  }
  return out;
}

// Per-user values of one metric for a row: the metric of each seed's rank, averaged over the given seeds.
std::vector<double> per_user(const Acc& acc, const std::vector<unsigned long long>& seeds, const std::string& name,
                             int64_t k) {
  std::vector<double> out;
  for (auto seed : seeds) {
    const auto& ranks = acc.ranks.at(seed);
    if (out.empty()) out.assign(ranks.size(), 0.0);
    if (ranks.size() != out.size()) return {};
    for (size_t u = 0; u < ranks.size(); ++u) out[u] += metric_of_rank(name, k, ranks[u]);
  }
  for (double& v : out) v /= double(seeds.size());
  return out;
}

// Compares every row with the reference on every metric; Holm's correction over all comparisons of the board.
void compare_with_reference(Leaderboard& board, std::vector<Acc*>& accs) {
  if (board.reference < 0) return;
  Acc& ref = *accs[size_t(board.reference)];
  std::vector<Comparison*> all;
  for (size_t r = 0; r < board.rows.size(); ++r) {
    if (int(r) == board.reference) continue;
    Acc& acc = *accs[r];
    auto& row = board.rows[r];
    std::vector<unsigned long long> common;
    for (auto s : row.seeds)
      if (ref.ranks.count(s) && acc.ranks.count(s)) common.push_back(s);
    std::sort(common.begin(), common.end());
    std::vector<unsigned long long> row_seeds = common, ref_seeds = common;
    if (common.empty()) {
      for (const auto& [s, v] : acc.ranks) row_seeds.push_back(s);
      for (const auto& [s, v] : ref.ranks) ref_seeds.push_back(s);
    }
    if (row_seeds.empty() || ref_seeds.empty()) continue;  // ranks not recorded (an old store)
    row.vs_reference.resize(row.metric_labels.size());
    for (size_t m = 0; m < row.metric_labels.size(); ++m) {
      auto [name, k] = split_label(row.metric_labels[m]);
      auto x = per_user(acc, row_seeds, name, k), y = per_user(ref, ref_seeds, name, k);
      Comparison& c = row.vs_reference[m];
      c.seeds = common;
      const double base = board.rows[size_t(board.reference)].mean[m];
      c.improvement = base != 0 ? (row.mean[m] - base) / base : 0.0;
      if (x.empty() || x.size() != y.size()) continue;
      c.users = x.size();
      c.wilcoxon = stats::wilcoxon_signed_rank(x, y);
      c.t = stats::paired_t(x, y);
      all.push_back(&c);
    }
  }
  std::vector<double> pw, pt;
  for (auto* c : all) {
    pw.push_back(c->wilcoxon.p_value);
    pt.push_back(c->t.p_value);
  }
  auto hw = stats::holm(pw), ht = stats::holm(pt);
  for (size_t i = 0; i < all.size(); ++i) {
    all[i]->wilcoxon_holm = hw[i];
    all[i]->t_holm = ht[i];
  }
}

void choose_reference(Leaderboard& board, const std::string& baseline) {
  if (board.rows.size() < 2) return;
  auto better = [&](size_t a, size_t b) { return board.rows[a].valid_select.mean > board.rows[b].valid_select.mean; };
  int pick = -1;
  if (!baseline.empty()) {
    for (size_t r = 0; r < board.rows.size(); ++r)
      if (board.rows[r].label() == baseline) pick = int(r);
    if (pick < 0)
      for (size_t r = 0; r < board.rows.size(); ++r)
        if (board.rows[r].model == baseline && (pick < 0 || better(r, size_t(pick)))) pick = int(r);
    if (pick >= 0) {
      board.reference = pick;
      board.reference_rule = board.rows[size_t(pick)].label() == baseline
                                 ? "chosen with --baseline"
                                 : "chosen with --baseline; of its configurations, the best on validation " + board.select;
      return;
    }
  }
  pick = 0;
  for (size_t r = 1; r < board.rows.size(); ++r)
    if (better(r, size_t(pick))) pick = int(r);
  board.reference = pick;
  board.reference_rule = (baseline.empty() ? "" : "the baseline " + baseline + " is not on this board; ") +
                         std::string("the row with the best validation ") + board.select;
}

void mark_places(Leaderboard& board) {
  for (auto& row : board.rows) row.place.assign(row.metric_labels.size(), 0);
  if (board.rows.empty()) return;
  for (size_t m = 0; m < board.rows[0].metric_labels.size(); ++m) {
    std::vector<size_t> order(board.rows.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return board.rows[a].mean[m] > board.rows[b].mean[m]; });
    board.rows[order[0]].place[m] = 1;
    if (order.size() >= 2) board.rows[order[1]].place[m] = 2;
  }
}

void mark_selected(Leaderboard& board) {
  std::map<std::string, size_t> best;
  for (size_t r = 0; r < board.rows.size(); ++r) {
    auto it = best.find(board.rows[r].model);
    if (it == best.end() || board.rows[r].valid_select.mean > board.rows[it->second].valid_select.mean)
      best[board.rows[r].model] = r;
  }
  for (const auto& [model, r] : best) board.rows[r].selected = true;
}

bool numeric(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end && *end == '\0';
}

// Each configuration's JSON flattened to "tower.dim" -> "64", without the model's name.
std::vector<std::map<std::string, std::string>> flat_configs(const Leaderboard& board, const std::vector<size_t>& idx) {
  std::vector<std::map<std::string, std::string>> flat(idx.size());
  for (size_t j = 0; j < idx.size(); ++j) {
    flatten(nlohmann::json::parse(board.rows[idx[j]].config_json), "", flat[j]);
    flat[j].erase("model");
  }
  return flat;
}

std::string value_or_dash(const std::map<std::string, std::string>& flat, const std::string& key) {
  auto it = flat.find(key);
  return it == flat.end() ? "-" : it->second;
}

// The keys whose values differ among the configurations.
std::vector<std::string> varying_keys(const std::vector<std::map<std::string, std::string>>& flat) {
  std::set<std::string> keys;
  for (const auto& f : flat)
    for (const auto& [k, v] : f) keys.insert(k);
  std::vector<std::string> varying;
  for (const auto& k : keys) {
    std::set<std::string> values;
    for (const auto& f : flat) values.insert(value_or_dash(f, k));
    if (values.size() > 1) varying.push_back(k);
  }
  return varying;
}

// One axis: a line per setting of the other varying keys, its points sorted by the axis's value (as numbers when
// every value is one).
GridAxis axis_of(const Leaderboard& board, const std::string& model, const std::string& axis,
                 const std::vector<std::string>& varying, const std::vector<size_t>& idx,
                 const std::vector<std::map<std::string, std::string>>& flat, size_t select_col) {
  GridAxis a;
  a.model = model;
  a.parameter = axis;
  for (size_t j = 0; j < idx.size(); ++j) {
    std::string line;
    for (const auto& other : varying)
      if (other != axis) line += (line.empty() ? "" : ", ") + other + "=" + value_or_dash(flat[j], other);
    const auto& row = board.rows[idx[j]];
    a.lines[line].push_back(
        {value_or_dash(flat[j], axis), row.valid_select.mean, row.mean.empty() ? 0.0 : row.mean[select_col]});
  }
  bool all_numeric = true;
  for (auto& [line, points] : a.lines)
    for (const auto& p : points) all_numeric = all_numeric && numeric(p.value);
  for (auto& [line, points] : a.lines)
    std::stable_sort(points.begin(), points.end(), [&](const GridAxis::Point& x, const GridAxis::Point& y) {
      return all_numeric ? std::stod(x.value) < std::stod(y.value) : x.value < y.value;
    });
  return a;
}

// Hyper-parameters that vary among the configurations of one model: the sensitivity plots' axes.
void find_axes(Leaderboard& board) {
  std::map<std::string, std::vector<size_t>> by_model;
  for (size_t r = 0; r < board.rows.size(); ++r) by_model[board.rows[r].model].push_back(r);
  const auto& labels = board.rows.empty() ? std::vector<std::string>{} : board.rows[0].metric_labels;
  auto it = std::find(labels.begin(), labels.end(), board.select);
  const size_t select_col = it == labels.end() ? size_t(0) : size_t(it - labels.begin());
  for (const auto& [model, idx] : by_model) {
    if (idx.size() < 2) continue;
    const auto flat = flat_configs(board, idx);
    const auto varying = varying_keys(flat);
    for (const auto& axis : varying) board.axes.push_back(axis_of(board, model, axis, varying, idx, flat, select_col));
  }
}

using BoardKey = std::pair<std::string, std::string>;                   // dataset checksum, protocol hash
using RowKey = std::tuple<std::string, std::string, std::string>;      // ... and configuration key

// Reads the stores' finished runs into one accumulator per configuration and board, then summarises them.
class BoardCollector {
 public:
  explicit BoardCollector(const ReportOptions& options) : options_(options) {}

  void read_store(const std::string& path) {
    if (!std::filesystem::exists(path)) throw InputError(path + ": no such results store");
    Store store(path, StoreAccess::ReadOnly);
    for (const auto& run : store.finished_runs()) add_run(store, run);
  }

  std::vector<Leaderboard> finish() {
    std::map<BoardKey, std::vector<Acc*>> board_accs;
    for (const auto& key : order_) {
      Acc& acc = accs_[key];
      const BoardKey bkey{std::get<0>(key), std::get<1>(key)};
      auto& board = boards_[bkey];
      board.rows.push_back(summarize(acc, board));
      board_accs[bkey].push_back(&acc);
    }
    std::vector<Leaderboard> out;
    for (auto& [bkey, board] : boards_) {
      disambiguate(board.rows);
      mark_places(board);
      mark_selected(board);
      choose_reference(board, options_.baseline);
      compare_with_reference(board, board_accs[bkey]);
      find_axes(board);
      out.push_back(std::move(board));
    }
    refuse_an_unknown_baseline(out);
    return out;
  }

 private:
  Leaderboard& board_of(const FinishedRun& run) {
    auto& board = boards_[{run.dataset_checksum, run.protocol_hash}];
    if (!board.protocol_hash.empty()) return board;
    auto protocol = nlohmann::json::parse(run.protocol_json);
    board.dataset_name = run.dataset_name;
    board.dataset_checksum = run.dataset_checksum;
    board.dataset_source = run.dataset_source;
    board.dataset_stats_json = run.dataset_stats_json;
    board.protocol_hash = run.protocol_hash;
    board.protocol_json = run.protocol_json;
    board.select = protocol["select"].get<std::string>();
    board.split = options_.split;
    board.branch = options_.branch;
    board.alpha = options_.alpha;
    return board;
  }

  Acc& acc_of(const FinishedRun& run) {
    const RowKey key{run.dataset_checksum, run.protocol_hash, run.config_key};
    auto [it, inserted] = accs_.try_emplace(key);
    Acc& acc = it->second;
    if (inserted) {
      order_.push_back(key);
      acc.row.model = run.model_name;
      acc.row.grid_label = run.grid_label;
      acc.row.config_key = run.config_key;
      acc.row.config_json = run.config_json;
    }
    return acc;
  }

  void add_run(Store& store, const FinishedRun& run) {
    Leaderboard& board = board_of(run);
    auto& inputs = board.inputs_json;
    if (!run.inputs_json.empty() && std::find(inputs.begin(), inputs.end(), run.inputs_json) == inputs.end())
      inputs.push_back(run.inputs_json);
    if (board.split_json.empty()) board.split_json = run.split_json;
    Acc& acc = acc_of(run);
    // The same run merged from two stores counts once.
    if (std::find(acc.row.seeds.begin(), acc.row.seeds.end(), run.seed) != acc.row.seeds.end()) return;
    acc.row.seeds.push_back(run.seed);
    acc.train_seconds.push_back(run.train_seconds);
    acc.best_epochs.push_back(double(run.best_epoch));
    if (const int64_t budget = epoch_budget(run.config_json); budget > 0 && run.best_epoch >= budget) {
      ++acc.row.capped_seeds;
      acc.row.epoch_budget = budget;
    }
    double peak = 0;
    for (const auto& t : store.run_timings(run.id)) peak = std::max(peak, t.peak_rss_mb);
    acc.peak_rss.push_back(peak);
    add_metrics(store, run, board, acc);
    std::vector<double> ranks;
    for (const auto& r : store.run_ranks(run.id, options_.split, options_.branch)) ranks.push_back(r.rank);
    if (!ranks.empty()) acc.ranks[run.seed] = std::move(ranks);
    auto epochs = store.run_epochs(run.id);
    if (!epochs.empty()) acc.epochs_by_seed[int64_t(run.seed)] = std::move(epochs);
  }

  void add_metrics(Store& store, const FinishedRun& run, const Leaderboard& board, Acc& acc) const {
    for (const auto& m : store.run_metrics(run.id)) {
      if (m.branch != options_.branch && m.split == "valid") continue;
      const std::string label = m.name + "@" + std::to_string(m.k);
      if (m.split == "valid" && label == board.select) acc.valid_select.push_back(m.value);
      if (m.split != options_.split) continue;
      if (m.name == "tied_share") {
        if (m.branch == options_.branch) acc.tied.push_back(m.value);
        continue;
      }
      if (m.branch == options_.branch) acc.values[label].push_back(m.value);
      if (label == board.select) acc.branch_values[m.branch].push_back(m.value);
    }
    for (const auto& g : store.run_group_metrics(run.id))
      if (g.split == options_.split && g.branch == options_.branch && g.name + "@" + std::to_string(g.k) == board.select) {
        acc.group_values[g.group].push_back(g.value);
        acc.row.group_users[g.group] = g.users;
      }
  }

  static LeaderboardRow summarize(Acc& acc, const Leaderboard& board) {
    auto& row = acc.row;
    row.metric_labels = metric_columns(nlohmann::json::parse(board.protocol_json));
    for (const auto& label : row.metric_labels) {
      auto s = stats::summarize(acc.values[label]);
      row.summary.push_back(s);
      row.mean.push_back(s.mean);
      row.stdev.push_back(s.sd);
    }
    for (const auto& label : report_detail::beyond_labels_at(board.select))
      if (acc.values.count(label)) row.beyond[label] = stats::summarize(acc.values[label]);
    row.valid_select = stats::summarize(acc.valid_select);
    row.tied_share = stats::summarize(acc.tied);
    if (acc.branch_values.size() > 1)
      for (const auto& [branch, v] : acc.branch_values) {
        auto s = stats::summarize(v);
        row.by_branch[branch] = {s.mean, s.sd};
      }
    for (const auto& [group, v] : acc.group_values) {
      auto s = stats::summarize(v);
      row.by_group[group] = {s.mean, s.sd};
    }
    row.mean_train_seconds = mean_of(acc.train_seconds);
    row.mean_peak_rss_mb = mean_of(acc.peak_rss);
    row.mean_best_epoch = mean_of(acc.best_epochs);
    row.curve = mean_curve(acc.epochs_by_seed, board.select);
    return row;
  }

  void refuse_an_unknown_baseline(const std::vector<Leaderboard>& out) const {
    if (options_.baseline.empty() || out.empty()) return;
    std::set<std::string> models;
    for (const auto& b : out)
      for (const auto& r : b.rows) {
        if (r.model == options_.baseline || r.label() == options_.baseline) return;
        models.insert(r.model);
      }
    std::string list;
    for (const auto& m : models) list += (list.empty() ? "" : ", ") + m;
    throw InputError("--baseline " + options_.baseline + ": no such model on any board (models: " + list + ")");
  }

  const ReportOptions& options_;
  std::map<BoardKey, Leaderboard> boards_;
  std::map<RowKey, Acc> accs_;
  std::vector<RowKey> order_;
};

}  // namespace

std::vector<Leaderboard> build_leaderboards(const ReportOptions& options) {
  BoardCollector collector(options);
  for (const auto& path : options.stores) collector.read_store(path);
  return collector.finish();
}

}  // namespace mmsr

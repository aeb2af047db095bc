#include "mmsr/report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "mmsr/errors.h"
#include "mmsr/store.h"

namespace mmsr {
namespace {

struct Acc {
  LeaderboardRow row;
  std::map<std::string, std::vector<double>> values;  // metric label -> one value per seed
  std::map<std::string, std::vector<double>> branch_values;  // branch -> selection metric per seed
  std::map<int64_t, std::vector<double>> group_values;       // popularity group -> selection metric per seed
  std::vector<double> train_seconds, best_epochs;
};

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / double(v.size());
}

double stdev_of(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  double m = mean_of(v), s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size() - 1));
}

// Metric columns in a stable reading order: by name as the protocol lists them, then by K.
std::vector<std::string> metric_columns(const std::string& protocol_json) {
  auto p = nlohmann::json::parse(protocol_json);
  std::vector<std::string> cols;
  for (const auto& name : p["metrics"])
    for (const auto& k : p["ks"]) cols.push_back(name.get<std::string>() + "@" + std::to_string(k.get<int64_t>()));
  return cols;
}

// Flattens a configuration JSON into "path=value" pairs ("backbone.params.layers" -> "backbone.layers").
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

// Rows of one board that would read the same (same model name and grid label, e.g. the same file run twice
// with an edited setting) get the settings that tell them apart appended to their label.
void disambiguate(std::vector<LeaderboardRow>& rows, const std::map<std::string, std::string>& configs) {
  std::map<std::string, std::vector<size_t>> by_label;
  for (size_t i = 0; i < rows.size(); ++i) by_label[rows[i].model + "\n" + rows[i].grid_label].push_back(i);
  for (auto& [label, idx] : by_label) {
    if (idx.size() < 2) continue;
    std::vector<std::map<std::string, std::string>> flat(idx.size());
    for (size_t j = 0; j < idx.size(); ++j)
      flatten(nlohmann::json::parse(configs.at(rows[idx[j]].config_key)), "", flat[j]);
    std::set<std::string> differing;
    for (size_t j = 1; j < idx.size(); ++j)
      for (const auto& [k, v] : flat[j])
        if (!flat[0].count(k) || flat[0].at(k) != v) differing.insert(k);
    for (const auto& [k, v] : flat[0])
      for (size_t j = 1; j < idx.size(); ++j)
        if (!flat[j].count(k)) differing.insert(k);
    for (size_t j = 0; j < idx.size(); ++j) {
      std::vector<std::string> parts;
      for (const auto& k : differing) parts.push_back(k + "=" + (flat[j].count(k) ? flat[j].at(k) : "-"));
      auto& g = rows[idx[j]].grid_label;
      std::string extra;
      for (size_t p = 0; p < parts.size(); ++p) extra += (p ? ", " : "") + parts[p];
      g = g.empty() ? extra : g + "; " + extra;
    }
  }
}

}  // namespace

std::vector<Leaderboard> build_leaderboards(const ReportOptions& options) {
  std::map<std::pair<std::string, std::string>, Leaderboard> boards;
  std::map<std::tuple<std::string, std::string, std::string>, Acc> accs;
  std::vector<std::tuple<std::string, std::string, std::string>> order;
  std::map<std::string, std::string> configs;  // config_key -> configuration JSON
  for (const auto& path : options.stores) {
    if (!std::filesystem::exists(path)) throw InputError(path + ": no such results store");
    Store store(path);
    for (const auto& run : store.finished_runs()) {
      auto bkey = std::make_pair(run.dataset_checksum, run.protocol_hash);
      auto& board = boards[bkey];
      board.dataset_name = run.dataset_name;
      board.dataset_checksum = run.dataset_checksum;
      board.protocol_hash = run.protocol_hash;
      board.protocol_json = run.protocol_json;
      auto key = std::make_tuple(run.dataset_checksum, run.protocol_hash, run.config_key);
      auto [it, inserted] = accs.try_emplace(key);
      Acc& acc = it->second;
      if (inserted) {
        order.push_back(key);
        acc.row.model = run.model_name;
        acc.row.grid_label = run.grid_label;
        acc.row.config_key = run.config_key;
        configs[run.config_key] = run.config_json;
      }
      // The same run merged from two stores counts once.
      bool seen = false;
      for (auto s : acc.row.seeds) seen = seen || s == run.seed;
      if (seen) continue;
      acc.row.seeds.push_back(run.seed);
      acc.train_seconds.push_back(run.train_seconds);
      acc.best_epochs.push_back(double(run.best_epoch));
      const std::string select = nlohmann::json::parse(run.protocol_json)["select"].get<std::string>();
      for (const auto& m : store.run_metrics(run.id)) {
        if (m.split != options.split || m.name == "tied_share") continue;
        const std::string label = m.name + "@" + std::to_string(m.k);
        if (m.branch == options.branch) acc.values[label].push_back(m.value);
        if (label == select) acc.branch_values[m.branch].push_back(m.value);
      }
      for (const auto& g : store.run_group_metrics(run.id))
        if (g.split == options.split && g.branch == options.branch && g.name + "@" + std::to_string(g.k) == select) {
          acc.group_values[g.group].push_back(g.value);
          acc.row.group_users[g.group] = g.users;
        }
    }
  }
  for (const auto& key : order) {
    Acc& acc = accs[key];
    auto& board = boards[{std::get<0>(key), std::get<1>(key)}];
    acc.row.metric_labels = metric_columns(board.protocol_json);
    for (const auto& label : acc.row.metric_labels) {
      acc.row.mean.push_back(mean_of(acc.values[label]));
      acc.row.stdev.push_back(stdev_of(acc.values[label]));
    }
    if (acc.branch_values.size() > 1)
      for (const auto& [branch, v] : acc.branch_values) acc.row.by_branch[branch] = {mean_of(v), stdev_of(v)};
    for (const auto& [group, v] : acc.group_values) acc.row.by_group[group] = {mean_of(v), stdev_of(v)};
    acc.row.mean_train_seconds = mean_of(acc.train_seconds);
    acc.row.mean_best_epoch = mean_of(acc.best_epochs);
    board.rows.push_back(acc.row);
  }
  std::vector<Leaderboard> out;
  for (auto& [k, b] : boards) {
    disambiguate(b.rows, configs);
    out.push_back(std::move(b));
  }
  return out;
}

namespace {

std::string row_label(const LeaderboardRow& r) {
  return r.grid_label.empty() ? r.model : r.model + " (" + r.grid_label + ")";
}

// Per-branch scores of multi-branch models, and scores by the target's popularity group, when the board has them.
void render_breakdowns(const Leaderboard& b, const std::string& select, std::ostringstream& out) {
  std::vector<std::string> branches;
  for (const auto& r : b.rows)
    for (const auto& [branch, v] : r.by_branch)
      if (branch != "fused" && std::find(branches.begin(), branches.end(), branch) == branches.end())
        branches.push_back(branch);
  if (!branches.empty()) {
    out << "By branch (test " << select << "; fused = the mean of the branch scores, which the board ranks by):\n\n";
    out << "| model | fused |";
    for (const auto& br : branches) out << " " << br << " |";
    out << "\n|---|---|";
    for (size_t i = 0; i < branches.size(); ++i) out << "---|";
    out << "\n";
    for (const auto& r : b.rows) {
      if (r.by_branch.empty()) continue;
      out << "| " << row_label(r) << " |";
      auto cell = [&](const std::string& br) {
        auto it = r.by_branch.find(br);
        return it == r.by_branch.end() ? std::string(" |")
                                       : fmt::format(" {:.4f} ± {:.4f} |", it->second.first, it->second.second);
      };
      out << cell("fused");
      for (const auto& br : branches) out << cell(br);
      out << "\n";
    }
    out << "\n";
  }
  std::map<int64_t, int64_t> users;
  for (const auto& r : b.rows)
    for (const auto& [g, n] : r.group_users) users[g] = n;
  if (users.empty()) return;
  out << "By popularity group of the test target (test " << select
      << "; group 0 = items never seen in training, then equal-sized item quantiles, least popular first; users: ";
  for (auto it = users.begin(); it != users.end(); ++it)
    out << (it == users.begin() ? "" : ", ") << it->first << ": " << it->second;
  out << "):\n\n| model |";
  for (const auto& [g, n] : users) out << " group " << g << " |";
  out << "\n|---|";
  for (size_t i = 0; i < users.size(); ++i) out << "---|";
  out << "\n";
  for (const auto& r : b.rows) {
    out << "| " << row_label(r) << " |";
    for (const auto& [g, n] : users) {
      auto it = r.by_group.find(g);
      out << (it == r.by_group.end() ? std::string(" |")
                                     : fmt::format(" {:.4f} ± {:.4f} |", it->second.first, it->second.second));
    }
    out << "\n";
  }
  out << "\n";
}

}  // namespace

std::string render(const std::vector<Leaderboard>& boards, const std::string& format) {
  std::ostringstream out;
  if (format == "json") {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& b : boards) {
      nlohmann::json jb = {{"dataset", b.dataset_name},
                           {"dataset_checksum", b.dataset_checksum},
                           {"protocol_hash", b.protocol_hash},
                           {"protocol", nlohmann::json::parse(b.protocol_json)},
                           {"rows", nlohmann::json::array()}};
      for (const auto& r : b.rows) {
        nlohmann::json jr = {{"model", r.model},      {"grid", r.grid_label},
                             {"config_key", r.config_key}, {"seeds", r.seeds},
                             {"train_seconds", r.mean_train_seconds},
                             {"best_epoch", r.mean_best_epoch}};
        for (size_t i = 0; i < r.metric_labels.size(); ++i)
          jr["metrics"][r.metric_labels[i]] = {{"mean", r.mean[i]}, {"std", r.stdev[i]}};
        for (const auto& [branch, ms] : r.by_branch) jr["by_branch"][branch] = {{"mean", ms.first}, {"std", ms.second}};
        for (const auto& [group, ms] : r.by_group)
          jr["by_popularity_group"][std::to_string(group)] = {
              {"mean", ms.first}, {"std", ms.second}, {"users", r.group_users.at(group)}};
        jb["rows"].push_back(jr);
      }
      j.push_back(jb);
    }
    return j.dump(2) + "\n";
  }
  if (format == "csv") {
    out << "dataset,protocol_hash,model,grid,config_key,seeds,metric,mean,std\n";
    for (const auto& b : boards)
      for (const auto& r : b.rows)
        for (size_t i = 0; i < r.metric_labels.size(); ++i)
          out << fmt::format("{},{},\"{}\",\"{}\",{},{},{},{:.6f},{:.6f}\n", b.dataset_name,
                             b.protocol_hash, r.model, r.grid_label, r.config_key, r.seeds.size(),
                             r.metric_labels[i], r.mean[i], r.stdev[i]);
    return out.str();
  }
  if (format != "md") throw InputError("--format " + format + ": use md, csv or json");
  if (boards.empty()) return "No finished runs in the store(s).\n";
  for (const auto& b : boards) {
    auto p = nlohmann::json::parse(b.protocol_json);
    out << fmt::format("## {} (dataset {}), protocol {}\n\n", b.dataset_name, b.dataset_checksum,
                       b.protocol_hash);
    const bool sampled = p["candidates"].get<std::string>() == "sampled";
    const std::string candidates =
        sampled ? fmt::format("the target against {} negatives ({})", p["negatives"].get<int64_t>(),
                              p["negatives_file"].get<std::string>().empty()
                                  ? fmt::format("drawn with seed {}", p["negatives_seed"].get<int64_t>())
                                  : "from " + p["negatives_file"].get<std::string>())
                : std::string("full ranking, history ") + (p["mask_history"].get<bool>() ? "masked" : "not masked");
    const std::string selection =
        p.contains("selected_under")
            ? fmt::format("epoch selected on validation {} under protocol {} (the same trained models)",
                          p["select"].get<std::string>(), p["selected_under"].get<std::string>())
            : "selection on validation " + p["select"].get<std::string>();
    out << fmt::format(
        "Protocol: {} split, {} training samples, max length {}, {}, ties {}, {}. Cells: test mean ± std over "
        "seeds.\n\n",
        p["split"].get<std::string>(), p["train_samples"].get<std::string>(), p["max_len"].get<int64_t>(),
        candidates, p["ties"].get<std::string>(), selection);
    if (b.rows.empty()) continue;
    out << "| model | grid | seeds |";
    for (const auto& l : b.rows[0].metric_labels) out << " " << l << " |";
    out << " best epoch | train time |\n|---|---|---|";
    for (size_t i = 0; i < b.rows[0].metric_labels.size(); ++i) out << "---|";
    out << "---|---|\n";
    for (const auto& r : b.rows) {
      out << fmt::format("| {} | {} | {} |", r.model, r.grid_label.empty() ? "-" : r.grid_label,
                         r.seeds.size());
      for (size_t i = 0; i < r.mean.size(); ++i) out << fmt::format(" {:.4f} ± {:.4f} |", r.mean[i], r.stdev[i]);
      out << fmt::format(" {:.1f} | {:.0f}s |\n", r.mean_best_epoch, r.mean_train_seconds);
    }
    out << "\n";
    render_breakdowns(b, p["select"].get<std::string>(), out);
  }
  return out.str();
}

}  // namespace mmsr

// The protocol card: what a reader must know to trust that the numbers of a board are comparable.
#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "internal.h"
#include "mmsr/config.h"
#include "mmsr/text.h"

namespace mmsr::report_detail {
namespace {

std::string str(const nlohmann::json& j, const char* key, const std::string& fallback = "?") {
  if (!j.contains(key)) return fallback;
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

}  // namespace

namespace {

std::string data_filtering(const nlohmann::json& st) {
  if (!st.contains("filtering")) return "not recorded (a store written before filtering was recorded)";
  const auto& f = st["filtering"];
  std::string text = "format " + str(f, "format");
  if (f.contains("k_core")) text += f["k_core"].get<int64_t>() > 0 ? ", " + str(f, "k_core") + "-core" : ", no k-core";
  if (f.contains("min_length")) text += ", users with at least " + str(f, "min_length") + " interactions";
  if (f.contains("keep_last") && f["keep_last"].get<int64_t>() > 0) text += ", last " + str(f, "keep_last") + " kept";
  if (f.value("drop_consecutive_repeats", false)) text += ", consecutive repeats collapsed";
  return text;
}

std::string candidates(const nlohmann::json& p) {
  if (str(p, "candidates") != "sampled") return "every item (full ranking)";
  const std::string file = str(p, "negatives_file", "");
  return fmt::format("the target against {} negatives per user, {}", str(p, "negatives"),
                     file.empty() || file == "\"\"" ? "drawn uniformly from the items the user never "
                                                      "touched with seed " + str(p, "negatives_seed")
                                                    : "read from " + file);
}

std::string ties(const nlohmann::json& p) {
  const std::string rule = str(p, "ties");
  return rule + (rule == "expected"    ? ": a tied target counts as ranked in the middle of its ties"
                 : rule == "optimistic" ? ": a tied target counts as ranked first among its ties"
                                        : ": a tied target counts as ranked last among its ties");
}

std::string metrics(const nlohmann::json& p) {
  std::string names;
  for (const auto& m : p["metrics"]) names += (names.empty() ? "" : ", ") + m.get<std::string>();
  std::string ks;
  for (const auto& k : p["ks"]) ks += (ks.empty() ? "" : ", ") + k.dump();
  return names + " at K = " + ks;
}

// One feature file in words: its file name, content hash and what its provenance sidecar says.
std::string feature_file(const nlohmann::json& input) {
  std::string text = str(input, "name", "?") + ": " + std::filesystem::path(str(input, "file")).filename().string() +
                     " (xxh3 " + str(input, "xxh3") + ")";
  const auto& p = input.contains("provenance") ? input["provenance"] : nlohmann::json("unknown");
  if (!p.is_object()) return text + ", provenance unknown";
  std::string said;
  for (const char* key : {"encoder", "encoder_version", "content", "shape", "dtype", "input", "input_sha256"})
    if (p.contains(key)) said += std::string(said.empty() ? "" : ", ") + key + " " + str(p, key);
  return text + ", " + (said.empty() ? p.dump() : said);
}

// The feature files the board's runs read; when runs read different contents under one name, that is said first
// (a sidecar written later for the same bytes is not a different content).
std::string features(const std::vector<std::string>& inputs_json) {
  std::vector<std::string> described;
  std::map<std::string, std::set<std::string>> contents;  // modality -> xxh3 values
  for (const auto& inputs : inputs_json)
    for (const auto& input : nlohmann::json::parse(inputs))
      if (str(input, "role") == "modality") {
        contents[str(input, "name")].insert(str(input, "xxh3"));
        const std::string d = feature_file(input);
        if (std::find(described.begin(), described.end(), d) == described.end()) described.push_back(d);
      }
  std::string text, differing;
  for (const auto& d : described) text += (text.empty() ? "" : "; ") + d;
  for (const auto& [name, hashes] : contents)
    if (hashes.size() > 1) differing += fmt::format("{}{} ({} contents)", differing.empty() ? "" : ", ", name, hashes.size());
  return differing.empty() ? text : "the runs read different feature files for " + differing + ": " + text;
}

// The split in words: its rule, then what it made of the data (runs.split) when the store has it.
std::string split_card(const nlohmann::json& p, const std::string& split_json) {
  const std::string kind = str(p, "split", "leave_one_out");
  std::string text = kind == "leave_one_out" ? "leave-one-out (last item test, second-to-last validation)"
                     : kind == "published"   ? "the split the data files publish"
                                             : "global temporal";
  if (split_json.empty()) return text;
  const auto s = nlohmann::json::parse(split_json);
  if (kind == "temporal")
    text += ": training before " + timestamp_text(s["valid_start"].get<double>()) + ", validation before " + timestamp_text(s["test_start"].get<double>()) +
            ", test from then on";
  if (kind != "leave_one_out") {
    const std::string targets = str(s, "targets", "every");
    text += targets == "every" ? "; every next item of a period is ranked" : "; the " + targets + " item of a user's "
                                                                              "period is ranked";
    text += fmt::format(", given all the user's earlier items; {} training interactions, {} validation events ({} "
                        "users), {} test events ({} users); {} validation and {} test targets never seen in "
                        "training; {} validation and {} test periods begin a user's sequence (their first event has nothing before it "
                        "and is not ranked)",
                        str(s, "training_interactions"), str(s, "valid_events"), str(s, "valid_users"),
                        str(s, "test_events"), str(s, "test_users"), str(s, "cold_valid_targets"),
                        str(s, "cold_test_targets"), str(s, "valid_users_without_history"),
                        str(s, "test_users_without_history"));
  }
  return text;
}

}  // namespace

std::map<std::string, std::string> protocol_card(const Leaderboard& board) {
  auto p = nlohmann::json::parse(board.protocol_json);
  auto st = nlohmann::json::parse(board.dataset_stats_json.empty() ? "{}" : board.dataset_stats_json);
  std::map<std::string, std::string> card;
  if (st.contains("users"))
    card["data"] = fmt::format("{} users, {} items, {} interactions (mean length {:.1f}); {} test targets never seen "
                               "in training",
                               str(st, "users"), str(st, "items"), str(st, "interactions"),
                               st.value("mean_length", 0.0), str(st, "cold_test_targets"));
  if (st.contains("cold_valid_targets"))
    card["data"] += fmt::format(" ({} validation targets); {} items in no training part", str(st, "cold_valid_targets"),
                                str(st, "items_not_in_training"));
  if (st.contains("length_quantiles") && st["length_quantiles"].size() == 5)
    card["data"] += fmt::format("; sequence length {} at 10/25/50/75/90% of users",
                                fmt::join(st["length_quantiles"].get<std::vector<int64_t>>(), "/"));
  card["filtering"] = data_filtering(st);
  if (const std::string f = features(board.inputs_json); !f.empty()) card["features"] = f;
  card["split"] = split_card(p, board.split_json);
  if (!board.split_json.empty() && str(p, "split", "leave_one_out") != "leave_one_out")
    card["data"] = fmt::format("{} users, {} items, {} interactions", str(st, "users"), str(st, "items"),
                               str(st, "interactions"));
  card["training samples"] = str(p, "train_samples") + ", sequences cut to the last " + str(p, "max_len") + " items";
  card["candidates"] = candidates(p);
  // A protocol stored without the key was run with its declared default.
  const bool masked = p.value("mask_history", std::get<bool>(protocol_section().find("mask_history")->default_value));
  card["masking"] = masked ? "the user's history is removed from the candidates"
                           : "the user's history stays among the candidates";
  card["ties"] = ties(p);
  card["metrics"] = metrics(p);
  card["selection"] = "the epoch with the best validation " + str(p, "select") +
                      (p.contains("selected_under") ? " under protocol " + str(p, "selected_under") +
                                                          " (the same trained models, ranked again)"
                                                    : "");
  return card;
}

}  // namespace mmsr::report_detail

namespace mmsr::report_detail {

std::vector<std::string> beyond_labels_at(const std::string& select) {
  const std::string k = select.substr(select.find('@') + 1);
  return {"coverage@" + k, "popularity@" + k, "novelty@" + k, "diversity@" + k};
}

std::vector<std::string> beyond_labels(const Leaderboard& board) {
  std::vector<std::string> out;
  for (const auto& label : beyond_labels_at(board.select))
    for (const auto& r : board.rows)
      if (r.beyond.count(label)) {
        out.push_back(label);
        break;
      }
  return out;
}

std::string significance_mark(double wilcoxon_holm, double alpha) {
  if (wilcoxon_holm < alpha / 5) return "**";
  if (wilcoxon_holm < alpha) return "*";
  return "";
}

size_t select_column(const std::vector<std::string>& labels, const std::string& select) {
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] == select) return i;
  return 0;
}

std::string signed_percent(double fraction) { return fmt::format("{:+.1f}%", 100.0 * fraction); }

std::string human_seconds(double s) {
  if (s < 100) return fmt::format("{:.0f}s", s);
  if (s < 6000) return fmt::format("{:.1f} min", s / 60);
  return fmt::format("{:.1f} h", s / 3600);
}

std::map<std::string, int> configurations_per_model(const Leaderboard& board) {
  std::map<std::string, int> configs;
  for (const auto& r : board.rows) ++configs[r.model];
  return configs;
}

std::vector<std::string> side_branches(const Leaderboard& board) {
  std::vector<std::string> branches;
  for (const auto& r : board.rows)
    for (const auto& [branch, v] : r.by_branch)
      if (branch != "fused" && std::find(branches.begin(), branches.end(), branch) == branches.end())
        branches.push_back(branch);
  return branches;
}

std::map<int64_t, int64_t> popularity_users(const Leaderboard& board) {
  std::map<int64_t, int64_t> users;
  for (const auto& r : board.rows)
    for (const auto& [g, n] : r.group_users) users[g] = n;
  return users;
}

const std::vector<std::string>& card_order() {
  static const std::vector<std::string> order = {"data",    "filtering", "features",  "split",
                                                 "training samples", "candidates", "masking", "ties",
                                                 "metrics", "selection"};
  return order;
}

}  // namespace mmsr::report_detail

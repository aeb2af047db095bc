// Helpers shared by the report's collector and renderers (not part of the public API).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmsr/report.h"

namespace mmsr::report_detail {

// The beyond-accuracy labels at the K of a selection label such as "ndcg@10", in the order boards show them.
std::vector<std::string> beyond_labels_at(const std::string& select);
// Those that some row of the board has.
std::vector<std::string> beyond_labels(const Leaderboard& board);

// Flattens a configuration JSON into "path" -> value text ("backbone.params.layers" -> "backbone.layers").
void flatten(const nlohmann::json& j, const std::string& prefix, std::map<std::string, std::string>& out);

// "ndcg@10" -> {"ndcg", 10}.
std::pair<std::string, int64_t> split_label(const std::string& label);

// The protocol card: every setting a reader needs to know the numbers are comparable, in words.
std::map<std::string, std::string> protocol_card(const Leaderboard& board);


// Every board as JSON: the json format, and the data the HTML page plots.
nlohmann::json boards_json(const std::vector<mmsr::Leaderboard>& boards);
std::string render_markdown(const std::vector<mmsr::Leaderboard>& boards);
std::string render_html(const std::vector<mmsr::Leaderboard>& boards);

// The significance mark of a comparison: "**" below alpha / 5, "*" below alpha (Holm-adjusted Wilcoxon), else "".
std::string significance_mark(double wilcoxon_holm, double alpha);

// The selection metric's column on a board (0 when absent).
size_t select_column(const std::vector<std::string>& labels, const std::string& select);

// "12.3%" style relative change with its sign.
std::string signed_percent(double fraction);

// Seconds as "42s", "3.5 min" or "1.2 h".
std::string human_seconds(double seconds);

// How many configurations each model has on a board: a † marks the validation-selected one only where there are
// several.
std::map<std::string, int> configurations_per_model(const Leaderboard& board);

// The branches other than "fused" that some row of the board reports, in first-seen order.
std::vector<std::string> side_branches(const Leaderboard& board);
// Users per popularity group of the test target, over the board's rows.
std::map<int64_t, int64_t> popularity_users(const Leaderboard& board);

// The card's entries in reading order.
const std::vector<std::string>& card_order();

}  // namespace mmsr::report_detail

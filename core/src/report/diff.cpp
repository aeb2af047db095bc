// Two JSON reports compared: what a rerun, a new seed, a code change or another machine changed.
#include <cmath>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "mmsr/errors.h"
#include "mmsr/report.h"

namespace mmsr {
namespace {

nlohmann::json parse_report(const std::string& text, const std::string& name) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(name + ": not a JSON report (" + e.what() + "); write one with mmsr report --format json");
  }
  if (!j.is_array()) throw InputError(name + ": not a JSON report (expected a list of boards)");
  for (const auto& b : j)
    if (!b.is_object() || !b.contains("protocol_hash") || !b.contains("rows"))
      throw InputError(name + ": not a JSON report from mmsr report --format json (a board lacks protocol_hash or rows)");
  return j;
}

std::string board_key(const nlohmann::json& b) {
  return b["dataset_checksum"].get<std::string>() + "/" + b["protocol_hash"].get<std::string>();
}

std::string board_title(const nlohmann::json& b) {
  const auto& p = b["protocol"];
  std::string candidates = p.value("candidates", "full") == "sampled"
                               ? fmt::format("{} sampled negatives", p.value("negatives", 0))
                               : std::string("full ranking");
  return fmt::format("{}: {} (protocol {})", b.value("dataset", "?"), candidates, b["protocol_hash"].get<std::string>());
}

using Rows = std::map<std::string, const nlohmann::json*>;  // configuration key -> row

Rows rows_of(const nlohmann::json& board) {
  Rows rows;
  for (const auto& r : board["rows"]) rows[r["config_key"].get<std::string>()] = &r;
  return rows;
}

// "- only in X: label" for every row of `rows` missing from `other`.
void rows_only_in(const Rows& rows, const Rows& other, const std::string& name, std::ostringstream& body) {
  for (const auto& [k, r] : rows)
    if (!other.count(k)) body << "- only in " << name << ": " << (*r)["label"].get<std::string>() << "\n";
}

// A table line per metric of a row present in both reports that moved (at the precision the boards print) or
// whose seeds changed.
void changed_metrics(const nlohmann::json& orow, const nlohmann::json& nrow, std::ostringstream& table) {
  for (auto m = nrow["metrics"].begin(); m != nrow["metrics"].end(); ++m) {
    if (!orow["metrics"].contains(m.key())) continue;
    const auto& om = orow["metrics"][m.key()];
    const double a = om["mean"].get<double>(), b = m.value()["mean"].get<double>();
    const size_t sa = orow["seeds"].size(), sb = nrow["seeds"].size();
    if (std::fabs(b - a) < 5e-5 && sa == sb) continue;  // equal at the precision the boards print
    const double spread = std::max(om["std"].get<double>(), m.value()["std"].get<double>());
    table << fmt::format("| {} | {} | {:.4f} ± {:.4f} | {:.4f} ± {:.4f} | {:+.4f} | {} | {} → {} |\n",
                         nrow["label"].get<std::string>(), m.key(), a, om["std"].get<double>(), b,
                         m.value()["std"].get<double>(), b - a,
                         spread > 0 ? (std::fabs(b - a) > spread ? "beyond" : "within") : "-", sa, sb);
  }
}

// The differences of one board present in both reports; false when there are none.
bool diff_board(const nlohmann::json& ob, const nlohmann::json& nb, const std::string& old_name,
                const std::string& new_name, std::ostringstream& out) {
  const Rows old_rows = rows_of(ob), new_rows = rows_of(nb);
  std::ostringstream body, table;
  rows_only_in(old_rows, new_rows, old_name, body);
  rows_only_in(new_rows, old_rows, new_name, body);
  for (const auto& [k, nr] : new_rows)
    if (auto o = old_rows.find(k); o != old_rows.end()) changed_metrics(*o->second, *nr, table);
  if (body.str().empty() && table.str().empty()) return false;
  out << "## " << board_title(nb) << "\n\n" << body.str();
  if (!table.str().empty())
    out << (body.str().empty() ? "" : "\n") << "| model | metric | " << old_name << " | " << new_name
        << " | Δ | vs the larger std | seeds |\n|---|---|---|---|---|---|---|\n"
        << table.str();
  out << "\n";
  return true;
}

}  // namespace

std::string diff_reports(const std::string& old_text, const std::string& new_text, const std::string& old_name,
                         const std::string& new_name) {
  auto old_j = parse_report(old_text, old_name), new_j = parse_report(new_text, new_name);
  std::map<std::string, const nlohmann::json*> old_boards, new_boards;
  for (const auto& b : old_j) old_boards[board_key(b)] = &b;
  for (const auto& b : new_j) new_boards[board_key(b)] = &b;
  std::ostringstream out;
  out << "# Report diff: " << old_name << " → " << new_name << "\n\n";
  size_t changes = 0;
  for (const auto& [key, ob] : old_boards)
    if (!new_boards.count(key)) {
      out << "Board only in " << old_name << ": " << board_title(*ob) << "\n\n";
      ++changes;
    }
  for (const auto& [key, nb] : new_boards) {
    auto it = old_boards.find(key);
    if (it == old_boards.end()) {
      out << "Board only in " << new_name << ": " << board_title(*nb) << "\n\n";
      ++changes;
    } else if (diff_board(*it->second, *nb, old_name, new_name, out)) {
      ++changes;
    }
  }
  if (changes == 0) out << "No differences: the same boards, rows and metrics (at four decimals).\n";
  return out.str();
}

}  // namespace mmsr

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
      continue;
    }
    const auto& ob = *it->second;
    std::map<std::string, const nlohmann::json*> old_rows, new_rows;
    for (const auto& r : ob["rows"]) old_rows[r["config_key"].get<std::string>()] = &r;
    for (const auto& r : (*nb)["rows"]) new_rows[r["config_key"].get<std::string>()] = &r;
    std::ostringstream body;
    for (const auto& [k, r] : old_rows)
      if (!new_rows.count(k)) body << "- only in " << old_name << ": " << (*r)["label"].get<std::string>() << "\n";
    for (const auto& [k, r] : new_rows)
      if (!old_rows.count(k)) body << "- only in " << new_name << ": " << (*r)["label"].get<std::string>() << "\n";
    std::ostringstream table;
    for (const auto& [k, nr] : new_rows) {
      auto o = old_rows.find(k);
      if (o == old_rows.end()) continue;
      const auto& orow = *o->second;
      for (auto m = (*nr)["metrics"].begin(); m != (*nr)["metrics"].end(); ++m) {
        if (!orow["metrics"].contains(m.key())) continue;
        const auto& om = orow["metrics"][m.key()];
        const double a = om["mean"].get<double>(), b = m.value()["mean"].get<double>();
        const size_t sa = orow["seeds"].size(), sb = (*nr)["seeds"].size();
        if (std::fabs(b - a) < 5e-5 && sa == sb) continue;  // equal at the precision the boards print
        const double spread = std::max(om["std"].get<double>(), m.value()["std"].get<double>());
        table << fmt::format("| {} | {} | {:.4f} ± {:.4f} | {:.4f} ± {:.4f} | {:+.4f} | {} | {} → {} |\n",
                             (*nr)["label"].get<std::string>(), m.key(), a, om["std"].get<double>(), b,
                             m.value()["std"].get<double>(), b - a,
                             spread > 0 ? (std::fabs(b - a) > spread ? "beyond" : "within") : "-", sa, sb);
      }
    }
    if (body.str().empty() && table.str().empty()) continue;
    ++changes;
    out << "## " << board_title(*nb) << "\n\n" << body.str();
    if (!table.str().empty())
      out << (body.str().empty() ? "" : "\n")
          << "| model | metric | " << old_name << " | " << new_name
          << " | Δ | vs the larger std | seeds |\n|---|---|---|---|---|---|---|\n"
          << table.str();
    out << "\n";
  }
  if (changes == 0) out << "No differences: the same boards, rows and metrics (at four decimals).\n";
  return out.str();
}

}  // namespace mmsr

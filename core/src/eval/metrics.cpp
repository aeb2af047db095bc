#include "mmsr/metrics.h"

#include <cmath>
#include <stdexcept>

#include "mmsr/errors.h"

namespace mmsr {

TieRule parse_tie_rule(const std::string& name) {
  if (name == "optimistic") return TieRule::Optimistic;
  if (name == "pessimistic") return TieRule::Pessimistic;
  if (name == "expected") return TieRule::Expected;
  throw InputError("unknown tie rule '" + name + "': use optimistic, pessimistic or expected");
}

double rank_from_counts(int64_t higher, int64_t ties, TieRule rule) {
  switch (rule) {
    case TieRule::Optimistic: return 1.0 + double(higher);
    case TieRule::Pessimistic: return 1.0 + double(higher) + double(ties);
    case TieRule::Expected: return 1.0 + double(higher) + 0.5 * double(ties);
  }
  return 1.0 + double(higher);
}

double metric_of_rank(const std::string& name, int64_t k, double rank) {
  if (rank > double(k)) return 0.0;
  if (name == "hr" || name == "recall") return 1.0;
  if (name == "ndcg") return 1.0 / std::log2(rank + 1.0);
  if (name == "mrr") return 1.0 / rank;
  throw std::invalid_argument("unknown metric " + name);
}

std::vector<MetricValue> compute_metrics(const std::vector<double>& ranks,
                                         const std::vector<std::string>& names,
                                         const std::vector<int64_t>& ks) {
  std::vector<MetricValue> out;
  for (const auto& name : names)
    for (int64_t k : ks) {
      // Sum in a fixed order over users: the same ranks always give the same bits.
      double sum = 0;
      for (double r : ranks) sum += metric_of_rank(name, k, r);
      out.push_back({name, k, ranks.empty() ? 0.0 : sum / double(ranks.size())});
    }
  return out;
}

double metric_value(const std::vector<MetricValue>& values, const std::string& label) {
  for (const auto& v : values)
    if (v.label() == label) return v.value;
  throw std::invalid_argument("metric " + label + " was not computed");
}

}  // namespace mmsr

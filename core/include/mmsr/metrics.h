// Ranking metrics from per-user ranks (METHODS.md section 1). A rank is count-based:
//   rank = 1 + #(candidates scoring strictly higher than the target) + tie term,
// with the tie term 0 (optimistic), #ties (pessimistic) or #ties/2 (expected, the default), so a model that
// scores everything equal gets no credit from index order. Metrics depend only on the ranks, never on how
// users were batched.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mmsr {

enum class TieRule { Optimistic, Pessimistic, Expected };
TieRule parse_tie_rule(const std::string& name);  // "optimistic" | "pessimistic" | "expected"

double rank_from_counts(int64_t higher, int64_t ties, TieRule rule);

struct MetricValue {
  std::string name;  // "hr", "recall", "ndcg", "mrr"
  int64_t k = 0;
  double value = 0;
  std::string label() const { return name + "@" + std::to_string(k); }
};

// Averages over users of HR@K (= Recall@K with one target), NDCG@K and MRR@K for every name x K.
std::vector<MetricValue> compute_metrics(const std::vector<double>& ranks,
                                         const std::vector<std::string>& names,
                                         const std::vector<int64_t>& ks);
// The value of one metric label such as "ndcg@10" within a computed list; throws when absent.
double metric_value(const std::vector<MetricValue>& values, const std::string& label);

// Metric of a single rank: the per-user contribution averaged above.
double metric_of_rank(const std::string& name, int64_t k, double rank);

}  // namespace mmsr

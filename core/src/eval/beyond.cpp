#include "eval/beyond.h"

#include <cmath>
#include <numeric>

#include "mmsr/features.h"

namespace mmsr {
namespace {

double coverage(const TopLists& lists, int64_t k, size_t num_items) {
  std::vector<char> seen(num_items + 1, 0);
  for (int64_t e = 0; e < lists.events(); ++e)
    for (int64_t j = 0; j < k; ++j) seen[size_t(lists.items[size_t(e * lists.k + j)])] = 1;
  const double distinct = double(std::accumulate(seen.begin() + 1, seen.end(), int64_t(0)));
  return num_items == 0 ? 0.0 : distinct / double(num_items);
}

// Mean over events of the mean of value(item) over the first k items of each list.
template <typename Value>
double list_mean(const TopLists& lists, int64_t k, Value value) {
  double sum = 0;
  for (int64_t e = 0; e < lists.events(); ++e) {
    double of_list = 0;
    for (int64_t j = 0; j < k; ++j) of_list += value(lists.items[size_t(e * lists.k + j)]);
    sum += of_list / double(k);
  }
  return lists.events() == 0 ? 0.0 : sum / double(lists.events());
}

// Unit-length rows of each event's k items (a zero row stays zero: its cosine with anything counts as 0).
std::vector<float> unit_rows(const FeatureTable& f, const int32_t* ids, int64_t k) {
  std::vector<int64_t> wide(ids, ids + k);
  std::vector<float> rows(size_t(k * f.dim()));
  f.gather(wide.data(), size_t(k), rows.data(), nullptr);
  for (int64_t j = 0; j < k; ++j) {
    float* r = rows.data() + j * f.dim();
    double norm = 0;
    for (int64_t d = 0; d < f.dim(); ++d) norm += double(r[d]) * r[d];
    if (norm > 0)
      for (int64_t d = 0; d < f.dim(); ++d) r[d] = float(r[d] / std::sqrt(norm));
  }
  return rows;
}

double diversity(const TopLists& lists, int64_t k, const FeatureTable& f) {
  if (k < 2) return 0.0;
  double sum = 0;
  for (int64_t e = 0; e < lists.events(); ++e) {
    const std::vector<float> rows = unit_rows(f, lists.items.data() + e * lists.k, k);
    double distance = 0;
    for (int64_t a = 0; a < k; ++a)
      for (int64_t b = a + 1; b < k; ++b) {
        double cos = 0;
        for (int64_t d = 0; d < f.dim(); ++d) cos += double(rows[size_t(a * f.dim() + d)]) * rows[size_t(b * f.dim() + d)];
        distance += 1.0 - cos;
      }
    sum += distance / double(k * (k - 1) / 2);
  }
  return lists.events() == 0 ? 0.0 : sum / double(lists.events());
}

}  // namespace

std::vector<MetricValue> beyond_accuracy(const TopLists& lists, const std::vector<int64_t>& ks,
                                         const std::vector<int64_t>& item_counts, const FeatureTable* features) {
  const double total = double(std::accumulate(item_counts.begin(), item_counts.end(), int64_t(0)));
  auto popularity = [&](int32_t i) { return double(item_counts[size_t(i)]); };
  auto self_information = [&](int32_t i) {
    return -std::log2(double(std::max<int64_t>(1, item_counts[size_t(i)])) / std::max(1.0, total));
  };
  std::vector<MetricValue> out;
  for (int64_t k : ks) {
    if (k > lists.k) continue;
    out.push_back({"coverage", k, coverage(lists, k, item_counts.size() - 1)});
    out.push_back({"popularity", k, list_mean(lists, k, popularity)});
    out.push_back({"novelty", k, list_mean(lists, k, self_information)});
    if (features) out.push_back({"diversity", k, diversity(lists, k, *features)});
  }
  return out;
}

}  // namespace mmsr

// Beyond-accuracy metrics of the recommended lists (METHODS.md section 1's top-K lists, with the protocol's
// candidates): what accuracy alone hides about popularity bias. Computed from each test event's top-K items; plain
// C++, no torch.
//   coverage@K   share of the catalogue that appears in at least one top-K list
//   popularity@K mean over events of the mean training count of the K recommended items (average recommended
//                popularity, Abdollahpouri et al.)
//   novelty@K    mean over events of the mean self-information -log2 p(i) of the K items, p(i) = the item's share of
//                the training interactions (an item never trained on counts as seen once)
//   diversity@K  mean over events of the mean cosine distance 1 - cos(f_i, f_j) over the K items' pairs, f = a
//                declared modality's pooled features (intra-list diversity); only with [protocol] diversity_modality
#pragma once

#include <cstdint>
#include <vector>

#include "mmsr/metrics.h"

namespace mmsr {

class FeatureTable;

// Each event's top-K item ids, best first: items[e * k + j].
struct TopLists {
  int64_t k = 0;
  std::vector<int32_t> items;
  int64_t events() const { return k > 0 ? int64_t(items.size()) / k : 0; }
};

// The metrics above at each K of `ks` (K <= lists.k): coverage, popularity and novelty, and diversity when
// `features` is given. `item_counts`: training frequency per item id (size N+1).
std::vector<MetricValue> beyond_accuracy(const TopLists& lists, const std::vector<int64_t>& ks,
                                         const std::vector<int64_t>& item_counts, const FeatureTable* features);

}  // namespace mmsr

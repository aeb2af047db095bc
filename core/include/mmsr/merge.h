// Combining results stores (mmsr merge): the shards of a grid computed on several machines, or stores kept apart
// by hand, into one. Each run is kept once, by identity; a run finished in two stores with different results is a
// conflict, reported and not overwritten. The input stores are only read.
#pragma once

#include <string>
#include <vector>

namespace mmsr {

struct MergeConflict {
  std::string run_key, model, source;
  std::string detail;  // which metric differs, and how
};

struct MergeSummary {
  int copied = 0;        // finished runs added to the target
  int already = 0;       // finished in the target already, with the same results
  int unfinished = 0;    // not finished in their store: not copied
  int unreadable = 0;    // finished, but on damaged pages of their store: not copied
  std::vector<MergeConflict> conflicts;
};

MergeSummary merge_stores(const std::string& into, const std::vector<std::string>& sources);

}  // namespace mmsr

// Helpers for loss plugins: the positions of a batch that have a target, and their user states.
#pragma once

#include "mmsr/sdk/modules.h"

namespace mmsr {

struct TargetPositions {
  torch::Tensor flat;    // [P] indices into the flattened [B*L] positions that have a target
  torch::Tensor row;     // [P] batch row of each position
  torch::Tensor column;  // [P] position within the row
  torch::Tensor target;  // [P] target item id
};

inline TargetPositions target_positions(const Batch& batch) {
  TargetPositions t;
  const int64_t L = batch.targets.size(1);
  t.flat = batch.targets.reshape({-1}).nonzero().squeeze(1);
  t.row = t.flat.div(L, "floor");
  t.column = t.flat.remainder(L);
  t.target = batch.targets.reshape({-1}).index_select(0, t.flat);
  return t;
}

// States [B, L, d] at the given flat positions -> [P, d].
inline torch::Tensor states_at(const torch::Tensor& states, const torch::Tensor& flat) {
  return states.reshape({-1, states.size(-1)}).index_select(0, flat);
}

}  // namespace mmsr

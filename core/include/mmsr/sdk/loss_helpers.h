// Helpers for loss plugins: the positions of a batch that have a target, and their user states.
#pragma once

#include <stdexcept>

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

// The debiased in-batch softmax's logits (METHODS.md section 2), per branch, shared by every loss that reads them
// (the in-batch cross-entropy, ODMT's online distillation). Candidates are the batch's item slots (each user's
// window: its L inputs plus its last target) or each distinct item once; the score of candidate j is
// h . e_j - log pop(j); a column is masked (-1e9) when it is padding or an item of the same user's window other
// than the target column.
struct InBatchLogits {
  std::vector<torch::Tensor> logits;  // per branch: [P, S]
  torch::Tensor target_column;        // [P]
};

inline InBatchLogits inbatch_logits(const ForwardOutput& out, bool unique, bool debias) {
  const Batch& batch = *out.batch;
  const int64_t B = batch.items.size(0), L = batch.items.size(1);
  const int64_t U = batch.unique_items.size(0);
  TargetPositions pos = target_positions(batch);
  auto long_opts = pos.flat.options();

  // window[b, u]: distinct item u occurs in user b's window (inputs or targets).
  auto window = torch::zeros({B, U}, long_opts.dtype(torch::kBool));
  auto rows = torch::arange(B, long_opts).unsqueeze(1);
  window.index_put_({rows.expand({B, L}), batch.item_index}, true);
  window.index_put_({rows.expand_as(batch.target_index), batch.target_index}, true);

  torch::Tensor cand_unique;  // [S] index into unique_items of every candidate column
  InBatchLogits result;
  if (unique) {
    cand_unique = torch::arange(U, long_opts);
    result.target_column = batch.target_index.reshape({-1}).index_select(0, pos.flat);
  } else {
    // The slots stand for next items: an encoder that chooses its own targets (a Cloze task) has other ones.
    if (batch.targets.size(1) != L)
      throw std::invalid_argument(
          "the in-batch softmax over item slots needs next-item targets, and this backbone chooses its own; set the "
          "loss's candidates = \"unique\" or use the full softmax");
    // Slots: B*L inputs, then each user's last target (the item after its window).
    auto slot_unique = torch::cat({batch.item_index.reshape({-1}), batch.target_index.select(1, L - 1)});
    auto slot_item = torch::cat({batch.items.reshape({-1}), batch.targets.select(1, L - 1)});
    // Target slot of (b, t): the input slot (b, t+1) when it holds the target, else the extra slot b.
    auto next_col = pos.flat + 1;
    auto inside = pos.column.lt(L - 1);
    auto next_item = batch.items.reshape({-1}).index_select(0, next_col.clamp_max(B * L - 1));
    auto in_window = inside & next_item.eq(pos.target);
    auto full_col = torch::where(in_window, next_col, B * L + pos.row);
    // Padding slots are never candidates: drop them from the columns (they would be masked anyway).
    auto keep = slot_item.ne(0);
    auto new_index = keep.to(torch::kLong).cumsum(0) - 1;
    cand_unique = slot_unique.masked_select(keep);
    result.target_column = new_index.index_select(0, full_col);
  }
  // mask[p, s]: candidate s is an item of p's own window and not p's target column.
  auto mask = window.index_select(0, pos.row).index_select(1, cand_unique);
  mask.scatter_(1, result.target_column.unsqueeze(1), false);
  torch::Tensor correction;
  if (debias) correction = out.log_popularity.index_select(0, batch.unique_items.index_select(0, cand_unique));
  // A unique-candidate column for padding (id 0) must never compete.
  auto is_pad = batch.unique_items.index_select(0, cand_unique).eq(0);
  for (size_t b = 0; b < out.branches.size(); ++b) {
    auto h = states_at(out.branches[b].states, pos.flat);
    auto e = out.branches[b].unique_vectors.index_select(0, cand_unique);
    auto z = out.score(b, h, e);
    if (debias) z = z - correction.unsqueeze(0);
    result.logits.push_back(z.masked_fill(mask | is_pad.unsqueeze(0), -1e9));
  }
  return result;
}

}  // namespace mmsr

// Helpers for loss plugins: the positions of a batch that have a target, and their user states.
#pragma once

#include <any>
#include <stdexcept>
#include <string>

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
// h . e_j - log pop(j); a column is masked (about -1e9) when it is padding or an item of the same user's window other
// than the target column.
//
// The slots are computed as distinct items: the slot columns of one item have one score and are masked alike for a
// row, except the row's target column, so a softmax over the slots is a softmax over the distinct items of the
// logits z + log c, c the item's number of unmasked columns; at a temperature T, of z / T + log c. `logits` hold
// z + log c (a cross-entropy reads them as they are); a softened one adds (1 - 1/T) log c to them divided by T
// (one pass: torch::add(column_correction(T), logits, 1/T)). Every cross-entropy and divergence is then the slots'
// (tests: InBatchLoss.*), on [P, U] matrices instead of [P, B*L + B].
struct InBatchLogits {
  std::vector<torch::Tensor> logits;  // per branch: [P, U] z + log c over distinct items (U = batch.unique_items)
  torch::Tensor log_columns;          // [P, U] log c; undefined: one column each (unique candidates)
  torch::Tensor target_column;        // [P] index into batch.unique_items

  // (1 - 1/T) log c, what logits / T need added to be the softmax's logits at temperature T; undefined when
  // nothing is to be added.
  torch::Tensor column_correction(double temperature) const {
    if (!log_columns.defined() || temperature == 1.0) return {};
    return log_columns * (1.0 - 1.0 / temperature);
  }
};

// Where a user's window holds each distinct item: window[b, u] (inputs or targets).
inline torch::Tensor window_items(const Batch& batch) {
  const int64_t B = batch.items.size(0), L = batch.items.size(1);
  auto window = torch::zeros({B, batch.unique_items.size(0)}, batch.item_index.options().dtype(torch::kBool));
  auto rows = torch::arange(B, batch.item_index.options()).unsqueeze(1);
  window.index_put_({rows.expand({B, L}), batch.item_index}, true);
  window.index_put_({rows.expand_as(batch.target_index), batch.target_index}, true);
  return window;
}

// Log of each distinct item's number of slots (the B*L inputs and each user's last target; padding is none):
// -inf for an item with no slot.
inline torch::Tensor log_slot_counts(const Batch& batch) {
  const int64_t L = batch.items.size(1);
  if (batch.targets.size(1) != L)
    throw std::invalid_argument(
        "the in-batch softmax over item slots needs next-item targets, and this backbone chooses its own; set the "
        "loss's candidates = \"unique\" or use the full softmax");
  auto slot_unique = torch::cat({batch.item_index.reshape({-1}), batch.target_index.select(1, L - 1)});
  auto slot_item = torch::cat({batch.items.reshape({-1}), batch.targets.select(1, L - 1)});
  auto counts = torch::zeros({batch.unique_items.size(0)}, torch::TensorOptions().device(slot_unique.device()));
  counts.index_add_(0, slot_unique, slot_item.ne(0).to(counts.scalar_type()));
  return counts.log();
}

inline InBatchLogits inbatch_logits(const ForwardOutput& out, bool unique, bool debias) {
  // Computed once per step: a second loss of the same candidates reads the same tensors (and one backward pass goes
  // through them, which is the gradient of the two losses computed apart).
  const std::string key = std::string("inbatch_logits/") + (unique ? "unique" : "slots") + (debias ? "/debias" : "");
  if (auto it = out.shared.find(key); it != out.shared.end()) return std::any_cast<InBatchLogits>(it->second);
  const Batch& batch = *out.batch;
  TargetPositions pos = target_positions(batch);
  InBatchLogits result;
  result.target_column = batch.target_index.reshape({-1}).index_select(0, pos.flat);
  // What every branch's scores get added, [P, U], made once: minus log popularity, and -1e9 on the masked columns
  // (the user's window except the target, padding, items without a slot).
  const int64_t P = pos.flat.size(0), U = batch.unique_items.size(0);
  auto bias = torch::zeros({U}, torch::TensorOptions().device(pos.flat.device()));
  if (debias) bias -= out.log_popularity.index_select(0, batch.unique_items).to(bias.device());
  auto blocked = window_items(batch).index_select(0, pos.row);
  blocked |= batch.unique_items.eq(0).unsqueeze(0);
  torch::Tensor log_counts;
  if (!unique) {
    log_counts = log_slot_counts(batch);
    blocked |= log_counts.isneginf().unsqueeze(0);
  }
  blocked.scatter_(1, result.target_column.unsqueeze(1), false);
  auto add = bias.unsqueeze(0).expand({P, U}).masked_fill(blocked, -1e9);
  if (!unique) {
    // The target's own column is one; a masked column's count is of no matter (finite, so -1e9 stays a mask).
    result.log_columns = log_counts.unsqueeze(0).expand({P, U}).masked_fill(blocked, 0.0);
    result.log_columns.scatter_(1, result.target_column.unsqueeze(1), 0.0);
    add += result.log_columns;
  }
  for (size_t b = 0; b < out.branches.size(); ++b) {
    auto h = states_at(out.branches[b].states, pos.flat);
    result.logits.push_back(out.score(b, h, out.branches[b].unique_vectors) + add);
  }
  out.shared.emplace(key, result);
  return result;
}

}  // namespace mmsr

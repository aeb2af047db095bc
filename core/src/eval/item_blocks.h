// Full ranking one block of items at a time: a batch of users' count-based target ranks (and top-K lists) against
// the whole catalogue without ever holding the [users, items] score matrix, so that evaluation's memory does not grow
// with the catalogue (a million items is 4 MB of scores per user).
//
// Exactness: a rank counts the candidates that score above the target and those that tie with it, so the target's
// score must be the very value its own block computes. It is taken first from a scoring of the batch's target
// vectors (the same score function, before any block is seen), and checked against the value its block gives when
// that block comes; a row where the two differ by even one bit (a kernel that summed in another order) is counted
// again over every block with its block's value. Ranks are then those of the whole score matrix, ties included.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace mmsr {

// Scores of one branch's states [U, d] against item vectors [C, d] -> [U, C] (the item tower's score function).
using BranchScore = std::function<torch::Tensor(size_t branch, const torch::Tensor& states, const torch::Tensor& items)>;

struct ItemBlockBatch {
  std::vector<torch::Tensor> states;  // per branch, [U, d_b]
  torch::Tensor target;               // [U] item ids (int64, on the scoring device)
  // Per row, sorted and distinct: the items that do not compete with the target (the padding item 0 and, with
  // history masking, the user's earlier items; never the target itself).
  std::vector<std::vector<int32_t>> excluded;
};

struct ItemBlockRanks {
  // Per output (each branch, then the branches' mean when there are several), [U] int64 on the CPU: candidates
  // scoring above the target, and tying with it (the target itself not counted). A NaN score counts as +inf.
  std::vector<torch::Tensor> higher, tied;
  torch::Tensor top;           // [U, k] item ids of the last output's k best candidates, best first (k = 0: none)
  int64_t recounted_rows = 0;  // rows counted again because their block gave the target another value
};

// `tables` per branch [N+1, d_b] (the items' output vectors), scored in blocks of `items_per_block` rows.
ItemBlockRanks rank_in_item_blocks(const BranchScore& score, const std::vector<torch::Tensor>& tables,
                                   const ItemBlockBatch& batch, int64_t items_per_block, int64_t top_k);

}  // namespace mmsr

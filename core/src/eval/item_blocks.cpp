#include "eval/item_blocks.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

namespace mmsr {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Each branch's scores, then (with several branches) their mean, a NaN read as +inf: the values the whole-matrix
// evaluation compares, computed in the same order.
std::vector<torch::Tensor> output_scores(const BranchScore& score, const std::vector<torch::Tensor>& states,
                                         const std::vector<torch::Tensor>& items, bool nan_as_inf = true) {
  std::vector<torch::Tensor> out;
  for (size_t b = 0; b < items.size(); ++b) out.push_back(score(b, states[b], items[b]).to(torch::kFloat));
  if (items.size() > 1) {
    torch::Tensor fused = out[0].clone();
    for (size_t b = 1; b < out.size(); ++b) fused = fused + out[b];
    out.push_back(fused / double(items.size()));
  }
  if (nan_as_inf)  // (the CPU's counting reads a NaN as +inf as it goes)
    for (auto& s : out) s.nan_to_num_(kInf);
  return out;
}

// Each output's score of each row's own target, from a scoring of the batch's target vectors ([U, U], diagonal), a
// NaN read as +inf.
std::vector<torch::Tensor> target_scores(const BranchScore& score, const std::vector<torch::Tensor>& tables,
                                         const ItemBlockBatch& batch) {
  std::vector<torch::Tensor> items;
  for (const auto& t : tables) items.push_back(t.index_select(0, batch.target));
  auto square = output_scores(score, batch.states, items);
  for (auto& s : square) s = s.diagonal().clone();
  return square;
}

// [U, hi - lo] bool: which items of the block compete with each row's target.
torch::Tensor block_candidates(const std::vector<std::vector<int32_t>>& excluded, int64_t lo, int64_t hi) {
  const int64_t rows = int64_t(excluded.size()), width = hi - lo;
  auto mask = torch::ones({rows, width}, torch::kBool);
  bool* m = mask.data_ptr<bool>();
  for (int64_t r = 0; r < rows; ++r) {
    const auto& ex = excluded[size_t(r)];
    for (auto it = std::lower_bound(ex.begin(), ex.end(), int32_t(lo)); it != ex.end() && *it < hi; ++it)
      m[r * width + (*it - lo)] = false;
  }
  return mask;
}

// One pass over the catalogue's blocks with given target scores: the counts, each target's score as its own block
// computed it, and (k > 0) the last output's running top k.
struct CountPass {
  std::vector<torch::Tensor> target_score, higher, tied, home;  // per output, [U]
  torch::Tensor top_values, top_items;                          // [U, <= k]
};

void count_block(CountPass& p, const std::vector<torch::Tensor>& scores, const torch::Tensor& mask,
                 const torch::Tensor& target, int64_t lo, int64_t hi) {
  const torch::Tensor in_block = target.ge(lo).logical_and_(target.lt(hi));
  const torch::Tensor column = (target - lo).clamp(0, hi - lo - 1).unsqueeze(1);
  for (size_t o = 0; o < scores.size(); ++o) {
    const torch::Tensor t = p.target_score[o].unsqueeze(1);
    p.higher[o] += scores[o].gt(t).logical_and_(mask).sum(1);
    p.tied[o] += scores[o].eq(t).logical_and_(mask).sum(1);
    p.home[o] = torch::where(in_block, scores[o].gather(1, column).squeeze(1), p.home[o]);
  }
}

float read_nan_as_inf(float v) { return std::isnan(v) ? kInf : v; }

// One row of a block against its target's score: how many score above it and how many tie, every item counted
// (one vectorised pass; the caller takes the excluded items back out). Built for AVX-512 and AVX2 too, chosen at
// run time.
struct RowCounts {
  int64_t higher = 0, tied = 0;
};
[[gnu::target_clones("avx512f", "avx2", "default")]] RowCounts count_row(const float* row, int64_t width, float t) {
  int32_t higher = 0, tied = 0;
  for (int64_t j = 0; j < width; ++j) {
    const float v = read_nan_as_inf(row[j]);
    higher += int32_t(v > t);
    tied += int32_t(v == t);
  }
  return {higher, tied};
}

// Each row's k best candidates so far (the CPU's top lists), one heap per row whose front is the worst kept: a
// lower score, or the same score and a higher item id (items come in increasing order, so ties keep the lower id).
class RowTops {
 public:
  RowTops(size_t rows, int64_t k) : k_(size_t(k)), heaps_(rows) {}

  void scan(size_t r, const float* row, int64_t lo, int64_t width, const std::vector<int32_t>& excluded) {
    auto& heap = heaps_[r];
    for (int64_t j = 0; j < width; ++j) {
      const float v = read_nan_as_inf(row[j]);
      if (heap.size() == k_ && !(v > heap.front().score)) continue;
      const int32_t item = int32_t(lo + j);
      if (std::binary_search(excluded.begin(), excluded.end(), item)) continue;
      if (heap.size() == k_) {
        std::pop_heap(heap.begin(), heap.end(), better);
        heap.pop_back();
      }
      heap.push_back({v, item});
      std::push_heap(heap.begin(), heap.end(), better);
    }
  }

  // [rows, k] item ids, best first; a row with fewer than k candidates ends with its excluded items, lowest first.
  torch::Tensor items(const std::vector<std::vector<int32_t>>& excluded) const {
    auto out = torch::zeros({int64_t(heaps_.size()), int64_t(k_)}, torch::kLong);
    auto* o = out.data_ptr<int64_t>();
    for (size_t r = 0; r < heaps_.size(); ++r) {
      auto kept = heaps_[r];
      std::sort(kept.begin(), kept.end(), better);
      size_t j = 0;
      for (; j < kept.size(); ++j) o[r * k_ + j] = kept[j].item;
      for (size_t e = 0; j < k_ && e < excluded[r].size(); ++e, ++j) o[r * k_ + j] = excluded[r][e];
    }
    return out;
  }

 private:
  struct Entry {
    float score;
    int32_t item;
  };
  static bool better(const Entry& a, const Entry& b) {
    return a.score > b.score || (a.score == b.score && a.item < b.item);
  }
  size_t k_;
  std::vector<std::vector<Entry>> heaps_;
};

// The CPU's count of a block: one pass per row over its scores, no candidate mask (the row's excluded items of the
// block are few: their own comparisons are subtracted); with `tops`, the last output's top lists too.
void count_block_on_cpu(CountPass& p, const std::vector<torch::Tensor>& scores,
                        const std::vector<std::vector<int32_t>>& excluded, const torch::Tensor& target, int64_t lo,
                        int64_t hi, RowTops* tops) {
  const int64_t rows = target.size(0), width = hi - lo;
  const int64_t* targets = target.data_ptr<int64_t>();
  for (size_t o = 0; o < scores.size(); ++o) {
    const torch::Tensor s = scores[o].contiguous();
    const float* base = s.data_ptr<float>();
    const float* t = p.target_score[o].data_ptr<float>();
    int64_t* higher = p.higher[o].data_ptr<int64_t>();
    int64_t* tied = p.tied[o].data_ptr<int64_t>();
    float* home = p.home[o].data_ptr<float>();
    at::parallel_for(0, rows, 8, [&](int64_t first, int64_t last) {
      for (int64_t r = first; r < last; ++r) {
        const float* row = base + r * width;
        RowCounts c = count_row(row, width, t[r]);
        const auto& ex = excluded[size_t(r)];
        for (auto it = std::lower_bound(ex.begin(), ex.end(), int32_t(lo)); it != ex.end() && *it < hi; ++it) {
          const float v = read_nan_as_inf(row[*it - lo]);
          c.higher -= int64_t(v > t[r]);
          c.tied -= int64_t(v == t[r]);
        }
        higher[r] += c.higher;
        tied[r] += c.tied;
        if (targets[r] >= lo && targets[r] < hi) home[r] = read_nan_as_inf(row[targets[r] - lo]);
        if (tops && o + 1 == scores.size()) tops->scan(size_t(r), row, lo, width, ex);
      }
    });
  }
}

void keep_best(CountPass& p, const torch::Tensor& scores, const torch::Tensor& mask, int64_t lo, int64_t k) {
  auto [values, items] = scores.masked_fill(mask.logical_not(), -kInf).topk(std::min<int64_t>(k, scores.size(1)), 1);
  items = items + lo;
  if (p.top_values.defined()) {
    values = torch::cat({p.top_values, values}, 1);
    items = torch::cat({p.top_items, items}, 1);
    auto [best, where] = values.topk(std::min<int64_t>(k, values.size(1)), 1);
    values = best;
    items = items.gather(1, where);
  }
  p.top_values = values;
  p.top_items = items;
}

CountPass count_pass(const BranchScore& score, const std::vector<torch::Tensor>& tables, const ItemBlockBatch& batch,
                     std::vector<torch::Tensor> target_score, int64_t items_per_block, int64_t k) {
  CountPass p;
  for (const auto& t : target_score) {
    p.higher.push_back(torch::zeros(t.sizes(), t.options().dtype(torch::kLong)));
    p.tied.push_back(p.higher.back().clone());
    p.home.push_back(t.clone());
  }
  p.target_score = std::move(target_score);
  const int64_t n = tables.front().size(0);
  const bool on_cpu = batch.target.device().is_cpu();
  std::optional<RowTops> tops;
  if (on_cpu && k > 0) tops.emplace(batch.excluded.size(), k);
  for (int64_t lo = 0; lo < n; lo += items_per_block) {
    const int64_t hi = std::min(n, lo + items_per_block);
    std::vector<torch::Tensor> items;
    for (const auto& t : tables) items.push_back(t.slice(0, lo, hi));
    const auto scores = output_scores(score, batch.states, items, /*nan_as_inf=*/!on_cpu);
    if (on_cpu) {
      count_block_on_cpu(p, scores, batch.excluded, batch.target, lo, hi, tops ? &*tops : nullptr);
      continue;
    }
    const torch::Tensor mask = block_candidates(batch.excluded, lo, hi).to(scores.front().device());
    count_block(p, scores, mask, batch.target, lo, hi);
    if (k > 0) keep_best(p, scores.back(), mask, lo, k);
  }
  if (tops) p.top_items = tops->items(batch.excluded);
  return p;
}

}  // namespace

ItemBlockRanks rank_in_item_blocks(const BranchScore& score, const std::vector<torch::Tensor>& tables,
                                   const ItemBlockBatch& batch, int64_t items_per_block, int64_t top_k) {
  const std::vector<torch::Tensor> expected = target_scores(score, tables, batch);
  CountPass first = count_pass(score, tables, batch, expected, items_per_block, top_k);
  torch::Tensor differs = torch::zeros_like(batch.target, torch::kBool);
  for (size_t o = 0; o < expected.size(); ++o) differs.logical_or_(first.home[o].ne(expected[o]));
  ItemBlockRanks out;
  out.recounted_rows = differs.sum().item<int64_t>();
  if (out.recounted_rows > 0) {
    // The blocks' own values as the targets' scores: a second pass computes the same blocks, so it is exact.
    CountPass again = count_pass(score, tables, batch, first.home, items_per_block, 0);
    for (size_t o = 0; o < expected.size(); ++o) {
      first.higher[o] = torch::where(differs, again.higher[o], first.higher[o]);
      first.tied[o] = torch::where(differs, again.tied[o], first.tied[o]);
    }
  }
  for (size_t o = 0; o < expected.size(); ++o) {
    out.higher.push_back(first.higher[o].cpu());
    out.tied.push_back((first.tied[o] - 1).cpu());  // the target ties with itself
  }
  if (top_k > 0) out.top = first.top_items.cpu();
  return out;
}

}  // namespace mmsr

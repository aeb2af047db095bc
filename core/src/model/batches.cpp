#include "batches.h"

#include <ATen/ATen.h>

#include <algorithm>

namespace mmsr {

std::vector<BatchBuilder::Sample> BatchBuilder::training_samples(bool prefix) const {
  std::vector<Sample> out;
  for (int64_t u = 0; u < split_.num_users(); ++u) {
    int64_t n = split_.train_length(u);
    if (n < 2) continue;  // a single training item predicts nothing
    if (prefix)
      for (int64_t end = 1; end < n; ++end) out.push_back({int32_t(u), int32_t(end)});
    else out.push_back({int32_t(u), int32_t(n)});
  }
  return out;
}

Batch BatchBuilder::finish(torch::Tensor items, torch::Tensor targets, torch::Tensor users, bool with_features) const {
  Batch b;
  b.items = std::move(items);
  b.targets = std::move(targets);
  b.users = std::move(users);
  b.valid = b.items.ne(0);
  auto both = torch::cat({b.items.reshape({-1}), b.targets.reshape({-1})});
  auto [unique, inverse, counts] = at::_unique2(both, /*sorted=*/true, /*return_inverse=*/true);
  (void)counts;
  int64_t cells = b.items.numel();
  b.unique_items = unique;
  b.item_index = inverse.slice(0, 0, cells).reshape(b.items.sizes());
  b.target_index = inverse.slice(0, cells).reshape(b.items.sizes());
  // Evaluation reads item vectors from the catalogue table, so only training batches gather features.
  if (with_features)
    for (const auto& m : modalities_) b.features[m] = gather_(m, unique);
  return b;
}

Batch BatchBuilder::training_batch(const std::vector<Sample>& samples, size_t begin, size_t end,
                                   bool prefix) const {
  const int64_t B = int64_t(end - begin);
  // The batch is as wide as its longest window: positions count from the right (left padding), so cutting
  // columns that are padding in every row changes no output, only saves work.
  int64_t L = 1;
  for (size_t i = begin; i < end; ++i)
    L = std::max<int64_t>(L, std::min<int64_t>(max_len_, prefix ? samples[i].end : samples[i].end - 1));
  auto items = torch::zeros({B, L}, torch::kLong);
  auto targets = torch::zeros({B, L}, torch::kLong);
  auto users = torch::empty({B}, torch::kLong);
  auto* ip = items.data_ptr<int64_t>();
  auto* tp = targets.data_ptr<int64_t>();
  auto* up = users.data_ptr<int64_t>();
  for (int64_t r = 0; r < B; ++r) {
    const Sample& s = samples[begin + size_t(r)];
    const int32_t* seq = split_.train_begin(s.user);
    up[r] = s.user;
    // Inputs: seq[start, end); next items: seq[start+1, end] (all-position) or only seq[end] (prefix).
    int64_t last_target = prefix ? s.end : s.end - 1;
    int64_t count = std::min<int64_t>(L, prefix ? s.end : s.end - 1);
    int64_t start = (prefix ? s.end : s.end - 1) - count;
    for (int64_t j = 0; j < count; ++j) {
      int64_t col = L - count + j;
      ip[r * L + col] = seq[start + j];
      if (!prefix) tp[r * L + col] = seq[start + j + 1];
    }
    if (prefix) tp[r * L + L - 1] = seq[last_target];
  }
  return finish(items, targets, users, true);
}

Batch BatchBuilder::evaluation_batch(const std::vector<EvaluationEvent>& events, size_t begin, size_t end) const {
  const int64_t B = int64_t(end - begin);
  int64_t L = 1;
  for (size_t i = begin; i < end; ++i) L = std::max<int64_t>(L, std::min<int64_t>(max_len_, events[i].position));
  auto items = torch::zeros({B, L}, torch::kLong);
  auto targets = torch::zeros({B, L}, torch::kLong);
  auto user_ids = torch::empty({B}, torch::kLong);
  auto* ip = items.data_ptr<int64_t>();
  auto* tp = targets.data_ptr<int64_t>();
  auto* up = user_ids.data_ptr<int64_t>();
  for (int64_t r = 0; r < B; ++r) {
    const EvaluationEvent& e = events[begin + size_t(r)];
    up[r] = e.user;
    int64_t n = e.position;
    int64_t count = std::min<int64_t>(L, n);
    const int32_t* h = split_.history(e.user);
    for (int64_t j = 0; j < count; ++j) ip[r * L + L - count + j] = h[n - count + j];
    tp[r * L + L - 1] = split_.target(e);
  }
  return finish(items, targets, user_ids, false);
}

Batch to_device(const Batch& b, const torch::Device& device) {
  if (device.is_cpu()) return b;
  // Page-locked host copies let the copies run asynchronously with the GPU's work (LibTorch's caching host
  // allocator keeps the pinned buffers for reuse).
  auto move = [&](const torch::Tensor& t) { return t.pin_memory().to(device, /*non_blocking=*/true); };
  Batch d;
  d.items = move(b.items);
  d.valid = move(b.valid);
  d.targets = move(b.targets);
  d.users = move(b.users);
  d.unique_items = move(b.unique_items);
  d.item_index = move(b.item_index);
  d.target_index = move(b.target_index);
  for (const auto& [name, f] : b.features) d.features[name] = {move(f.values), move(f.mask)};
  return d;
}

}  // namespace mmsr

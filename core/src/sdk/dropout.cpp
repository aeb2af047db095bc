#include "mmsr/sdk/dropout.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <atomic>
#include <cmath>
#include <mutex>

namespace mmsr {
namespace {


// SplitMix64's output function: a bijective mix of a 64-bit counter into 64 well-distributed bits.
inline uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t draw_seed() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return at::check_generator<at::CPUGeneratorImpl>(gen)->random64();
}

// A [sizes] tensor of 0 (dropped) and 1 / (1 - p) (kept), of the options' dtype.
torch::Tensor fast_mask(torch::IntArrayRef sizes, const torch::TensorOptions& options, double p) {
  auto mask = torch::empty(sizes, options.dtype(torch::kFloat).requires_grad(false));
  const uint64_t seed = draw_seed();
  const uint32_t threshold = uint32_t(std::llround(p * 65536.0));  // a lane below it is dropped
  const float keep = float(1.0 / (1.0 - p));
  float* m = mask.data_ptr<float>();
  const int64_t n = mask.numel(), words = (n + 3) / 4;
  auto lane = [&](uint64_t bits, int k) { return uint32_t(bits >> (16 * k)) & 0xffffu; };
  at::parallel_for(0, words, 4096, [&](int64_t begin, int64_t end) {
    const int64_t full = std::min(end, n / 4);  // words whose four lanes are all inside the tensor
    for (int64_t w = begin; w < full; ++w) {
      const uint64_t bits = mix(seed + uint64_t(w) * 0x9e3779b97f4a7c15ull);
      float* out = m + 4 * w;
      out[0] = lane(bits, 0) < threshold ? 0.0f : keep;
      out[1] = lane(bits, 1) < threshold ? 0.0f : keep;
      out[2] = lane(bits, 2) < threshold ? 0.0f : keep;
      out[3] = lane(bits, 3) < threshold ? 0.0f : keep;
    }
    for (int64_t w = std::max(begin, full); w < end; ++w) {  // the last, partly used word
      const uint64_t bits = mix(seed + uint64_t(w) * 0x9e3779b97f4a7c15ull);
      for (int64_t k = 0; 4 * w + k < n; ++k) m[4 * w + k] = lane(bits, int(k)) < threshold ? 0.0f : keep;
    }
  });
  const auto dtype = c10::typeMetaToScalarType(options.dtype());
  return dtype == torch::kFloat ? mask : mask.to(dtype);
}

}  // namespace

torch::Tensor dropout(const torch::Tensor& x, double p, bool training, bool fast) {
  if (!training || p <= 0.0) return x;
  if (!fast || !x.device().is_cpu() || p >= 1.0) return torch::dropout(x, p, training);
  return x * fast_mask(x.sizes(), x.options(), p);
}

torch::Tensor dropout_rows(const torch::Tensor& x, torch::IntArrayRef full, int64_t dim, const torch::Tensor& rows,
                           double p, bool training, bool fast) {
  if (!training || p <= 0.0) return x;
  if (p >= 1.0) return x * 0;
  torch::Tensor mask;
  if (fast && x.device().is_cpu()) {
    mask = fast_mask(full, x.options(), p);
  } else {
    // What torch::dropout does on the CPU: Bernoulli(1 - p) noise of the whole shape, divided by 1 - p.
    mask = torch::empty(full, x.options().requires_grad(false)).bernoulli_(1 - p).div_(1 - p);
  }
  return x * mask.index_select(dim, rows);
}

}  // namespace mmsr

// Dropout for plugins: call mmsr::dropout(drop_, x, fast) where torch would call drop_->forward(x), with `fast` the
// run's choice (BuildContext::fast_dropout, kept by the plugin when it is built).
//
// On the CPU, LibTorch draws a dropout mask one element at a time from its Mersenne-Twister generator under a lock
// (MKL's vectorised Bernoulli is only used on Intel processors): profiled on SASRec training, 38% of the CPU time
// went there (docs/performance.md). The fast kernel draws one 64-bit seed from the same generator per call and
// expands it with a counter-based hash (SplitMix64) into four 16-bit lanes per word, in parallel: a Bernoulli mask
// whose drop probability is round(p x 65536) / 65536 (exact for p = k / 65536; within 8e-6 of p otherwise),
// deterministic for the generator's state (so checkpoint resumes stay bit-identical) and independent of the thread
// count. On a GPU, and when the host has not switched the fast kernel on ([train] fast_dropout), it is torch's own.
#pragma once

#include <torch/nn/modules/dropout.h>
#include <torch/types.h>

namespace mmsr {

// fast: the counter-based CPU kernel below instead of torch's own (which it always is on a GPU).
torch::Tensor dropout(const torch::Tensor& x, double p, bool training, bool fast);

inline torch::Tensor dropout(const torch::nn::Dropout& module, const torch::Tensor& x, bool fast) {
  return mmsr::dropout(x, module->options.p(), module->is_training(), fast);
}

// Dropout of some rows of a tensor: x holds the rows `rows` (along `dim`) of a tensor of shape `full`. The mask is
// drawn for the whole shape, with the same draws from the generator as mmsr::dropout on the whole tensor, and its
// rows applied, so that a layer computing only some positions gives what the whole layer gives at them (on the
// CPU; a GPU's fused kernel draws otherwise).
torch::Tensor dropout_rows(const torch::Tensor& x, torch::IntArrayRef full, int64_t dim, const torch::Tensor& rows,
                           double p, bool training, bool fast);

inline torch::Tensor dropout_rows(const torch::nn::Dropout& module, const torch::Tensor& x, torch::IntArrayRef full,
                                  int64_t dim, const torch::Tensor& rows, bool fast) {
  return mmsr::dropout_rows(x, full, dim, rows, module->options.p(), module->is_training(), fast);
}

}  // namespace mmsr

// Attention pooling of variable-sized sets of vectors (FDSA's feature pooling; METHODS.md section 3): each owner's
// vectors are weighted by a softmax, over that owner's vectors only, of score(ReLU(hidden(f))), and summed.
//
//   alpha_i = exp(e_i) / sum_{j: owner_j = owner_i} exp(e_j),   e_i = w2 . ReLU(W1 f_i + b1) + b2
//   pooled_u = sum_{i: owner_i = u} alpha_i f_i            (zero for an owner with no vectors)
#pragma once

#include <torch/nn/modules/linear.h>
#include <torch/types.h>

namespace mmsr {

// f: [P, d] vectors, owner: [P] int64 in [0, owners), hidden: Linear(d, h), score: Linear(h, 1) -> [owners, d].
torch::Tensor attention_pool(const torch::Tensor& f, const torch::Tensor& owner, int64_t owners,
                             torch::nn::Linear& hidden, torch::nn::Linear& score);

}  // namespace mmsr

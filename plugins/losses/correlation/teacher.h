// KDSR's teacher vectors reduced by an autoencoder, as the KDSR code gives its correlation supervision 128-d
// vectors instead of the encoders' raw ones (METHODS.md section 6). Fitted once per build on every item's frozen
// vector, from a fixed seed, so every run of a dataset gets the same teacher whatever its own seed.
//
//   encoder  x -> Linear(D, H) -> ReLU -> Linear(H, d) = z      decoder  z -> Linear(d, H) -> ReLU -> Linear(H, D)
//   loss     mean squared reconstruction error, full-batch Adam (lr 1e-3), H = max(d, min(D, 256))
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace mmsr {

struct TeacherAutoencoderOptions {
  int64_t dim = 128;     // d: the teacher vectors' length
  int64_t epochs = 300;  // full-batch steps
  uint64_t seed = 1;     // the weights' start
};

struct FittedTeacher {
  torch::Tensor codes;   // [N, d]: the encoder's output for every input row
  double first_loss = 0, last_loss = 0;  // reconstruction error before and after fitting (for the log and tests)
};

// rows: [N, D] frozen vectors (rows of items without features may be zero; they are left out of the fit).
FittedTeacher fit_teacher_autoencoder(const torch::Tensor& rows, const torch::Tensor& has_features,
                                      const TeacherAutoencoderOptions& o);

}  // namespace mmsr

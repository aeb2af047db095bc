// A run's end-of-epoch checkpoint: everything it needs to continue after its last finished epoch as if it had
// never stopped (on the CPU). Checkpoints are sealed (mmsr/sealed.h): one that fails its check is set aside and
// the run continues from the previous checkpoint or from its first epoch, never from damaged state.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

namespace mmsr {

// The early-stopping and accounting state beside the weights. The data order is a function of the seed and the
// epoch and is replayed, not stored.
struct TrainingState {
  int64_t epoch = 0, best_epoch = 0, bad_evals = 0, step = 0;
  double best = -1, train_seconds = 0, valid_seconds = 0;
  bool stopped = false;
};

// Copies of a module's parameters and buffers, in a fixed order; restore() writes such copies back.
std::vector<torch::Tensor> snapshot(torch::nn::Module& m);
void restore(torch::nn::Module& m, const std::vector<torch::Tensor>& saved);

// Writes the checkpoint whole (temporary file, then rename); the one it replaces is kept as <path>.prev.
void save_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                     const TrainingState& st, const std::vector<torch::Tensor>& best_state);

// Loads the newest checkpoint that passes its check (<path>, else <path>.prev) into a freshly built model and
// optimizer, and the CPU random generator. A file that fails is reported through `warn` and, when `set_aside`,
// renamed to <file>.damaged. False when none was loaded: model and optimizer are untouched.
bool load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                     TrainingState& st, std::vector<torch::Tensor>& best_state, torch::Device device, bool set_aside,
                     const std::function<void(const std::string&)>& warn);

}  // namespace mmsr

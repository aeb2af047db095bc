// Data-parallel training of one run over several processes of one machine, on PyTorch's distributed engine
// (c10d over Gloo: CPU tensors, and CUDA tensors through host copies). Every process holds the whole model and
// trains on its share of each batch; gradients are summed over the processes after each backward pass, so that
// every process takes the same optimizer step.
#pragma once

#include <torch/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mmsr {

// Whether this build has c10d's Gloo backend (LibTorch's wheel ships the library but not Gloo's headers, which
// come from Debian's libgloo-dev; CMake says when it is missing).
bool data_parallel_available();

class DataParallelGroup {
 public:
  // Joins the group of `world` processes that rendezvous through `rendezvous_file` (created by rank 0's parent,
  // on a file system every process sees). Blocks until all have joined.
  DataParallelGroup(const std::string& rendezvous_file, int rank, int world);
  ~DataParallelGroup();
  DataParallelGroup(const DataParallelGroup&) = delete;
  DataParallelGroup& operator=(const DataParallelGroup&) = delete;

  int rank() const { return rank_; }
  int world() const { return world_; }

  // Sums `flat` (one contiguous tensor) over the processes, in place; every process gets the same values.
  void sum(torch::Tensor& flat);
  // Every process's `tensors` take rank 0's values.
  void broadcast(std::vector<torch::Tensor>& tensors);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int rank_, world_;
};

// A process's share of a batch [begin, end) in data-parallel training: contiguous and as even as the sizes allow.
std::pair<size_t, size_t> share_of(size_t begin, size_t end, int rank, int world);

// What a data-parallel step sums over the processes, in one buffer (one all-reduce per step): whether any process
// was interrupted, the number of training targets w of each process's share, w times its loss and loss terms,
// whether each parameter got a gradient, and w times each gradient. Dividing the sums by the total w gives the
// gradient and loss of the whole batch for losses that average over their targets, as one process would compute
// them (docs/scale.md); a process whose share is empty contributes w = 0. The parameters' gradients are replaced
// by the batch's.
struct StepSums {
  bool interrupted = false;
  double loss = 0;
  std::vector<double> terms;
};
StepSums sum_over_processes(DataParallelGroup& group, std::vector<torch::Tensor>& params, bool interrupted,
                            double weight, double loss, const std::vector<double>& terms, const torch::Device& device);

}  // namespace mmsr

// Where a run's tensors live: the device a [train].device value names, each data-parallel process's device, and
// bfloat16 autocast for a forward pass on CUDA.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>

namespace mmsr {

// A process's device: the configured one on the CPU; on CUDA, one device per process from the configured index.
// InputError when the machine has too few CUDA devices for the processes.
torch::Device process_device(const std::string& resolved, int rank, int64_t processes);

// bfloat16 autocast on CUDA for the scope's forward pass (nothing when off).
class BfloatAutocast {
 public:
  explicit BfloatAutocast(bool on);
  ~BfloatAutocast();
  BfloatAutocast(const BfloatAutocast&) = delete;
  BfloatAutocast& operator=(const BfloatAutocast&) = delete;

 private:
  bool on_, previous_ = false;
};

}  // namespace mmsr

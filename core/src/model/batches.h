// Host-side batches of a split: training samples and evaluation inputs, left-padded to their longest window, with
// the distinct items of the batch and the features of those items.
#pragma once

#include <torch/types.h>

#include <functional>
#include <string>
#include <vector>

#include "mmsr/split.h"
#include "mmsr/sdk/modules.h"

namespace mmsr {

// Host-side batch construction from a split. Inputs are the most recent max_len items, left-padded.
class BatchBuilder {
 public:
  BatchBuilder(const Split& split, int64_t max_len) : split_(split), max_len_(max_len) {}
  // Batches also carry these modalities' features of their distinct items.
  void set_features(std::vector<std::string> modalities,
                    std::function<ModalityFeatures(const std::string&, const torch::Tensor&)> gather) {
    modalities_ = std::move(modalities);
    gather_ = std::move(gather);
  }

  // A training sample: user u's training part up to (excluding) position `end`; all-position samples
  // predict every next item of the window, prefix samples only the item at `end`.
  struct Sample {
    int32_t user;
    int32_t end;
  };
  std::vector<Sample> training_samples(bool prefix) const;
  Batch training_batch(const std::vector<Sample>& samples, size_t begin, size_t end, bool prefix) const;
  // Evaluation inputs of events [begin, end): each event's history before its target.
  Batch evaluation_batch(const std::vector<EvaluationEvent>& events, size_t begin, size_t end) const;

 private:
  Batch finish(torch::Tensor items, torch::Tensor targets, torch::Tensor users, bool with_features) const;
  const Split& split_;
  int64_t max_len_;
  std::vector<std::string> modalities_;
  std::function<ModalityFeatures(const std::string&, const torch::Tensor&)> gather_;
};

Batch to_device(const Batch& batch, const torch::Device& device);

}  // namespace mmsr

// What a plugin factory is told about the data and its place in the model. Plain data: no globals in plugins.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "mmsr/dataset.h"
#include "mmsr/sdk/modules.h"

namespace mmsr {

// What a plugin may know about a modality before reading it.
struct ModalityInfo {
  std::string name;
  bool pooled = true;
  int64_t tokens = 1;  // 1 when pooled
  int64_t dim = 0;
};

struct BuildContext {
  int64_t num_items = 0;  // items have ids 1..num_items; id 0 is padding
  int64_t max_len = 0;    // maximum input sequence length L
  int64_t input_dim = 0;  // for sequence encoders: the dimension of the branch's item vectors
  size_t branch_index = 0;
  std::string branch_name;
  // Whether dropout uses the SDK's fast CPU kernel ([train] fast_dropout): pass it to mmsr::dropout. Random draws
  // come from torch's generator, which the host seeds for the run before building the model.
  bool fast_dropout = false;
  const std::vector<int64_t>* item_counts = nullptr;  // training-split frequency per item id (size N+1)
  // How often each item id is a validation target (size N+1): with item_counts, the frequency over the
  // test inputs (training part + validation item), which some papers' popularity baselines count.
  const std::vector<int64_t>* valid_target_counts = nullptr;
  // Item side information of the dataset, by field or modality name (may be empty, never null in a run).
  const std::map<std::string, ItemAttributes>* item_attributes = nullptr;
  // The experiment's modalities ([[modality]] files and generated features), and a way to read the features of
  // given items at build time (e.g. to initialise ID embeddings from them; CPU tensors). Empty when none.
  std::vector<ModalityInfo> modalities;
  std::function<ModalityFeatures(const std::string& modality, const torch::Tensor& item_ids)> gather;
  std::function<void(const std::string&)> log;        // progress messages, may be empty
};

}  // namespace mmsr

// The dataset an experiment names, ready to split: the reader of its [data].format (a table in core/src/data/load.cpp)
// or the generator, preprocessing, item side information, and the modalities' features.
#pragma once

#include <string>
#include <vector>

#include "mmsr/config.h"
#include "mmsr/dataset.h"
#include "mmsr/dataset_cache.h"

namespace mmsr {

// Loads the dataset an experiment names (file readers + preprocessing, or the generator), with its item
// attributes and its modalities (memory-mapped feature files aligned to the item ids). Files read and preprocessed
// are looked up in / added to cache (mmsr/dataset_cache.h); *from_cache says whether the cache had them.
Dataset load_dataset(const Experiment& experiment, const DatasetCache& cache = DatasetCache(""),
                     bool* from_cache = nullptr);
// The same without modalities.
Dataset load_interactions(const Experiment& experiment, const DatasetCache& cache = DatasetCache(""),
                          bool* from_cache = nullptr);

// The values [data].format accepts: "synthetic" and every reader's format, in the order the docs list them.
std::vector<std::string> data_format_names();

}  // namespace mmsr

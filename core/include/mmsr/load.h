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

// The files of the interactions an experiment names ([data].path, item and attribute files; none for the
// generator).
std::vector<std::string> interaction_files(const Experiment& experiment);

// The provenance sidecar beside a feature file, "<file>.provenance.json" (scripts/encode_text.py writes one: the
// encoder and its version, pooled or tokens, shape, dtype, the hash of the input text): its JSON object as text, or
// "" when there is none. One that is not a JSON object is refused (InputError naming it).
std::string feature_provenance(const std::string& feature_file);

// The files a run reads, as the store's runs.inputs keeps them (JSON array): the interactions, then each modality's
// feature file (and mask) with its name, size, the xxh3 hash of its whole content and its provenance (the sidecar's
// object, or "unknown"). Reads each file once, start to end.
std::string input_files_json(const Experiment& experiment);

// The values [data].format accepts: "synthetic" and every reader's format, in the order the docs list them.
std::vector<std::string> data_format_names();

}  // namespace mmsr

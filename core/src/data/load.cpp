#include "mmsr/load.h"

#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include "mmsr/errors.h"
#include "mmsr/features.h"
#include "mmsr/input_files.h"
#include "mmsr/readers.h"

namespace mmsr {
namespace {

std::vector<std::string> the_file_itself(const std::string& path) { return {path}; }

// One row per data file format: its reader, and the files it reads for [data].path (what the prepared-dataset
// cache's key hashes). A new format is a reader (readers.h) and a row here.
struct DataFormat {
  const char* name;
  RawSequences (*read)(const std::string& path);
  std::vector<std::string> (*inputs)(const std::string& path);
};

const DataFormat kFormats[] = {
    {"s3rec", read_s3rec, the_file_itself},
    {"sasrec", read_user_item_pairs, the_file_itself},
    {"recbole", read_recbole_inter, the_file_itself},
    {"unisrec", read_unisrec, unisrec_files},
    {"mmrec", read_mmrec, the_file_itself},
    {"amazon2023", read_amazon2023, amazon2023_files},
};

const DataFormat& data_format(const Experiment& ex, const std::string& name) {
  for (const auto& f : kFormats)
    if (name == f.name) return f;
  throw InputError(ex.file + ": [data].format = \"" + name + "\" is not a known format");
}

std::string relative_to_experiment(const Experiment& ex, const std::string& file) {
  std::filesystem::path p(file);
  if (p.is_relative()) p = std::filesystem::path(ex.base_dir) / p;
  return p.lexically_normal().string();
}

PreprocessOptions preprocess_options(const DataOptions& data) {
  PreprocessOptions opt;
  opt.drop_consecutive_repeats = data.drop_consecutive_repeats;
  opt.k_core = data.k_core;
  opt.min_length = data.min_length;
  opt.keep_last = data.keep_last;
  return opt;
}

// The file's interactions, preprocessed, from the cache when it has them.
Dataset read_and_prepare(const Experiment& ex, const DataFormat& format, const DatasetCache& cache,
                         bool* from_cache) {
  const std::string path = ex.data_path();
  const DataOptions options = data_options(ex.data);
  const PreprocessOptions opt = preprocess_options(options);
  std::string name = options.name;
  if (name.empty()) name = std::filesystem::path(path).stem().string();
  const std::vector<std::string> inputs = format.inputs(path);
  // Checked before the cache hashes them: a folder or a FIFO is named, never read or waited on.
  for (const auto& file : inputs) require_readable_file(file, "data file");
  const std::string key = cache.enabled() ? DatasetCache::key(inputs, format.name, opt, name) : "";
  std::optional<Dataset> cached = cache.find(key);
  if (from_cache) *from_cache = cached.has_value();
  if (cached) return std::move(*cached);
  Dataset data = preprocess(format.read(path), opt, name);
  std::string why;
  if (!key.empty() && !cache.put(key, data, &why))
    std::cerr << "note: the prepared-dataset cache " << cache.folder() << " is not used (" << why
              << "); set --data-cache to a writable folder, or off\n";
  return data;
}

// The experiment's modalities: generated features of the synthetic data and the [[modality]] files (which win
// over a generated modality of the same name), memory-mapped, aligned to the dataset's item ids.
void attach_modalities(const Experiment& ex, Dataset& data) {
  if (ex.modalities.empty() && data.features.empty() && data.token_features.empty()) return;
  auto store = std::make_shared<FeatureStore>();
  for (const auto& [name, matrix] : data.features) store->add(FeatureTable::from_matrix(name, matrix));
  for (const auto& [name, matrix] : data.token_features) store->add(FeatureTable::from_tokens(name, matrix));
  for (const auto& spec : ex.modalities) store->add(FeatureTable::open(spec, data));
  data.modalities = store;
  data.compute_checksum();
}

}  // namespace

std::vector<std::string> data_format_names() {
  std::vector<std::string> names = {"synthetic"};
  for (const auto& f : kFormats) names.emplace_back(f.name);
  return names;
}

Dataset load_interactions(const Experiment& ex, const DatasetCache& cache, bool* from_cache) {
  if (from_cache) *from_cache = false;
  const DataOptions options = data_options(ex.data);
  if (options.format == "synthetic") {
    Dataset d = generate_synthetic(ex.synthetic);
    if (!options.name.empty()) d.name = options.name;
    return d;
  }
  Dataset data = read_and_prepare(ex, data_format(ex, options.format), cache, from_cache);
  if (!options.item_file.empty())
    attach_item_fields(data, read_recbole_items(relative_to_experiment(ex, options.item_file)));
  if (!options.attribute_file.empty())
    attach_item_attributes_json(data, relative_to_experiment(ex, options.attribute_file), "attributes");
  return data;
}

std::vector<std::string> interaction_files(const Experiment& ex) {
  const DataOptions options = data_options(ex.data);
  if (options.format == "synthetic") return {};
  std::vector<std::string> files = data_format(ex, options.format).inputs(ex.data_path());
  for (const auto& extra : {options.item_file, options.attribute_file})
    if (!extra.empty()) files.push_back(relative_to_experiment(ex, extra));
  return files;
}

Dataset load_dataset(const Experiment& ex, const DatasetCache& cache, bool* from_cache) {
  Dataset data = load_interactions(ex, cache, from_cache);
  attach_modalities(ex, data);
  return data;
}

}  // namespace mmsr

// Experiment files: TOML with [experiment], [data], [protocol], [train] and a list of [[model]] entries, each
// naming its item tower, backbone and losses and their parameters. Any parameter given as an array is a grid
// axis (cartesian product), run once per seed. Parsing is strict: an unknown key, a wrong type or an
// out-of-range value is an InputError naming file, line and key, before any training.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mmsr/features.h"
#include "mmsr/readers.h"
#include "mmsr/sdk/options.h"
#include "mmsr/sdk/params.h"
#include "mmsr/sdk/registrar.h"
#include "mmsr/split.h"

namespace mmsr {

// The core's own sections, as typed options: each field is bound once to its key, range and doc
// (core/src/config/sections.cpp); the default is the field's initialiser.
struct ExperimentOptions {
  std::string name = "experiment";
  std::string description;
  std::vector<int64_t> seeds = {1};
  int64_t popularity_groups = 5;
};

struct DataOptions {
  std::string format = "synthetic";
  std::string path, name, item_file, attribute_file;
  bool drop_consecutive_repeats = false;
  int64_t k_core = 0, min_length = 3, keep_last = 0;
};

struct ProtocolOptions {
  std::string split = "leave_one_out";
  double valid_start = 0, test_start = 0, valid_share = 0.1, test_share = 0.1;
  std::string targets = "every";
  std::string train_samples = "all_position";
  int64_t max_len = 50;
  std::string candidates = "full";
  int64_t negatives = 99;
  std::string negatives_file;
  int64_t negatives_seed = 0;
  bool mask_history = true;
  std::string ties = "expected";
  std::vector<std::string> metrics = {"hr", "ndcg", "mrr"};
  std::vector<int64_t> ks = {5, 10, 20};
  std::string select = "ndcg@10";
  std::string diversity_modality;
};

struct TrainOptions {
  std::string optimizer = "adam";
  double lr = 1e-3, weight_decay = 0.0, clip_norm = 0.0;
  int64_t epochs = 50, patience = 10, eval_every = 1, batch_size = 256;
  bool length_buckets = true;
  int64_t eval_batch_size = 0, eval_item_block = 0, threads = 0, processes = 1;
  std::string device = "auto", precision = "fp32";
  bool fast_dropout = true;
  std::vector<std::string> adapt;  // KDSR's trainable modality embeddings and their asynchronous step
  double adapt_lr_scale = 1.0;
  std::vector<int64_t> adapt_milestones;
  double adapt_gamma = 2.0;
};

const ParamBinding<ExperimentOptions>& experiment_params();
const ParamBinding<DataOptions>& data_params();
const ParamBinding<SyntheticOptions>& synthetic_params();
const ParamBinding<ModalitySpec>& modality_params();  // paths as written (parse_experiment resolves them)
const ParamBinding<ProtocolOptions>& protocol_params();
const ParamBinding<TrainOptions>& train_params();

// The typed view of a resolved section (a run's record keeps the ParamSet: its JSON is part of the identity).
inline DataOptions data_options(const ParamSet& data) { return data_params().read(data); }
inline ProtocolOptions protocol_options(const ParamSet& protocol) { return protocol_params().read(protocol); }
inline SplitOptions split_options(const ProtocolOptions& p) {
  return {p.split, p.valid_start, p.test_start, p.valid_share, p.test_share, p.targets};
}
inline TrainOptions train_options(const ParamSet& train) { return train_params().read(train); }

// The declarations the bindings make: what parsing, validation and the docs read.
const ParamDecl& experiment_section();
const ParamDecl& data_section();
const ParamDecl& synthetic_section();
const ParamDecl& modality_section();
const ParamDecl& protocol_section();
const ParamDecl& train_section();

// Looks up a plugin entry by kind and name; returns nullptr when unknown.
using EntryLookup = std::function<const ComponentEntry*(PluginKind, const std::string&)>;
using EntryNames = std::function<std::vector<std::string>(PluginKind)>;

struct ComponentSpec {
  std::string plugin;
  ParamSet params;
  double weight = 1.0;  // losses only
};

struct RunSpec {
  std::string model_name;
  ComponentSpec tower;
  ComponentSpec backbone;
  std::vector<ComponentSpec> losses;
  ParamSet train;
  uint64_t seed = 0;
  std::string grid_label;   // the grid axes' values of this point, e.g. "backbone.layers=2"
  std::string config_json;  // canonical: model, components, parameters, training (no seed)
  std::string config_key;   // hash of config_json: groups the seeds of one configuration
};

// A second evaluation protocol for the same trained models ([[also_evaluate]]): only the keys that decide how
// a trained model is ranked may change (candidates, negatives, masking, ties). The epoch stays the one selected
// under the main protocol, and the variant's hash records that ("selected_under"), so its board never mixes
// with runs that were selected under the variant protocol itself.
struct ProtocolVariant {
  ParamSet protocol;           // the main protocol with the variant's overrides
  std::string protocol_json;   // canonical, with "selected_under": the main protocol's hash
  std::string protocol_hash;
};

// The [protocol] keys an [[also_evaluate]] entry may change.
const std::vector<std::string>& variant_protocol_keys();

struct Experiment {
  std::string file;
  std::string base_dir;  // relative data paths are resolved from here
  std::string name;
  std::string description;
  ParamSet data;
  ParamSet protocol;
  std::string protocol_json;  // canonical [protocol] block
  std::string protocol_hash;
  std::vector<ProtocolVariant> also_evaluate;
  std::vector<uint64_t> seeds;
  int64_t popularity_groups = 5;  // reporting only: not part of the protocol
  std::vector<RunSpec> runs;

  std::string data_path() const;  // [data] path resolved against base_dir ("" for synthetic)
  std::vector<ModalitySpec> modalities;  // [[modality]] entries, paths resolved
  SyntheticOptions synthetic;
};

// Which defaults the [train] keys a file leaves out take. The speed options (fast_dropout, length_buckets) became
// defaults after stores existed; a store made before keeps resolving its grids with the original values, so its
// runs keep their identities and resume as they were (train_defaults_of_store in mmsr/store.h says which applies).
enum class TrainDefaults { original, fast };
constexpr TrainDefaults kCurrentTrainDefaults = TrainDefaults::fast;

Experiment load_experiment(const std::string& path, const EntryLookup& lookup,
                           const EntryNames& names, TrainDefaults defaults = kCurrentTrainDefaults);
Experiment parse_experiment(const std::string& toml_text, const std::string& display_name,
                            const std::string& base_dir, const EntryLookup& lookup,
                            const EntryNames& names, TrainDefaults defaults = kCurrentTrainDefaults);

}  // namespace mmsr

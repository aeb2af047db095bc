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
#include "mmsr/sdk/params.h"
#include "mmsr/sdk/registrar.h"

namespace mmsr {

// The declarations of the core's own sections: the single source of their parsing and documentation.
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

Experiment load_experiment(const std::string& path, const EntryLookup& lookup,
                           const EntryNames& names);
Experiment parse_experiment(const std::string& toml_text, const std::string& display_name,
                            const std::string& base_dir, const EntryLookup& lookup,
                            const EntryNames& names);

}  // namespace mmsr

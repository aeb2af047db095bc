// Strict parsing of experiment files and expansion of their grids.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <tuple>
#include <sstream>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "mmsr/config.h"
#include "mmsr/errors.h"
#include "mmsr/input_files.h"
#include "mmsr/text.h"
#include "config/grid.h"
#include "config/reader.h"

namespace mmsr {

const std::vector<std::string>& variant_protocol_keys() {
  static const std::vector<std::string> keys = {"candidates", "negatives", "negatives_file",
                                                "negatives_seed", "mask_history", "ties",
                                                "diversity_modality"};
  return keys;
}

std::string Experiment::data_path() const {
  const std::string p = data_options(data).path;
  if (p.empty()) return "";
  std::filesystem::path path(p);
  if (path.is_relative()) path = std::filesystem::path(base_dir) / path;
  return path.lexically_normal().string();
}

namespace {

using config_detail::Parser;

toml::table parse_toml(const std::string& text, const std::string& file) {
  try {
    return toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    throw InputError(located(file, long(e.source().begin.line), "malformed TOML: " + std::string(e.description())));
  }
}

void refuse_unknown_sections(const Parser& p, const toml::table& root) {
  static const std::set<std::string> kSections = {"experiment", "data",          "protocol", "train",
                                                  "model",      "also_evaluate", "modality"};
  for (const auto& [key, node] : root) {
    std::string k(key.str());
    if (!kSections.count(k))
      p.fail_at(key.source(), "unknown section '" + k + "'" + did_you_mean(k, {kSections.begin(), kSections.end()}) +
                                  "; sections: experiment, data, modality, protocol, train, model, also_evaluate");
  }
}

// [experiment]
void read_experiment(const Parser& p, const toml::table& root, Experiment& ex) {
  const ExperimentOptions exp =
      experiment_params().read(p.read_fixed(p.sub_table(root, "experiment", ""), experiment_section(), "[experiment]"));
  ex.name = exp.name;
  ex.description = exp.description;
  for (int64_t s : exp.seeds) {
    // A seed given twice would be one run listed twice: the second would find the first's result.
    if (std::find(ex.seeds.begin(), ex.seeds.end(), uint64_t(s)) != ex.seeds.end())
      p.fail(root.get("experiment"), "[experiment].seeds: seed " + std::to_string(s) + " is given twice; list each once");
    ex.seeds.push_back(uint64_t(s));
  }
  ex.popularity_groups = exp.popularity_groups;
  if (ex.seeds.empty()) p.fail(root.get("experiment"), "[experiment].seeds: give at least one seed");
}

// [data] and [data.synthetic]
void read_data(const Parser& p, const toml::table& root, Experiment& ex) {
  const toml::table* data = p.sub_table(root, "data", "");
  std::map<std::string, ParamValue> given;
  if (data)
    for (auto& s : p.read_table(*data, data_section(), "[data]", 0, false, {"synthetic"})) given[s.key] = s.values[0];
  ex.data = ParamSet::resolve(data_section(), given);
  ex.synthetic = synthetic_params().read(
      p.read_fixed(data ? p.sub_table(*data, "synthetic", "data") : nullptr, synthetic_section(), "[data.synthetic]"));
  const SyntheticOptions& o = ex.synthetic;
  if (o.max_length < o.min_length) p.fail(data, "[data.synthetic]: max_length must be >= min_length");
  if (o.clusters > o.items) p.fail(data, "[data.synthetic]: clusters must be <= items");
  const DataOptions d = data_options(ex.data);
  if (d.format != "synthetic" && d.path.empty()) p.fail(data, "[data].path is required for format = \"" + d.format + "\"");
}

std::string relative_to(const std::string& base_dir, const std::string& file) {
  if (file.empty()) return file;
  std::filesystem::path path(file);
  if (path.is_relative()) path = std::filesystem::path(base_dir) / path;
  return path.lexically_normal().string();
}

// One [[modality]] table.
ModalitySpec read_modality(const Parser& p, const toml::node& node, const std::string& where,
                           const std::string& base_dir, std::set<std::string>& names) {
  ModalitySpec spec = modality_params().read(p.read_fixed(node.as_table(), modality_section(), where));
  if (spec.name.empty()) p.fail(&node, where + ": missing name (e.g. name = \"text\")");
  if (!names.insert(spec.name).second) p.fail(&node, where + ": modality '" + spec.name + "' is declared twice");
  spec.path = relative_to(base_dir, spec.path);
  if (spec.path.empty()) p.fail(&node, where + " ('" + spec.name + "'): missing path (the feature file)");
  spec.mask_path = relative_to(base_dir, spec.mask_path);
  if (spec.id_map != "token") spec.id_map = relative_to(base_dir, spec.id_map);
  if (spec.format == "raw" && spec.dim == 0) p.fail(&node, where + " ('" + spec.name + "'): format = \"raw\" needs dim");
  if (spec.format == "raw" && spec.shape == "tokens" && spec.tokens == 0)
    p.fail(&node, where + " ('" + spec.name + "'): shape = \"tokens\" needs tokens");
  return spec;
}

// [[modality]]
void read_modalities(const Parser& p, const toml::table& root, Experiment& ex) {
  const toml::node* mods = root.get("modality");
  if (!mods) return;
  if (!mods->is_array_of_tables()) p.fail(mods, "modality must be a list of tables ([[modality]])");
  size_t n = 0;
  std::set<std::string> names;
  for (const auto& node : *mods->as_array()) {
    ex.modalities.push_back(read_modality(p, node, "[[modality]] #" + std::to_string(++n), ex.base_dir, names));
  }
}

// Whether [protocol].select names a metric and a K that are computed.
bool selection_is_computed(const ProtocolOptions& protocol) {
  const std::string& sel = protocol.select;
  auto at = sel.find('@');
  if (at == std::string::npos) return false;
  const auto& ms = protocol.metrics;
  if (std::find(ms.begin(), ms.end(), sel.substr(0, at)) == ms.end()) return false;
  try {
    int64_t k = std::stoll(sel.substr(at + 1));
    return std::find(protocol.ks.begin(), protocol.ks.end(), k) != protocol.ks.end();
  } catch (...) {
    return false;
  }
}

// Keys only one kind of split reads are refused under the others rather than ignored, and a temporal split's shares
// must leave a training period.
void check_split_keys(const Parser& p, const toml::table* t, const ProtocolOptions& o) {
  if (!t) return;
  const std::string split = "[protocol].split = \"" + o.split + "\"";
  for (const char* key : {"valid_start", "test_start", "valid_share", "test_share"})
    if (o.split != "temporal" && t->contains(key))
      p.fail(t->get(key), "[protocol]." + std::string(key) + " applies to split = \"temporal\", not to " + split +
                              "; remove it or change the split");
  if (o.split == "leave_one_out" && t->contains("targets"))
    p.fail(t->get("targets"), "[protocol].targets applies to split = \"temporal\" or \"published\"; under "
                              "leave-one-out each user has one validation and one test target");
  if (o.split != "temporal") return;
  if (o.test_start == 0 && o.test_share <= 0)
    p.fail(t->get("test_share"), "[protocol].test_share must be above 0 (or give test_start)");
  if (o.valid_start == 0 && o.valid_share <= 0)
    p.fail(t->get("valid_share"), "[protocol].valid_share must be above 0 (or give valid_start)");
  if (o.valid_start == 0 && o.valid_share + (o.test_start == 0 ? o.test_share : 0) >= 1)
    p.fail(t, "[protocol]: valid_share + test_share leave no training period; keep their sum below 1");
  if (o.valid_start > 0 && o.test_start > 0 && o.valid_start >= o.test_start)
    p.fail(t->get("valid_start"), "[protocol].valid_start must be before test_start");
}

// The protocol as runs record and hash it: keys added after release are left out at their default, so that a
// protocol written before they existed keeps its hash and its runs their identity.
std::string protocol_identity_json(const ParamSet& protocol) {
  nlohmann::json j = nlohmann::json::parse(protocol.to_json());
  for (const auto& spec : protocol_section().specs())
    if (spec.identity_omits_default && protocol.has(spec.name) && protocol.values().at(spec.name) == spec.default_value)
      j.erase(spec.name);
  return j.dump();
}

// [protocol]
void read_protocol(const Parser& p, const toml::table& root, Experiment& ex) {
  const toml::table* t = p.sub_table(root, "protocol", "");
  ex.protocol = p.read_fixed(t, protocol_section(), "[protocol]");
  const ProtocolOptions protocol = protocol_options(ex.protocol);
  if (!selection_is_computed(protocol))
    p.fail(t ? t->get("select") : nullptr,
           "[protocol].select = \"" + protocol.select +
               "\": must be METRIC@K with a metric from [protocol].metrics and K from [protocol].ks");
  if (protocol.metrics.empty() || protocol.ks.empty())
    p.fail(t, "[protocol]: metrics and ks must not be empty");
  check_split_keys(p, t, protocol);
  if (!protocol.diversity_modality.empty() &&
      std::none_of(ex.modalities.begin(), ex.modalities.end(),
                   [&](const ModalitySpec& m) { return m.name == protocol.diversity_modality; }))
    p.fail(t->get("diversity_modality"), "[protocol].diversity_modality = \"" + protocol.diversity_modality +
                                             "\" names no [[modality]]; declare it or remove the key");
  ex.protocol_json = protocol_identity_json(ex.protocol);
  ex.protocol_hash = hash_hex(ex.protocol_json);
}

// One [[also_evaluate]] table: the main protocol with some of the keys that may change for a trained model.
ProtocolVariant read_variant(const Parser& p, const toml::node& node, const std::string& where, const Experiment& ex) {
  const auto& allowed = variant_protocol_keys();
  std::map<std::string, ParamValue> given = ex.protocol.values();
  for (auto& slot : p.read_table(*node.as_table(), protocol_section(), where, 0, false)) {
    if (std::find(allowed.begin(), allowed.end(), slot.key) == allowed.end())
      p.fail(node.as_table()->get(slot.key),
             where + "." + slot.key + ": decides training or selection, so it cannot change for the same "
             "trained model; keys that may change: " + join(allowed, ", ") +
             " (for a different " + slot.key + ", write a second experiment)");
    given[slot.key] = slot.values[0];
  }
  ProtocolVariant v;
  v.protocol = ParamSet(given);
  nlohmann::json j = nlohmann::json::parse(protocol_identity_json(v.protocol));
  j["selected_under"] = ex.protocol_hash;
  v.protocol_json = j.dump();
  v.protocol_hash = hash_hex(v.protocol_json);
  if (protocol_identity_json(v.protocol) == ex.protocol_json)
    p.fail(&node, where + ": changes nothing; give at least one of " + join(allowed, ", "));
  return v;
}

// [[also_evaluate]]
void read_also_evaluate(const Parser& p, const toml::table& root, Experiment& ex) {
  const toml::node* also = root.get("also_evaluate");
  if (!also) return;
  if (!also->is_array_of_tables()) p.fail(also, "also_evaluate must be a list of tables ([[also_evaluate]])");
  size_t n = 0;
  for (const auto& node : *also->as_array()) {
    const std::string where = "[[also_evaluate]] #" + std::to_string(++n);
    ProtocolVariant v = read_variant(p, node, where, ex);
    for (const auto& other : ex.also_evaluate)
      if (other.protocol_hash == v.protocol_hash) p.fail(&node, where + ": repeats an earlier entry");
    ex.also_evaluate.push_back(std::move(v));
  }
}

}  // namespace

Experiment parse_experiment(const std::string& text, const std::string& file, const std::string& base_dir,
                            const EntryLookup& lookup, const EntryNames& names, TrainDefaults defaults) {
  const toml::table root = parse_toml(text, file);
  Parser p(file, lookup, names);
  refuse_unknown_sections(p, root);
  Experiment ex;
  ex.file = file;
  ex.base_dir = base_dir;
  read_experiment(p, root, ex);
  read_data(p, root, ex);
  read_modalities(p, root, ex);
  read_protocol(p, root, ex);
  read_also_evaluate(p, root, ex);
  config_detail::read_models(p, root, ex, defaults);
  return ex;
}

Experiment load_experiment(const std::string& path, const EntryLookup& lookup,
                           const EntryNames& names, TrainDefaults defaults) {
  require_readable_file(path, "experiment file");
  std::ifstream in(path);
  if (!in) throw InputError(path + ": cannot open the experiment file");
  std::stringstream buf;
  buf << in.rdbuf();
  std::string base = std::filesystem::absolute(path).parent_path().string();
  return parse_experiment(buf.str(), path, base, lookup, names, defaults);
}

}  // namespace mmsr

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

namespace mmsr {
namespace {

// Parameters of [train] that do not change a run's result: kept out of its identity.
const std::set<std::string> kNotIdentity = {"threads", "eval_batch_size"};

struct Slot {
  int target;  // -2 = train, -1 = tower, 0 = backbone, 1.. = loss index + 1
  std::string key;
  std::vector<ParamValue> values;
  bool axis = false;
};

class Parser {
 public:
  Parser(std::string file, const EntryLookup& lookup, const EntryNames& names)
      : file_(std::move(file)), lookup_(lookup), names_(names) {}

  [[noreturn]] void fail(const toml::node* node, const std::string& message) const {
    long line = node ? long(node->source().begin.line) : 0;
    throw InputError(located(file_, line, message));
  }
  [[noreturn]] void fail_at(const toml::source_region& where, const std::string& message) const {
    throw InputError(located(file_, long(where.begin.line), message));
  }

  // One TOML value as a parameter value of the declared type (lists stay lists).
  ParamValue convert(const toml::node& node, const ParamSpec& spec, const std::string& where) const {
    auto bad_type = [&](const std::string& found) {
      fail(&node, where + "." + spec.name + ": expected " + to_string(spec.type) + ", found " + found);
    };
    auto type_name = [](const toml::node& n) {
      std::ostringstream s;
      s << n.type();
      return s.str();
    };
    ParamValue value;
    switch (spec.type) {
      case ParamType::Int:
        if (!node.is_integer()) bad_type(type_name(node));
        value = node.as_integer()->get();
        break;
      case ParamType::Float:
        if (node.is_integer()) value = double(node.as_integer()->get());
        else if (node.is_floating_point()) value = node.as_floating_point()->get();
        else bad_type(type_name(node));
        break;
      case ParamType::Bool:
        if (!node.is_boolean()) bad_type(type_name(node));
        value = node.as_boolean()->get();
        break;
      case ParamType::String:
        if (!node.is_string()) bad_type(type_name(node));
        value = node.as_string()->get();
        break;
      case ParamType::IntList: {
        if (!node.is_array()) bad_type(type_name(node));
        std::vector<int64_t> v;
        for (const auto& el : *node.as_array()) {
          if (!el.is_integer()) bad_type("an array holding " + type_name(el));
          v.push_back(el.as_integer()->get());
        }
        value = v;
        break;
      }
      case ParamType::StringList: {
        if (!node.is_array()) bad_type(type_name(node));
        std::vector<std::string> v;
        for (const auto& el : *node.as_array()) {
          if (!el.is_string()) bad_type("an array holding " + type_name(el));
          v.push_back(el.as_string()->get());
        }
        value = v;
        break;
      }
    }
    std::string problem = spec.check(value);
    if (!problem.empty())
      fail(&node, where + "." + spec.name + " = " + format_value(value) + ": " + problem);
    return value;
  }

  // Reads a table against a declaration. Arrays become grid axes when allow_axes is set.
  std::vector<Slot> read_table(const toml::table& table, const ParamDecl& decl,
                               const std::string& where, int target, bool allow_axes,
                               const std::set<std::string>& skip = {}) const {
    std::vector<Slot> slots;
    for (const auto& [key, node] : table) {
      const std::string name(key.str());
      if (skip.count(name)) continue;
      const ParamSpec* spec = decl.find(name);
      if (!spec) {
        auto known = decl.names();
        for (const auto& s : skip) known.push_back(s);
        fail_at(key.source(), where + ": unknown key '" + name + "'" + did_you_mean(name, known) +
                                  "; known keys: " + join(known, ", "));
      }
      Slot slot{target, name, {}, false};
      const bool array_of_arrays = node.is_array() && !node.as_array()->empty() &&
                                   node.as_array()->get(0)->is_array();
      const bool is_axis = allow_axes && node.is_array() && (!spec->is_list() || array_of_arrays);
      if (node.is_array() && !spec->is_list() && !allow_axes)
        fail(&node, where + "." + name + ": expected " + to_string(spec->type) +
                        " (arrays are grid axes, which this section does not take)");
      if (is_axis) {
        if (node.as_array()->empty()) fail(&node, where + "." + name + ": a grid axis needs values");
        for (const auto& el : *node.as_array()) slot.values.push_back(convert(el, *spec, where));
        slot.axis = true;
      } else {
        slot.values.push_back(convert(node, *spec, where));
      }
      slots.push_back(std::move(slot));
    }
    return slots;
  }

  ParamSet read_fixed(const toml::table* table, const ParamDecl& decl, const std::string& where) const {
    std::map<std::string, ParamValue> given;
    if (table)
      for (auto& slot : read_table(*table, decl, where, 0, false)) given[slot.key] = slot.values[0];
    return ParamSet::resolve(decl, given);
  }

  const toml::table* sub_table(const toml::table& parent, const std::string& key,
                               const std::string& where) const {
    const toml::node* node = parent.get(key);
    if (!node) return nullptr;
    const std::string name = where.empty() ? key : where + "." + key;  // where = "": a top-level section
    if (!node->is_table()) fail(node, name + " must be a table ([" + name + "])");
    return node->as_table();
  }

  const ComponentEntry& entry(PluginKind kind, const std::string& name, const toml::node* at,
                              const std::string& where) const {
    const ComponentEntry* e = lookup_(kind, name);
    if (!e) {
      auto known = names_(kind);
      fail(at, where + ": unknown " + to_string(kind) + " plugin '" + name + "'" +
                   did_you_mean(name, known) + "; available: " + join(known, ", ") +
                   " (see `mmsr plugins`)");
    }
    return *e;
  }

  // tower = "id"  or  [model.tower] plugin = "id" ...params
  std::pair<const ComponentEntry*, std::vector<Slot>> component(const toml::node* node, PluginKind kind,
                                                                const std::string& where, int target,
                                                                bool with_weight,
                                                                std::vector<Slot>& weight_slots) const {
    if (!node) fail(nullptr, where + " is missing: name its " + to_string(kind) + " plugin");
    if (node->is_string()) {
      const auto& e = entry(kind, node->as_string()->get(), node, where);
      return {&e, {}};
    }
    if (!node->is_table()) fail(node, where + " must be a plugin name or a table with 'plugin = ...'");
    const toml::table& t = *node->as_table();
    const toml::node* plugin = t.get("plugin");
    if (!plugin || !plugin->is_string())
      fail(node, where + ": missing 'plugin = \"NAME\"'");
    const auto& e = entry(kind, plugin->as_string()->get(), plugin, where);
    std::set<std::string> skip = {"plugin"};
    if (with_weight) {
      skip.insert("weight");
      if (const toml::node* w = t.get("weight")) {
        static const ParamDecl weight_decl =
            ParamDecl().real("weight", 1.0, 0.0, 1e6, "weight of this loss in the total");
        Slot s{target, "weight", {}, false};
        if (w->is_array()) {
          for (const auto& el : *w->as_array())
            s.values.push_back(convert(el, *weight_decl.find("weight"), where));
          s.axis = true;
        } else {
          s.values.push_back(convert(*w, *weight_decl.find("weight"), where));
        }
        weight_slots.push_back(std::move(s));
      }
    }
    return {&e, read_table(t, e.params, where + " (" + e.name + ")", target, true, skip)};
  }

  std::string file_;
  const EntryLookup& lookup_;
  const EntryNames& names_;
};

nlohmann::json params_json(const ParamSet& p, const std::set<std::string>& drop = {}) {
  nlohmann::json j = nlohmann::json::parse(p.to_json());
  for (const auto& k : drop) j.erase(k);
  return j;
}

// A plugin's parameters as they enter a run's identity: those added after release are left out at their default.
// No declaration (a model without a backbone) leaves the set as it is.
nlohmann::json plugin_params_json(const ParamSet& p, const ParamDecl* decl) {
  std::set<std::string> drop;
  if (decl)
    for (const auto& spec : decl->specs())
      if (spec.identity_omits_default && p.has(spec.name) && p.values().at(spec.name) == spec.default_value)
        drop.insert(spec.name);
  return params_json(p, drop);
}

// The training keys that decide a run's result. fast_dropout, processes and the adapt_* keys only count when used, so that runs
// without them keep the identity they had before these keys existed.
nlohmann::json train_identity(const ParamSet& train) {
  nlohmann::json j = params_json(train, kNotIdentity);
  if (!train.get_bool("fast_dropout")) j.erase("fast_dropout");
  if (train.get_string("precision") == "fp32") j.erase("precision");
  if (train.get_int("processes") == 1) j.erase("processes");
  if (train.get_string_list("adapt").empty())
    for (const char* k : {"adapt", "adapt_lr_scale", "adapt_milestones", "adapt_gamma"}) j.erase(k);
  return j;
}

}  // namespace

const std::vector<std::string>& variant_protocol_keys() {
  static const std::vector<std::string> keys = {"candidates", "negatives", "negatives_file",
                                                "negatives_seed", "mask_history", "ties"};
  return keys;
}

std::string Experiment::data_path() const {
  const std::string& p = data.get_string("path");
  if (p.empty()) return "";
  std::filesystem::path path(p);
  if (path.is_relative()) path = std::filesystem::path(base_dir) / path;
  return path.lexically_normal().string();
}

Experiment parse_experiment(const std::string& text, const std::string& file,
                            const std::string& base_dir, const EntryLookup& lookup,
                            const EntryNames& names) {
  toml::table root;
  try {
    root = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    throw InputError(located(file, long(e.source().begin.line),
                             "malformed TOML: " + std::string(e.description())));
  }
  Parser p(file, lookup, names);
  static const std::set<std::string> kSections = {"experiment", "data",          "protocol", "train",
                                                  "model",      "also_evaluate", "modality"};
  for (const auto& [key, node] : root) {
    std::string k(key.str());
    if (!kSections.count(k))
      p.fail_at(key.source(), "unknown section '" + k + "'" +
                                  did_you_mean(k, {kSections.begin(), kSections.end()}) +
                                  "; sections: experiment, data, modality, protocol, train, model, also_evaluate");
  }

  Experiment ex;
  ex.file = file;
  ex.base_dir = base_dir;
  ParamSet exp = p.read_fixed(p.sub_table(root, "experiment", ""), experiment_section(),
                              "[experiment]");
  ex.name = exp.get_string("name");
  ex.description = exp.get_string("description");
  for (int64_t s : exp.get_int_list("seeds")) {
    // A seed given twice would be one run listed twice: the second would find the first's result.
    if (std::find(ex.seeds.begin(), ex.seeds.end(), uint64_t(s)) != ex.seeds.end())
      p.fail(root.get("experiment"), "[experiment].seeds: seed " + std::to_string(s) + " is given twice; list each once");
    ex.seeds.push_back(uint64_t(s));
  }
  ex.popularity_groups = exp.get_int("popularity_groups");
  if (ex.seeds.empty()) p.fail(root.get("experiment"), "[experiment].seeds: give at least one seed");

  const toml::table* data = p.sub_table(root, "data", "");
  {
    std::map<std::string, ParamValue> given;
    if (data)
      for (auto& s : p.read_table(*data, data_section(), "[data]", 0, false, {"synthetic"}))
        given[s.key] = s.values[0];
    ex.data = ParamSet::resolve(data_section(), given);
    ParamSet syn = p.read_fixed(data ? p.sub_table(*data, "synthetic", "data") : nullptr,
                                synthetic_section(), "[data.synthetic]");
    auto& o = ex.synthetic;
    o.seed = uint64_t(syn.get_int("seed"));
    o.users = syn.get_int("users");
    o.items = syn.get_int("items");
    o.clusters = syn.get_int("clusters");
    o.zipf = syn.get_double("zipf");
    o.min_length = syn.get_int("min_length");
    o.max_length = syn.get_int("max_length");
    o.stickiness = syn.get_double("stickiness");
    o.successor = syn.get_double("successor");
    o.cold_fraction = syn.get_double("cold_fraction");
    o.cold_target_rate = syn.get_double("cold_target_rate");
    o.feature_dim = syn.get_int("feature_dim");
    o.feature_noise = syn.get_double("feature_noise");
    o.text_tokens = syn.get_int("text_tokens");
    o.image_tokens = syn.get_int("image_tokens");
    if (o.max_length < o.min_length)
      p.fail(data, "[data.synthetic]: max_length must be >= min_length");
    if (o.clusters > o.items) p.fail(data, "[data.synthetic]: clusters must be <= items");
    if (ex.data.get_string("format") != "synthetic" && ex.data.get_string("path").empty())
      p.fail(data, "[data].path is required for format = \"" + ex.data.get_string("format") + "\"");
  }

  if (const toml::node* mods = root.get("modality")) {
    if (!mods->is_array_of_tables()) p.fail(mods, "modality must be a list of tables ([[modality]])");
    size_t n = 0;
    std::set<std::string> names;
    for (const auto& node : *mods->as_array()) {
      const std::string where = "[[modality]] #" + std::to_string(++n);
      ParamSet m = p.read_fixed(node.as_table(), modality_section(), where);
      ModalitySpec spec;
      spec.name = m.get_string("name");
      if (spec.name.empty()) p.fail(&node, where + ": missing name (e.g. name = \"text\")");
      if (!names.insert(spec.name).second) p.fail(&node, where + ": modality '" + spec.name + "' is declared twice");
      auto resolve = [&](const std::string& f) {
        if (f.empty()) return f;
        std::filesystem::path path(f);
        if (path.is_relative()) path = std::filesystem::path(base_dir) / path;
        return path.lexically_normal().string();
      };
      spec.path = resolve(m.get_string("path"));
      if (spec.path.empty()) p.fail(&node, where + " ('" + spec.name + "'): missing path (the feature file)");
      spec.format = m.get_string("format");
      spec.shape = m.get_string("shape");
      spec.dim = m.get_int("dim");
      spec.tokens = m.get_int("tokens");
      spec.mask_path = resolve(m.get_string("mask"));
      spec.id_map = m.get_string("id_map") == "token" ? "token" : resolve(m.get_string("id_map"));
      spec.missing = m.get_string("missing");
      if (spec.format == "raw" && spec.dim == 0)
        p.fail(&node, where + " ('" + spec.name + "'): format = \"raw\" needs dim");
      if (spec.format == "raw" && spec.shape == "tokens" && spec.tokens == 0)
        p.fail(&node, where + " ('" + spec.name + "'): shape = \"tokens\" needs tokens");
      ex.modalities.push_back(std::move(spec));
    }
  }

  ex.protocol = p.read_fixed(p.sub_table(root, "protocol", ""), protocol_section(), "[protocol]");
  {
    // The selection metric must be one that is computed.
    const std::string& sel = ex.protocol.get_string("select");
    auto at = sel.find('@');
    bool ok = at != std::string::npos;
    if (ok) {
      std::string name = sel.substr(0, at);
      const auto& ms = ex.protocol.get_string_list("metrics");
      ok = std::find(ms.begin(), ms.end(), name) != ms.end();
      try {
        int64_t k = std::stoll(sel.substr(at + 1));
        const auto& ks = ex.protocol.get_int_list("ks");
        ok = ok && std::find(ks.begin(), ks.end(), k) != ks.end();
      } catch (...) {
        ok = false;
      }
    }
    if (!ok) {
      const toml::table* t = p.sub_table(root, "protocol", "");
      p.fail(t ? t->get("select") : nullptr,
             "[protocol].select = \"" + sel + "\": must be METRIC@K with a metric from "
             "[protocol].metrics and K from [protocol].ks");
    }
    if (ex.protocol.get_string_list("metrics").empty() || ex.protocol.get_int_list("ks").empty())
      p.fail(p.sub_table(root, "protocol", ""), "[protocol]: metrics and ks must not be empty");
  }
  ex.protocol_json = ex.protocol.to_json();
  ex.protocol_hash = hash_hex(ex.protocol_json);
  if (const toml::node* also = root.get("also_evaluate")) {
    if (!also->is_array_of_tables())
      p.fail(also, "also_evaluate must be a list of tables ([[also_evaluate]])");
    const auto& allowed = variant_protocol_keys();
    size_t n = 0;
    for (const auto& node : *also->as_array()) {
      const std::string where = "[[also_evaluate]] #" + std::to_string(++n);
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
      nlohmann::json j = nlohmann::json::parse(v.protocol.to_json());
      j["selected_under"] = ex.protocol_hash;
      v.protocol_json = j.dump();
      v.protocol_hash = hash_hex(v.protocol_json);
      if (v.protocol.to_json() == ex.protocol_json)
        p.fail(&node, where + ": changes nothing; give at least one of " + join(allowed, ", "));
      for (const auto& other : ex.also_evaluate)
        if (other.protocol_hash == v.protocol_hash) p.fail(&node, where + ": repeats an earlier entry");
      ex.also_evaluate.push_back(std::move(v));
    }
  }

  const toml::table* train = p.sub_table(root, "train", "");
  std::vector<Slot> global_train;
  if (train) global_train = p.read_table(*train, train_section(), "[train]", -2, true);

  const toml::node* models = root.get("model");
  if (!models || !models->is_array_of_tables())
    p.fail(models, "no models: add at least one [[model]] with tower, backbone and loss");

  std::set<std::string> model_names;
  size_t index = 0;
  for (const auto& model_node : *models->as_array()) {
    const toml::table& m = *model_node.as_table();
    const std::string where = "[[model]] #" + std::to_string(++index);
    static const std::vector<std::string> kModelKeys = {"name", "tower", "backbone", "loss", "train"};
    for (const auto& [key, node] : m) {
      std::string k(key.str());
      if (std::find(kModelKeys.begin(), kModelKeys.end(), k) == kModelKeys.end())
        p.fail_at(key.source(), where + ": unknown key '" + k + "'" + did_you_mean(k, kModelKeys) +
                                    "; known keys: " + join(kModelKeys, ", "));
    }
    const toml::node* name_node = m.get("name");
    if (!name_node || !name_node->is_string())
      p.fail(&model_node, where + ": missing 'name = \"...\"' (the label in reports)");
    std::string name = name_node->as_string()->get();
    if (!model_names.insert(name).second)
      p.fail(name_node, where + ": model name '" + name + "' is used twice");
    const std::string mw = "model '" + name + "'";

    std::vector<Slot> slots = global_train;
    if (const toml::table* mt = p.sub_table(m, "train", "model")) {
      for (auto& s : p.read_table(*mt, train_section(), mw + " train", -2, true)) {
        slots.erase(std::remove_if(slots.begin(), slots.end(),
                                   [&](const Slot& g) { return g.key == s.key; }),
                    slots.end());
        slots.push_back(std::move(s));
      }
    }
    std::vector<Slot> weights;
    auto [tower, tower_slots] =
        p.component(m.get("tower"), PluginKind::ItemTower, mw + " tower", -1, false, weights);
    // No backbone: a model that ignores the user's sequence (a popularity baseline); no loss: one with
    // nothing to train. Whether the model can do without them is checked when it is built.
    const ComponentEntry* backbone = nullptr;
    std::vector<Slot> backbone_slots;
    if (m.get("backbone"))
      std::tie(backbone, backbone_slots) =
          p.component(m.get("backbone"), PluginKind::Backbone, mw + " backbone", 0, false, weights);
    slots.insert(slots.end(), tower_slots.begin(), tower_slots.end());
    slots.insert(slots.end(), backbone_slots.begin(), backbone_slots.end());

    std::vector<const ComponentEntry*> losses;
    const toml::node* loss_node = m.get("loss");
    std::vector<const toml::node*> loss_nodes;
    // loss = "name" | ["a", "b"] | { plugin = ... } | [[model.loss]] tables (in any mix).
    if (loss_node && loss_node->is_array())
      for (const auto& n : *loss_node->as_array()) loss_nodes.push_back(&n);
    else if (loss_node) loss_nodes.push_back(loss_node);
    if (loss_node && loss_nodes.empty()) p.fail(loss_node, mw + ": loss is empty; name at least one loss plugin");
    for (size_t i = 0; i < loss_nodes.size(); ++i) {
      auto [e, s] = p.component(loss_nodes[i], PluginKind::Objective,
                                mw + " loss #" + std::to_string(i + 1), int(i) + 1, true, weights);
      losses.push_back(e);
      slots.insert(slots.end(), s.begin(), s.end());
    }
    slots.insert(slots.end(), weights.begin(), weights.end());

    // Cartesian product over the slots' alternatives, in file order.
    std::vector<size_t> choice(slots.size(), 0);
    for (bool done = false; !done;) {
      std::map<std::string, ParamValue> tr, tw, bb;
      std::vector<std::map<std::string, ParamValue>> ls(losses.size());
      std::vector<double> lw(losses.size(), 1.0);
      std::vector<std::string> label;
      for (size_t s = 0; s < slots.size(); ++s) {
        const Slot& slot = slots[s];
        const ParamValue& v = slot.values[choice[s]];
        std::string prefix;
        if (slot.target == -2) tr[slot.key] = v, prefix = "train.";
        else if (slot.target == -1) tw[slot.key] = v, prefix = "tower.";
        else if (slot.target == 0) bb[slot.key] = v, prefix = "backbone.";
        else if (slot.key == "weight" && !losses[size_t(slot.target - 1)]->params.find("weight"))
          lw[size_t(slot.target - 1)] = std::get<double>(v), prefix = "loss" + std::to_string(slot.target) + ".";
        else ls[size_t(slot.target - 1)][slot.key] = v, prefix = "loss" + std::to_string(slot.target) + ".";
        if (slot.axis && slot.values.size() > 1) label.push_back(prefix + slot.key + "=" + format_value(v));
      }
      RunSpec base;
      base.model_name = name;
      base.tower = {tower->name, ParamSet::resolve(tower->params, tw), 1.0};
      if (backbone) base.backbone = {backbone->name, ParamSet::resolve(backbone->params, bb), 1.0};
      for (size_t i = 0; i < losses.size(); ++i)
        base.losses.push_back({losses[i]->name, ParamSet::resolve(losses[i]->params, ls[i]), lw[i]});
      base.train = ParamSet::resolve(train_section(), tr);
      base.grid_label = join(label, ", ");
      nlohmann::json cfg = {
          {"model", name},
          {"tower", {{"plugin", base.tower.plugin}, {"params", plugin_params_json(base.tower.params, &tower->params)}}},
          {"backbone",
           {{"plugin", base.backbone.plugin},
            {"params", plugin_params_json(base.backbone.params, backbone ? &backbone->params : nullptr)}}},
          {"train", train_identity(base.train)}};
      nlohmann::json lj = nlohmann::json::array();
      for (size_t i = 0; i < base.losses.size(); ++i) {
        const auto& l = base.losses[i];
        lj.push_back({{"plugin", l.plugin}, {"weight", l.weight}, {"params", plugin_params_json(l.params, &losses[i]->params)}});
      }
      cfg["losses"] = lj;
      base.config_json = cfg.dump();
      base.config_key = hash_hex(base.config_json);
      for (uint64_t seed : ex.seeds) {
        RunSpec r = base;
        r.seed = seed;
        ex.runs.push_back(std::move(r));
      }
      // Advance the odometer.
      done = true;
      for (size_t s = slots.size(); s-- > 0;) {
        if (++choice[s] < slots[s].values.size()) {
          done = false;
          break;
        }
        choice[s] = 0;
      }
    }
  }
  return ex;
}

Experiment load_experiment(const std::string& path, const EntryLookup& lookup,
                           const EntryNames& names) {
  require_readable_file(path, "experiment file");
  std::ifstream in(path);
  if (!in) throw InputError(path + ": cannot open the experiment file");
  std::stringstream buf;
  buf << in.rdbuf();
  std::string base = std::filesystem::absolute(path).parent_path().string();
  return parse_experiment(buf.str(), path, base, lookup, names);
}

}  // namespace mmsr

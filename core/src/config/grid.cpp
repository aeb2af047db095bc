// The grid expander: a [[model]] table read into its components and their slots (the [train] keys, the tower's,
// the backbone's and each loss's parameters, arrays being axes), then one run per point of the slots' Cartesian
// product and per seed, each with the resolved configuration whose JSON is the run's identity.
#include "config/grid.h"

#include <algorithm>
#include <tuple>

#include <nlohmann/json.hpp>

namespace mmsr::config_detail {
namespace {

// Parameters of [train] that do not change a run's result: kept out of its identity.
const std::set<std::string> kNotIdentity = {"threads", "eval_batch_size", "eval_item_block"};

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
  const TrainOptions t = train_options(train);
  if (!t.fast_dropout) j.erase("fast_dropout");
  if (t.precision == "fp32") j.erase("precision");
  if (t.processes == 1) j.erase("processes");
  if (t.adapt.empty())
    for (const char* k : {"adapt", "adapt_lr_scale", "adapt_milestones", "adapt_gamma"}) j.erase(k);
  return j;
}

// The original values of the keys whose defaults changed: a grid read for a store made before takes them where
// the file is silent (a key the file sets is an ordinary slot and wins).
std::vector<Slot> original_train_defaults(const std::vector<Slot>& given) {
  std::vector<Slot> out;
  for (const char* key : {"fast_dropout", "length_buckets"}) {
    if (std::any_of(given.begin(), given.end(), [&](const Slot& s) { return s.key == key; })) continue;
    Slot s;
    s.key = key;
    s.target = -2;
    s.values = {ParamValue(false)};
    out.push_back(std::move(s));
  }
  return out;
}

// A model's components and its slots (the global [train] slots first, the model's own replacing them).
struct ModelGrid {
  std::string name;
  const ComponentEntry* tower = nullptr;
  const ComponentEntry* backbone = nullptr;  // none: a model that ignores the user's sequence (a popularity baseline)
  std::vector<const ComponentEntry*> losses;
  std::vector<Slot> slots;
};

void check_model_keys(const Parser& p, const toml::table& m, const std::string& where) {
  static const std::vector<std::string> kModelKeys = {"name", "tower", "backbone", "loss", "train"};
  for (const auto& [key, node] : m) {
    std::string k(key.str());
    if (std::find(kModelKeys.begin(), kModelKeys.end(), k) == kModelKeys.end())
      p.fail_at(key.source(), where + ": unknown key '" + k + "'" + did_you_mean(k, kModelKeys) +
                                  "; known keys: " + join(kModelKeys, ", "));
  }
}

// loss = "name" | ["a", "b"] | { plugin = ... } | [[model.loss]] tables (in any mix).
void read_losses(const Parser& p, const toml::table& m, const std::string& mw, ModelGrid& g,
                 std::vector<Slot>& weights) {
  const toml::node* loss_node = m.get("loss");
  std::vector<const toml::node*> loss_nodes;
  if (loss_node && loss_node->is_array())
    for (const auto& n : *loss_node->as_array()) loss_nodes.push_back(&n);
  else if (loss_node) loss_nodes.push_back(loss_node);
  if (loss_node && loss_nodes.empty()) p.fail(loss_node, mw + ": loss is empty; name at least one loss plugin");
  for (size_t i = 0; i < loss_nodes.size(); ++i) {
    auto [e, s] = p.component(loss_nodes[i], PluginKind::Objective, mw + " loss #" + std::to_string(i + 1), int(i) + 1,
                              true, weights);
    g.losses.push_back(e);
    g.slots.insert(g.slots.end(), s.begin(), s.end());
  }
}

ModelGrid read_model(const Parser& p, const toml::node& model_node, const std::string& where,
                     const std::vector<Slot>& global_train, std::set<std::string>& model_names) {
  const toml::table& m = *model_node.as_table();
  check_model_keys(p, m, where);
  const toml::node* name_node = m.get("name");
  if (!name_node || !name_node->is_string())
    p.fail(&model_node, where + ": missing 'name = \"...\"' (the label in reports)");
  ModelGrid g;
  g.name = name_node->as_string()->get();
  if (!model_names.insert(g.name).second) p.fail(name_node, where + ": model name '" + g.name + "' is used twice");
  const std::string mw = "model '" + g.name + "'";
  g.slots = global_train;
  if (const toml::table* mt = p.sub_table(m, "train", "model")) {
    for (auto& s : p.read_table(*mt, train_section(), mw + " train", -2, true)) {
      g.slots.erase(std::remove_if(g.slots.begin(), g.slots.end(), [&](const Slot& x) { return x.key == s.key; }),
                    g.slots.end());
      g.slots.push_back(std::move(s));
    }
  }
  std::vector<Slot> weights;
  std::vector<Slot> tower_slots, backbone_slots;
  std::tie(g.tower, tower_slots) = p.component(m.get("tower"), PluginKind::ItemTower, mw + " tower", -1, false, weights);
  // No loss: a model with nothing to train. Whether the model can do without a backbone or a loss is checked
  // when it is built.
  if (m.get("backbone"))
    std::tie(g.backbone, backbone_slots) =
        p.component(m.get("backbone"), PluginKind::Backbone, mw + " backbone", 0, false, weights);
  g.slots.insert(g.slots.end(), tower_slots.begin(), tower_slots.end());
  g.slots.insert(g.slots.end(), backbone_slots.begin(), backbone_slots.end());
  read_losses(p, m, mw, g, weights);
  g.slots.insert(g.slots.end(), weights.begin(), weights.end());
  return g;
}

// The values of one point of the grid, by component, and its label ("tower.dim=64, train.lr=0.001").
struct GridPoint {
  std::map<std::string, ParamValue> train, tower, backbone;
  std::vector<std::map<std::string, ParamValue>> losses;
  std::vector<double> loss_weights;
  std::vector<std::string> label;
};

GridPoint grid_point(const ModelGrid& g, const std::vector<size_t>& choice) {
  GridPoint pt;
  pt.losses.resize(g.losses.size());
  pt.loss_weights.assign(g.losses.size(), 1.0);
  for (size_t s = 0; s < g.slots.size(); ++s) {
    const Slot& slot = g.slots[s];
    const ParamValue& v = slot.values[choice[s]];
    std::string prefix;
    if (slot.target == -2) pt.train[slot.key] = v, prefix = "train.";
    else if (slot.target == -1) pt.tower[slot.key] = v, prefix = "tower.";
    else if (slot.target == 0) pt.backbone[slot.key] = v, prefix = "backbone.";
    else if (slot.key == "weight" && !g.losses[size_t(slot.target - 1)]->params.find("weight"))
      pt.loss_weights[size_t(slot.target - 1)] = std::get<double>(v), prefix = "loss" + std::to_string(slot.target) + ".";
    else pt.losses[size_t(slot.target - 1)][slot.key] = v, prefix = "loss" + std::to_string(slot.target) + ".";
    if (slot.axis && slot.values.size() > 1) pt.label.push_back(prefix + slot.key + "=" + format_value(v));
  }
  return pt;
}

// The run of a grid point (without its seed): resolved parameters and the configuration's identity JSON.
RunSpec resolved_run(const ModelGrid& g, const GridPoint& pt) {
  RunSpec base;
  base.model_name = g.name;
  base.tower = {g.tower->name, ParamSet::resolve(g.tower->params, pt.tower), 1.0};
  if (g.backbone) base.backbone = {g.backbone->name, ParamSet::resolve(g.backbone->params, pt.backbone), 1.0};
  for (size_t i = 0; i < g.losses.size(); ++i)
    base.losses.push_back({g.losses[i]->name, ParamSet::resolve(g.losses[i]->params, pt.losses[i]), pt.loss_weights[i]});
  base.train = ParamSet::resolve(train_section(), pt.train);
  base.grid_label = join(pt.label, ", ");
  nlohmann::json cfg = {
      {"model", g.name},
      {"tower", {{"plugin", base.tower.plugin}, {"params", plugin_params_json(base.tower.params, &g.tower->params)}}},
      {"backbone",
       {{"plugin", base.backbone.plugin},
        {"params", plugin_params_json(base.backbone.params, g.backbone ? &g.backbone->params : nullptr)}}},
      {"train", train_identity(base.train)}};
  nlohmann::json lj = nlohmann::json::array();
  for (size_t i = 0; i < base.losses.size(); ++i) {
    const auto& l = base.losses[i];
    lj.push_back({{"plugin", l.plugin}, {"weight", l.weight}, {"params", plugin_params_json(l.params, &g.losses[i]->params)}});
  }
  cfg["losses"] = lj;
  base.config_json = cfg.dump();
  base.config_key = hash_hex(base.config_json);
  return base;
}

// Cartesian product over the slots' alternatives, in file order (the last slot varies fastest).
void expand(const ModelGrid& g, const std::vector<uint64_t>& seeds, std::vector<RunSpec>& runs) {
  std::vector<size_t> choice(g.slots.size(), 0);
  for (bool done = false; !done;) {
    const RunSpec base = resolved_run(g, grid_point(g, choice));
    for (uint64_t seed : seeds) {
      RunSpec r = base;
      r.seed = seed;
      runs.push_back(std::move(r));
    }
    // Advance the odometer.
    done = true;
    for (size_t s = g.slots.size(); s-- > 0;) {
      if (++choice[s] < g.slots[s].values.size()) {
        done = false;
        break;
      }
      choice[s] = 0;
    }
  }
}

}  // namespace

void read_models(const Parser& p, const toml::table& root, Experiment& ex, TrainDefaults defaults) {
  const toml::table* train = p.sub_table(root, "train", "");
  std::vector<Slot> global_train;
  if (train) global_train = p.read_table(*train, train_section(), "[train]", -2, true);
  if (defaults == TrainDefaults::original) {
    auto originals = original_train_defaults(global_train);
    global_train.insert(global_train.begin(), originals.begin(), originals.end());
  }
  const toml::node* models = root.get("model");
  if (!models || !models->is_array_of_tables())
    p.fail(models, "no models: add at least one [[model]] with tower, backbone and loss");
  std::set<std::string> model_names;
  size_t index = 0;
  for (const auto& model_node : *models->as_array()) {
    const std::string where = "[[model]] #" + std::to_string(++index);
    expand(read_model(p, model_node, where, global_train, model_names), ex.seeds, ex.runs);
  }
}

}  // namespace mmsr::config_detail

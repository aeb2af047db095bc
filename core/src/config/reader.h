// Reading the experiment file's TOML against parameter declarations: one value converted and checked, a table of
// keys (arrays become grid axes where a section takes them), sub-tables and plugin components. Every error names
// the file and line. Internal to core/src/config.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "mmsr/config.h"
#include "mmsr/errors.h"
#include "mmsr/text.h"

namespace mmsr::config_detail {

// One key of a model's configuration and its alternatives (several: a grid axis).
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

}  // namespace mmsr::config_detail

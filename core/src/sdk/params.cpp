#include "mmsr/sdk/params.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace mmsr {

std::string to_string(ParamType type) {
  switch (type) {
    case ParamType::Int: return "integer";
    case ParamType::Float: return "float";
    case ParamType::Bool: return "boolean";
    case ParamType::String: return "string";
    case ParamType::IntList: return "list of integers";
    case ParamType::StringList: return "list of strings";
  }
  return "?";
}

namespace {

std::string format_number(double v) {
  std::ostringstream out;
  out.precision(10);
  out << v;
  std::string s = out.str();
  if (s.find_first_of(".eE") == std::string::npos && std::isfinite(v)) s += ".0";
  return s;
}

nlohmann::json to_json_value(const ParamValue& value) {
  return std::visit([](const auto& v) { return nlohmann::json(v); }, value);
}

}  // namespace

std::string format_value(const ParamValue& value) {
  struct Visitor {
    std::string operator()(int64_t v) const { return std::to_string(v); }
    std::string operator()(double v) const { return format_number(v); }
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(const std::string& v) const { return "\"" + v + "\""; }
    std::string operator()(const std::vector<int64_t>& v) const {
      std::string s = "[";
      for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
      return s + "]";
    }
    std::string operator()(const std::vector<std::string>& v) const {
      std::string s = "[";
      for (size_t i = 0; i < v.size(); ++i) s += (i ? ", \"" : "\"") + v[i] + "\"";
      return s + "]";
    }
  };
  return std::visit(Visitor{}, value);
}

std::string ParamSpec::describe_range() const {
  std::string s;
  if (!choices.empty()) {
    s = "one of ";
    for (size_t i = 0; i < choices.size(); ++i) s += (i ? ", " : "") + ("\"" + choices[i] + "\"");
    return s;
  }
  auto num = [&](double v) {
    return (type == ParamType::Int || type == ParamType::IntList) ? std::to_string(int64_t(v))
                                                                   : format_number(v);
  };
  if (min && max) return "in [" + num(*min) + ", " + num(*max) + "]";
  if (min) return ">= " + num(*min);
  if (max) return "<= " + num(*max);
  return "";
}

namespace {

bool in_range(const ParamSpec& spec, double v) {
  return !(spec.min && v < *spec.min) && !(spec.max && v > *spec.max) && std::isfinite(v);
}

bool allowed(const ParamSpec& spec, const std::string& v) {
  return spec.choices.empty() || std::find(spec.choices.begin(), spec.choices.end(), v) != spec.choices.end();
}

// A number's problem: "" when it is in range.
std::string number_problem(const ParamSpec& spec, double v) {
  return in_range(spec, v) ? "" : "must be " + spec.describe_range();
}

std::string int_list_problem(const ParamSpec& spec, const std::vector<int64_t>& values) {
  for (int64_t v : values)
    if (!in_range(spec, double(v))) return "every element must be " + spec.describe_range();
  return "";
}

std::string string_list_problem(const ParamSpec& spec, const std::vector<std::string>& values) {
  for (const auto& v : values)
    if (!allowed(spec, v)) return "every element must be " + spec.describe_range();
  return "";
}

}  // namespace

std::string ParamSpec::check(const ParamValue& value) const {
  const std::string expected = "expected " + to_string(type);
  switch (type) {
    case ParamType::Int:
      if (!std::holds_alternative<int64_t>(value)) return expected;
      return number_problem(*this, double(std::get<int64_t>(value)));
    case ParamType::Float:
      if (std::holds_alternative<double>(value)) return number_problem(*this, std::get<double>(value));
      if (std::holds_alternative<int64_t>(value)) return number_problem(*this, double(std::get<int64_t>(value)));
      return expected;
    case ParamType::Bool:
      return std::holds_alternative<bool>(value) ? "" : expected;
    case ParamType::String:
      if (!std::holds_alternative<std::string>(value)) return expected;
      return allowed(*this, std::get<std::string>(value)) ? "" : "must be " + describe_range();
    case ParamType::IntList:
      if (!std::holds_alternative<std::vector<int64_t>>(value)) return expected;
      return int_list_problem(*this, std::get<std::vector<int64_t>>(value));
    case ParamType::StringList:
      if (!std::holds_alternative<std::vector<std::string>>(value)) return expected;
      return string_list_problem(*this, std::get<std::vector<std::string>>(value));
  }
  return "unknown type";
}

ParamDecl& ParamDecl::add(ParamSpec spec) {
  if (find(spec.name)) throw std::logic_error("parameter declared twice: " + spec.name);
  std::string problem = spec.check(spec.default_value);
  if (!problem.empty())
    throw std::logic_error("default of parameter '" + spec.name + "' is invalid: " + problem);
  specs_.push_back(std::move(spec));
  return *this;
}

ParamDecl& ParamDecl::add_unchecked(ParamSpec spec) {
  if (find(spec.name)) throw std::logic_error("parameter declared twice: " + spec.name);
  specs_.push_back(std::move(spec));
  return *this;
}

void ParamDecl::check_defaults() const {
  for (const auto& spec : specs_)
    if (std::string problem = spec.check(spec.default_value); !problem.empty())
      throw std::logic_error("default of parameter '" + spec.name + "' is invalid: " + problem);
}

ParamDecl& ParamDecl::added_after_release() {
  if (specs_.empty()) throw std::logic_error("added_after_release() needs a parameter declared before it");
  specs_.back().identity_omits_default = true;
  return *this;
}

ParamDecl& ParamDecl::integer(std::string name, int64_t def, std::optional<double> min,
                              std::optional<double> max, std::string doc) {
  return add({std::move(name), ParamType::Int, def, min, max, {}, std::move(doc)});
}
ParamDecl& ParamDecl::real(std::string name, double def, std::optional<double> min,
                           std::optional<double> max, std::string doc) {
  return add({std::move(name), ParamType::Float, def, min, max, {}, std::move(doc)});
}
ParamDecl& ParamDecl::boolean(std::string name, bool def, std::string doc) {
  return add({std::move(name), ParamType::Bool, def, {}, {}, {}, std::move(doc)});
}
ParamDecl& ParamDecl::choice(std::string name, std::string def, std::vector<std::string> choices,
                             std::string doc) {
  return add({std::move(name), ParamType::String, std::move(def), {}, {}, std::move(choices),
              std::move(doc)});
}
ParamDecl& ParamDecl::text(std::string name, std::string def, std::string doc) {
  return add({std::move(name), ParamType::String, std::move(def), {}, {}, {}, std::move(doc)});
}
ParamDecl& ParamDecl::integer_list(std::string name, std::vector<int64_t> def,
                                   std::optional<double> min, std::optional<double> max,
                                   std::string doc) {
  return add({std::move(name), ParamType::IntList, std::move(def), min, max, {}, std::move(doc)});
}
ParamDecl& ParamDecl::choice_list(std::string name, std::vector<std::string> def,
                                  std::vector<std::string> choices, std::string doc) {
  return add({std::move(name), ParamType::StringList, std::move(def), {}, {}, std::move(choices),
              std::move(doc)});
}

const ParamSpec* ParamDecl::find(const std::string& name) const {
  for (const auto& s : specs_)
    if (s.name == name) return &s;
  return nullptr;
}

std::vector<std::string> ParamDecl::names() const {
  std::vector<std::string> out;
  for (const auto& s : specs_) out.push_back(s.name);
  return out;
}

ParamSet ParamSet::resolve(const ParamDecl& decl, const std::map<std::string, ParamValue>& given) {
  std::map<std::string, ParamValue> values;
  for (const auto& spec : decl.specs()) {
    auto it = given.find(spec.name);
    ParamValue v = it != given.end() ? it->second : spec.default_value;
    // Floats given as integers are stored as floats so the record and the hash do not depend on "1" vs "1.0".
    if (spec.type == ParamType::Float && std::holds_alternative<int64_t>(v))
      v = double(std::get<int64_t>(v));
    values.emplace(spec.name, std::move(v));
  }
  return ParamSet(std::move(values));
}

const ParamValue& ParamSet::at(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) throw std::out_of_range("parameter not declared: " + name);
  return it->second;
}

int64_t ParamSet::get_int(const std::string& name) const { return std::get<int64_t>(at(name)); }
double ParamSet::get_double(const std::string& name) const {
  const auto& v = at(name);
  if (std::holds_alternative<int64_t>(v)) return double(std::get<int64_t>(v));
  return std::get<double>(v);
}
bool ParamSet::get_bool(const std::string& name) const { return std::get<bool>(at(name)); }
const std::string& ParamSet::get_string(const std::string& name) const {
  return std::get<std::string>(at(name));
}
const std::vector<int64_t>& ParamSet::get_int_list(const std::string& name) const {
  return std::get<std::vector<int64_t>>(at(name));
}
const std::vector<std::string>& ParamSet::get_string_list(const std::string& name) const {
  return std::get<std::vector<std::string>>(at(name));
}

std::string ParamSet::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : values_) j[k] = to_json_value(v);
  return j.dump();
}

}  // namespace mmsr

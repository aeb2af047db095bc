// Typed parameters: a plugin (or a section of the experiment file) keeps its options in a plain struct, and binds
// each field once to its parameter's name, range and doc. The default is the field's value in a default-constructed
// struct, so it is written once, next to the field; the declaration (ParamDecl) that parsing, validation, `mmsr
// plugins show`, the docs' tables and a run's identity use is made from the bindings, and so is the struct a
// factory receives. The same idea as dmlc's DMLC_DECLARE_FIELD and LibTorch's TORCH_ARG.
//
//   struct MyOptions { int64_t layers = 2; double dropout = 0.1; bool gelu = false; };
//   ParamBinding<MyOptions> my_params() {
//     ParamBinding<MyOptions> p;
//     p.field("layers", &MyOptions::layers, "number of blocks").range(1, 48);
//     p.field("dropout", &MyOptions::dropout, "dropout").range(0.0, 0.99);
//     p.choice("activation", &MyOptions::gelu, {{"relu", false}, {"gelu", true}}, "feed-forward activation");
//     return p;
//   }
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "mmsr/sdk/params.h"

namespace mmsr {

namespace options_detail {

template <typename T>
constexpr ParamType param_type() {
  if constexpr (std::is_same_v<T, bool>) return ParamType::Bool;
  else if constexpr (std::is_integral_v<T>) return ParamType::Int;
  else if constexpr (std::is_floating_point_v<T>) return ParamType::Float;
  else if constexpr (std::is_same_v<T, std::string>) return ParamType::String;
  else if constexpr (std::is_same_v<T, std::vector<int64_t>>) return ParamType::IntList;
  else if constexpr (std::is_same_v<T, std::vector<std::string>>) return ParamType::StringList;
  else static_assert(sizeof(T) == 0, "a bound field is bool, an integer, a float, a string, or a list of those");
}

template <typename T>
ParamValue to_value(const T& v) {
  if constexpr (std::is_same_v<T, bool>) return v;
  else if constexpr (std::is_integral_v<T>) return int64_t(v);
  else if constexpr (std::is_floating_point_v<T>) return double(v);
  else return v;
}

template <typename T>
T from_set(const ParamSet& p, const std::string& name) {
  if constexpr (std::is_same_v<T, bool>) return p.get_bool(name);
  else if constexpr (std::is_integral_v<T>) return T(p.get_int(name));
  else if constexpr (std::is_floating_point_v<T>) return T(p.get_double(name));
  else if constexpr (std::is_same_v<T, std::string>) return p.get_string(name);
  else if constexpr (std::is_same_v<T, std::vector<int64_t>>) return p.get_int_list(name);
  else return p.get_string_list(name);
}

}  // namespace options_detail

template <typename Options>
class ParamBinding {
 public:
  using Reader = std::function<void(const ParamSet&, Options&)>;

  // Further properties of the field bound last.
  class Field {
   public:
    Field(ParamDecl& decl, size_t index) : decl_(decl), index_(index) {}
    Field& range(double lo, double hi) { return set([&](ParamSpec& s) { s.min = lo, s.max = hi; }); }
    Field& at_least(double lo) { return set([&](ParamSpec& s) { s.min = lo; }); }
    Field& one_of(std::vector<std::string> choices) { return set([&](ParamSpec& s) { s.choices = std::move(choices); }); }
    // Added to a released plugin with a default that computes what it computed before: left out of a run's
    // identity while it holds that default (docs/plugins.md).
    Field& added_after_release() { return set([](ParamSpec& s) { s.identity_omits_default = true; }); }

   private:
    template <typename Change>
    Field& set(Change&& change) {
      change(decl_.spec_at(index_));
      return *this;
    }
    ParamDecl& decl_;
    size_t index_;
  };

  // Binds `member` (of Options, or of a base of it) to the parameter `name`; its default is the member's value in
  // Options{}.
  template <typename T, typename Owner>
  Field field(std::string name, T Owner::*member, std::string doc) {
    static_assert(std::is_base_of_v<Owner, Options>, "the member belongs to another struct");
    const Options defaults{};
    decl_.add_unchecked({name, options_detail::param_type<T>(), options_detail::to_value(defaults.*member), {}, {}, {},
                         std::move(doc)});
    readers_.push_back([name, member](const ParamSet& p, Options& o) {
      if (p.has(name)) o.*member = options_detail::from_set<T>(p, name);
    });
    return Field(decl_, decl_.specs().size() - 1);
  }

  // A string parameter whose values stand for values of the member (e.g. "pre" / "post" for a bool); the default
  // is the name of the member's default value.
  template <typename T, typename Owner>
  Field choice(std::string name, T Owner::*member, std::vector<std::pair<std::string, T>> values, std::string doc) {
    static_assert(std::is_base_of_v<Owner, Options>, "the member belongs to another struct");
    const Options defaults{};
    std::vector<std::string> names;
    std::string default_name;
    for (const auto& [n, v] : values) {
      names.push_back(n);
      if (v == defaults.*member && default_name.empty()) default_name = n;
    }
    if (default_name.empty()) throw std::logic_error("parameter '" + name + "': the field's default has no name");
    decl_.add_unchecked({name, ParamType::String, default_name, {}, {}, names, std::move(doc)});
    readers_.push_back([name, member, values](const ParamSet& p, Options& o) {
      if (!p.has(name)) return;
      for (const auto& [n, v] : values)
        if (n == p.get_string(name)) o.*member = v;
    });
    return Field(decl_, decl_.specs().size() - 1);
  }

  // Every parameter of a nested options struct (e.g. the SDK's transformer) as parameters of this one.
  template <typename Nested>
  void include(Nested Options::*member, const ParamBinding<Nested>& nested) {
    const ParamDecl nested_decl = nested.decl();
    for (const auto& spec : nested_decl.specs()) decl_.add_unchecked(spec);
    for (const auto& read : nested.readers())
      readers_.push_back([member, read](const ParamSet& p, Options& o) { read(p, o.*member); });
  }

  // Another default for a parameter bound before (an included one: BERT4Rec's transformer takes RecBole's values).
  void default_of(const std::string& name, ParamValue value) {
    for (size_t i = 0; i < decl_.specs().size(); ++i)
      if (decl_.specs()[i].name == name) {
        decl_.spec_at(i).default_value = std::move(value);
        return;
      }
    throw std::logic_error("default_of: no parameter '" + name + "'");
  }

  // The declaration; std::logic_error when a default is outside its own range (a bug in the binding).
  ParamDecl decl() const {
    decl_.check_defaults();
    return decl_;
  }
  // The struct of resolved, validated values (a parameter the set lacks keeps its default).
  Options read(const ParamSet& values) const {
    Options o{};
    for (const auto& r : readers_) r(values, o);
    return o;
  }
  // Reads into an existing struct, leaving fields that are not parameters as they are.
  void read_into(const ParamSet& values, Options& o) const {
    for (const auto& r : readers_) r(values, o);
  }
  const std::vector<Reader>& readers() const { return readers_; }

 private:
  ParamDecl decl_;
  std::vector<Reader> readers_;
};

}  // namespace mmsr

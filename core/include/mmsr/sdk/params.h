// Self-describing parameters. A plugin (and each section of the experiment file) declares its
// parameters once: type, default, range or allowed values, and a one-line doc. Parsing, validation,
// `mmsr plugins show`, and the run record in the store all come from that one declaration.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace mmsr {

enum class ParamType { Int, Float, Bool, String, IntList, StringList };

std::string to_string(ParamType type);

using ParamValue =
    std::variant<int64_t, double, bool, std::string, std::vector<int64_t>, std::vector<std::string>>;

// Renders a value the way TOML would write it (used in docs, errors and the run record).
std::string format_value(const ParamValue& value);

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::Int;
  ParamValue default_value;
  std::optional<double> min;  // inclusive bounds for numbers (and for list elements)
  std::optional<double> max;
  std::vector<std::string> choices;  // allowed values for strings (and string-list elements)
  std::string doc;
  // Left out of a run's identity while it holds its default: set on a parameter added to a released plugin whose
  // default keeps the old computation, so that runs stored before the parameter existed keep their identity.
  bool identity_omits_default = false;

  bool is_list() const { return type == ParamType::IntList || type == ParamType::StringList; }
  // Empty string when valid; otherwise a sentence saying what is wrong and what is allowed.
  std::string check(const ParamValue& value) const;
  std::string describe_range() const;
};

class ParamDecl {
 public:
  ParamDecl& integer(std::string name, int64_t def, std::optional<double> min,
                     std::optional<double> max, std::string doc);
  ParamDecl& real(std::string name, double def, std::optional<double> min,
                  std::optional<double> max, std::string doc);
  ParamDecl& boolean(std::string name, bool def, std::string doc);
  ParamDecl& choice(std::string name, std::string def, std::vector<std::string> choices,
                    std::string doc);
  ParamDecl& text(std::string name, std::string def, std::string doc);
  ParamDecl& integer_list(std::string name, std::vector<int64_t> def, std::optional<double> min,
                          std::optional<double> max, std::string doc);
  ParamDecl& choice_list(std::string name, std::vector<std::string> def,
                         std::vector<std::string> choices, std::string doc);
  // A list of free strings (names of fields, files, ...).
  ParamDecl& string_list(std::string name, std::vector<std::string> def, std::string doc) {
    return choice_list(std::move(name), std::move(def), {}, std::move(doc));
  }

  // Marks the parameter declared last as added after release (ParamSpec::identity_omits_default).
  ParamDecl& added_after_release();

  const std::vector<ParamSpec>& specs() const { return specs_; }
  const ParamSpec* find(const std::string& name) const;
  std::vector<std::string> names() const;

  // For ParamBinding (mmsr/sdk/options.h), whose fields get their range after they are added: a spec added
  // without checking its default, a spec changed afterwards, and the check of every default (std::logic_error).
  ParamDecl& add_unchecked(ParamSpec spec);
  ParamSpec& spec_at(size_t index) { return specs_.at(index); }
  void check_defaults() const;

 private:
  ParamDecl& add(ParamSpec spec);
  std::vector<ParamSpec> specs_;
};

// Resolved parameter values: every declared parameter present, validated.
class ParamSet {
 public:
  ParamSet() = default;
  explicit ParamSet(std::map<std::string, ParamValue> values) : values_(std::move(values)) {}

  // Defaults of a declaration, overridden by the given values (which must already be valid).
  static ParamSet resolve(const ParamDecl& decl, const std::map<std::string, ParamValue>& given);

  int64_t get_int(const std::string& name) const;
  double get_double(const std::string& name) const;  // accepts integer values too
  bool get_bool(const std::string& name) const;
  const std::string& get_string(const std::string& name) const;
  const std::vector<int64_t>& get_int_list(const std::string& name) const;
  const std::vector<std::string>& get_string_list(const std::string& name) const;
  bool has(const std::string& name) const { return values_.count(name) > 0; }

  const std::map<std::string, ParamValue>& values() const { return values_; }
  // Canonical JSON object (sorted keys): stored with runs and hashed into their identity.
  std::string to_json() const;

 private:
  const ParamValue& at(const std::string& name) const;
  std::map<std::string, ParamValue> values_;
};

}  // namespace mmsr

// The host-owned registrar a plugin's register_all fills: one typed entry per extension point.
// The same registration works when a plugin is linked statically (tests, sanitizers).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mmsr/sdk/options.h"

namespace mmsr {

// Declared, not defined, here: the host's non-torch code (config, registry) includes this header and must not
// pay for LibTorch's headers, which BuildContext (mmsr/sdk/context.h) brings.
struct BuildContext;
class ItemTower;
class SequenceEncoder;
class Objective;

enum class PluginKind { Backbone, ItemTower, Objective };
std::string to_string(PluginKind kind);

using BackboneFactory =
    std::function<std::shared_ptr<SequenceEncoder>(const ParamSet&, const BuildContext&)>;
using ItemTowerFactory =
    std::function<std::shared_ptr<ItemTower>(const ParamSet&, const BuildContext&)>;
using ObjectiveFactory =
    std::function<std::shared_ptr<Objective>(const ParamSet&, const BuildContext&)>;

struct ComponentEntry {
  PluginKind kind = PluginKind::Backbone;
  std::string name;
  std::string description;
  ParamDecl params;
  BackboneFactory make_backbone;
  ItemTowerFactory make_item_tower;
  ObjectiveFactory make_objective;
  // Filled by the host: where the entry came from.
  std::string library;
  std::string library_version;
};

// A factory of an options struct; named through a nested type so that a lambda converts to it (the options type
// is deduced from the binding, not from the lambda).
template <typename Options, typename Made>
struct TypedFactory {
  using type = std::function<std::shared_ptr<Made>(const Options&, const BuildContext&)>;
};

class Registrar {
 public:
  virtual ~Registrar() = default;
  virtual void add(ComponentEntry entry) = 0;

  void add_backbone(std::string name, std::string description, ParamDecl params,
                    BackboneFactory factory);
  void add_item_tower(std::string name, std::string description, ParamDecl params,
                      ItemTowerFactory factory);
  void add_objective(std::string name, std::string description, ParamDecl params,
                     ObjectiveFactory factory);

  // The same with typed parameters (mmsr/sdk/options.h): the factory receives the plugin's options struct.
  template <typename Options>
  void add_backbone(std::string name, std::string description, const ParamBinding<Options>& params,
                    typename TypedFactory<Options, SequenceEncoder>::type make) {
    add_backbone(std::move(name), std::move(description), params.decl(), typed(params, std::move(make)));
  }
  template <typename Options>
  void add_item_tower(std::string name, std::string description, const ParamBinding<Options>& params,
                      typename TypedFactory<Options, ItemTower>::type make) {
    add_item_tower(std::move(name), std::move(description), params.decl(), typed(params, std::move(make)));
  }
  template <typename Options>
  void add_objective(std::string name, std::string description, const ParamBinding<Options>& params,
                     typename TypedFactory<Options, Objective>::type make) {
    add_objective(std::move(name), std::move(description), params.decl(), typed(params, std::move(make)));
  }

 private:
  template <typename Options, typename Made>
  static auto typed(const ParamBinding<Options>& params, std::function<std::shared_ptr<Made>(const Options&, const BuildContext&)> make) {
    return [params, make = std::move(make)](const ParamSet& p, const BuildContext& ctx) {
      return make(params.read(p), ctx);
    };
  }
};

}  // namespace mmsr

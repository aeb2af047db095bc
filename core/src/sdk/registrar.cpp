#include "mmsr/sdk/registrar.h"

namespace mmsr {

std::string to_string(PluginKind kind) {
  switch (kind) {
    case PluginKind::Backbone: return "backbone";
    case PluginKind::ItemTower: return "item tower";
    case PluginKind::Objective: return "loss";
  }
  return "?";
}

namespace {
ComponentEntry entry(PluginKind kind, std::string name, std::string description, ParamDecl params) {
  ComponentEntry e;
  e.kind = kind;
  e.name = std::move(name);
  e.description = std::move(description);
  e.params = std::move(params);
  return e;
}
}  // namespace

void Registrar::add_backbone(std::string name, std::string description, ParamDecl params,
                             BackboneFactory factory) {
  ComponentEntry e = entry(PluginKind::Backbone, std::move(name), std::move(description), std::move(params));
  e.make_backbone = std::move(factory);
  add(std::move(e));
}

void Registrar::add_item_tower(std::string name, std::string description, ParamDecl params,
                               ItemTowerFactory factory) {
  ComponentEntry e = entry(PluginKind::ItemTower, std::move(name), std::move(description), std::move(params));
  e.make_item_tower = std::move(factory);
  add(std::move(e));
}

void Registrar::add_objective(std::string name, std::string description, ParamDecl params,
                              ObjectiveFactory factory) {
  ComponentEntry e = entry(PluginKind::Objective, std::move(name), std::move(description), std::move(params));
  e.make_objective = std::move(factory);
  add(std::move(e));
}

}  // namespace mmsr

// The experiment file: TOML syntax, sections, keys, types, ranges, plugin names and parameters, grids, also_evaluate
// and modalities, against a registry that declares components shaped like the real plugins.
#include <string>

#include "fuzz_support.h"
#include "mmsr/config.h"
#include "mmsr/registry.h"

namespace {

mmsr::PluginRegistry& registry() {
  static mmsr::PluginRegistry* r = [] {
    auto* reg = new mmsr::PluginRegistry();
    using mmsr::ParamDecl;
    reg->add_item_tower("id", "ids", ParamDecl().integer("dim", 64, 1, 4096, "dimension"), nullptr);
    reg->add_item_tower("modality", "features", ParamDecl().integer("dim", 64, 1, 4096, "dimension").text("modality", "text", "modality"), nullptr);
    reg->add_backbone("sasrec", "self-attention",
                      ParamDecl().integer("layers", 2, 1, 12, "layers").real("dropout", 0.2, 0.0, 0.99, "dropout"),
                      nullptr);
    reg->add_objective("softmax", "full softmax", ParamDecl(), nullptr);
    reg->add_objective("bce", "sampled", ParamDecl().integer("negatives", 1, 1, 1000, "negatives"), nullptr);
    return reg;
  }();
  return *r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mmsr;
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto& r = registry();
  MMSR_FUZZ_EXPECT_INPUT_ERRORS(parse_experiment(
      text, "fuzz.toml", "/nonexistent", [&](PluginKind k, const std::string& n) { return r.find(k, n); },
      [&](PluginKind k) { return r.names(k); }));
}

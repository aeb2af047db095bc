// What a run read, recorded with it: each input file's content hash and, for a feature file, the provenance its
// extractor wrote beside it (which encoder, pooled or tokens, from which text). A feature file without a sidecar is
// allowed and recorded as "provenance unknown" (MMRec #29, #33: users of feature files ask which encoder made them).
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "mmsr/errors.h"
#include "mmsr/input_files.h"
#include "mmsr/load.h"
#include "xxh3_file.h"

namespace mmsr {
namespace {

// The xxh3 of a file's whole content.
std::string content_xxh3(const std::string& path) {
  data_hash::State state = data_hash::new_state();
  if (!data_hash::add_file(state.get(), path)) throw InputError(path + ": cannot read it to record its content hash");
  return data_hash::hex_digest(state.get());
}

nlohmann::json describe_file(const std::string& role, const std::string& name, const std::string& path) {
  nlohmann::json j = {{"role", role}, {"file", path}, {"bytes", std::filesystem::file_size(path)},
                      {"xxh3", content_xxh3(path)}};
  if (!name.empty()) j["name"] = name;
  return j;
}

}  // namespace

std::string feature_provenance(const std::string& feature_file) {
  const std::string sidecar = feature_file + ".provenance.json";
  if (!std::filesystem::exists(sidecar)) return "";
  require_readable_file(sidecar, "provenance sidecar");
  std::ifstream in(sidecar, std::ios::binary);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(sidecar + ": not valid JSON (" + excerpt(e.what(), 120) +
                     "); write it again with the extractor, or remove it (the features are then of unknown provenance)");
  }
  if (!j.is_object()) throw InputError(sidecar + ": expected a JSON object describing " + feature_file);
  return j.dump();
}

std::string input_files_json(const Experiment& ex) {
  nlohmann::json inputs = nlohmann::json::array();
  for (const auto& file : interaction_files(ex)) inputs.push_back(describe_file("interactions", "", file));
  for (const auto& spec : ex.modalities) {
    nlohmann::json j = describe_file("modality", spec.name, spec.path);
    const std::string provenance = feature_provenance(spec.path);
    j["provenance"] = provenance.empty() ? nlohmann::json("unknown") : nlohmann::json::parse(provenance);
    inputs.push_back(j);
    if (!spec.mask_path.empty()) inputs.push_back(describe_file("mask", spec.name, spec.mask_path));
  }
  return inputs.dump();
}

}  // namespace mmsr

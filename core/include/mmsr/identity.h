// What identifies a run in a store: everything that decides its result (the configuration's JSON, the seed, the
// protocol, the dataset, the plugins' versions) and the numerics of the build (LibTorch, CUDA, compiler). Not the
// SDK's layout version: it says whether a plugin can be loaded at all, not what it computes, and a new mmsr
// release that bumps it must not turn every stored run into a different one.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mmsr {

// The build fingerprint ("sdk=4;torch=2.9.1;...") without its SDK segment.
std::string identity_fingerprint(const std::string& build_fingerprint);

std::string run_identity(const std::string& config_json, uint64_t seed, const std::string& protocol_hash,
                         const std::string& dataset_checksum, const std::string& plugins_json,
                         const std::string& build_fingerprint);

// A record of the same training under an [[also_evaluate]] protocol.
std::string variant_identity(const std::string& main_identity, const std::string& protocol_hash);

// A stored run, as the store's columns hold it.
struct StoredRun {
  std::string id, run_key, status, config, config_key, protocol_hash, dataset_checksum, plugins, fingerprint;
  uint64_t seed = 0;
};

// Stores written before schema 4 keyed runs with the whole build fingerprint. Returns id -> current identity for
// every run whose key that formula made (main records, and [[also_evaluate]] records through their main record);
// runs whose key is already current, or that match no known formula, are left out.
std::map<std::string, std::string> current_identities(const std::vector<StoredRun>& runs);

}  // namespace mmsr

#include "mmsr/identity.h"

#include <tuple>
#include <utility>

#include "mmsr/text.h"

namespace mmsr {
namespace {

std::string keyed(const std::string& config_json, uint64_t seed, const std::string& protocol_hash,
                  const std::string& dataset_checksum, const std::string& plugins_json, const std::string& fingerprint) {
  return Hasher()
      .add(config_json)
      .add_u64(seed)
      .add(protocol_hash)
      .add(dataset_checksum)
      .add(plugins_json)
      .add(fingerprint)
      .hex();
}

}  // namespace

std::string identity_fingerprint(const std::string& build_fingerprint) {
  if (build_fingerprint.rfind("sdk=", 0) != 0) return build_fingerprint;
  const size_t end = build_fingerprint.find(';');
  return end == std::string::npos ? "" : build_fingerprint.substr(end + 1);
}

std::string run_identity(const std::string& config_json, uint64_t seed, const std::string& protocol_hash,
                         const std::string& dataset_checksum, const std::string& plugins_json,
                         const std::string& build_fingerprint) {
  return keyed(config_json, seed, protocol_hash, dataset_checksum, plugins_json,
               identity_fingerprint(build_fingerprint));
}

std::string variant_identity(const std::string& main_identity, const std::string& protocol_hash) {
  return Hasher().add(main_identity).add(protocol_hash).hex();
}

std::map<std::string, std::string> current_identities(const std::vector<StoredRun>& runs) {
  std::map<std::string, std::string> out;
  // Main records: the old formula hashed the whole fingerprint.
  using Group = std::tuple<std::string, uint64_t, std::string>;  // configuration, seed, dataset
  std::map<Group, std::vector<std::pair<std::string, std::string>>> mains;  // old key, current key
  for (const auto& r : runs) {
    if (identity_fingerprint(r.fingerprint) == r.fingerprint) continue;  // no SDK segment: nothing changes
    const std::string old_key = keyed(r.config, r.seed, r.protocol_hash, r.dataset_checksum, r.plugins, r.fingerprint);
    if (old_key != r.run_key) continue;
    const std::string now = run_identity(r.config, r.seed, r.protocol_hash, r.dataset_checksum, r.plugins, r.fingerprint);
    out[r.id] = now;
    mains[{r.config_key, r.seed, r.dataset_checksum}].emplace_back(old_key, now);
  }
  // [[also_evaluate]] records: hash(the main record's key, their protocol), the main record being a run of the same
  // configuration, seed and data.
  for (const auto& r : runs) {
    if (out.count(r.id)) continue;
    auto group = mains.find({r.config_key, r.seed, r.dataset_checksum});
    if (group == mains.end()) continue;
    for (const auto& [old_main, new_main] : group->second)
      if (variant_identity(old_main, r.protocol_hash) == r.run_key) {
        out[r.id] = variant_identity(new_main, r.protocol_hash);
        break;
      }
  }
  return out;
}

}  // namespace mmsr

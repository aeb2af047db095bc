// Streaming a file's whole content into an XXH3 state: the prepared-dataset cache's key and the content hash each run
// records of its input files (provenance.cpp) read files the same way. Internal to core/src/data/.
#pragma once

#include <xxhash.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace mmsr::data_hash {

using State = std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)>;

inline State new_state() {
  State state(XXH3_createState(), XXH3_freeState);
  XXH3_64bits_reset(state.get());
  return state;
}

// Adds the file's bytes to the state; false when it cannot be opened or read to its end.
inline bool add_file(XXH3_state_t* state, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::vector<char> buffer(size_t(1) << 20);
  while (in) {
    in.read(buffer.data(), std::streamsize(buffer.size()));
    XXH3_64bits_update(state, buffer.data(), size_t(in.gcount()));
  }
  return in.eof();
}

inline std::string hex_digest(XXH3_state_t* state) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(XXH3_64bits_digest(state)));
  return hex;
}

}  // namespace mmsr::data_hash

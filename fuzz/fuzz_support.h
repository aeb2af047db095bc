// What the fuzz targets share: the input written to a private file (the readers take paths, as mmsr does), a small
// dataset to align items against, and the rule: an InputError is the expected answer to bad bytes; any other
// exception, a crash, a leak or undefined behaviour is a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "mmsr/dataset.h"
#include "mmsr/errors.h"
#include "mmsr/readers.h"

namespace mmsr::fuzz {

inline std::string input_file(const uint8_t* data, size_t size, const char* suffix) {
  // One file per fuzzing process, removed when it exits normally (a crash leaves it beside the finding).
  struct Owned {
    std::string path;
    ~Owned() { std::remove(path.c_str()); }
  };
  static const Owned owned{"/tmp/mmsr-fuzz-" + std::to_string(getpid()) + suffix};
  const std::string& path = owned.path;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
  return path;
}

// 20 users over items with tokens "0".."29" (ids 1..30): what id maps and negatives files refer to.
inline const Dataset& small_dataset() {
  static const Dataset d = [] {
    RawSequences raw;
    raw.source = "fuzz";
    for (int i = 0; i < 30; ++i) raw.item_tokens.push_back(std::to_string(i));
    for (int u = 0; u < 20; ++u) {
      raw.user_tokens.push_back(std::to_string(u));
      std::vector<int32_t> seq;
      for (int k = 0; k < 6; ++k) seq.push_back(int32_t((u * 7 + k * 3) % 30));
      raw.sequences.push_back(seq);
    }
    PreprocessOptions opt;
    return preprocess(raw, opt, "fuzz");
  }();
  return d;
}

}  // namespace mmsr::fuzz

#define MMSR_FUZZ_EXPECT_INPUT_ERRORS(...) \
  try {                                    \
    __VA_ARGS__;                           \
  } catch (const mmsr::InputError&) {      \
  }                                        \
  return 0

// One libFuzzer target per data reader, chosen at compile time (MMSR_FUZZ_READER): S3-Rec lines, SASRec pairs,
// RecBole .inter and .item files, S3-Rec attribute JSON, sampled-negative files, MMRec .inter files, and the two
// readers of pre-split file sets (UniSRec, Amazon 2023), whose input is cut into its files at "\n===\n".
#include <string>
#include <vector>

#include "fuzz_support.h"

namespace {

// The fuzz input as a set of split files "<prefix><suffix>", one part each (missing parts are empty files).
std::string split_files(const uint8_t* data, size_t size, const std::vector<std::string>& suffixes) {
  const std::string input(reinterpret_cast<const char*>(data), size), cut = "\n===\n";
  const std::string prefix = "/tmp/mmsr-fuzz-" + std::to_string(getpid()) + "-set";
  struct Owned {  // the files go when the process exits normally (a crash leaves them beside the finding)
    std::vector<std::string> paths;
    ~Owned() {
      for (const auto& p : paths) std::remove(p.c_str());
    }
  };
  static Owned owned;
  if (owned.paths.empty())
    for (const auto& suffix : suffixes) owned.paths.push_back(prefix + suffix);
  size_t at = 0;
  for (const auto& suffix : suffixes) {
    const size_t end = input.find(cut, at);
    const std::string part = at > input.size() ? "" : input.substr(at, end == std::string::npos ? std::string::npos : end - at);
    FILE* f = std::fopen((prefix + suffix).c_str(), "wb");
    std::fwrite(part.data(), 1, part.size(), f);
    std::fclose(f);
    at = end == std::string::npos ? input.size() + 1 : end + cut.size();
  }
  return prefix;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mmsr;
#if MMSR_FUZZ_READER == 1
  MMSR_FUZZ_EXPECT_INPUT_ERRORS(read_s3rec(fuzz::input_file(data, size, ".txt")));
#elif MMSR_FUZZ_READER == 2
  MMSR_FUZZ_EXPECT_INPUT_ERRORS(read_user_item_pairs(fuzz::input_file(data, size, ".txt")));
#elif MMSR_FUZZ_READER == 3
  MMSR_FUZZ_EXPECT_INPUT_ERRORS(read_recbole_inter(fuzz::input_file(data, size, ".inter")));
#elif MMSR_FUZZ_READER == 4
  MMSR_FUZZ_EXPECT_INPUT_ERRORS({
    Dataset d = fuzz::small_dataset();
    attach_item_fields(d, read_recbole_items(fuzz::input_file(data, size, ".item")));
  });
#elif MMSR_FUZZ_READER == 5
  MMSR_FUZZ_EXPECT_INPUT_ERRORS({
    Dataset d = fuzz::small_dataset();
    attach_item_attributes_json(d, fuzz::input_file(data, size, ".json"), "attributes");
  });
#elif MMSR_FUZZ_READER == 6
  MMSR_FUZZ_EXPECT_INPUT_ERRORS(read_negatives(fuzz::input_file(data, size, ".txt"), fuzz::small_dataset(), 3));
#elif MMSR_FUZZ_READER == 7
  MMSR_FUZZ_EXPECT_INPUT_ERRORS(read_mmrec(fuzz::input_file(data, size, ".inter")));
#elif MMSR_FUZZ_READER == 8
  MMSR_FUZZ_EXPECT_INPUT_ERRORS(read_unisrec(split_files(data, size, {".test.inter", ".valid.inter", ".train.inter"})));
#elif MMSR_FUZZ_READER == 9
  MMSR_FUZZ_EXPECT_INPUT_ERRORS(read_amazon2023(split_files(data, size, {".train.csv", ".valid.csv", ".test.csv"})));
#else
#error "MMSR_FUZZ_READER must name a reader"
#endif
}

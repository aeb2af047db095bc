// The .npy parser and the feature table behind [[modality]]: header, dtype, shape, payload size, id alignment and
// the finiteness check, on arbitrary bytes.
#include <vector>

#include "fuzz_support.h"
#include "mmsr/features.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mmsr;
  ModalitySpec spec;
  spec.name = "text";
  spec.path = fuzz::input_file(data, size, ".npy");
  spec.missing = size % 2 ? "zero" : "error";
  MMSR_FUZZ_EXPECT_INPUT_ERRORS({
    FeatureTable t = FeatureTable::open(spec, fuzz::small_dataset());
    std::vector<int64_t> ids = {0, 1, 2, 30};
    std::vector<float> out(ids.size() * size_t(t.tokens() * t.dim()));
    std::vector<uint8_t> mask(ids.size() * size_t(t.tokens()));
    t.gather(ids.data(), ids.size(), out.data(), mask.data());
  });
}

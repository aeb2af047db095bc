// One libFuzzer target per data reader, chosen at compile time (MMSR_FUZZ_READER): S3-Rec lines, SASRec pairs,
// RecBole .inter and .item files, S3-Rec attribute JSON, and sampled-negative files.
#include "fuzz_support.h"

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
#else
#error "MMSR_FUZZ_READER must name a reader"
#endif
}

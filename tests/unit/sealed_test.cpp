// Sealed files (mmsr/sealed.h): written piece by piece as a payload is produced, they are the bytes seal() makes of
// the whole payload, and any damage to them is caught by unseal().
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <string>

#include "mmsr/sealed.h"

namespace mmsr {
namespace {

TEST(Sealed, WrittenInPiecesTheyAreTheWholePayloadsSeal) {
  std::string payload;
  for (int i = 0; i < 100000; ++i) payload.push_back(char(i * 31 % 251));
  std::ostringstream out;
  SealedWriter writer(out);
  for (size_t at = 0; at < payload.size(); at += 7919)
    ASSERT_TRUE(writer.write(payload.data() + at, std::min<size_t>(7919, payload.size() - at)));
  ASSERT_TRUE(writer.finish());
  const std::string bytes = out.str();
  EXPECT_EQ(bytes, seal(payload));
  ASSERT_TRUE(unseal(bytes).has_value());
  EXPECT_EQ(*unseal(bytes), payload);
  std::string damaged = bytes;
  damaged[5000] ^= 1;
  EXPECT_FALSE(unseal(damaged).has_value());
  EXPECT_FALSE(unseal(bytes.substr(0, bytes.size() - 1)).has_value());
}

TEST(Sealed, AFailedStreamIsReported) {
  std::ostringstream out;
  out.setstate(std::ios::badbit);
  SealedWriter writer(out);
  EXPECT_FALSE(writer.write("abc", 3));
  EXPECT_FALSE(writer.finish());
}

}  // namespace
}  // namespace mmsr

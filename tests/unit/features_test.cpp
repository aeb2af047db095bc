// The feature store: .npy (float32, float16, 2-D and 3-D, with a token mask) and raw float32 files, id maps,
// and a clear refusal for every malformed input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

#include "mmsr/errors.h"
#include "mmsr/features.h"
#include "mmsr/readers.h"
#include "test_support.h"

namespace mmsr {
namespace {

using test::TempDir;

using test::npy;

std::string floats(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

std::string halves(const std::vector<uint16_t>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(uint16_t));
}

// Items with tokens "0", "1", "2" (ids 1..3), so id_map = "token" reads rows 0..2.
Dataset three_items() {
  Dataset d;
  d.item_tokens = {"<pad>", "2", "0", "1"};
  d.user_tokens = {"u"};
  d.sequences = {{1, 2, 3}};
  return d;
}

ModalitySpec spec(const std::string& path) {
  ModalitySpec s;
  s.name = "text";
  s.path = path;
  return s;
}

std::string error_of(const std::function<void()>& f) { return test::input_error_of(f); }

// An MMRec folder: the interactions (out of time order in the file) and image_feat.npy whose row is the 0-based
// itemID; read as sequences, the features line up with id_map = "token".
TEST(Features, AnMMRecFolderReadsAsSequencesWithItsFeaturesAligned) {
  TempDir t;
  t.file("baby.inter",
         "userID\titemID\trating\ttimestamp\tx_label\n"
         "0\t2\t5\t300\t0\n0\t0\t4\t100\t0\n1\t1\t5\t50\t0\n0\t1\t3\t200\t1\n1\t2\t5\t60\t2\n");
  t.file("image_feat.npy", npy("<f4", {3, 2}, floats({0, 0, 10, 10, 20, 20})));
  RawSequences raw = read_mmrec(t.path("baby.inter"));
  ASSERT_EQ(raw.user_tokens, (std::vector<std::string>{"0", "1"}));
  std::vector<std::string> first;
  for (int32_t id : raw.sequences[0]) first.push_back(raw.item_tokens[size_t(id)]);
  EXPECT_EQ(first, (std::vector<std::string>{"0", "1", "2"}));  // by timestamp, not by line
  EXPECT_EQ(raw.times[0], (std::vector<double>{100, 200, 300}));
  EXPECT_EQ(raw.parts[0], (std::vector<uint8_t>{0, 1, 0}));  // x_label, in time order
  Dataset d = preprocess(std::move(raw), {}, "baby");
  ModalitySpec s = spec(t.path("image_feat.npy"));
  s.name = "image";
  FeatureTable f = FeatureTable::open(s, d);
  for (int64_t id = 1; id <= d.num_items(); ++id) {
    std::vector<float> got(2);
    f.gather(&id, 1, got.data(), nullptr);
    EXPECT_EQ(got[0], 10.0f * std::stof(d.item_tokens[size_t(id)])) << d.item_tokens[size_t(id)];
  }
  t.file("bad.inter", "user\titemID\ttimestamp\n");
  EXPECT_NE(error_of([&] { read_mmrec(t.path("bad.inter")); }).find("bad.inter:1: the header has no column 'userID'"),
            std::string::npos);
}

TEST(Features, HalfPrecisionValues) {
  EXPECT_EQ(half_to_float(0x3C00), 1.0f);
  EXPECT_EQ(half_to_float(0xC000), -2.0f);
  EXPECT_EQ(half_to_float(0x7BFF), 65504.0f);
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(half_to_float(0x3555), 0.333251953125f);
  EXPECT_TRUE(std::isinf(half_to_float(0x7C00)));
  EXPECT_TRUE(std::isnan(half_to_float(0x7E00)));
  EXPECT_EQ(half_to_float(0x8000), -0.0f);
}

TEST(Features, PooledFloat32NpyGathersRowsByItemToken) {
  TempDir t;
  auto p = t.file("f.npy", npy("<f4", {3, 2}, floats({0, 1, 10, 11, 20, 21})));
  FeatureTable f = FeatureTable::open(spec(p), three_items());
  EXPECT_TRUE(f.pooled());
  EXPECT_EQ(f.rows(), 3);
  EXPECT_EQ(f.dim(), 2);
  const int64_t ids[] = {1, 0, 3};  // token "2" -> row 2; padding; token "1" -> row 1
  float out[6];
  uint8_t mask[3];
  f.gather(ids, 3, out, mask);
  EXPECT_EQ(std::vector<float>(out, out + 6), (std::vector<float>{20, 21, 0, 0, 10, 11}));
  EXPECT_EQ(std::vector<int>(mask, mask + 3), (std::vector<int>{1, 0, 1}));
}

// The process's resident pages of mapped files, in MB (RssFile of /proc/self/status).
double resident_file_mb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("RssFile:", 0) == 0) return std::stod(line.substr(8)) / 1024.0;
  return -1;
}

// A file past the release threshold (275 MB, sparse: zeros but a marker per row), opened and read whole, row by
// row: every row arrives intact, and the pages read do not stay in the process's resident memory.
TEST(Features, ALargeFileGivesBackThePagesOfTheRowsItGathered) {
  TempDir t;
  const int64_t rows = 1100, tokens = 64, dim = 1024;
  const size_t row_bytes = size_t(tokens * dim) * 4;
  const std::string header = npy("<f4", {rows, tokens, dim}, "");
  const std::string path = t.file("big.npy", header);
  ASSERT_EQ(truncate(path.c_str(), off_t(header.size() + size_t(rows) * row_bytes)), 0);  // a sparse file
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    for (int64_t r = 0; r < rows; ++r) {
      const float marker = float(r + 1);
      f.seekp(std::streamoff(header.size() + size_t(r) * row_bytes + row_bytes / 2));
      f.write(reinterpret_cast<const char*>(&marker), 4);
    }
  }
  Dataset d;
  d.item_tokens = {"<pad>"};
  for (int64_t r = 0; r < rows; ++r) d.item_tokens.push_back(std::to_string(r));
  d.user_tokens = {"u"};
  d.sequences = {{1, 2}};
  // Opening reads the whole file too (files up to 2 GB are checked for non-finite values when opened).
  const double before = resident_file_mb();
  FeatureTable f = FeatureTable::open(spec(path), d);
  const int64_t batch = 50;
  std::vector<float> out(size_t(batch * tokens * dim));
  for (int64_t begin = 1; begin <= rows; begin += batch) {
    std::vector<int64_t> ids;
    for (int64_t id = begin; id < std::min(rows + 1, begin + batch); ++id) ids.push_back(id);
    f.gather(ids.data(), ids.size(), out.data(), nullptr);
    for (size_t i = 0; i < ids.size(); ++i) {
      const float* row = out.data() + i * size_t(tokens * dim);
      ASSERT_EQ(row[tokens * dim / 2], float(ids[i])) << "item " << ids[i];
      ASSERT_EQ(row[0], 0.0f);
    }
  }
  const double grown = resident_file_mb() - before;
  EXPECT_LT(grown, 64.0) << "the pages of a 275 MB file stayed resident after it was read";
}

TEST(Features, TokenLevelFloat16WithAMask) {
  TempDir t;
  // 3 items x 2 tokens x 1 dim: values 1, 2 | -2, 1 | 1, 1
  auto p = t.file("f.npy", npy("<f2", {3, 2, 1}, halves({0x3C00, 0x4000, 0xC000, 0x3C00, 0x3C00, 0x3C00})));
  auto m = t.file("m.npy", npy("|b1", {3, 2}, std::string("\1\0\1\1\1\0", 6)));
  ModalitySpec s = spec(p);
  s.mask_path = m;
  FeatureTable f = FeatureTable::open(s, three_items());
  EXPECT_FALSE(f.pooled());
  EXPECT_EQ(f.tokens(), 2);
  EXPECT_EQ(f.dtype(), FeatureDtype::Float16);
  const int64_t ids[] = {2, 3};  // rows 0 and 1
  float out[4];
  uint8_t mask[4];
  f.gather(ids, 2, out, mask);
  EXPECT_EQ(std::vector<float>(out, out + 4), (std::vector<float>{1, 2, -2, 1}));
  EXPECT_EQ(std::vector<int>(mask, mask + 4), (std::vector<int>{1, 0, 1, 1}));
}

TEST(Features, RawFloat32WithAnIdMapFile) {
  TempDir t;
  auto p = t.file("f.raw", floats({5, 6, 7, 8, 9, 10}));
  auto map = t.file("f.map", "1\t2\n2\t0\n0\t1\nunused\t1\n");
  ModalitySpec s = spec(p);
  s.format = "raw";
  s.dim = 3;
  s.id_map = map;
  Dataset d = three_items();
  d.item_tokens = {"<pad>", "2", "0", "1"};
  // 2 rows of 3; item "1" points at row 2, which does not exist.
  EXPECT_NE(error_of([&] { FeatureTable::open(s, d); }).find("f.map:1: row '2' is not a row of"), std::string::npos);
  t.file("f.map", "1\t1\n2\t0\n");
  s.missing = "error";
  EXPECT_NE(error_of([&] { FeatureTable::open(s, d); })
                .find("1 of 3 items have no row in " + p + " (first: '0'); fix the id map, or set missing = \"zero\""),
            std::string::npos);
  s.missing = "zero";
  FeatureTable f = FeatureTable::open(s, d);
  EXPECT_EQ(f.missing_items(), 1);
  const int64_t ids[] = {1, 2, 3};
  float out[9];
  uint8_t mask[3];
  f.gather(ids, 3, out, mask);
  EXPECT_EQ(std::vector<float>(out, out + 9), (std::vector<float>{5, 6, 7, 0, 0, 0, 8, 9, 10}));
  EXPECT_EQ(std::vector<int>(mask, mask + 3), (std::vector<int>{1, 0, 1}));
}

TEST(Features, EveryMalformedFileIsRefusedWithItsReason) {
  TempDir t;
  Dataset d = three_items();
  auto refuse = [&](const std::string& name, const std::string& content, const std::string& expected) {
    auto p = t.file(name, content);
    std::string e = error_of([&] { FeatureTable::open(spec(p), d); });
    EXPECT_NE(e.find(expected), std::string::npos) << name << ": " << e;
  };
  refuse("magic.npy", "not numpy at all", "not a .npy file");
  refuse("big.npy", npy(">f4", {3, 2}, floats({0, 1, 2, 3, 4, 5})), "dtype '>f4' is not supported");
  refuse("int.npy", npy("<i8", {3, 1}, std::string(24, '\0')), "dtype '<i8' is not supported");
  refuse("fortran.npy", npy("<f4", {3, 2}, floats({0, 1, 2, 3, 4, 5}), true), "Fortran-ordered");
  refuse("short.npy", npy("<f4", {3, 2}, floats({0, 1, 2, 3, 4})), "(truncated?)");
  refuse("long.npy", npy("<f4", {3, 2}, floats({0, 1, 2, 3, 4, 5, 6})), "(trailing bytes");
  refuse("1d.npy", npy("<f4", {6}, floats({0, 1, 2, 3, 4, 5})), "a 1-D array");
  refuse("few.npy", npy("<f4", {2, 3}, floats({0, 1, 2, 3, 4, 5})), "1 of 3 items have no row");
  // A damaged header whose shape multiplies past 64 bits (found by fuzz_npy).
  refuse("huge.npy", npy("<f4", {int64_t(1) << 40, int64_t(1) << 40, 2}, floats({0, 1})), "is too large for any file");
  std::string e = error_of([&] { FeatureTable::open(spec(t.path("absent.npy")), d); });
  EXPECT_NE(e.find("absent.npy: no such feature file"), std::string::npos) << e;
  ModalitySpec raw = spec(t.file("r.raw", floats({1, 2, 3, 4, 5})));
  raw.format = "raw";
  raw.dim = 2;
  e = error_of([&] { FeatureTable::open(raw, d); });
  EXPECT_NE(e.find("20 bytes is not a whole number of 1 x 2 float32 rows: check dim"), std::string::npos) << e;
}

TEST(Features, ANonFiniteValueIsRefusedWhenTheFileIsOpened) {
  // Files up to 2 GB are checked whole when opened (larger ones as their rows are read, the same check).
  TempDir t;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto p = t.file("f.npy", npy("<f4", {3, 1}, floats({0, nan, 2})));
  std::string e = error_of([&] { FeatureTable::open(spec(p), three_items()); });
  // Named by the item's token in the data, not by mmsr's internal id.
  EXPECT_NE(e.find("row 1 (item '" + three_items().item_tokens[3] + "') holds a non-finite value"), std::string::npos) << e;
  const float inf = std::numeric_limits<float>::infinity();
  auto q = t.file("g.npy", npy("<f4", {3, 1}, floats({inf, 1, 2})));
  e = error_of([&] { FeatureTable::open(spec(q), three_items()); });
  EXPECT_NE(e.find("holds a non-finite value"), std::string::npos) << e;
}

TEST(Features, TheFingerprintFollowsTheContent) {
  TempDir t;
  auto a = FeatureTable::open(spec(t.file("a.npy", npy("<f4", {3, 1}, floats({0, 1, 2})))), three_items());
  auto b = FeatureTable::open(spec(t.file("b.npy", npy("<f4", {3, 1}, floats({0, 1, 3})))), three_items());
  EXPECT_NE(a.fingerprint(), b.fingerprint());
}

TEST(Features, ScientificRawFeaturesAlignWithTheItemIndices) {
  if (!test::shared_data_available("scientific-mm/Scientific.feat1CLS"))
    GTEST_SKIP() << "../shared/data/scientific-mm is absent: real-data check skipped";
  const std::string dir = std::string(MMSR_SHARED_DATA_DIR) + "/scientific-mm/";
  // The UniSRec files name items by their item2index number, which is the feature row.
  Dataset d = preprocess(read_unisrec(dir + "Scientific"), {}, "Scientific");
  ModalitySpec s = spec(dir + "Scientific.feat1CLS");
  s.format = "raw";
  s.dim = 512;
  FeatureTable f = FeatureTable::open(s, d);
  EXPECT_EQ(f.rows(), 1585);
  EXPECT_EQ(f.missing_items(), 0);
  const int64_t id = 7, row = std::stoll(d.item_tokens[7]);
  std::ifstream raw(s.path, std::ios::binary);
  raw.seekg(row * 512 * 4);
  std::vector<float> expected(512), got(512);
  raw.read(reinterpret_cast<char*>(expected.data()), 512 * 4);
  f.gather(&id, 1, got.data(), nullptr);
  EXPECT_EQ(got, expected);
}

}  // namespace
}  // namespace mmsr

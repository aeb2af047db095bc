// The prepared-dataset cache: entries decode to exactly what was prepared, damaged entries are refused, keys follow
// the files' bytes and the options; end to end, a second run of a grid reads the cache and trains the same.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "e2e/e2e_support.h"
#include "mmsr/dataset_cache.h"
#include "mmsr/readers.h"
#include "test_support.h"

namespace mmsr {
namespace {

using test::TempDir;

Dataset small_prepared() {
  RawSequences raw;
  raw.source = "test";
  for (int i = 0; i < 40; ++i) raw.item_tokens.push_back("item" + std::to_string(i));
  for (int u = 0; u < 25; ++u) {
    raw.user_tokens.push_back("user" + std::to_string(u));
    std::vector<int32_t> seq;
    for (int k = 0; k < 3 + u % 7; ++k) seq.push_back(int32_t((u * 11 + k * 5) % 40));
    raw.sequences.push_back(seq);
  }
  return preprocess(raw, PreprocessOptions{}, "small");
}

TEST(DatasetCache, AnEntryDecodesToWhatWasPrepared) {
  Dataset d = small_prepared();
  std::optional<Dataset> back = decode_prepared_dataset(encode_prepared_dataset(d));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->name, d.name);
  EXPECT_EQ(back->user_tokens, d.user_tokens);
  EXPECT_EQ(back->item_tokens, d.item_tokens);
  EXPECT_EQ(back->sequences, d.sequences);
  EXPECT_EQ(back->checksum, d.checksum);
  back->compute_checksum();  // the stored checksum is the one the data has
  EXPECT_EQ(back->checksum, d.checksum);
}

TEST(DatasetCache, DamagedEntriesAreRefused) {
  const std::string bytes = encode_prepared_dataset(small_prepared());
  for (size_t n = 0; n < bytes.size(); n += 7)
    EXPECT_FALSE(decode_prepared_dataset(bytes.substr(0, n)).has_value()) << "truncated to " << n;
  for (size_t at = 0; at < bytes.size(); at += 5) {
    std::string damaged = bytes;
    damaged[at] = char(damaged[at] ^ 0x20);
    EXPECT_FALSE(decode_prepared_dataset(damaged).has_value()) << "byte " << at << " flipped";
  }
  EXPECT_FALSE(decode_prepared_dataset(bytes + "x").has_value());
}

TEST(DatasetCache, TheKeyFollowsTheBytesTheOptionsAndTheName) {
  TempDir t;
  const std::string file = t.file("d.txt", "1 a b c\n2 b c d\n");
  PreprocessOptions opt;
  const std::string key = DatasetCache::key({file}, "s3rec", opt, "d");
  EXPECT_EQ(key.size(), 16u);
  EXPECT_EQ(DatasetCache::key({file}, "s3rec", opt, "d"), key);
  EXPECT_NE(DatasetCache::key({file}, "sasrec", opt, "d"), key);
  EXPECT_NE(DatasetCache::key({file}, "s3rec", opt, "e"), key);
  PreprocessOptions k5 = opt;
  k5.k_core = 5;
  EXPECT_NE(DatasetCache::key({file}, "s3rec", k5, "d"), key);
  t.file("d.txt", "1 a b c\n2 b c e\n");  // one byte changed
  EXPECT_NE(DatasetCache::key({file}, "s3rec", opt, "d"), key);
  EXPECT_EQ(DatasetCache::key({t.path("missing.txt")}, "s3rec", opt, "d"), "");  // the reader reports it
}

TEST(DatasetCache, PutThenFindAndADamagedFileIsAMiss) {
  TempDir t;
  DatasetCache cache(t.path("cache/datasets"));
  Dataset d = small_prepared();
  EXPECT_FALSE(cache.find("0123456789abcdef").has_value());
  ASSERT_TRUE(cache.put("0123456789abcdef", d));
  auto found = cache.find("0123456789abcdef");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->sequences, d.sequences);
  std::filesystem::resize_file(cache.entry_path("0123456789abcdef"), 100);
  EXPECT_FALSE(cache.find("0123456789abcdef").has_value());
  // No cache folder: nothing found, nothing written.
  DatasetCache none("");
  EXPECT_FALSE(none.put("0123456789abcdef", d));
  // A folder that cannot be made: a reason, no exception.
  t.file("a-file", "x");
  DatasetCache blocked(t.path("a-file/datasets"));
  std::string why;
  EXPECT_FALSE(blocked.put("0123456789abcdef", d, &why));
  EXPECT_NE(why.find("cannot write"), std::string::npos) << why;
}

// Through the command: the second run of a grid finds the prepared data, trains the same numbers; an edited file is
// read again; --data-cache off writes nothing.
TEST(DatasetCache, ASecondGridReadsTheCacheAndTrainsTheSame) {
  TempDir t;
  std::string lines;
  for (int u = 0; u < 80; ++u) {
    lines += std::to_string(u + 1);
    for (int k = 0; k < 5 + u % 6; ++k) lines += " " + std::to_string(1 + (u * 7 + k * 3) % 50);
    lines += "\n";
  }
  const std::string data = t.file("seqs.txt", lines);
  const std::string file = t.file("grid.toml", R"([experiment]
name = "cached"
seeds = [1]
[data]
format = "s3rec"
path = "seqs.txt"
[protocol]
max_len = 10
[train]
epochs = 1
batch_size = 32
threads = 1
[[model]]
name = "SASRec"
tower = { plugin = "id", dim = 16 }
backbone = { plugin = "sasrec", layers = 1 }
loss = "softmax"
)");
  const std::string cache = t.path("cache");
  auto run = [&](const std::string& store, const std::string& cache_arg) {
    return test::e2e::run_cli("run " + file + " --store " + t.path(store) + " --no-report -q --data-cache " + cache_arg);
  };
  auto first = run("a.sqlite", cache);
  ASSERT_EQ(first.code, 0) << first.output;
  EXPECT_EQ(first.output.find("from the cache"), std::string::npos) << first.output;
  ASSERT_EQ(std::distance(std::filesystem::directory_iterator(cache), {}), 1);
  auto second = run("b.sqlite", cache);
  ASSERT_EQ(second.code, 0) << second.output;
  EXPECT_NE(second.output.find("(prepared data from the cache)"), std::string::npos) << second.output;
  const char* loss = "SELECT CAST(loss * 1e9 AS INTEGER) FROM epochs";
  EXPECT_EQ(test::e2e::count(t.path("a.sqlite"), loss), test::e2e::count(t.path("b.sqlite"), loss));
  const char* dataset = "SELECT COUNT(*) FROM datasets";
  EXPECT_EQ(test::e2e::count(t.path("b.sqlite"), dataset), 1);
  t.file("seqs.txt", lines + "999 1 2 3 4\n");
  auto edited = run("c.sqlite", cache);
  ASSERT_EQ(edited.code, 0) << edited.output;
  EXPECT_EQ(edited.output.find("from the cache"), std::string::npos) << edited.output;
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(cache), {}), 2);
  auto off = run("d.sqlite", "off");
  ASSERT_EQ(off.code, 0) << off.output;
  EXPECT_EQ(off.output.find("from the cache"), std::string::npos) << off.output;
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(cache), {}), 2);
}

}  // namespace
}  // namespace mmsr

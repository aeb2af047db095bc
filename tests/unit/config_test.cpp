#include <gtest/gtest.h>

#include "mmsr/config.h"
#include "mmsr/errors.h"
#include "test_support.h"

namespace mmsr {
namespace {

const char* kValid = R"(
[experiment]
name = "t"
seeds = [1, 2]

[train]
lr = [0.001, 0.01]
epochs = 2

[[model]]
name = "A"
tower = { plugin = "id", dim = 16 }
backbone = { plugin = "sasrec", layers = [1, 2] }
loss = "softmax"
)";

Experiment parse(const std::string& text, TrainDefaults defaults = kCurrentTrainDefaults) {
  static PluginRegistry r = test::declared_registry();
  return parse_experiment(
      text, "exp.toml", "/tmp", [&](PluginKind k, const std::string& n) { return r.find(k, n); },
      [&](PluginKind k) { return r.names(k); }, defaults);
}

// The message of the InputError a text raises ("" when it parses).
std::string error_of(const std::string& text) {
  return test::input_error_of([&] { parse(text); });
}

}  // namespace

TEST(Config, GridIsTheCartesianProductTimesSeeds) {
  Experiment ex = parse(kValid);
  ASSERT_EQ(ex.runs.size(), 2u * 2u * 2u);
  EXPECT_EQ(ex.runs[0].grid_label, "train.lr=0.001, backbone.layers=1");
  // Seeds of one configuration share the configuration key; different points do not.
  EXPECT_EQ(ex.runs[0].config_key, ex.runs[1].config_key);
  EXPECT_NE(ex.runs[0].config_key, ex.runs[2].config_key);
  EXPECT_EQ(ex.runs[0].backbone.params.get_int("layers"), 1);
  EXPECT_EQ(ex.runs[2].backbone.params.get_int("layers"), 2);
  EXPECT_DOUBLE_EQ(ex.runs[4].train.get_double("lr"), 0.01);
}

TEST(Config, ThreadsDoNotChangeARunsIdentity) {
  std::string a = kValid, b = kValid;
  b.replace(b.find("epochs = 2"), 10, "epochs = 2\nthreads = 1");
  EXPECT_EQ(parse(a).runs[0].config_key, parse(b).runs[0].config_key);
}

// Keys added after stores existed count in a run's identity only when they change something: a store made before
// them keeps matching its grid.
TEST(Config, OptionalTrainingKeysCountOnlyWhenUsed) {
  auto with = [](const std::string& line) {
    std::string t = kValid;
    return parse(t.replace(t.find("epochs = 2"), 10, "epochs = 2\n" + line), TrainDefaults::original).runs[0];
  };
  const RunSpec plain = parse(kValid, TrainDefaults::original).runs[0];
  for (const char* unchanged : {"processes = 1", "fast_dropout = false", "precision = \"fp32\"", "adapt = []"}) {
    EXPECT_EQ(with(unchanged).config_key, plain.config_key) << unchanged;
    EXPECT_EQ(with(unchanged).config_json, plain.config_json) << unchanged;
  }
  for (const char* changed : {"processes = 2", "fast_dropout = true"})
    EXPECT_NE(with(changed).config_key, plain.config_key) << changed;
}

// New grids train with the speed options; a grid read for a store made before them resolves as it always did: the
// options off where the file is silent, and the same identities as a file that turns them off by name.
TEST(Config, NewGridsTrainFastAndOldStoresKeepTheirDefaults) {
  auto with = [](const std::string& line, TrainDefaults d) {
    std::string t = kValid;
    return parse(t.replace(t.find("epochs = 2"), 10, "epochs = 2\n" + line), d).runs[0];
  };
  const RunSpec fresh = parse(kValid).runs[0];
  EXPECT_TRUE(fresh.train.get_bool("fast_dropout"));
  EXPECT_TRUE(fresh.train.get_bool("length_buckets"));
  EXPECT_NE(fresh.config_json.find("\"fast_dropout\":true"), std::string::npos) << fresh.config_json;
  const RunSpec old = parse(kValid, TrainDefaults::original).runs[0];
  EXPECT_FALSE(old.train.get_bool("fast_dropout"));
  EXPECT_FALSE(old.train.get_bool("length_buckets"));
  const std::string both_off = "fast_dropout = false\nlength_buckets = false";
  EXPECT_EQ(old.config_json, with(both_off, TrainDefaults::fast).config_json);
  EXPECT_EQ(old.config_key, with(both_off, TrainDefaults::fast).config_key);
  EXPECT_EQ(fresh.config_key, with("fast_dropout = true\nlength_buckets = true", TrainDefaults::original).config_key);
  // What a model sets for itself wins over either default.
  std::string t = kValid;
  t.replace(t.find("loss = \"softmax\""), 16, "loss = \"softmax\"\ntrain = { length_buckets = true }");
  const RunSpec own = parse(t, TrainDefaults::original).runs[0];
  EXPECT_TRUE(own.train.get_bool("length_buckets"));
  EXPECT_FALSE(own.train.get_bool("fast_dropout"));
}

// A plugin parameter added after release (ParamDecl::added_after_release, here shaped like the transformer's ff_dropout) is
// left out of the identity at its default, so stored runs keep matching; set otherwise, it makes a new run.
TEST(Config, ParametersAddedAfterReleaseCountOnlyAwayFromTheirDefault) {
  auto with = [](const std::string& backbone_key) {
    std::string t = kValid;
    const std::string from = "layers = [1, 2] }";
    return parse(t.replace(t.find(from), from.size(), "layers = [1, 2], " + backbone_key + " }")).runs[0];
  };
  const RunSpec plain = parse(kValid).runs[0];
  EXPECT_EQ(plain.config_json.find("ff_dropout"), std::string::npos) << plain.config_json;
  EXPECT_TRUE(plain.backbone.params.get_bool("ff_dropout"));
  EXPECT_EQ(with("ff_dropout = true").config_key, plain.config_key);
  const RunSpec off = with("ff_dropout = false");
  EXPECT_NE(off.config_key, plain.config_key);
  EXPECT_NE(off.config_json.find("\"ff_dropout\":false"), std::string::npos) << off.config_json;
  // Parameters released with the plugin stay in the identity at their default.
  EXPECT_NE(plain.config_json.find("\"dropout\""), std::string::npos);
}

TEST(Config, UnknownKeyNamesFileLineAndSuggestion) {
  std::string text = kValid;
  text.replace(text.find("layers = [1, 2]"), 15, "layer = 2");
  EXPECT_EQ(error_of(text),
            "exp.toml:13: model 'A' backbone (sasrec): unknown key 'layer' (did you mean 'layers'?); "
            "known keys: layers, dropout, norm, ff_dropout, plugin");
}

TEST(Config, WrongTypeAndRange) {
  std::string t1 = kValid;
  t1.replace(t1.find("epochs = 2"), 10, "epochs = \"2\"");
  EXPECT_EQ(error_of(t1), "exp.toml:8: [train].epochs: expected integer, found string");
  std::string t2 = kValid;
  t2.replace(t2.find("dim = 16"), 8, "dim = 0");
  EXPECT_EQ(error_of(t2), "exp.toml:12: model 'A' tower (id).dim = 0: must be in [1, 4096]");
}

TEST(Config, UnknownPluginListsTheAvailableOnes) {
  std::string text = kValid;
  text.replace(text.find("\"sasrec\""), 8, "\"sasrek\"");
  EXPECT_EQ(error_of(text),
            "exp.toml:13: model 'A' backbone: unknown backbone plugin 'sasrek' (did you mean "
            "'sasrec'?); available: sasrec (see `mmsr plugins`)");
}

TEST(Config, MalformedTomlGivesItsLine) {
  EXPECT_NE(error_of("[experiment]\nname = \n").find("exp.toml:2: malformed TOML"), std::string::npos);
}

TEST(Config, UnknownSectionAndMissingModel) {
  EXPECT_EQ(error_of("[trian]\nlr = 1\n"),
            "exp.toml:1: unknown section 'trian' (did you mean 'train'?); sections: experiment, data, "
            "modality, protocol, train, model, also_evaluate");
  EXPECT_NE(error_of("[experiment]\nname = \"x\"\n").find("no models"), std::string::npos);
}

TEST(Config, SelectionMetricMustBeComputed) {
  std::string text = kValid;
  text += "\n[protocol]\nselect = \"ndcg@7\"\n";
  EXPECT_NE(error_of(text).find("[protocol].select = \"ndcg@7\""), std::string::npos);
}

TEST(Config, ProtocolArraysAreNotGridAxes) {
  std::string text = kValid;
  text += "\n[protocol]\nmax_len = [10, 20]\n";
  EXPECT_NE(error_of(text).find("arrays are grid axes, which this section does not take"), std::string::npos);
}

TEST(Config, DataPathIsRequiredForFiles) {
  std::string text = kValid;
  text += "\n[data]\nformat = \"s3rec\"\n";
  EXPECT_NE(error_of(text).find("[data].path is required"), std::string::npos);
}

TEST(Config, ProtocolHashChangesWithTheProtocolOnly) {
  std::string a = kValid, b = kValid + std::string("\n[protocol]\nties = \"pessimistic\"\n");
  EXPECT_NE(parse(a).protocol_hash, parse(b).protocol_hash);
  std::string c = kValid;
  c.replace(c.find("epochs = 2"), 10, "epochs = 3");
  EXPECT_EQ(parse(a).protocol_hash, parse(c).protocol_hash);
}

// Temporal keys under another split are refused, not ignored; shares must leave a training period.
TEST(Config, SplitKeysBelongToTheirSplit) {
  EXPECT_NE(error_of(kValid + std::string("\n[protocol]\ntest_share = 0.2\n"))
                .find("[protocol].test_share applies to split = \"temporal\""),
            std::string::npos);
  EXPECT_NE(error_of(kValid + std::string("\n[protocol]\ntargets = \"last\"\n"))
                .find("[protocol].targets applies to split = \"temporal\" or \"published\""),
            std::string::npos);
  EXPECT_NE(error_of(kValid + std::string("\n[protocol]\nsplit = \"temporal\"\nvalid_share = 0.5\ntest_share = 0.5\n"))
                .find("leave no training period"),
            std::string::npos);
  EXPECT_NE(error_of(kValid + std::string("\n[protocol]\nsplit = \"temporal\"\nvalid_start = 9\ntest_start = 5\n"))
                .find("valid_start must be before test_start"),
            std::string::npos);
  // A temporal protocol is a different protocol; leave-one-out's hash is what it was before the temporal keys.
  const Experiment loo = parse(kValid), temporal = parse(kValid + std::string("\n[protocol]\nsplit = \"temporal\"\n"));
  EXPECT_NE(loo.protocol_hash, temporal.protocol_hash);
  EXPECT_EQ(loo.protocol_json.find("share"), std::string::npos);
  EXPECT_EQ(error_of(kValid + std::string("\n[protocol]\nsplit = \"published\"\ntargets = \"first\"\n")), "");
}

TEST(Config, DiversityNeedsADeclaredModality) {
  EXPECT_NE(error_of(kValid + std::string("\n[protocol]\ndiversity_modality = \"text\"\n"))
                .find("[protocol].diversity_modality = \"text\" names no [[modality]]"),
            std::string::npos);
}

}  // namespace mmsr

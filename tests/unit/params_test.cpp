#include <gtest/gtest.h>

#include "mmsr/sdk/params.h"
#include "mmsr/text.h"

namespace mmsr {

TEST(Params, ResolveFillsDefaultsAndStoresFloatsAsFloats) {
  ParamDecl d;
  d.integer("layers", 2, 1, 8, "").real("lr", 0.1, 0.0, 1.0, "");
  ParamSet p = ParamSet::resolve(d, {{"lr", int64_t(1)}});
  EXPECT_EQ(p.get_int("layers"), 2);
  EXPECT_DOUBLE_EQ(p.get_double("lr"), 1.0);
  // "1" and "1.0" must give the same record and so the same run identity.
  EXPECT_EQ(p.to_json(), ParamSet::resolve(d, {{"lr", 1.0}}).to_json());
}

TEST(Params, CheckNamesTheProblem) {
  ParamDecl d;
  d.integer("layers", 2, 1, 8, "").choice("norm", "post", {"post", "pre"}, "");
  EXPECT_EQ(d.find("layers")->check(int64_t(9)), "must be in [1, 8]");
  EXPECT_EQ(d.find("layers")->check(std::string("x")), "expected integer");
  EXPECT_EQ(d.find("norm")->check(std::string("mid")), "must be one of \"post\", \"pre\"");
  EXPECT_EQ(d.find("norm")->check(std::string("pre")), "");
}

TEST(Params, InvalidDefaultIsAProgrammingError) {
  ParamDecl d;
  EXPECT_THROW(d.integer("x", 10, 0, 5, ""), std::logic_error);
  d.integer("y", 1, 0, 5, "");
  EXPECT_THROW(d.integer("y", 1, 0, 5, ""), std::logic_error);
}

TEST(Params, AddedAfterReleaseMarksTheLastParameter) {
  ParamDecl d;
  EXPECT_THROW(d.added_after_release(), std::logic_error);
  d.integer("old", 1, 0, 9, "released").boolean("new", false, "added later").added_after_release();
  EXPECT_FALSE(d.find("old")->identity_omits_default);
  EXPECT_TRUE(d.find("new")->identity_omits_default);
}

TEST(Text, DidYouMeanSuggestsCloseNamesOnly) {
  EXPECT_EQ(did_you_mean("layer", {"layers", "heads"}), " (did you mean 'layers'?)");
  EXPECT_EQ(did_you_mean("zzzzzz", {"layers", "heads"}), "");
}

TEST(Text, HashIsStableAcrossRuns) {
  // A fixed value: identities stored in old stores must keep matching.
  EXPECT_EQ(hash_hex(""), Hasher().add(std::string()).hex());
  EXPECT_EQ(Hasher().add_u64(0).hex(), Hasher().add_u64(0).hex());
  EXPECT_NE(hash_hex("a"), hash_hex("b"));
}

}  // namespace mmsr

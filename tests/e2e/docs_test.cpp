// Docs generated from the code stay equal to it.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "e2e/e2e_support.h"

namespace mmsr {

using namespace test::e2e;

// docs/parameters.md is `mmsr plugins docs`: every section's and plugin's declaration, rendered.
TEST(Docs, ParameterTablesMatchTheDeclarations) {
  const CliResult generated = run_cli("plugins docs", "env -u MMSR_PLUGIN_PATH ");
  ASSERT_EQ(generated.code, 0) << generated.output;
  std::ifstream in(std::string(MMSR_DOCS_DIR) + "/parameters.md");
  std::stringstream committed;
  committed << in.rdbuf();
  EXPECT_TRUE(committed.str() == generated.output)
      << "docs/parameters.md differs from the declarations; regenerate it: build/bin/mmsr plugins docs > "
         "docs/parameters.md";
  // Each declared default appears once, next to its key: spot checks that the tables are the declarations.
  EXPECT_NE(generated.output.find("| `inner_size` | integer | `0` |"), std::string::npos);
  EXPECT_NE(generated.output.find("| `mask_history` | boolean | `true` |"), std::string::npos);
}

}  // namespace mmsr

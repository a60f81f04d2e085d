// Scalar expression language: parsing, evaluation, errors.
#include "ir/ScalarExpr.h"

#include <gtest/gtest.h>

#include <cmath>

namespace sinter {
namespace {

double eval(std::string_view text, std::vector<double> args = {}) {
  auto e = parseScalarExpr(text);
  EXPECT_TRUE(e) << e.error().message();
  return e ? e->eval(args) : NAN;
}

TEST(ScalarExpr, Evaluates) {
  EXPECT_EQ(eval("max($0, 0)", {-2.0}), 0.0);
  EXPECT_EQ(eval("max($0, 0)", {3.0}), 3.0);
  EXPECT_EQ(eval("1 - 2 - 3"), -4.0);     // left associative
  EXPECT_EQ(eval("2 * 3 + 4 / 8"), 6.5);  // precedence
  EXPECT_EQ(eval("-$0 * 2", {1.5}), -3.0);
  EXPECT_EQ(eval("select($0 > 1, 10, 20)", {2.0}), 10.0);
  EXPECT_EQ(eval("select($0 > 1, 10, 20)", {0.5}), 20.0);
  EXPECT_NEAR(eval("1 / (1 + exp(-$0))", {0.0}), 0.5, 1e-15);
  EXPECT_EQ(eval("pow($0, $1)", {2.0, 10.0}), 1024.0);
  EXPECT_TRUE(std::isnan(eval("max($0, 0)", {NAN})));  // NaN propagates like numpy.maximum
  EXPECT_EQ(eval("1.5e2"), 150.0);
}

TEST(ScalarExpr, ArityAndCanonicalText) {
  auto e = parseScalarExpr("$0 + $2 * 2");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->arity(), 3);
  EXPECT_EQ(e->str(), "($0 + ($2 * 2))");
}

TEST(ScalarExpr, Errors) {
  EXPECT_EQ(parseScalarExpr("max($0)").error().message(), "column 8: 'max' takes 2 operands, got 1");
  EXPECT_EQ(parseScalarExpr("gelu($0)").error().message(), "column 5: unknown function 'gelu'");
  EXPECT_EQ(parseScalarExpr("$0 +").error().message(), "column 5: expected an operand, got end of expression");
  EXPECT_EQ(parseScalarExpr("($0").error().message(), "column 4: expected ')'");
  EXPECT_EQ(parseScalarExpr("$0 $1").error().message(), "column 4: unexpected '$'");
}

} // namespace
} // namespace sinter

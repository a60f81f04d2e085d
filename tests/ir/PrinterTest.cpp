// Printer: determinism, round trips of every built-in model, names, Graphviz output.
#include "ir/OpTable.h"
#include "ir/Printer.h"
#include "models/AlexNet.h"

#include <gtest/gtest.h>

namespace sinter {
namespace {

TEST(Printer, EveryBuiltinModelRoundTrips) {
  for (std::string_view name : builtinModelNames()) {
    AlexNetOptions o;
    o.weights = false;
    o.batch = 2;
    auto g = buildBuiltinModel(name, o);
    ASSERT_TRUE(g) << g.error().message();
    std::string text = printGraph(**g);
    EXPECT_EQ(printGraph(**g), text) << "printing is deterministic";
    auto p = parseGraph(text, name);
    ASSERT_TRUE(p) << p.error().message();
    EXPECT_EQ(printGraph(**p), text) << name;
    EXPECT_EQ((*p)->parameterCount(), (*g)->parameterCount());
  }
}

TEST(Printer, FormatsNumbersToReadBack) {
  EXPECT_EQ(formatDouble(1.0), "1.0");
  EXPECT_EQ(formatDouble(1e-4), "1e-04");
  EXPECT_EQ(formatDouble(0.75), "0.75");
  EXPECT_EQ(formatDouble(-1.0 / 0.0), "-inf");
  EXPECT_EQ(valueRef("conv1.w"), "%conv1.w");
  EXPECT_EQ(valueRef("12"), "%\"12\"");
  EXPECT_EQ(valueRef("/features/Conv_output_0"), "%\"/features/Conv_output_0\"");
  EXPECT_EQ(valueRef("a\"b"), "%\"a\\\"b\"");
}

TEST(Printer, DotHasEveryNodeAndTypedEdges) {
  AlexNetOptions o;
  o.weights = false;
  auto g = buildBuiltinModel("alexnet-narrow", o);
  ASSERT_TRUE(g);
  std::string dot = printDot(**g);
  EXPECT_EQ(dot.rfind("digraph \"alexnet-narrow\" {", 0), 0u);
  EXPECT_NE(dot.find("n0 [label=\"%conv1 = conv2d\\l  %conv1.w: f32[6,3,11,11]\\l  %conv1.b: f32[6]"), std::string::npos);
  EXPECT_NE(dot.find("in0 -> n0 [label=\"f32[1,3,67,67]\"]"), std::string::npos);
  EXPECT_NE(dot.find("n23 -> out0 [label=\"f32[1,10]\"]"), std::string::npos);
  EXPECT_EQ(dot.back(), '\n');
}

} // namespace
} // namespace sinter

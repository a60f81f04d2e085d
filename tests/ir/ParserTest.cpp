// .sir parser: round trips and the exact error for each kind of bad text.
#include "ir/OpTable.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"

#include <gtest/gtest.h>

#include <limits>

namespace sinter {
namespace {

std::string parseError(std::string_view text) {
  auto g = parseGraph(text, "m.sir");
  if (g)
    return "parsed";
  return g.error().message();
}

constexpr std::string_view kSmall = R"(// a comment
graph @small(%x: f32[2,3], %3: i64[2]) -> (%y: f32[2,3], %"odd/name": f32[]) {
  param %w: f32[3]
  %0 = add(%x, %w) : f32[2,3]
  %y = relu(%0) : f32[2,3]
  %"odd/name" = reduce_sum(%y) {axes=[], keepdims=0} : f32[]
  return %y, %"odd/name"
}
)";

TEST(Parser, ParsesAndPrintsCanonically) {
  auto g = parseGraph(kSmall);
  ASSERT_TRUE(g) << g.error().message();
  EXPECT_FALSE(verifyGraph(**g));
  EXPECT_EQ(printGraph(**g), R"(// sinter ir: 3 nodes, 3 parameters in 1 tensors (12 B)
graph @small(%x: f32[2,3], %0: i64[2]) -> (%y: f32[2,3], %"odd/name": f32[]) {
  param %w: f32[3]
  %1 = add(%x, %w) : f32[2,3]
  %y = relu(%1) : f32[2,3]
  %"odd/name" = reduce_sum(%y) {axes=[], keepdims=0} : f32[]
  return %y, %"odd/name"
}
)");
  auto again = parseGraph(printGraph(**g));
  ASSERT_TRUE(again);
  EXPECT_EQ(printGraph(**again), printGraph(**g));
}

TEST(Parser, FillsDefaultAttributes) {
  auto g = parseGraph(R"(graph @g(%x: f32[1,1,4,4]) -> (%y: f32[1,1,2,2]) {
  %y = max_pool2d(%x) {kernel=[2,2], stride=[2,2]} : f32[1,1,2,2]
  return %y
})");
  ASSERT_TRUE(g) << g.error().message();
  const Node& n = *(*g)->nodes().front();
  EXPECT_EQ(n.attrs().getInts("pad"), (std::vector<int64_t>{0, 0, 0, 0}));
  EXPECT_EQ(n.attrs().getInt("ceil_mode"), 0);
}

TEST(Parser, FloatsAndLiteralsRoundTripExactly) {
  Graph g("lits");
  Tensor t(TensorType{DType::F32, {4}});
  t.as<float>()[0] = 0.1f;
  t.as<float>()[1] = -3.4028235e38f;
  t.as<float>()[2] = std::numeric_limits<float>::denorm_min();
  t.as<float>()[3] = std::numeric_limits<float>::infinity();
  auto c = g.addNode(ops::Constant, {}, {{"value", t}}, {"c"});
  ASSERT_TRUE(c);
  auto l = g.addNode(ops::Lrn, {g.addInput("x", {DType::F32, {1, 2, 1, 1}})},
                     {{"size", int64_t{3}}, {"alpha", 1.0 / 3.0}, {"beta", 1e-300}}, {"l"});
  ASSERT_TRUE(l);
  g.setOutputs({(*c)->output(), (*l)->output()});
  std::string text = printGraph(g);
  auto p = parseGraph(text);
  ASSERT_TRUE(p) << p.error().message() << text;
  EXPECT_EQ(printGraph(**p), text);
  const Node& pc = *(*p)->nodes().front();
  EXPECT_TRUE(pc.attrs().getTensor("value").identical(t));
  EXPECT_EQ((*p)->nodes().back()->attrs().getFloat("alpha"), 1.0 / 3.0);
}

TEST(Parser, ErrorsNameLineColumnAndWhatWasExpected) {
  EXPECT_EQ(parseError(""), "m.sir:1:1: expected 'graph', got 'end of file'");
  EXPECT_EQ(parseError("graph @g(%x: f32[2]) -> (%y: f32[2]) {\n  %y = relu(%x : f32[2]\n  return %y\n}"),
            "m.sir:2:16: expected ',' or ')' after the operand, got ':'");
  EXPECT_EQ(parseError("graph @g(%x: f32[2]) -> (%y: f32[2]) {\n  %y = relu(%x) : f32[2]\n  return %y\n"),
            "m.sir:4:1: expected '}' to close the graph body, got 'end of file'");
  EXPECT_EQ(parseError("graph @g(%x: f33[2]) -> () {}"),
            "m.sir:1:14: unknown element type 'f33' (expected f32, f64, f16, bf16, i64, i32, i8, u8 or bool)");
  EXPECT_EQ(parseError("graph @g(%x: f32[2]) -> (%y: f32[2]) {\n  %y = relu(%x) : f32[2]\n  return %y\n} extra"),
            "m.sir:4:3: expected end of file after the graph, got 'extra'");
  EXPECT_EQ(parseError("graph @g(%x: f32[2]) -> (%y: f32[2]) {\n  %y = relu(%z) : f32[2]\n  return %y\n}"),
            "m.sir:2:13: use of undefined value %z");
  EXPECT_EQ(parseError("graph @g(%x: f32[2]) -> (%x: f32[2]) {\n  %x = relu(%x) : f32[2]\n  return %x\n}"),
            "m.sir:2:3: %x is already defined at line 1");
  EXPECT_EQ(parseError("graph @g(%x: f32[2]) -> (%y: f32[2]) {\n  %y = relu(%x) : f32[2]\n  return %x\n}"),
            "m.sir:3:10: return value %x does not match the signature's outputs");
  EXPECT_EQ(parseError("graph @g(%x: f32[2]) -> () {\n  %y = pad(%x) {pads=[0,0], mode=\"abc} : f32[2]\n}"),
            "m.sir:2:34: unterminated string");
  EXPECT_EQ(parseError("graph @g(%x: f32[9999999999,9999999999,9999999999]) -> () {}"),
            "m.sir:1:17: shape [9999999999,9999999999,9999999999] has too many elements");
  EXPECT_EQ(parseError("graph @g(%x: f32[2]) -> () {\n  param %3: f32[2]\n}"),
            "m.sir:2:9: parameters need a name, not a number");
  EXPECT_EQ(parseError("graph @g(%x: f32[2]) -> () { # }"), "m.sir:1:30: unexpected character '#'");
}

TEST(Parser, UnknownOp) {
  EXPECT_EQ(parseError("graph @g(%x: f32[2]) -> (%y: f32[2]) {\n  %y = gelu(%x) : f32[2]\n  return %y\n}"),
            "m.sir:2:8: unknown op 'gelu'");
}

TEST(Parser, AttributeOfTheWrongType) {
  EXPECT_EQ(parseError("graph @g(%x: f32[1,1,4,4], %w: f32[1,1,1,1]) -> () {\n"
                       "  %y = conv2d(%x, %w) {stride=4} : f32[1,1,1,1]\n}"),
            "m.sir:2:31: expected ints for attribute 'stride' of conv2d, got '4'");
  EXPECT_EQ(parseError("graph @g(%x: f32[1,1,4,4]) -> () {\n  %y = lrn(%x) {size=2.5} : f32[1,1,4,4]\n}"),
            "m.sir:2:22: expected int for attribute 'size' of lrn, got '2.5'");
  EXPECT_EQ(parseError("graph @g(%x: f32[1,1,4,4]) -> () {\n  %y = lrn(%x) {depth=2} : f32[1,1,4,4]\n}"),
            "m.sir:2:17: unknown attribute 'depth' for lrn (it takes size, alpha, beta, bias)");
  EXPECT_EQ(parseError("graph @g(%x: f32[1,1,4,4]) -> () {\n  %y = lrn(%x) : f32[1,1,4,4]\n}"),
            "m.sir:2:8: lrn: missing required attribute 'size' (int)");
}

TEST(Parser, ShapeMismatch) {
  EXPECT_EQ(parseError("graph @g(%x: f32[2,3], %b: f32[4]) -> () {\n  %y = add(%x, %b) : f32[2,3]\n}"),
            "m.sir:2:8: add: shapes [2,3] and [4] do not broadcast (dim 1: 3 vs 4)");
  EXPECT_EQ(parseError("graph @g(%x: f32[2,3]) -> () {\n  %y = relu(%x) : f32[3,2]\n}"),
            "m.sir:2:8: relu result type f32[3,2] does not match the shape rule's f32[2,3]");
  EXPECT_EQ(parseError("graph @g(%x: f32[1,96,27,27], %w: f32[256,96,5,5]) -> () {\n"
                       "  %y = conv2d(%x, %w) {group=2} : f32[1,256,23,23]\n}"),
            "m.sir:2:8: conv2d: input channels 96 do not match weight [256,96,5,5] (in-channels 96 x group 2 = 192)");
  EXPECT_EQ(parseError("graph @g(%x: f32[2,3]) -> () {\n  %y = relu(%x, %x) : f32[2,3]\n}"),
            "m.sir:2:8: relu: expects 1 operand (x), got 2");
}

} // namespace
} // namespace sinter

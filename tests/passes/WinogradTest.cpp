// The winograd pass: which convolutions it takes, and that the rewritten graph computes the
// convolution (reference in double: to rounding; the CPU backend: to f32 rounding).
#include "frontend/GraphBuilder.h"
#include "ir/OpTable.h"
#include "ir/Printer.h"
#include "ir/ops/Ops.h"
#include "models/AlexNet.h"
#include "passes/PassManager.h"
#include "runtime/cpu/CpuBackend.h"
#include "runtime/reference/Interpreter.h"
#include "tests/support/Numerics.h"

#include <gtest/gtest.h>

namespace sinter {
namespace {

TensorType f32(Shape s) { return {DType::F32, std::move(s)}; }

struct Case {
  Shape x;
  int64_t m;
  std::array<int64_t, 2> stride, dilation;
  std::array<int64_t, 4> pad;
  int64_t group, k;
  bool bias, relu;
};

std::unique_ptr<Graph> convGraph(const Case& c) {
  GraphBuilder b("conv");
  Value* x = b.input("x", f32(c.x));
  Shape ws{c.m, c.x[1] / c.group, c.k, c.k};
  Value* w = b.param("w", f32(ws), test::randomTensor(f32(ws), 5));
  Value* bias = c.bias ? b.param("b", f32({c.m}), test::randomTensor(f32({c.m}), 6)) : nullptr;
  Value* y = b.op(ops::Conv2d, bias ? std::vector<Value*>{x, w, bias} : std::vector<Value*>{x, w},
                  {{"stride", std::vector<int64_t>(c.stride.begin(), c.stride.end())},
                   {"dilation", std::vector<int64_t>(c.dilation.begin(), c.dilation.end())},
                   {"pad", std::vector<int64_t>(c.pad.begin(), c.pad.end())},
                   {"group", c.group}},
                  "y");
  if (c.relu)
    y = b.relu(y, "r");
  auto g = b.finish({y});
  EXPECT_TRUE(g) << g.error().message();
  return std::move(*g);
}

int count(const Graph& g, const OpDef& op) {
  int k = 0;
  for (const auto& n : g.nodes())
    k += n->is(op);
  return k;
}

Expected<bool> run(Graph& g, std::vector<std::string> passes, int tile = 2) {
  PassContext ctx;
  ctx.evaluate = evaluateNode;
  ctx.winogradTile = tile;
  PipelineOptions o;
  o.verifyEach = true;
  auto r = runPipeline(g, passes, ctx, o);
  if (!r)
    return r.error();
  return true;
}

const Case kTaken[] = {
    {{2, 16, 7, 9}, 32, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1, 3, true, true},  // 7x9: odd both ways
    {{1, 32, 6, 5}, 32, {1, 1}, {1, 1}, {0, 1, 2, 0}, 2, 3, false, false}, // groups, uneven pads
    {{3, 16, 8, 8}, 16, {1, 1}, {1, 1}, {0, 0, 0, 0}, 1, 3, true, false},  // no padding, 6x6
    {{1, 48, 4, 4}, 48, {1, 1}, {1, 1}, {2, 2, 2, 2}, 3, 3, true, true},   // pads of 2, three groups
};

TEST(Winograd, RewrittenConvolutionsComputeTheSameOnTheReferenceAndTheCpu) {
  for (int tile : {2, 4}) {
    for (const Case& c : kTaken) {
      SCOPED_TRACE(fmt::format("F({0}x{0}) {1}", tile, shapeString(c.x)));
      auto g = convGraph(c);
      Tensor x = test::randomTensor(g->inputs()[0]->type(), 9);
      auto want = runReference(*g, {x});
      ASSERT_TRUE(want) << want.error().message();
      auto r = run(*g, {"winograd"}, tile);
      ASSERT_TRUE(r) << r.error().message();
      EXPECT_EQ(count(*g, ops::WinogradOutput), 1) << printGraph(*g);
      EXPECT_EQ(count(*g, ops::Conv2d), 1); // the 1x1 products
      auto got = runReference(*g, {x});
      ASSERT_TRUE(got) << got.error().message();
      // The transformed values are f32 values of the graph: the reference rounds them. F(4x4)'s
      // coefficients (up to 8 and 1/24) make those roundings larger: up to about 3e-5 here on
      // outputs of scale 10 (144 products of unit values).
      const double atol = tile == 2 ? 1e-5 : 5e-5;
      EXPECT_ALL_CLOSE((*got)[0], (*want)[0], {atol, 1e-6});
      // The CPU after the rest of the pipeline (ReLU fused into the output transform).
      ASSERT_TRUE(run(*g, {"fuse", "dce", "plan-memory"}));
      if (c.relu) {
        bool fused = false;
        for (const auto& n : g->nodes())
          fused = fused || (n->is(ops::Fused) && n->attrs().getString("kind") == "winograd_output+relu");
        EXPECT_TRUE(fused) << printGraph(*g);
      }
      auto exe = CpuExecutable::compile(std::shared_ptr<Graph>(std::move(g)), {});
      ASSERT_TRUE(exe) << exe.error().message();
      auto cpu = (*exe)->run({x});
      ASSERT_TRUE(cpu) << cpu.error().message();
      EXPECT_ALL_CLOSE((*cpu)[0], (*want)[0], {atol, 1e-4});
    }
  }
}

TEST(Winograd, LeavesConvolutionsItDoesNotSpeedUp) {
  const Case kLeft[] = {
      {{1, 16, 9, 9}, 16, {2, 2}, {1, 1}, {1, 1, 1, 1}, 1, 3, true, false}, // strided
      {{1, 16, 9, 9}, 16, {1, 1}, {2, 2}, {2, 2, 2, 2}, 1, 3, true, false}, // dilated
      {{1, 16, 9, 9}, 16, {1, 1}, {1, 1}, {2, 2, 2, 2}, 1, 5, true, false}, // 5x5
      {{1, 3, 9, 9}, 16, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1, 3, true, false},  // 3 input channels
      {{1, 32, 9, 9}, 16, {1, 1}, {1, 1}, {1, 1, 1, 1}, 2, 3, true, false}, // 8 outputs per group
      {{1, 16, 3, 3}, 16, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1, 3, true, false}, // 3x3 output: 44% overhang
  };
  for (const Case& c : kLeft) {
    auto g = convGraph(c);
    auto r = run(*g, {"winograd"});
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(count(*g, ops::WinogradOutput), 0);
  }
}

// The narrow AlexNet at 131x131 through the default pipeline with the pass: conv3 (16 -> 24
// channels, 7x7) is the one convolution with 16 channels per group and tiles worth it; the
// numbers stay the network's.
TEST(Winograd, NarrowAlexNetWithTheWinogradPass) {
  AlexNetOptions o;
  o.variant = AlexNetVariant::Narrow;
  o.batch = 2;
  o.inputSize = 131;
  auto g = buildAlexNet(o);
  ASSERT_TRUE(g) << g.error().message();
  Tensor x = test::randomTensor((*g)->inputs()[0]->type(), 3);
  auto want = runReference(**g, {x});
  ASSERT_TRUE(want);
  std::vector<std::string> passes = defaultPipeline(false);
  passes.insert(std::find(passes.begin(), passes.end(), "fuse"), "winograd");
  ASSERT_TRUE(run(**g, passes));
  EXPECT_EQ(count(**g, ops::WinogradOutput), 0); // fused with its ReLU
  int fused = 0;
  for (const auto& n : (*g)->nodes())
    fused += n->is(ops::Fused) && n->attrs().getString("kind") == "winograd_output+relu";
  EXPECT_EQ(fused, 1);
  auto exe = CpuExecutable::compile(std::shared_ptr<Graph>(std::move(*g)), {});
  ASSERT_TRUE(exe) << exe.error().message();
  auto got = (*exe)->run({x});
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_ALL_CLOSE((*got)[0], (*want)[0], {1e-6, 1e-4});
}

} // namespace
} // namespace sinter

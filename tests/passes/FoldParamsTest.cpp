// fold-batch-norm and fold-params: the folded graph computes what the unfolded one does (the
// reference in double, the CPU backend in f32), the batch norms and parameter-only nodes are
// gone where the weights are frozen, and nothing changes where they are not, or where a fold
// would be wrong (a conv output read twice, a parameter without data).
#include "frontend/GraphBuilder.h"
#include "ir/OpTable.h"
#include "ir/Printer.h"
#include "ir/ops/Ops.h"
#include "passes/PassManager.h"
#include "runtime/cpu/CpuBackend.h"
#include "runtime/reference/Interpreter.h"
#include "tests/support/Numerics.h"

#include <gtest/gtest.h>

namespace sinter {
namespace {

TensorType f32(Shape s) { return {DType::F32, std::move(s)}; }

int count(const Graph& g, const OpDef& op) {
  int k = 0;
  for (const auto& n : g.nodes())
    k += n->is(op);
  return k;
}

Expected<bool> run(Graph& g, const std::vector<std::string>& passes, bool frozen) {
  PassContext ctx;
  ctx.evaluate = evaluateNode;
  ctx.frozenParams = frozen;
  PipelineOptions o;
  o.verifyEach = true;
  auto r = runPipeline(g, passes, ctx, o);
  if (!r)
    return r.error();
  return true;
}

struct BnCase {
  int64_t group;
  bool convBias, residual, dataForMean;
};

// x -> conv2d (3x3, pad 1) -> batch_norm -> [+ x] -> relu, with running statistics far from 0/1
// so a fold that forgot a term shows.
std::unique_ptr<Graph> convBnGraph(const BnCase& c) {
  const int64_t ch = 8;
  GraphBuilder b("convbn");
  Value* x = b.input("x", f32({2, ch, 6, 5}));
  Value* w = b.param("w", f32({ch, ch / c.group, 3, 3}), test::randomTensor(f32({ch, ch / c.group, 3, 3}), 1));
  Value* cb = c.convBias ? b.param("cb", f32({ch}), test::randomTensor(f32({ch}), 2)) : nullptr;
  Value* y = b.conv2d(x, w, cb, {1, 1}, {1, 1, 1, 1}, c.group, "conv");
  Value* scale = b.param("scale", f32({ch}), test::randomTensor(f32({ch}), 3, 0.5, 2.0));
  Value* shift = b.param("shift", f32({ch}), test::randomTensor(f32({ch}), 4));
  Value* mean = b.param("mean", f32({ch}),
                        c.dataForMean ? std::optional<Tensor>(test::randomTensor(f32({ch}), 5, -3, 3)) : std::nullopt);
  Value* var = b.param("var", f32({ch}), test::randomTensor(f32({ch}), 6, 0.1, 4.0));
  y = b.op(ops::BatchNorm, {y, scale, shift, mean, var}, {{"epsilon", 1e-3}}, "bn");
  if (c.residual)
    y = b.op(ops::Add, {y, x}, {}, "sum");
  y = b.relu(y, "r");
  auto g = b.finish({y});
  EXPECT_TRUE(g) << g.error().message();
  return std::move(*g);
}

TEST(FoldBatchNorm, FoldedConvolutionComputesTheSameOnTheReferenceAndTheCpu) {
  const BnCase kCases[] = {{1, true, false, true}, {1, false, true, true}, {2, true, true, true}, {4, false, false, true}};
  for (const BnCase& c : kCases) {
    SCOPED_TRACE(fmt::format("group {} bias {} residual {}", c.group, c.convBias, c.residual));
    auto g = convBnGraph(c);
    Tensor x = test::randomTensor(g->inputs()[0]->type(), 9);
    auto want = runReference(*g, {x});
    ASSERT_TRUE(want) << want.error().message();
    auto r = run(*g, defaultPipeline(false), /*frozen=*/true);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(count(*g, ops::BatchNorm), 0) << printGraph(*g);
    // One kernel: the convolution with its epilogue (relu, or add+relu); its operands are
    // parameters computed at compile time, and the unfolded ones are gone.
    EXPECT_EQ(g->numNodes(), 1u) << printGraph(*g);
    for (const Value* p : g->params())
      EXPECT_TRUE(p->name() == "conv.w_bn" || p->name() == "conv.b_bn") << p->name();
    auto got = runReference(*g, {x});
    ASSERT_TRUE(got) << got.error().message();
    EXPECT_ALL_CLOSE((*got)[0], (*want)[0], {1e-5, 1e-5});
    auto exe = CpuExecutable::compile(std::shared_ptr<Graph>(std::move(g)), {});
    ASSERT_TRUE(exe) << exe.error().message();
    auto cpu = (*exe)->run({x});
    ASSERT_TRUE(cpu) << cpu.error().message();
    EXPECT_ALL_CLOSE((*cpu)[0], (*want)[0], {1e-5, 1e-4});
  }
}

TEST(FoldBatchNorm, LeavesTheGraphWhenWeightsAreNotFrozenOrAFoldWouldBeWrong) {
  // Not frozen (a training evaluation graph, whose parameters are set again by name).
  auto g = convBnGraph({1, true, false, true});
  ASSERT_TRUE(run(*g, defaultPipeline(false), /*frozen=*/false));
  EXPECT_EQ(count(*g, ops::BatchNorm), 1);
  EXPECT_NE(g->findValue("w"), nullptr);
  // A running mean without data: the filters would become a per-run computation.
  g = convBnGraph({1, true, false, false});
  ASSERT_TRUE(run(*g, {"fold-batch-norm", "fold-params"}, /*frozen=*/true));
  EXPECT_EQ(count(*g, ops::BatchNorm), 1);
  EXPECT_EQ(count(*g, ops::Conv2d), 1);
  // The convolution's output is also a graph output: its filters must stay as they are, and
  // the batch norm becomes the per-channel multiply-add instead.
  g = convBnGraph({1, true, false, true});
  std::vector<Value*> outs = g->outputs();
  outs.push_back(g->findValue("conv"));
  g->setOutputs(outs);
  Tensor x = test::randomTensor(g->inputs()[0]->type(), 9);
  auto want = runReference(*g, {x});
  ASSERT_TRUE(want);
  ASSERT_TRUE(run(*g, {"fold-batch-norm", "fold-params", "dce"}, /*frozen=*/true));
  EXPECT_EQ(count(*g, ops::BatchNorm), 0);
  EXPECT_NE(g->findValue("w"), nullptr);
  EXPECT_EQ(g->findValue("conv.w_bn"), nullptr);
  auto got = runReference(*g, {x});
  ASSERT_TRUE(got);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_ALL_CLOSE((*got)[i], (*want)[i], {1e-5, 1e-5});
}

// A batch norm after something other than a convolution (DenseNet's BN-ReLU-conv after a
// concat): x * scale + shift with folded per-channel factors, one elementwise kernel with the
// ReLU; rank 2 (BatchNorm1d) and rank 4.
TEST(FoldBatchNorm, StandaloneBatchNormBecomesAFusedMultiplyAdd) {
  for (Shape xs : {Shape{2, 6, 5, 3}, Shape{4, 6}}) {
    SCOPED_TRACE(shapeString(xs));
    GraphBuilder b("bn");
    Value* x = b.input("x", f32(xs));
    Value* scale = b.param("scale", f32({6}), test::randomTensor(f32({6}), 3, 0.5, 2.0));
    Value* shift = b.param("shift", f32({6}), test::randomTensor(f32({6}), 4));
    Value* mean = b.param("mean", f32({6}), test::randomTensor(f32({6}), 5, -3, 3));
    Value* var = b.param("var", f32({6}), test::randomTensor(f32({6}), 6, 0.1, 4.0));
    Value* y = b.op(ops::BatchNorm, {x, scale, shift, mean, var}, {{"epsilon", 1e-3}}, "bn");
    y = b.relu(y, "r");
    auto gr = b.finish({y});
    ASSERT_TRUE(gr) << gr.error().message();
    Graph& g = **gr;
    Tensor xt = test::randomTensor(g.inputs()[0]->type(), 9, -4, 4);
    auto want = runReference(g, {xt});
    ASSERT_TRUE(want);
    ASSERT_TRUE(run(g, defaultPipeline(false), /*frozen=*/true));
    ASSERT_EQ(g.numNodes(), 1u) << printGraph(g);
    const Node& k = *g.nodes().front();
    ASSERT_TRUE(k.is(ops::Fused)) << printGraph(g);
    EXPECT_EQ(k.attrs().getString("kind"), "mul+add+relu");
    EXPECT_EQ(g.params().size(), 2u); // bn.scale and bn.shift
    auto got = runReference(g, {xt});
    ASSERT_TRUE(got);
    EXPECT_ALL_CLOSE((*got)[0], (*want)[0], {1e-5, 1e-5});
    auto exe = CpuExecutable::compile(std::shared_ptr<Graph>(std::move(*gr)), {});
    ASSERT_TRUE(exe) << exe.error().message();
    auto cpu = (*exe)->run({xt});
    ASSERT_TRUE(cpu) << cpu.error().message();
    EXPECT_ALL_CLOSE((*cpu)[0], (*want)[0], {1e-5, 1e-4});
  }
}

// fold-params on winograd's filter transform: the products read a parameter, no
// winograd_filter is left, and the numbers are unchanged.
TEST(FoldParams, WinogradFiltersBecomeParameters) {
  GraphBuilder b("wino");
  Value* x = b.input("x", f32({1, 16, 6, 6}));
  Value* w = b.param("w", f32({16, 16, 3, 3}), test::randomTensor(f32({16, 16, 3, 3}), 1));
  Value* y = b.conv2d(x, w, nullptr, {1, 1}, {1, 1, 1, 1}, 1, "conv");
  auto gr = b.finish({y});
  ASSERT_TRUE(gr) << gr.error().message();
  Graph& g = **gr;
  Tensor xt = test::randomTensor(g.inputs()[0]->type(), 2);
  auto want = runReference(g, {xt});
  ASSERT_TRUE(want);
  ASSERT_TRUE(run(g, {"winograd", "fold-params", "dce"}, /*frozen=*/true));
  EXPECT_EQ(count(g, ops::WinogradFilter), 0) << printGraph(g);
  ASSERT_EQ(g.params().size(), 1u);
  const Value* u = g.params()[0];
  EXPECT_EQ(u->name(), "conv.wu");
  EXPECT_EQ(u->type().shape, (Shape{256, 16, 1, 1}));
  ASSERT_NE(g.weights().find("conv.wu"), nullptr);
  auto got = runReference(g, {xt});
  ASSERT_TRUE(got);
  EXPECT_ALL_CLOSE((*got)[0], (*want)[0], {1e-5, 1e-6});
}

TEST(FoldParams, KeepsOutputsAndResultsLargerThanTheirOperands) {
  GraphBuilder b("keep");
  Value* x = b.input("x", f32({4, 128, 256}));
  Value* p = b.param("p", f32({1, 1, 256}), test::randomTensor(f32({1, 1, 256}), 1));
  Value* q = b.param("q", f32({64}), test::randomTensor(f32({64}), 2));
  Value* big = b.op(ops::Expand, {p}, {{"shape", std::vector<int64_t>{4, 128, 256}}}, "big"); // 512x its operand
  Value* neg = b.op(ops::Neg, {q}, {}, "negq"); // a graph output
  Value* y = b.op(ops::Mul, {x, big}, {}, "y");
  auto gr = b.finish({y, neg});
  ASSERT_TRUE(gr) << gr.error().message();
  ASSERT_TRUE(run(**gr, {"fold-params"}, /*frozen=*/true));
  EXPECT_EQ((*gr)->numNodes(), 3u) << printGraph(**gr);
}

} // namespace
} // namespace sinter

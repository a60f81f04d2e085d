// The CPU backend's specialised paths against the reference: direct convolution (weights as
// parameters) over awkward shapes, packed and dot-product gemm, fused LRN + max-pool, epilogues.
#include "frontend/GraphBuilder.h"
#include "ir/OpTable.h"
#include "ir/ops/Ops.h"
#include "passes/PassManager.h"
#include "runtime/cpu/CpuBackend.h"
#include "runtime/reference/Interpreter.h"
#include "tests/support/Numerics.h"
#include "tests/support/TrainStep.h"

#include <gtest/gtest.h>

namespace sinter {
namespace {

TensorType f32(Shape s) { return {DType::F32, std::move(s)}; }

// Optimises (default pipeline) and runs `g` on the CPU and the reference with inputs `in`; compares.
void expectCpuMatchesReferenceOn(std::unique_ptr<Graph> g, const std::vector<Tensor>& in, test::Tolerance tol) {
  auto want = runReference(*g, in);
  ASSERT_TRUE(want) << want.error().message();
  PassContext ctx;
  ctx.evaluate = evaluateNode;
  ASSERT_TRUE(runPipeline(*g, defaultPipeline(false), ctx, {}));
  auto exe = CpuExecutable::compile(std::shared_ptr<Graph>(std::move(g)), {});
  ASSERT_TRUE(exe) << exe.error().message();
  auto got = (*exe)->run(in);
  ASSERT_TRUE(got) << got.error().message();
  for (size_t i = 0; i < got->size(); ++i)
    EXPECT_ALL_CLOSE((*got)[i], (*want)[i], tol);
}

// The same with random inputs.
void expectCpuMatchesReference(std::unique_ptr<Graph> g, uint64_t seed = 1, test::Tolerance tol = {1e-5, 1e-4}) {
  std::vector<Tensor> in;
  for (const Value* v : g->inputs())
    in.push_back(test::randomTensor(v->type(), seed++));
  expectCpuMatchesReferenceOn(std::move(g), in, tol);
}

struct ConvCase {
  Shape x;
  int64_t m, k;
  std::array<int64_t, 2> stride;
  std::array<int64_t, 4> pad;
  int64_t group;
  bool relu;
};

class DirectConv : public testing::TestWithParam<ConvCase> {};

TEST_P(DirectConv, MatchesReference) {
  const ConvCase& c = GetParam();
  GraphBuilder b("conv");
  Value* x = b.input("x", f32(c.x));
  Value* w = b.param("w", f32({c.m, c.x[1] / c.group, c.k, c.k}), test::randomTensor(f32({c.m, c.x[1] / c.group, c.k, c.k}), 7));
  Value* bias = b.param("b", f32({c.m}), test::randomTensor(f32({c.m}), 8));
  Value* y = b.conv2d(x, w, bias, c.stride, c.pad, c.group, "y");
  if (c.relu)
    y = b.relu(y, "r");
  auto g = b.finish({y});
  ASSERT_TRUE(g) << g.error().message();
  expectCpuMatchesReference(std::move(*g));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, DirectConv,
    testing::Values(ConvCase{{2, 3, 23, 23}, 10, 5, {4, 4}, {0, 0, 0, 0}, 1, true},   // conv1-like, odd sizes
                    ConvCase{{1, 8, 9, 11}, 34, 3, {1, 1}, {1, 1, 1, 1}, 2, true},     // groups, M not /32
                    ConvCase{{1, 4, 7, 20}, 33, 3, {1, 2}, {2, 0, 1, 3}, 1, false},   // asymmetric pads
                    ConvCase{{3, 5, 6, 6}, 7, 1, {1, 1}, {0, 0, 0, 0}, 1, true},       // 1x1
                    ConvCase{{1, 2, 5, 31}, 48, 5, {1, 1}, {2, 2, 2, 2}, 1, true},     // rows of 31 pixels
                    // Rows narrower than a tile: tiles across images (a partial block of images,
                    // ResNet's 2x2 and 4x4 layers, groups).
                    ConvCase{{9, 16, 2, 2}, 64, 3, {1, 1}, {1, 1, 1, 1}, 1, true},
                    ConvCase{{5, 40, 4, 4}, 48, 3, {1, 1}, {1, 1, 1, 1}, 2, false},
                    ConvCase{{17, 8, 5, 3}, 12, 3, {2, 1}, {0, 1, 2, 1}, 1, true}));

// The gradient convolutions: the input gradient as a direct convolution of dy with flipped,
// transposed weights (stride 1) or column blocks scattered back (stride > 1: blocks of input
// channels, one or several per group, vectors along positions or, under 16 positions, along
// rows); the weight gradient as a GEMM summed over images.
struct GradCase {
  Shape x, w;
  std::vector<int64_t> stride, pad, dilation;
  int64_t group;
};

class ConvGradients : public testing::TestWithParam<GradCase> {};

TEST_P(ConvGradients, MatchReference) {
  const GradCase& c = GetParam();
  int64_t OH = (c.x[2] + c.pad[0] + c.pad[2] - c.dilation[0] * (c.w[2] - 1) - 1) / c.stride[0] + 1;
  int64_t OW = (c.x[3] + c.pad[1] + c.pad[3] - c.dilation[1] * (c.w[3] - 1) - 1) / c.stride[1] + 1;
  Shape dys{c.x[0], c.w[0], OH, OW};
  GraphBuilder b("grads");
  Value* x = b.input("x", f32(c.x));
  Value* dy = b.input("dy", f32(dys));
  Value* w = b.param("w", f32(c.w), test::randomTensor(f32(c.w), 9));
  Attrs common{{"stride", c.stride}, {"pad", c.pad}, {"dilation", c.dilation}, {"group", c.group}};
  Attrs ai = common, aw = common;
  ai.set("input_hw", std::vector<int64_t>{c.x[2], c.x[3]});
  aw.set("kernel_hw", std::vector<int64_t>{c.w[2], c.w[3]});
  Value* dx = b.op(ops::Conv2dGradInput, {dy, w}, ai, "dx");
  Value* dw = b.op(ops::Conv2dGradWeight, {x, dy}, aw, "dw");
  auto g = b.finish({dx, dw});
  ASSERT_TRUE(g) << g.error().message();
  expectCpuMatchesReference(std::move(*g), 3, {1e-5, 2e-4});
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvGradients,
    testing::Values(GradCase{{2, 4, 9, 11}, {6, 2, 3, 3}, {1, 1}, {1, 2, 0, 1}, {2, 1}, 2},  // dilation, groups, odd pads
                    GradCase{{2, 3, 13, 13}, {5, 3, 5, 5}, {2, 2}, {2, 2, 2, 2}, {1, 1}, 1},  // stride 2
                    GradCase{{4, 3, 31, 31}, {8, 3, 11, 11}, {4, 4}, {0, 0, 0, 0}, {1, 1}, 1}, // conv1-like, long K
                    GradCase{{2, 64, 7, 7}, {40, 32, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}, 2},  // > one column chunk
                    GradCase{{2, 48, 16, 16}, {24, 48, 3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, 1}, // ResNet stride 2, 4 channel blocks
                    GradCase{{3, 14, 9, 8}, {10, 7, 1, 1}, {2, 2}, {0, 0, 0, 0}, {1, 1}, 2},   // 1x1 downsample, groups of 7
                    GradCase{{2, 6, 12, 11}, {4, 3, 3, 2}, {3, 2}, {2, 1, 0, 3}, {2, 2}, 2},  // dilated, stride 3x2
                    GradCase{{2, 40, 6, 6}, {24, 20, 3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, 2},  // 9 positions: vectors along rows
                    GradCase{{2, 64, 16, 16}, {32, 32, 3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, 2}, // 2 groups x 4 channel blocks
                    GradCase{{11, 32, 2, 2}, {48, 32, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}, 1})); // 2x2: tiles across images

TEST(CpuKernels, GemmPathsMatchReference) {
  // dot product up to 32 rows, packed above; trans_a (weight gradients) always packed, K past
  // one 256-step block and M past one 96-row chunk included.
  for (int64_t m : {1, 5, 32, 40, 130})
    for (bool tb : {true, false})
      for (bool ta : {false, true}) {
        int64_t k = ta ? 300 : 37;
        GraphBuilder b("gemm");
        Value* x = b.input("x", f32(ta ? Shape{k, m} : Shape{m, k}));
        Shape ws = tb ? Shape{19, k} : Shape{k, 19};
        Value* w = b.param("w", f32(ws), test::randomTensor(f32(ws), 3));
        Value* bias = b.param("b", f32({19}), test::randomTensor(f32({19}), 4));
        Value* y = b.op(ops::Gemm, {x, w, bias}, {{"trans_a", int64_t{ta}}, {"trans_b", int64_t{tb}}, {"alpha", 0.5}}, "y");
        y = b.relu(y, "r");
        auto g = b.finish({y});
        ASSERT_TRUE(g) << g.error().message();
        SCOPED_TRACE(fmt::format("m={} trans_a={} trans_b={}", m, ta, tb));
        expectCpuMatchesReference(std::move(*g));
      }
}

// Concat copies each operand's contiguous runs in chunks of 8192 elements: rows longer than a
// chunk (chunk edges inside an operand's run), runs of one element (the last axis), the first
// axis (one row), and many operands of different lengths (DenseNet's concats).
TEST(CpuKernels, ConcatCopiesEveryOperandsRuns) {
  struct Case {
    std::vector<Shape> in;
    int64_t axis;
  };
  const Case kCases[] = {
      {{{2, 3, 40, 100}, {2, 1, 40, 100}, {2, 5, 40, 100}}, 1}, // rows of 36000: chunk edges inside runs
      {{{3, 4, 1}, {3, 4, 2}, {3, 4, 1}}, -1},                 // runs of 1 and 2 elements
      {{{1, 7000}, {2, 7000}}, 0},                              // one row of 21000
      {{{2, 2, 3, 3}, {2, 4, 3, 3}, {2, 6, 3, 3}, {2, 8, 3, 3}, {2, 10, 3, 3}, {2, 12, 3, 3}}, 1},
  };
  for (const Case& c : kCases) {
    GraphBuilder b("concat");
    std::vector<Value*> xs;
    for (size_t i = 0; i < c.in.size(); ++i)
      xs.push_back(b.input(fmt::format("x{}", i), f32(c.in[i])));
    Value* y = b.op(ops::Concat, xs, {{"axis", c.axis}}, "y");
    auto g = b.finish({y});
    ASSERT_TRUE(g) << g.error().message();
    expectCpuMatchesReference(std::move(*g), 3, {0, 0}); // copies: exact
  }
}

// Transpose, slice and pad walk output rows (the last dimension) with the leading coordinates
// decoded once per row: long rows, rows of one element, a channel shuffle, strided and negative
// slices, and each pad mode.
TEST(CpuKernels, RowWiseCopiesMatchReference) {
  auto one = [](Shape xs, const OpDef& op, Attrs attrs) {
    GraphBuilder b("copy");
    Value* x = b.input("x", f32(xs));
    auto g = b.finish({b.op(op, {x}, std::move(attrs), "y")});
    EXPECT_TRUE(g) << g.error().message();
    expectCpuMatchesReference(std::move(*g), 5, {0, 0}); // copies: exact
  };
  one({2, 3, 4, 9000}, ops::Transpose, {{"perm", std::vector<int64_t>{0, 2, 1, 3}}}); // shuffle-like, long rows
  one({3, 20000}, ops::Transpose, {{"perm", std::vector<int64_t>{1, 0}}});           // rows of 3
  one({4, 5, 6}, ops::Transpose, {{"perm", std::vector<int64_t>{2, 0, 1}}});         // last axis moved first
  one({6, 10001}, ops::Slice, {{"starts", std::vector<int64_t>{1, 2}}, {"ends", std::vector<int64_t>{6, 9999}},
                               {"steps", std::vector<int64_t>{2, 3}}});
  one({5, 40}, ops::Slice, {{"starts", std::vector<int64_t>{-1}}, {"ends", std::vector<int64_t>{-41}},
                            {"axes", std::vector<int64_t>{1}}, {"steps", std::vector<int64_t>{-2}}});
  for (const char* mode : {"constant", "reflect", "edge"})
    one({2, 3, 9000}, ops::Pad, {{"pads", std::vector<int64_t>{0, 1, 2, 0, 2, 3}}, {"mode", std::string(mode)}});
}

// The CPU's own f32 exp (vectorised arithmetic, not libm) over its whole range: within 1 ulp of
// exp rounded from double where the result is normal (it computes in double and rounds once:
// within about 0.5 ulp), within one subnormal step below that,
// exactly 0 / inf / NaN where those are the answers; and sigmoid through it.
TEST(CpuKernels, ExpIsAccurateOverTheWholeRange) {
  std::vector<double> xs = {std::nan(""), INFINITY, -INFINITY, 0.0, -0.0, 1e-8, -1e-8, 88.72, 88.73, 89.5,
                            -87.3, -103.2, -103.9, -104.5, -200.0, 1000.0};
  for (int i = 0; i <= 40000; ++i)
    xs.push_back(-110.0 + 205.0 * i / 40000);
  const int64_t n = static_cast<int64_t>(xs.size());
  for (const OpDef* op : {&ops::Exp, &ops::Sigmoid}) {
    GraphBuilder b("exp");
    Value* x = b.input("x", f32({n}));
    auto g = b.finish({b.op(*op, {x}, {}, "y")});
    ASSERT_TRUE(g);
    Tensor in = Tensor::fromDoubles(f32({n}), xs);
    auto want = runReference(**g, {in});
    ASSERT_TRUE(want);
    PassContext ctx;
    ctx.evaluate = evaluateNode;
    ASSERT_TRUE(runPipeline(**g, defaultPipeline(false), ctx, {}));
    auto exe = CpuExecutable::compile(std::shared_ptr<Graph>(std::move(*g)), {});
    ASSERT_TRUE(exe) << exe.error().message();
    auto got = (*exe)->run({in});
    ASSERT_TRUE(got) << got.error().message();
    // sigmoid(x) = 1 / (1 + exp(-x)) in f32 rounds twice more (2 ulp), and is 0 below x = -88.7
    // (exp overflows), where the reference, in double, keeps a subnormal: below 1.2e-38.
    bool isExp = op == &ops::Exp;
    EXPECT_ALL_CLOSE((*got)[0], (*want)[0], {isExp ? 1.5e-45 : 1.2e-38, isExp ? 1.2e-7 : 2.5e-7}) << op->name;
    for (int64_t i = 0; isExp && i < n; ++i) { // allClose lets inf against a finite value through
      double w = (*want)[0].get(i), v = (*got)[0].get(i);
      if (std::isinf(w) || std::isinf(v) || w == 0) {
        EXPECT_EQ(v, w) << op->name << "(" << xs[static_cast<size_t>(i)] << ")";
      }
    }
  }
}

TEST(CpuKernels, LrnMaxPoolFusedMatchesReference) {
  GraphBuilder b("lrnpool");
  Value* x = b.input("x", f32({2, 7, 13, 13}));
  Value* n = b.lrn(x, 5, 1e-2, 0.75, 2.0, "n");
  Value* p = b.maxPool2d(n, {3, 3}, {2, 2}, "p");
  Value* n2 = b.lrn(p, 3, 0.5, 0.6, 1.0, "n2"); // beta != 0.75: the pow path
  auto g = b.finish({n2});
  ASSERT_TRUE(g) << g.error().message();
  expectCpuMatchesReference(std::move(*g));
}

// Max-pool gradients go to each window's first maximum (argmaxes first, then the additions):
// ResNet's padded 3/2 stem pool, AlexNet's unpadded one in ceil mode, a dilated 2x2, a 5x5
// window (past the 16 taps written out: the looped path); random values and ties (a constant
// image: every window's first element inside the input).
TEST(CpuKernels, MaxPoolGradientGoesToTheFirstMaximum) {
  struct Case {
    int64_t k, s, p, d, ceil;
  };
  for (Case c : {Case{3, 2, 1, 1, 0}, Case{3, 2, 0, 1, 1}, Case{2, 1, 1, 2, 0}, Case{5, 2, 2, 1, 0}})
    for (int ties = 0; ties < 2; ++ties) {
      SCOPED_TRACE(fmt::format("kernel {} stride {} pad {} dilation {} ceil {} {}", c.k, c.s, c.p, c.d, c.ceil,
                               ties ? "ties" : "random"));
      GraphBuilder b("poolgrad");
      Attrs a{{"kernel", std::vector<int64_t>{c.k, c.k}}, {"stride", std::vector<int64_t>{c.s, c.s}},
              {"pad", std::vector<int64_t>{c.p, c.p, c.p, c.p}}, {"dilation", std::vector<int64_t>{c.d, c.d}},
              {"ceil_mode", c.ceil}};
      Value* x = b.input("x", f32({2, 3, 9, 9}));
      Value* y = b.op(ops::MaxPool2d, {x}, a, "y");
      Value* dy = b.input("dy", y->type());
      Value* dx = b.op(ops::MaxPool2dGrad, {x, dy}, a, "dx");
      auto g = b.finish({dx});
      ASSERT_TRUE(g) << g.error().message();
      Tensor xv = test::randomTensor(x->type(), 41);
      if (ties)
        for (int64_t i = 0; i < xv.numel(); ++i)
          xv.set(i, 1.0);
      expectCpuMatchesReferenceOn(std::move(*g), {xv, test::randomTensor(dy->type(), 42)}, {1e-6, 1e-5});
    }
}

TEST(CpuKernels, DataDependentErrorsAreReported) {
  GraphBuilder b("loss");
  Value* s = b.input("s", f32({3, 4}));
  Value* l = b.input("labels", {DType::I64, {3}});
  Value* y = b.op(ops::SoftmaxCrossEntropy, {s, l}, {}, "loss");
  auto g = b.finish({y});
  ASSERT_TRUE(g);
  PassContext ctx;
  ASSERT_TRUE(runPipeline(**g, {"plan-memory"}, ctx, {}));
  auto exe = CpuExecutable::compile(std::shared_ptr<Graph>(std::move(*g)), {});
  ASSERT_TRUE(exe) << exe.error().message();
  auto r = (*exe)->run({test::randomTensor(f32({3, 4}), 1), test::makeTensor({DType::I64, {3}}, {0, 7, 1})});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "node %loss (softmax_cross_entropy): a label is out of range [0, 4) "
                                 "(softmax_cross_entropy)");
}

TEST(CpuKernels, UnplannedGraphsAreRefused) {
  GraphBuilder b("raw");
  Value* x = b.input("x", f32({4}));
  auto g = b.finish({b.relu(x, "y")});
  ASSERT_TRUE(g);
  auto exe = CpuExecutable::compile(std::shared_ptr<Graph>(std::move(*g)), {});
  ASSERT_FALSE(exe);
  EXPECT_EQ(exe.error().message(),
            "%y has no arena offset: run the pass pipeline (plan-memory) before the CPU backend");
}

// Two training steps of the narrow AlexNet (forward, backward, optimizer, parameter updates,
// weights repacked again after each update) against the reference, for SGD and Adam.
TEST(CpuTraining, TwoStepsMatchReference) {
  for (const char* opt : {"sgd", "adam"}) {
    SCOPED_TRACE(opt);
    test::TrainStepCase c = test::makeTrainStepCase(4, opt);
    ASSERT_TRUE(c.graph);
    auto exe = CpuExecutable::compile(c.graph, {});
    ASSERT_TRUE(exe) << exe.error().message();
    for (size_t step = 0; step < c.inputs.size(); ++step) {
      auto got = (*exe)->run(c.inputs[step]);
      ASSERT_TRUE(got) << got.error().message();
      EXPECT_ALL_CLOSE((*got)[0], c.outputs[step][0], {1e-6, 1e-4}) << "loss, step " << step;
      EXPECT_ALL_CLOSE((*got)[1], c.outputs[step][1], {1e-6, 1e-4}) << "logits, step " << step;
      // Adam moves every weight by about lr * sign(g) when |g| is tiny, so f32 rounding of a
      // near-zero gradient shows at the scale of the step (lr = 0.05): compare absolutely there.
      test::Tolerance tol = std::string(opt) == "adam" ? test::Tolerance{2e-4, 1e-4} : test::Tolerance{1e-6, 1e-4};
      const auto& updates = c.graph->updates();
      for (size_t i = 0; i < updates.size(); ++i) {
        auto p = (*exe)->param(updates[i].first->name());
        ASSERT_TRUE(p) << p.error().message();
        EXPECT_ALL_CLOSE(*p, c.params[step][i], tol) << c.graph->displayName(updates[i].first) << ", step " << step;
      }
    }
  }
}

// Batch norm in training: batch statistics (reductions over N, H, W and over N), their
// gradients, and the running statistics' updates after each step.
TEST(CpuTraining, BatchNormStepsMatchReference) {
  test::TrainStepCase c = test::makeTrainStepCase(4, "sgd", test::TrainModel::BatchNorm);
  ASSERT_TRUE(c.graph);
  auto exe = CpuExecutable::compile(c.graph, {});
  ASSERT_TRUE(exe) << exe.error().message();
  for (size_t step = 0; step < c.inputs.size(); ++step) {
    auto got = (*exe)->run(c.inputs[step]);
    ASSERT_TRUE(got) << got.error().message();
    EXPECT_ALL_CLOSE((*got)[0], c.outputs[step][0], {1e-6, 1e-4}) << "loss, step " << step;
    EXPECT_ALL_CLOSE((*got)[1], c.outputs[step][1], {1e-6, 1e-4}) << "logits, step " << step;
    const auto& updates = c.graph->updates();
    EXPECT_EQ(updates.size(), 2u * 10 + 4); // SGD: 10 weights and their velocities; 2 x 2 running statistics
    for (size_t i = 0; i < updates.size(); ++i) {
      auto p = (*exe)->param(updates[i].first->name());
      ASSERT_TRUE(p) << p.error().message();
      EXPECT_ALL_CLOSE(*p, c.params[step][i], {1e-6, 1e-4}) << c.graph->displayName(updates[i].first) << ", step " << step;
    }
  }
}

} // namespace
} // namespace sinter

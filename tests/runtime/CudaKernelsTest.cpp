// The CUDA backend without a GPU, kernels: every op and fused kernel, the GEMM paths, split-K,
// every candidate tiling and training steps, generated as CUDA C and run by the host emulator
// (tests/support/CudaEmu.h) against the reference interpreter.
#include "tests/runtime/CudaTestHelpers.h"

namespace sinter {
namespace {

using namespace cudatest;

class EveryOpCuda : public testing::TestWithParam<const OpDef*> {};

TEST_P(EveryOpCuda, EmulatedKernelMatchesReference) {
  const OpDef& op = *GetParam();
  test::OpSample s = test::sampleFor(op);
  ASSERT_TRUE(s.graph);
  auto g = planned(s.graph->clone());
  expectEmulationMatchesReference(*s.graph, g, s.inputs, target(CudaPrecision::F32), {1e-5, 1e-4});
}

INSTANTIATE_TEST_SUITE_P(Table, EveryOpCuda, testing::ValuesIn(allOps().begin(), allOps().end()),
                         [](const testing::TestParamInfo<const OpDef*>& p) { return std::string(p.param->name); });

struct ConvCase {
  Shape x;
  int64_t m, k;
  std::array<int64_t, 2> stride;
  std::array<int64_t, 4> pad;
  int64_t group;
  int multiprocessors; // 1: large (128) tiles, 1000: small (64) tiles
};

class CudaConv : public testing::TestWithParam<std::tuple<ConvCase, CudaPrecision>> {};

TEST_P(CudaConv, FusedConvMatchesReference) {
  const auto& [c, p] = GetParam();
  GraphBuilder b("conv");
  Shape ws{c.m, c.x[1] / c.group, c.k, c.k};
  Value* x = b.input("x", f32(c.x));
  Value* w = b.param("w", f32(ws), test::randomTensor(f32(ws), 7));
  Value* bias = b.param("b", f32({c.m}), test::randomTensor(f32({c.m}), 8));
  Value* y = b.relu(b.conv2d(x, w, bias, c.stride, c.pad, c.group, "y"), "r");
  auto g = b.finish({y});
  ASSERT_TRUE(g) << g.error().message();
  std::vector<Tensor> in{test::randomTensor(f32(c.x), 3)};
  auto original = (*g)->clone();
  auto opt = optimised(std::move(*g));
  test::Tolerance tol = p == CudaPrecision::TF32 ? test::Tolerance{5e-3, 3e-3} : test::Tolerance{1e-5, 1e-4};
  expectEmulationMatchesReference(*original, opt, in, target(p, 90, c.multiprocessors), tol);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaConv,
    testing::Combine(testing::Values(ConvCase{{2, 3, 23, 23}, 10, 5, {4, 4}, {0, 0, 0, 0}, 1, 1000}, // conv1-like
                                     ConvCase{{1, 8, 9, 11}, 34, 3, {1, 1}, {1, 1, 1, 1}, 2, 1000},  // groups
                                     ConvCase{{1, 4, 7, 20}, 33, 3, {1, 2}, {2, 0, 1, 3}, 1, 1000},  // odd pads
                                     ConvCase{{2, 6, 12, 12}, 130, 3, {1, 1}, {1, 1, 1, 1}, 2, 1},   // 128 tiles
                                     ConvCase{{3, 5, 6, 6}, 7, 1, {1, 1}, {0, 0, 0, 0}, 1, 1}),      // 1x1
                     testing::Values(CudaPrecision::F32, CudaPrecision::TF32)),
    [](const testing::TestParamInfo<std::tuple<ConvCase, CudaPrecision>>& p) {
      return fmt::format("case{}_{}", p.index / 2, std::get<1>(p.param) == CudaPrecision::TF32 ? "tf32" : "f32");
    });

TEST(CudaKernels, GemmPathsMatchReference) {
  for (CudaPrecision p : {CudaPrecision::F32, CudaPrecision::TF32})
    for (int64_t m : {1, 5, 16, 17, 70}) // warp dot products up to 16 rows, tiled GEMM above
      for (bool tb : {true, false}) {
        GraphBuilder b("gemm");
        Value* x = b.input("x", f32({m, 37}));
        Shape ws = tb ? Shape{131, 37} : Shape{37, 131};
        Value* w = b.param("w", f32(ws), test::randomTensor(f32(ws), 3));
        Value* bias = b.param("b", f32({131}), test::randomTensor(f32({131}), 4));
        Value* y = b.op(ops::Gemm, {x, w, bias}, {{"trans_b", int64_t{tb}}, {"alpha", 0.5}}, "y");
        y = b.relu(y, "r");
        auto g = b.finish({y});
        ASSERT_TRUE(g) << g.error().message();
        SCOPED_TRACE(fmt::format("m={} trans_b={} {}", m, tb, p == CudaPrecision::TF32 ? "tf32" : "f32"));
        std::vector<Tensor> in{test::randomTensor(f32({m, 37}), 5)};
        auto original = (*g)->clone();
        test::Tolerance tol = p == CudaPrecision::TF32 ? test::Tolerance{5e-3, 3e-3} : test::Tolerance{1e-5, 1e-4};
        expectEmulationMatchesReference(*original, optimised(std::move(*g)), in, target(p, 90, m == 70 ? 1 : 132), tol);
      }
}

// LRN fused with the max-pool after it. Each thread walks a chunk of channels, halved from 32
// while the threads would not fill the target's SMs: one channel per thread (batch-1 AlexNet's
// case), chunks of 32 with halos over 70 channels and an even LRN window, and chunks of 2 over 9
// channels with pool padding and ceil mode (window pixels outside the image) and a dilated window.
TEST(CudaKernels, LrnMaxPoolFusedMatchesReference) {
  struct Case {
    Shape x;
    int64_t size;
    Attrs pool;
    int multiprocessors;
    const char* rule;
  };
  const Case cases[] = {
      {{2, 7, 13, 13}, 5, {{"kernel", std::vector<int64_t>{3, 3}}, {"stride", std::vector<int64_t>{2, 2}}}, 132,
       "one thread per pool output and 1 channel,"},
      {{2, 70, 45, 45}, 4, {{"kernel", std::vector<int64_t>{3, 3}}, {"stride", std::vector<int64_t>{2, 2}}}, 1,
       "one thread per pool output and 32 channels,"},
      {{1, 9, 40, 41},
       3,
       {{"kernel", std::vector<int64_t>{2, 2}},
        {"stride", std::vector<int64_t>{2, 3}},
        {"pad", std::vector<int64_t>{1, 1, 1, 1}},
        {"dilation", std::vector<int64_t>{2, 1}},
        {"ceil_mode", int64_t{1}}},
       1,
       "one thread per pool output and 2 channels,"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(fmt::format("x {} size {}", fmt::join(c.x, "x"), c.size));
    GraphBuilder b("lrnpool");
    Value* x = b.input("x", f32(c.x));
    Value* l = b.op(ops::Lrn, {x}, {{"size", c.size}, {"alpha", 1e-2}, {"beta", 0.75}, {"bias", 2.0}}, "l");
    Value* p = b.op(ops::MaxPool2d, {l}, c.pool, "p");
    auto g = b.finish({p});
    ASSERT_TRUE(g) << g.error().message();
    std::vector<Tensor> in{test::randomTensor(f32(c.x), 9, -3, 3)};
    auto original = (*g)->clone();
    auto opt = optimised(std::move(*g));
    size_t fused = 0;
    for (const auto& n : opt->nodes())
      fused += n->is(ops::Fused);
    EXPECT_EQ(fused, 1u) << "lrn + max_pool2d should fuse";
    CudaTarget t = target(CudaPrecision::F32, 90, c.multiprocessors);
    auto prog = emitCudaProgram(*opt, t);
    ASSERT_TRUE(prog) << prog.error().message();
    ASSERT_EQ(prog->kernels.size(), 1u);
    EXPECT_NE(prog->kernels[0].rule.find(c.rule), std::string::npos) << prog->kernels[0].rule;
    expectEmulationMatchesReference(*original, opt, in, t, {1e-5, 1e-4});
  }
}

// A weight gradient whose sum over images and positions (K = 4*18*18) is long and whose output
// is small: the GEMM splits K across blocks (atomic adds into the zeroed output), and the bias
// gradient's reduction takes one block per channel.
TEST(CudaKernels, SplitKWeightGradientAndLongReductionMatchReference) {
  for (CudaPrecision p : {CudaPrecision::F32, CudaPrecision::TF32}) {
    GraphBuilder b("dw");
    Value* x = b.input("x", f32({4, 6, 20, 20}));
    Value* dy = b.input("dy", f32({4, 8, 18, 18}));
    Value* dw = b.op(ops::Conv2dGradWeight, {x, dy}, {{"group", int64_t{2}}, {"kernel_hw", std::vector<int64_t>{3, 3}}}, "dw");
    Value* db = b.op(ops::ReduceSum, {dy}, {{"axes", std::vector<int64_t>{0, 2, 3}}, {"keepdims", int64_t{0}}}, "db");
    auto g = b.finish({dw, db});
    ASSERT_TRUE(g) << g.error().message();
    std::vector<Tensor> in{test::randomTensor(f32({4, 6, 20, 20}), 11), test::randomTensor(f32({4, 8, 18, 18}), 12)};
    auto original = (*g)->clone();
    auto planned_ = planned(std::move(*g));
    auto prog = emitCudaProgram(*planned_, target(p));
    ASSERT_TRUE(prog) << prog.error().message();
    std::string rules;
    for (const CudaKernel& k : prog->kernels)
      rules += k.rule + "\n";
    EXPECT_NE(rules.find("split-K 5 ways"), std::string::npos) << rules;
    EXPECT_NE(rules.find("one block of 256 threads per output (8 outputs of 1296 elements)"), std::string::npos) << rules;
    // Sums of 1296 products of O(1) values have magnitude ~12: TF32's ~5e-4 relative error on
    // that scale is ~6e-3 absolute, whatever the result's own size.
    SCOPED_TRACE(p == CudaPrecision::TF32 ? "tf32" : "f32");
    test::Tolerance tol = p == CudaPrecision::TF32 ? test::Tolerance{2e-2, 3e-3} : test::Tolerance{1e-5, 1e-4};
    expectEmulationMatchesReference(*original, planned_, in, target(p), tol);
  }
}

// Few output tiles and a long K with a bias + ReLU epilogue (batch-1 conv3 and FC layers): the
// splits write partial tiles to a workspace and the last block of each tile sums them in order.
// Run twice: the tile counters must be left at zero for the next launch.
TEST(CudaKernels, WorkspaceSplitKMatchesReference) {
  for (CudaPrecision p : {CudaPrecision::F32, CudaPrecision::TF32}) {
    GraphBuilder b("splitk");
    Value* x = b.input("x", f32({1, 256, 13, 13}));
    Value* w = b.param("w", f32({96, 256, 3, 3}), test::randomTensor(f32({96, 256, 3, 3}), 21, -0.1, 0.1));
    Value* bias = b.param("b", f32({96}), test::randomTensor(f32({96}), 22));
    Value* y = b.relu(b.conv2d(x, w, bias, {1, 1}, {1, 1, 1, 1}, 1, "y"), "r");
    Value* fw = b.param("fw", f32({40, 96 * 13 * 13}), test::randomTensor(f32({40, 96 * 13 * 13}), 23, -0.02, 0.02));
    Value* fb = b.param("fb", f32({40}), test::randomTensor(f32({40}), 24));
    Value* flat = b.op(ops::Flatten, {y}, {}, "flat");
    Value* fc = b.relu(b.op(ops::Gemm, {flat, fw, fb}, {{"trans_b", int64_t{1}}}, "fc"), "fr");
    auto g = b.finish({y, fc});
    ASSERT_TRUE(g) << g.error().message();
    std::vector<Tensor> in{test::randomTensor(f32({1, 256, 13, 13}), 25)};
    auto original = (*g)->clone();
    auto opt = optimised(std::move(*g));
    auto prog = emitCudaProgram(*opt, target(p));
    ASSERT_TRUE(prog) << prog.error().message();
    int split = 0;
    for (const CudaKernel& k : prog->kernels)
      split += k.workspaceBytes > 0 && k.rule.find("summed in order by the last block") != std::string::npos;
    EXPECT_GE(split, 1) << "the conv should split K through the workspace";
    SCOPED_TRACE(p == CudaPrecision::TF32 ? "tf32" : "f32");
    test::Tolerance tol = p == CudaPrecision::TF32 ? test::Tolerance{2e-2, 3e-3} : test::Tolerance{1e-5, 1e-4};
    expectEmulationMatchesReference(*original, opt, in, target(p), tol);
    std::string why;
    if (!test::cudaEmulationAvailable(&why))
      continue;
    auto emu = test::EmulatedCuda::create(opt, target(p));
    ASSERT_TRUE(emu) << emu.error().message();
    auto want = runReference(*original, in);
    ASSERT_TRUE(want);
    for (int run = 0; run < 2; ++run) {
      auto got = (*emu)->run(in);
      ASSERT_TRUE(got) << got.error().message();
      EXPECT_ALL_CLOSE((*got)[0], (*want)[0], tol) << "run " << run;
      EXPECT_ALL_CLOSE((*got)[1], (*want)[1], tol) << "run " << run;
    }
  }
}

// Every tiling an autotuner may pick (tile sizes, split-K ways, the register and the cp.async
// pipelines) computes the same results, each kernel run with its i-th candidate in round i.
TEST(CudaKernels, EveryTilingCandidateMatchesReference) {
  std::string why;
  if (!test::cudaEmulationAvailable(&why))
    GTEST_SKIP() << why;
  for (CudaPrecision p : {CudaPrecision::F32, CudaPrecision::TF32}) {
    SCOPED_TRACE(p == CudaPrecision::TF32 ? "tf32" : "f32");
    TilingCase tc = tilingGraph();
    const std::vector<Tensor>& in = tc.inputs;
    auto original = tc.graph->clone();
    auto opt = optimised(std::move(tc.graph));
    auto want = runReference(*original, in);
    ASSERT_TRUE(want) << want.error().message();
    // 8 SMs: few tiles per SM, so the candidates include split-K.
    CudaTarget base = target(p, 90, 8);
    auto rule = emitCudaProgram(*opt, base);
    ASSERT_TRUE(rule) << rule.error().message();
    size_t rounds = 0, tiled = 0;
    std::set<std::string> kinds;
    for (const CudaKernel& k : rule->kernels) {
      if (!k.tiling)
        continue;
      ++tiled;
      ASSERT_FALSE(k.candidates.empty());
      EXPECT_EQ(k.candidates.front(), *k.tiling) << k.name << ": the rule's tiling comes first";
      rounds = std::max(rounds, k.candidates.size());
      for (const GemmTiling& c : k.candidates) {
        kinds.insert(c.stages ? "async" : "registers");
        kinds.insert(fmt::format("tile{}x{}", c.tileM, c.tileN));
        if (c.split > 1)
          kinds.insert("split");
        if (c.warps == 4)
          kinds.insert("warps4");
      }
    }
    EXPECT_EQ(tiled, 6u);
    bool nvec = false; // g3's B copied along n, 16 bytes at a time (the TF32 rule is cp.async)
    for (const CudaKernel& k : rule->kernels)
      nvec = nvec || k.source.find("sinter_cp_async16(&Bs[(ki)") != std::string::npos;
    EXPECT_EQ(nvec, p == CudaPrecision::TF32);
    for (const char* kind : {"tile64x64", "tile128x128", "tile64x128", "tile128x64", "split"})
      EXPECT_TRUE(kinds.count(kind)) << kind << " missing from " << fmt::format("{}", fmt::join(kinds, " "));
    EXPECT_EQ(kinds.count("async"), p == CudaPrecision::TF32 ? 1u : 0u);
    EXPECT_EQ(kinds.count("warps4"), p == CudaPrecision::TF32 ? 1u : 0u); // 64x64 warp tiles
    test::Tolerance tol = p == CudaPrecision::TF32 ? test::Tolerance{2e-2, 3e-3} : test::Tolerance{1e-5, 1e-4};
    for (size_t r = 0; r < rounds; ++r) {
      CudaTarget t = base;
      for (const CudaKernel& k : rule->kernels)
        if (k.tiling)
          t.tilings[k.name] = k.candidates[std::min(r, k.candidates.size() - 1)];
      auto emu = test::EmulatedCuda::create(opt, t);
      ASSERT_TRUE(emu) << emu.error().message();
      std::string chosen;
      for (const CudaKernel& k : (*emu)->program().kernels)
        if (k.tiling) {
          EXPECT_EQ(*k.tiling, t.tilings.at(k.name)) << k.name;
          chosen += fmt::format("\n  {}: {}", k.name, k.rule);
        }
      SCOPED_TRACE(fmt::format("round {}:{}", r, chosen));
      if (nvrtcAvailable()) { // the same source compiles cleanly for the GPU
        auto bins = compileCudaProgram((*emu)->program(), CudaCompileOptions{});
        ASSERT_TRUE(bins) << bins.error().message();
        for (size_t i = 0; i < bins->size(); ++i)
          EXPECT_EQ(nvrtcWarnings((*bins)[i]), "") << (*emu)->program().kernels[i].name;
      }
      for (int run = 0; run < 2; ++run) { // twice: split-K counters are left at zero
        auto got = (*emu)->run(in);
        ASSERT_TRUE(got) << got.error().message();
        ASSERT_EQ(got->size(), want->size());
        for (size_t i = 0; i < got->size(); ++i)
          EXPECT_ALL_CLOSE((*got)[i], (*want)[i], tol) << "result " << i << ", run " << run;
      }
    }
  }
}

// LRN and its gradient walk the channels with their windows in registers: odd and even window
// sizes, a window of one, more channels than the window, and chunks of channels per thread.
TEST(CudaKernels, LrnAndItsGradientMatchReference) {
  for (int64_t size : {5, 4, 1, 7}) {
    // 70 channels: chunks of 32 per thread (with halos); 20: one chunk.
    Shape shape = size == 5 || size == 4 ? Shape{2, 70, 2, 3} : Shape{2, 20, 3, 5};
    GraphBuilder b("lrn");
    Value* x = b.input("x", f32(shape));
    Value* dy = b.input("dy", f32(shape));
    Attrs a{{"size", size}, {"alpha", 0.3}, {"beta", size == 7 ? 0.6 : 0.75}, {"bias", 1.5}};
    Value* y = b.op(ops::Lrn, {x}, a, "y");
    Value* dx = b.op(ops::LrnGrad, {x, dy}, a, "dx");
    auto g = b.finish({y, dx});
    ASSERT_TRUE(g) << g.error().message();
    std::vector<Tensor> in{test::randomTensor(f32(shape), 31, -2, 2), test::randomTensor(f32(shape), 32)};
    auto original = (*g)->clone();
    SCOPED_TRACE(fmt::format("size {}", size));
    expectEmulationMatchesReference(*original, planned(std::move(*g)), in, target(CudaPrecision::F32), {1e-5, 1e-4});
  }
}

// Max-pool gradients scatter from each window's first maximum: overlapping 3/2 windows, ties
// (a constant image: every window's first element), random values, ceil mode.
TEST(CudaKernels, MaxPoolGradientGoesToTheFirstMaximum) {
  for (int variant = 0; variant < 2; ++variant) {
    GraphBuilder b("poolgrad");
    Value* x = b.input("x", f32({2, 3, 9, 9}));
    Value* dy = b.input("dy", f32({2, 3, 4, 4}));
    Value* dx = b.op(ops::MaxPool2dGrad, {x, dy},
                     {{"kernel", std::vector<int64_t>{3, 3}}, {"stride", std::vector<int64_t>{2, 2}}, {"ceil_mode", int64_t{1}}},
                     "dx");
    auto g = b.finish({dx});
    ASSERT_TRUE(g) << g.error().message();
    Tensor xv = variant == 0 ? test::randomTensor(f32({2, 3, 9, 9}), 41) : Tensor(f32({2, 3, 9, 9}));
    if (variant == 1)
      for (int64_t i = 0; i < xv.numel(); ++i)
        xv.set(i, 1.0);
    std::vector<Tensor> in{xv, test::randomTensor(f32({2, 3, 4, 4}), 42)};
    auto original = (*g)->clone();
    SCOPED_TRACE(variant == 0 ? "random" : "constant (ties)");
    expectEmulationMatchesReference(*original, planned(std::move(*g)), in, target(CudaPrecision::F32), {1e-6, 1e-5});
  }
}

// Winograd F(2x2, 3x3) (the winograd pass): the transforms and the 1x1 products (32 groups:
// 16 points x 2 convolution groups) with ReLU in the output transform, against the direct
// convolution on the reference. 9x7 outputs: the last row and column of tiles overhang.
TEST(CudaKernels, WinogradConvolutionMatchesReference) {
  for (int tile : {2, 4})
  for (CudaPrecision p : {CudaPrecision::F32, CudaPrecision::TF32}) {
    GraphBuilder b("winograd");
    Value* x = b.input("x", f32({2, 32, 9, 7}));
    Value* w = b.param("w", f32({32, 16, 3, 3}), test::randomTensor(f32({32, 16, 3, 3}), 3));
    Value* bias = b.param("b", f32({32}), test::randomTensor(f32({32}), 4));
    auto g = b.finish({b.relu(b.conv2d(x, w, bias, {1, 1}, {1, 1, 1, 1}, 2, "y"), "r")});
    ASSERT_TRUE(g) << g.error().message();
    auto original = (*g)->clone();
    PassContext ctx;
    ctx.evaluate = evaluateNode;
    ctx.winogradTile = tile;
    std::vector<std::string> passes = defaultPipeline(false);
    passes.insert(std::find(passes.begin(), passes.end(), "fuse"), "winograd");
    ASSERT_TRUE(runPipeline(**g, passes, ctx, {}));
    std::string kinds;
    for (const auto& n : (*g)->nodes())
      kinds += std::string(n->is(ops::Fused) ? n->attrs().getString("kind") : std::string(n->op().name)) + " ";
    EXPECT_EQ(kinds, "winograd_filter winograd_input conv2d winograd_output+relu ");
    std::vector<Tensor> in{test::randomTensor(f32({2, 32, 9, 7}), 5)};
    SCOPED_TRACE(fmt::format("F({0}x{0}) {1}", tile, p == CudaPrecision::TF32 ? "tf32" : "f32"));
    if (tile == 4 && p == CudaPrecision::TF32) { // refused: about 1% error
      auto prog = emitCudaProgram(**g, target(p));
      ASSERT_FALSE(prog);
      EXPECT_NE(prog.error().message().find("use --winograd-tile 2"), std::string::npos) << prog.error().message();
      continue;
    }
    // TF32 rounds the transformed values (sums of up to 4 inputs, 9 weights) and the output
    // transform adds 9 products: absolute errors up to about 1e-3 of the outputs' scale (~12
    // here: 144 products of unit values), so atol 1.5e-2 where the direct kernel needs 5e-3.
    // F(4x4) in f32: rounding of the transformed values up to about 3e-5 (WinogradTest).
    test::Tolerance tol = p == CudaPrecision::TF32 ? test::Tolerance{1.5e-2, 3e-3}
                                                   : test::Tolerance{tile == 2 ? 1e-5 : 5e-5, 1e-4};
    expectEmulationMatchesReference(*original, std::shared_ptr<Graph>(std::move(*g)), in, target(p), tol);
  }
}

TEST(CudaKernels, NarrowAlexNetMatchesReference) {
  for (CudaPrecision p : {CudaPrecision::F32, CudaPrecision::TF32}) {
    AlexNetOptions o;
    o.variant = AlexNetVariant::Narrow;
    o.batch = 2;
    auto g = buildAlexNet(o);
    ASSERT_TRUE(g) << g.error().message();
    std::vector<Tensor> in{test::randomTensor((*g)->inputs()[0]->type(), 11)};
    auto original = (*g)->clone();
    SCOPED_TRACE(p == CudaPrecision::TF32 ? "tf32" : "f32");
    // Softmax outputs near 0.1: TF32 is compared in absolute terms.
    test::Tolerance tol = p == CudaPrecision::TF32 ? test::Tolerance{1e-4, 3e-3} : test::Tolerance{1e-6, 1e-4};
    expectEmulationMatchesReference(*original, optimised(std::move(*g)), in, target(p), tol);
  }
}

// Two training steps of the narrow AlexNet and of a batch-norm network, emulated, against the
// reference (loss, logits and every updated parameter, velocity and running statistic).
TEST(CudaKernels, TrainingStepsMatchReference) {
  std::string why;
  if (!test::cudaEmulationAvailable(&why))
    GTEST_SKIP() << why;
  for (test::TrainModel model : {test::TrainModel::NarrowAlexNet, test::TrainModel::BatchNorm}) {
    SCOPED_TRACE(model == test::TrainModel::BatchNorm ? "batch norm" : "narrow AlexNet");
    test::TrainStepCase c = test::makeTrainStepCase(model == test::TrainModel::BatchNorm ? 4 : 2, "sgd", model);
    ASSERT_TRUE(c.graph);
    auto emu = test::EmulatedCuda::create(c.graph, target(CudaPrecision::F32));
    ASSERT_TRUE(emu) << emu.error().message();
    for (size_t step = 0; step < c.inputs.size(); ++step) {
      auto got = (*emu)->run(c.inputs[step]);
      ASSERT_TRUE(got) << got.error().message();
      EXPECT_ALL_CLOSE((*got)[0], c.outputs[step][0], {1e-6, 1e-4}) << "loss, step " << step;
      EXPECT_ALL_CLOSE((*got)[1], c.outputs[step][1], {1e-6, 1e-4}) << "logits, step " << step;
      const auto& updates = c.graph->updates();
      for (size_t i = 0; i < updates.size(); ++i) {
        auto p = (*emu)->param(updates[i].first->name());
        ASSERT_TRUE(p) << p.error().message();
        EXPECT_ALL_CLOSE(*p, c.params[step][i], {1e-6, 1e-4}) << c.graph->displayName(updates[i].first) << ", step " << step;
      }
    }
  }
}

} // namespace
} // namespace sinter

// The CUDA backend. Without a GPU (CI): NVRTC compiles every kernel of paper AlexNet (inference
// and training graphs, sm_80 and sm_90, f32 and TF32) with no warnings; the kernel cache (hit,
// miss on changed options, corrupt entries recompiled); every op and fused kernel, run by the
// host emulator (tests/support/CudaEmu.h), against the reference. With a GPU: the same kernels
// on the device through runtime/cuda, outputs poisoned before each run. GPU tests skip, saying
// why, when there is no driver.
#include "codegen/cuda/CudaProgram.h"
#include "frontend/GraphBuilder.h"
#include "ir/OpTable.h"
#include "models/AlexNet.h"
#include "passes/PassManager.h"
#include "runtime/KernelCache.h"
#include "runtime/cuda/Autotune.h"
#include "runtime/cuda/CudaCompile.h"
#include "runtime/cuda/CudaDevice.h"
#include "runtime/reference/Interpreter.h"
#include "codegen/cuda/TuneCheck.h"
#include "tests/support/CudaEmulator.h"
#include "tests/support/Numerics.h"
#include "tests/support/OpSamples.h"
#include "tests/support/TrainStep.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

namespace sinter {
namespace {

namespace fs = std::filesystem;

TensorType f32(Shape s) { return {DType::F32, std::move(s)}; }

std::shared_ptr<Graph> optimised(std::unique_ptr<Graph> g, bool train = false) {
  PassContext ctx;
  ctx.evaluate = evaluateNode;
  auto r = runPipeline(*g, defaultPipeline(train), ctx, {});
  EXPECT_TRUE(r) << r.error().message();
  return std::shared_ptr<Graph>(std::move(g));
}

std::shared_ptr<Graph> planned(std::unique_ptr<Graph> g) {
  auto r = runPipeline(*g, {"plan-memory"}, {}, {});
  EXPECT_TRUE(r) << r.error().message();
  return std::shared_ptr<Graph>(std::move(g));
}

CudaTarget target(CudaPrecision p, int sm = 90, int multiprocessors = 132) {
  CudaTarget t;
  t.sm = sm;
  t.precision = p;
  t.multiprocessors = multiprocessors;
  return t;
}

std::string tempDir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / fmt::format("sinter-{}-{}", name, ::getpid());
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

// ---- NVRTC, no GPU needed --------------------------------------------------------------------

struct NvrtcCase {
  int sm;
  CudaPrecision precision;
  bool train;
  int64_t batch;
};

class AlexNetNvrtc : public testing::TestWithParam<NvrtcCase> {};

TEST_P(AlexNetNvrtc, EveryKernelCompilesWithoutWarnings) {
  if (!nvrtcAvailable())
    GTEST_SKIP() << "this build has no CUDA toolkit (NVRTC)";
  const NvrtcCase& c = GetParam();
  AlexNetOptions o;
  o.batch = c.batch;
  o.weights = false;
  auto g = buildAlexNet(o);
  ASSERT_TRUE(g) << g.error().message();
  auto graph = optimised(std::move(*g), c.train);
  auto prog = emitCudaProgram(*graph, target(c.precision, c.sm));
  ASSERT_TRUE(prog) << prog.error().message();
  // Training: forward, backward (conv1-4's ReLU gradients in the epilogues of the convolution
  // input gradient or LRN gradient before them), 16 optimizer steps.
  EXPECT_EQ(prog->kernels.size(), c.train ? 66u : 12u);
  CudaCompileOptions co;
  co.sm = c.sm;
  auto bins = compileCudaProgram(*prog, co);
  ASSERT_TRUE(bins) << bins.error().message();
  ASSERT_EQ(bins->size(), prog->kernels.size());
  for (size_t i = 0; i < bins->size(); ++i) {
    const CompiledKernel& k = (*bins)[i];
    EXPECT_EQ(k.cubin.compare(0, 4, "\x7f" "ELF"), 0) << prog->kernels[i].name << ": not a CUBIN";
    EXPECT_EQ(nvrtcWarnings(k), "") << prog->kernels[i].name;
    EXPECT_NE(resourceReport(k).find("registers"), std::string::npos) << prog->kernels[i].name << ": no ptxas report";
  }
}

// What --autotune may pick for paper AlexNet's inference (the candidates beyond the rule's:
// other tiles, split-K, the cp.async pipeline) compiles cleanly too, and the TF32 kernels keep
// their accumulators in registers (no spills).
// (Plus, from the batch-128 training graph in TF32, the input-gradient convolutions', whose
// cp.async gather reads a k table.)
TEST(AlexNetNvrtcCandidates, EveryTilingCandidateCompilesWithoutWarningsOrSpills) {
  if (!nvrtcAvailable())
    GTEST_SKIP() << "this build has no CUDA toolkit (NVRTC)";
  struct Case {
    int64_t batch;
    CudaPrecision p;
    bool train;
  };
  for (Case cs : {Case{1, CudaPrecision::F32, false}, Case{1, CudaPrecision::TF32, false}, Case{128, CudaPrecision::F32, false},
                  Case{128, CudaPrecision::TF32, false}, Case{128, CudaPrecision::TF32, true}}) {
      const CudaPrecision p = cs.p;
      SCOPED_TRACE(fmt::format("batch {} {} {}", cs.batch, p == CudaPrecision::TF32 ? "tf32" : "f32", cs.train ? "train" : "infer"));
      AlexNetOptions o;
      o.batch = cs.batch;
      o.weights = false;
      auto g = buildAlexNet(o);
      ASSERT_TRUE(g) << g.error().message();
      auto graph = optimised(std::move(*g), cs.train);
      CudaTarget base = target(p, 90);
      auto rule = emitCudaProgram(*graph, base);
      ASSERT_TRUE(rule) << rule.error().message();
      CudaProgram all; // every candidate but the rule's (compiled by the test above)
      for (const CudaKernel& k : rule->kernels)
        for (size_t c = 1; c < k.candidates.size() && (!cs.train || k.rule.find("conv2d_grad_input") == 0); ++c) {
          CudaTarget t = base;
          t.tilings[k.name] = k.candidates[c];
          auto prog = emitCudaProgram(*graph, t);
          ASSERT_TRUE(prog) << prog.error().message();
          for (CudaKernel& kc : prog->kernels)
            if (kc.name == k.name)
              all.kernels.push_back(std::move(kc));
        }
      EXPECT_GE(all.kernels.size(), 8u);
      CudaCompileOptions co;
      co.sm = 90;
      auto bins = compileCudaProgram(all, co);
      ASSERT_TRUE(bins) << bins.error().message();
      for (size_t i = 0; i < bins->size(); ++i) {
        const CudaKernel& k = all.kernels[i];
        std::string report = resourceReport((*bins)[i]);
        EXPECT_EQ(nvrtcWarnings((*bins)[i]), "") << k.name << " " << k.tiling->str();
        if (p == CudaPrecision::TF32) {
          EXPECT_NE(report.find("0 bytes spill stores"), std::string::npos) << k.name << " " << k.tiling->str() << ": " << report;
        }
      }
    }
}

std::vector<NvrtcCase> nvrtcCases() {
  std::vector<NvrtcCase> cases;
  for (int sm : {80, 90})
    for (CudaPrecision p : {CudaPrecision::F32, CudaPrecision::TF32})
      for (bool train : {false, true})
        for (int64_t batch : {1, 128})
          cases.push_back({sm, p, train, batch});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Paper, AlexNetNvrtc, testing::ValuesIn(nvrtcCases()),
                         [](const testing::TestParamInfo<NvrtcCase>& p) {
                           return fmt::format("sm{}_{}_{}_batch{}", p.param.sm,
                                              p.param.precision == CudaPrecision::TF32 ? "tf32" : "f32",
                                              p.param.train ? "train" : "infer", p.param.batch);
                         });

// An architecture NVRTC does not know is one clear error naming the ones it does, not a failed
// compile per kernel.
TEST(CudaCache, UnknownArchitectureIsOneClearError) {
  if (!nvrtcAvailable())
    GTEST_SKIP() << "this build has no CUDA toolkit (NVRTC)";
  std::vector<int> archs = nvrtcArchitectures();
  ASSERT_FALSE(archs.empty());
  EXPECT_NE(std::find(archs.begin(), archs.end(), 90), archs.end());
  CudaProgram p;
  p.kernels = {cuda::tuneFillKernel(target(CudaPrecision::F32))};
  CudaCompileOptions co;
  co.sm = 52;
  co.useCache = false;
  auto bins = compileCudaProgram(p, co);
  ASSERT_FALSE(bins);
  EXPECT_NE(bins.error().message().find("cannot compile for sm_52; it compiles for sm_"), std::string::npos)
      << bins.error().message();
  EXPECT_EQ(bins.error().message().find("source"), std::string::npos) << bins.error().message();
}

TEST(CudaCache, HitsMissesOnChangedOptionsAndRecompilesCorruptEntries) {
  if (!nvrtcAvailable())
    GTEST_SKIP() << "this build has no CUDA toolkit (NVRTC)";
  GraphBuilder b("cache");
  Value* x = b.input("x", f32({1, 3, 9, 9}));
  Value* w = b.param("w", f32({8, 3, 3, 3}), test::randomTensor(f32({8, 3, 3, 3}), 1));
  Value* y = b.relu(b.conv2d(x, w, nullptr, {1, 1}, {1, 1, 1, 1}, 1, "c"), "r");
  Value* z = b.op(ops::Exp, {y}, {}, "e");
  auto g = b.finish({z});
  ASSERT_TRUE(g);
  auto graph = optimised(std::move(*g));
  auto prog = emitCudaProgram(*graph, target(CudaPrecision::F32));
  ASSERT_TRUE(prog) << prog.error().message();
  ASSERT_GE(prog->kernels.size(), 1u);

  CudaCompileOptions o;
  o.cacheDir = tempDir("cuda-cache");
  auto cold = compileCudaProgram(*prog, o);
  ASSERT_TRUE(cold) << cold.error().message();
  for (const CompiledKernel& k : *cold)
    EXPECT_FALSE(k.cacheHit);
  auto warm = compileCudaProgram(*prog, o);
  ASSERT_TRUE(warm);
  for (size_t i = 0; i < warm->size(); ++i) {
    EXPECT_TRUE((*warm)[i].cacheHit);
    EXPECT_EQ((*warm)[i].cubin, (*cold)[i].cubin);
    EXPECT_EQ((*warm)[i].log, (*cold)[i].log);
  }
  // Another architecture is another key.
  CudaCompileOptions other = o;
  other.sm = 80;
  auto sm80 = compileCudaProgram(*prog, other);
  ASSERT_TRUE(sm80);
  for (const CompiledKernel& k : *sm80) {
    EXPECT_FALSE(k.cacheHit);
    EXPECT_NE(k.key, (*cold)[0].key);
  }
  // Truncate one entry, overwrite another's payload bytes: both are recompiled, not trusted.
  KernelCache cache("cuda", o.cacheDir);
  auto entries = cache.list();
  ASSERT_GE(entries.size(), 2u);
  for (const auto& e : entries)
    EXPECT_TRUE(e.valid) << e.path;
  size_t damaged = 0;
  for (const auto& e : entries) {
    bool ours = false;
    for (const CompiledKernel& k : *cold)
      ours = ours || k.key == e.key;
    if (!ours)
      continue;
    if (damaged++ == 0) {
      fs::resize_file(e.path, fs::file_size(e.path) / 2);
    } else {
      std::fstream f(e.path, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(static_cast<std::streamoff>(fs::file_size(e.path) - 16));
      f.write("corrupted bytes!", 16);
    }
  }
  ASSERT_GE(damaged, 1u);
  size_t invalid = 0;
  for (const auto& e : cache.list())
    invalid += !e.valid;
  EXPECT_EQ(invalid, damaged);
  auto again = compileCudaProgram(*prog, o);
  ASSERT_TRUE(again) << again.error().message();
  size_t recompiled = 0;
  for (size_t i = 0; i < again->size(); ++i) {
    recompiled += !(*again)[i].cacheHit;
    EXPECT_EQ((*again)[i].cubin, (*cold)[i].cubin);
  }
  EXPECT_EQ(recompiled, damaged);
  for (const auto& e : cache.list())
    EXPECT_TRUE(e.valid) << e.path << " was not replaced";
  fs::remove_all(o.cacheDir);
}

TEST(CudaCompile, ErrorsCarryTheLogAndNumberedSource) {
  if (!nvrtcAvailable())
    GTEST_SKIP() << "this build has no CUDA toolkit (NVRTC)";
  CudaProgram p;
  CudaKernel k;
  k.name = "sinter_broken";
  k.source = "extern \"C\" __global__ void sinter_broken(int* status) {\n  undeclared_thing = 1;\n}\n";
  p.kernels.push_back(k);
  CudaCompileOptions o;
  o.useCache = false;
  auto r = compileCudaProgram(p, o);
  ASSERT_FALSE(r);
  const std::string& m = r.error().message();
  EXPECT_NE(m.find("sinter_broken"), std::string::npos) << m;
  EXPECT_NE(m.find("undeclared_thing"), std::string::npos) << m;
  EXPECT_NE(m.find("    2 |   undeclared_thing = 1;"), std::string::npos) << m;
}

// ---- Generated kernels run by the host emulator, against the reference ----------------------

// Runs `g` (already optimised or planned) through the emulator and compares with the reference
// on the same inputs.
void expectEmulationMatchesReference(const Graph& original, std::shared_ptr<const Graph> g, const std::vector<Tensor>& in,
                                     const CudaTarget& t, test::Tolerance tol) {
  std::string why;
  if (!test::cudaEmulationAvailable(&why))
    GTEST_SKIP() << why;
  auto want = runReference(original, in);
  ASSERT_TRUE(want) << want.error().message();
  auto emu = test::EmulatedCuda::create(g, t);
  ASSERT_TRUE(emu) << emu.error().message();
  auto got = (*emu)->run(in);
  ASSERT_TRUE(got) << got.error().message();
  ASSERT_EQ(got->size(), want->size());
  for (size_t i = 0; i < got->size(); ++i)
    EXPECT_ALL_CLOSE((*got)[i], (*want)[i], tol) << "result " << i;
  // The same source is what NVRTC compiles, cleanly.
  if (nvrtcAvailable()) {
    auto bins = compileCudaProgram((*emu)->program(), CudaCompileOptions{});
    ASSERT_TRUE(bins) << bins.error().message();
    for (size_t i = 0; i < bins->size(); ++i)
      EXPECT_EQ(nvrtcWarnings((*bins)[i]), "") << (*emu)->program().kernels[i].name;
  }
}

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
// pipelines) computes the same results: convolutions (padded, strided, grouped), their two
// gradients, and gemm in its layouts, each kernel run with its i-th candidate in round i.
// Convolutions (padded, strided, grouped), their two gradients, and gemm in two layouts.
struct TilingCase {
  std::unique_ptr<Graph> graph;
  std::vector<Tensor> inputs;
};
TilingCase tilingGraph() {
  GraphBuilder b("tilings");
  Value* x = b.input("x", f32({2, 6, 14, 14}));
  Value* w1 = b.param("w1", f32({70, 3, 3, 3}), test::randomTensor(f32({70, 3, 3, 3}), 31, -0.3, 0.3));
  Value* b1 = b.param("b1", f32({70}), test::randomTensor(f32({70}), 32));
  Value* y1 = b.relu(b.conv2d(x, w1, b1, {2, 2}, {1, 0, 2, 1}, 2, "y1"), "r1"); // [2, 70, 8, 7]
  Value* dy = b.input("dy", f32({2, 70, 8, 7}));
  Value* w2 = b.param("w2", f32({70, 3, 3, 3}), test::randomTensor(f32({70, 3, 3, 3}), 33));
  Attrs conv{{"stride", std::vector<int64_t>{2, 2}}, {"pad", std::vector<int64_t>{1, 0, 2, 1}}, {"group", int64_t{2}}};
  Attrs gi = conv, gw = conv;
  gi.set("input_hw", std::vector<int64_t>{14, 14});
  gw.set("kernel_hw", std::vector<int64_t>{3, 3});
  Value* dx = b.op(ops::Conv2dGradInput, {dy, w2}, gi, "dx");
  Value* dw = b.op(ops::Conv2dGradWeight, {x, dy}, gw, "dw");
  Value* a = b.input("a", f32({20, 1100}));
  Value* fw = b.param("fw", f32({90, 1100}), test::randomTensor(f32({90, 1100}), 34, -0.05, 0.05));
  Value* fb = b.param("fb", f32({90}), test::randomTensor(f32({90}), 35));
  Value* fc = b.relu(b.op(ops::Gemm, {a, fw, fb}, {{"trans_b", int64_t{1}}}, "fc"), "fr");
  Value* at = b.input("at", f32({300, 20}));
  Value* fw2 = b.param("fw2", f32({300, 90}), test::randomTensor(f32({300, 90}), 36, -0.1, 0.1));
  Value* g2 = b.op(ops::Gemm, {at, fw2}, {{"trans_a", int64_t{1}}}, "g2");
  auto g = b.finish({y1, dx, dw, fc, g2});
  EXPECT_TRUE(g) << g.error().message();
  return {std::move(*g),
          {test::randomTensor(f32({2, 6, 14, 14}), 37), test::randomTensor(f32({2, 70, 8, 7}), 38),
           test::randomTensor(f32({20, 1100}), 39), test::randomTensor(f32({300, 20}), 40)}};
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
      }
    }
    EXPECT_EQ(tiled, 5u);
    for (const char* kind : {"tile64x64", "tile128x128", "tile64x128", "tile128x64", "split"})
      EXPECT_TRUE(kinds.count(kind)) << kind << " missing from " << fmt::format("{}", fmt::join(kinds, " "));
    EXPECT_EQ(kinds.count("async"), p == CudaPrecision::TF32 ? 1u : 0u);
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

// The tuner: candidates timed in rounds, the fastest kept and stored per device; the next tune
// on the same device reads the store without timing; another device, or a corrupt entry, tunes
// again. (The timer here is a stand-in that prefers one candidate; on a GPU it is the device.)
TEST(CudaAutotune, KeepsTheFastestCandidateAndStoresIt) {
  GraphBuilder b("tune");
  Value* x = b.input("x", f32({20, 16, 12, 12}));
  Value* w = b.param("w", f32({64, 16, 3, 3}), test::randomTensor(f32({64, 16, 3, 3}), 41));
  Value* y = b.relu(b.conv2d(x, w, nullptr, {1, 1}, {1, 1, 1, 1}, 1, "y"), "r");
  Value* fw = b.param("fw", f32({10, 64 * 144}), test::randomTensor(f32({10, 64 * 144}), 42));
  Value* f = b.op(ops::Gemm, {b.op(ops::Flatten, {y}, {}, "flat"), fw}, {{"trans_b", int64_t{1}}}, "f");
  auto g = b.finish({f});
  ASSERT_TRUE(g) << g.error().message();
  auto opt = optimised(std::move(*g));
  std::string dir = tempDir("tune");
  CudaTarget t = target(CudaPrecision::TF32, 90, 16);
  // Stand-in timer: the last candidate of each kernel is the fastest (1 ms), the rule's 3 ms.
  auto rule = emitCudaProgram(*opt, t);
  ASSERT_TRUE(rule);
  std::map<std::string, GemmTiling> fastest;
  for (const CudaKernel& k : rule->kernels)
    if (k.tiling) {
      ASSERT_GE(k.candidates.size(), 2u) << k.name;
      fastest[k.name] = k.candidates.back();
    }
  ASSERT_EQ(fastest.size(), 2u);
  int timed = 0;
  KernelTimer timer = [&](const std::vector<CudaKernel>& ks, bool ruleRound) -> Expected<std::vector<KernelTiming>> {
    std::vector<KernelTiming> ms;
    for (const CudaKernel& k : ks) {
      ++timed;
      bool isRule = false;
      for (const CudaKernel& r : rule->kernels)
        isRule |= r.name == k.name && *r.tiling == *k.tiling;
      EXPECT_EQ(isRule, ruleRound) << k.name << " " << k.tiling->str(); // the rule's run comes first, flagged
      ms.push_back({*k.tiling == fastest.at(k.name) ? 1.0 : isRule ? 3.0 : 2.0, 0.0});
    }
    return ms;
  };
  TuneStore h100("NVIDIA H100 sm_90 132 SMs", dir);
  auto first = autotune(*opt, t, h100, timer);
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(first->tunable, 2u);
  EXPECT_EQ(first->timed, 2u);
  EXPECT_EQ(first->stored, 0u);
  EXPECT_GT(timed, 3);
  for (const auto& [name, best] : fastest)
    EXPECT_EQ(first->target.tilings.at(name), best) << name;
  // The winners are what the program is generated with.
  auto tuned = emitCudaProgram(*opt, first->target);
  ASSERT_TRUE(tuned);
  for (const CudaKernel& k : tuned->kernels) {
    if (k.tiling) {
      EXPECT_EQ(*k.tiling, fastest.at(k.name));
    }
  }
  // Again on the same device: from the store, nothing timed.
  timed = 0;
  auto second = autotune(*opt, t, h100, timer);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(timed, 0);
  EXPECT_EQ(second->stored, 2u);
  EXPECT_EQ(second->target.tilings, first->target.tilings);
  EXPECT_NE(second->lines[0].find("stored"), std::string::npos) << second->lines[0];
  // Another device tunes for itself.
  auto other = autotune(*opt, t, TuneStore("NVIDIA H200 sm_90 132 SMs", dir), timer);
  ASSERT_TRUE(other);
  EXPECT_GT(timed, 0);
  EXPECT_EQ(other->timed, 2u);
  // A corrupt entry is not trusted: that kernel is timed again.
  KernelCache cache("tune", dir);
  auto entries = cache.list();
  ASSERT_EQ(entries.size(), 4u);
  {
    std::fstream f(entries[0].path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-3, std::ios::end);
    f.write("zzz", 3);
  }
  timed = 0;
  auto third = autotune(*opt, t, h100, timer);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->stored + third->timed, 2u);
  // A timer failure is an error, not a silent choice.
  KernelTimer broken = [](const std::vector<CudaKernel>&, bool) -> Expected<std::vector<KernelTiming>> {
    return makeError("device lost");
  };
  auto failed = autotune(*opt, t, TuneStore("another GPU", dir), broken);
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message().find("device lost"), std::string::npos) << failed.error().message();
  // A candidate whose outputs differ from the rule's is never chosen, however fast: here the
  // fastest computes something else (or NaN where the rule has numbers), the second fastest is
  // off by summation order only.
  for (double wrong : {0.5, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    SCOPED_TRACE(fmt::format("difference {}", wrong));
    std::map<std::string, GemmTiling> second;
    for (const CudaKernel& k : rule->kernels)
      if (k.tiling)
        second[k.name] = k.candidates[k.candidates.size() - 2];
    KernelTimer liar = [&](const std::vector<CudaKernel>& ks, bool) -> Expected<std::vector<KernelTiming>> {
      std::vector<KernelTiming> ms;
      for (const CudaKernel& k : ks)
        ms.push_back(*k.tiling == fastest.at(k.name)  ? KernelTiming{1.0, wrong}
                     : *k.tiling == second.at(k.name) ? KernelTiming{1.5, 1e-6}
                                                      : KernelTiming{3.0, 0.0});
      return ms;
    };
    std::string liarDir = tempDir("tune-liar");
    auto checked = autotune(*opt, t, TuneStore("a GPU with a fault", liarDir), liar);
    ASSERT_TRUE(checked) << checked.error().message();
    EXPECT_EQ(checked->rejected, 2u);
    for (const auto& [name, tiling] : second)
      EXPECT_EQ(checked->target.tilings.at(name), tiling) << name;
    std::string lines = fmt::format("{}", fmt::join(checked->lines, "\n"));
    EXPECT_NE(lines.find(fastest.begin()->second.str() + " rejected: its outputs differ from the rule's"), std::string::npos)
        << lines;
    fs::remove_all(liarDir);
  }
  EXPECT_EQ(autotuneTolerance(CudaPrecision::F32), 1e-4);
  EXPECT_EQ(autotuneTolerance(CudaPrecision::TF32), 2e-3);
  fs::remove_all(dir);
}

// The kernels --autotune checks candidates with: fill gives the same values for the same seed
// (in [-1, 1), varied), compare finds a changed element, a NaN on one side only, an infinity, and
// ignores NaNs both sides share. Run in the emulator, and compiled by NVRTC without warnings.
TEST(CudaAutotune, FillAndCompareKernels) {
  std::string why;
  if (!test::cudaEmulationAvailable(&why))
    GTEST_SKIP() << why;
  CudaTarget t = target(CudaPrecision::F32, 90, 2);
  CudaKernel fill = cuda::tuneFillKernel(t), compare = cuda::tuneCompareKernel(t);
  const long long n = 5000; // more than the grid's 8 x 256 threads: the loops stride
  auto filled = [&](unsigned seed) {
    std::vector<float> v(n, 99.f);
    float* p = v.data();
    long long count = n;
    Error e = test::emulateKernel(fill, {&p, &count, &seed});
    EXPECT_FALSE(e) << e.message();
    return v;
  };
  std::vector<float> a = filled(7), b = filled(7), c = filled(8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  double sum = 0;
  for (float v : a) {
    EXPECT_GE(v, -1.f);
    EXPECT_LT(v, 1.f);
    sum += v;
  }
  EXPECT_LT(std::abs(sum / n), 0.05);
  EXPECT_LT(*std::min_element(a.begin(), a.end()), -0.99f);
  EXPECT_GT(*std::max_element(a.begin(), a.end()), 0.99f);
  float mag = 0;
  for (float v : a)
    mag = std::max(mag, std::abs(v));
  auto difference = [&](std::vector<float> x, const std::vector<float>& ref) {
    const float* xp = x.data();
    const float* rp = ref.data();
    long long count = n;
    uint32_t words[3] = {};
    uint32_t* wp = words;
    Error e = test::emulateKernel(compare, {&xp, &rp, &count, &wp});
    EXPECT_FALSE(e) << e.message();
    return cuda::tuneDifference(words);
  };
  EXPECT_EQ(difference(a, a), 0.0);
  std::vector<float> x = a;
  x[4321] += 0.25f;
  EXPECT_NEAR(difference(x, a), std::abs(x[4321] - a[4321]) / mag, 1e-6);
  x = a;
  x[17] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(difference(x, a), std::numeric_limits<double>::infinity());
  EXPECT_EQ(difference(a, x), std::numeric_limits<double>::infinity());
  EXPECT_EQ(difference(x, x), 0.0);
  x = a;
  x[0] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(difference(x, a), std::numeric_limits<double>::infinity());
  std::vector<float> zero(n, 0.f), one(n, 0.f);
  one[n - 1] = 1e-3f;
  EXPECT_EQ(difference(zero, zero), 0.0);
  EXPECT_EQ(difference(one, zero), std::numeric_limits<double>::infinity());
  if (nvrtcAvailable()) {
    CudaProgram p;
    p.kernels = {fill, compare};
    for (int sm : {80, 90}) {
      CudaCompileOptions co;
      co.sm = sm;
      auto bins = compileCudaProgram(p, co);
      ASSERT_TRUE(bins) << bins.error().message();
      for (size_t i = 0; i < bins->size(); ++i)
        EXPECT_EQ(nvrtcWarnings((*bins)[i]), "") << p.kernels[i].name;
    }
  }
}

TEST(CudaAutotune, TilingAndRecordTextRoundTrip) {
  GemmTiling t{64, 128, 3, 3, 32};
  EXPECT_EQ(t.str(), "tile=64x128 split=3 stages=3 bk=32");
  EXPECT_EQ(GemmTiling::parse(t.str()), t);
  EXPECT_FALSE(GemmTiling::parse("tile=64x64 split=3 stages=3"));
  EXPECT_FALSE(GemmTiling::parse("tile=64 split=3 stages=3 bk=8"));
  EXPECT_FALSE(GemmTiling::parse("tile=64x64 split=x stages=3 bk=8"));
  EXPECT_FALSE(GemmTiling::parse("tile=64x64 split=3 stages=3 bk=8 colour=2"));
  TuneRecord r{t, 0.25, 0.5};
  auto back = TuneRecord::parse(r.str());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->tiling, t);
  EXPECT_DOUBLE_EQ(back->ms, 0.25);
  EXPECT_FALSE(TuneRecord::parse("tile=64x128 split=3 stages=3 bk=32 ms=nan rule_ms=1"));
  EXPECT_FALSE(TuneRecord::parse("tile=64x128 split=3 stages=3 bk=32 ms=1"));
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

// Two training steps of the narrow AlexNet, emulated, against the reference (loss, logits and
// every updated parameter and velocity).
TEST(CudaKernels, TrainingStepsMatchReference) {
  std::string why;
  if (!test::cudaEmulationAvailable(&why))
    GTEST_SKIP() << why;
  test::TrainStepCase c = test::makeTrainStepCase(2, "sgd");
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

// ---- On a GPU -------------------------------------------------------------------------------

class EveryOpGpu : public testing::TestWithParam<const OpDef*> {};

TEST_P(EveryOpGpu, DeviceMatchesReference) {
  std::string why;
  if (!cudaDeviceInfo(&why))
    GTEST_SKIP() << "no GPU: " << why;
  const OpDef& op = *GetParam();
  test::OpSample s = test::sampleFor(op);
  ASSERT_TRUE(s.graph);
  auto want = runReference(*s.graph, s.inputs);
  ASSERT_TRUE(want);
  CudaRunOptions o;
  auto exe = CudaExecutable::create(planned(s.graph->clone()), o);
  ASSERT_TRUE(exe) << exe.error().message();
  for (int run = 0; run < 2; ++run) { // the second run replays the captured CUDA graph
    auto got = (*exe)->run(s.inputs);
    ASSERT_TRUE(got) << got.error().message();
    for (size_t i = 0; i < got->size(); ++i)
      EXPECT_ALL_CLOSE((*got)[i], (*want)[i], {1e-5, 1e-4}) << op.name << " run " << run;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, EveryOpGpu, testing::ValuesIn(allOps().begin(), allOps().end()),
                         [](const testing::TestParamInfo<const OpDef*>& p) { return std::string(p.param->name); });

// Paper AlexNet at batch 4 (optimised), a random input and the reference's output for it.
struct AlexNetCase {
  std::shared_ptr<Graph> graph;
  std::vector<Tensor> inputs;
  Expected<std::vector<Tensor>> want;
};
AlexNetCase alexNetBatch4() {
  AlexNetOptions o;
  o.batch = 4;
  auto g = buildAlexNet(o);
  EXPECT_TRUE(g) << g.error().message();
  std::vector<Tensor> in{test::randomTensor((*g)->inputs()[0]->type(), 5)};
  auto want = runReference(**g, in);
  return {optimised(std::move(*g)), std::move(in), std::move(want)};
}

TEST(CudaGpu, AlexNetMatchesReferenceInBothPrecisions) {
  std::string why;
  if (!cudaDeviceInfo(&why))
    GTEST_SKIP() << "no GPU: " << why;
  for (bool tf32 : {false, true}) {
    AlexNetCase c = alexNetBatch4();
    ASSERT_TRUE(c.want) << c.want.error().message();
    const std::vector<Tensor>& in = c.inputs;
    auto& want = c.want;
    CudaRunOptions ro;
    ro.tf32 = tf32;
    auto exe = CudaExecutable::create(c.graph, ro);
    ASSERT_TRUE(exe) << exe.error().message();
    auto got = (*exe)->run(in);
    ASSERT_TRUE(got) << got.error().message();
    test::Tolerance tol = tf32 ? test::Tolerance{1e-5, 3e-3} : test::Tolerance{1e-7, 1e-4};
    EXPECT_ALL_CLOSE((*got)[0], (*want)[0], tol) << (tf32 ? "tf32" : "f32");
  }
}

// Every TF32 candidate tiling on the device: the cp.async pipeline's hardware behaviour, every
// tile shape and the split-K stores. (The f32 candidates differ from these only in the FFMA
// inner loop, which the emulator checks; leaving them out halves the device time.)
TEST(CudaGpu, EveryTilingCandidateMatchesReference) {
  std::string why;
  auto dev = cudaDeviceInfo(&why);
  if (!dev)
    GTEST_SKIP() << "no GPU: " << why;
  for (bool tf32 : {true}) {
    SCOPED_TRACE(tf32 ? "tf32" : "f32");
    TilingCase tc = tilingGraph();
    auto original = tc.graph->clone();
    auto opt = optimised(std::move(tc.graph));
    auto want = runReference(*original, tc.inputs);
    ASSERT_TRUE(want) << want.error().message();
    auto rule = emitCudaProgram(*opt, target(tf32 ? CudaPrecision::TF32 : CudaPrecision::F32, dev->sm, dev->multiprocessors));
    ASSERT_TRUE(rule);
    size_t rounds = 0;
    for (const CudaKernel& k : rule->kernels)
      rounds = std::max(rounds, k.candidates.size());
    test::Tolerance tol = tf32 ? test::Tolerance{2e-2, 3e-3} : test::Tolerance{1e-5, 1e-4};
    for (size_t r = 0; r < rounds; ++r) {
      CudaRunOptions ro;
      ro.tf32 = tf32;
      for (const CudaKernel& k : rule->kernels)
        if (k.tiling)
          ro.tilings[k.name] = k.candidates[std::min(r, k.candidates.size() - 1)];
      SCOPED_TRACE(fmt::format("round {}", r));
      auto exe = CudaExecutable::create(opt, ro);
      ASSERT_TRUE(exe) << exe.error().message();
      for (int run = 0; run < 2; ++run) {
        auto got = (*exe)->run(tc.inputs);
        ASSERT_TRUE(got) << got.error().message();
        for (size_t i = 0; i < got->size(); ++i)
          EXPECT_ALL_CLOSE((*got)[i], (*want)[i], tol) << "result " << i << ", run " << run;
      }
    }
  }
}

// --autotune end to end: the tuned AlexNet matches the reference, and a second executable on the
// same GPU takes every choice from the store.
TEST(CudaGpu, AutotunedAlexNetMatchesReferenceAndIsStored) {
  std::string why;
  if (!cudaDeviceInfo(&why))
    GTEST_SKIP() << "no GPU: " << why;
  std::string dir = tempDir("gpu-tune");
  AlexNetCase c = alexNetBatch4();
  ASSERT_TRUE(c.want) << c.want.error().message();
  const std::vector<Tensor>& in = c.inputs;
  auto& want = c.want;
  auto opt = c.graph;
  auto dev = cudaDeviceInfo();
  ASSERT_TRUE(dev);
  auto rule = emitCudaProgram(*opt, target(CudaPrecision::TF32, dev->sm, dev->multiprocessors));
  ASSERT_TRUE(rule);
  size_t tiled = 0;
  for (const CudaKernel& k : rule->kernels)
    tiled += k.tiling.has_value();
  EXPECT_EQ(tiled, 5u); // the five convolutions (batch 4's FC layers are warp dot products)
  for (int pass = 0; pass < 2; ++pass) {
    CudaRunOptions ro;
    ro.tf32 = true;
    ro.autotune = true;
    ro.cacheDir = dir;
    auto exe = CudaExecutable::create(opt, ro);
    ASSERT_TRUE(exe) << exe.error().message();
    const auto& lines = (*exe)->stats().tuning;
    // Every candidate computes what the rule's kernel does on this GPU (the output check).
    EXPECT_EQ((*exe)->stats().tuneRejected, 0u) << fmt::format("{}", fmt::join(lines, "\n"));
    EXPECT_EQ((*exe)->stats().tuned, tiled);
    EXPECT_EQ(lines.size(), tiled);
    for (const std::string& l : lines) {
      if (pass == 1) {
        EXPECT_NE(l.find("stored"), std::string::npos) << l;
      }
    }
    auto got = (*exe)->run(in);
    ASSERT_TRUE(got) << got.error().message();
    EXPECT_ALL_CLOSE((*got)[0], (*want)[0], (test::Tolerance{1e-5, 3e-3})) << "pass " << pass;
  }
  fs::remove_all(dir);
}

// Two training steps of the narrow AlexNet on the device (parameters and velocities stay there,
// updated inside the captured CUDA graph) against the reference, in f32.
TEST(CudaGpu, TrainingStepsMatchReference) {
  std::string why;
  if (!cudaDeviceInfo(&why))
    GTEST_SKIP() << "no GPU: " << why;
  for (const char* optimizer : {"sgd", "adam"}) {
    test::TrainStepCase c = test::makeTrainStepCase(2, optimizer);
    ASSERT_TRUE(c.graph);
    CudaRunOptions ro;
    auto exe = CudaExecutable::create(c.graph, ro);
    ASSERT_TRUE(exe) << exe.error().message();
    test::Tolerance tol = std::string(optimizer) == "sgd" ? test::Tolerance{1e-6, 1e-4} : test::Tolerance{2e-4, 1e-4};
    for (size_t step = 0; step < c.inputs.size(); ++step) {
      auto got = (*exe)->run(c.inputs[step]);
      ASSERT_TRUE(got) << got.error().message();
      EXPECT_ALL_CLOSE((*got)[0], c.outputs[step][0], tol) << optimizer << " loss, step " << step;
      EXPECT_ALL_CLOSE((*got)[1], c.outputs[step][1], tol) << optimizer << " logits, step " << step;
      const auto& updates = c.graph->updates();
      for (size_t i = 0; i < updates.size(); ++i) {
        auto p = (*exe)->param(updates[i].first->name());
        ASSERT_TRUE(p) << p.error().message();
        EXPECT_ALL_CLOSE(*p, c.params[step][i], tol)
            << optimizer << " " << c.graph->displayName(updates[i].first) << ", step " << step;
      }
    }
  }
}

TEST(CudaGpu, ReportsWhyWhenThereIsNoGpu) {
  std::string why;
  if (cudaDeviceInfo(&why))
    GTEST_SKIP() << "a GPU is present";
  EXPECT_FALSE(why.empty());
  auto exe = CudaExecutable::create(std::make_shared<Graph>("empty"), {});
  ASSERT_FALSE(exe);
  EXPECT_NE(exe.error().message().find("GPU"), std::string::npos) << exe.error().message();
}

} // namespace
} // namespace sinter

// The CUDA backend without a GPU, NVRTC side (CI runs these): every kernel of paper AlexNet
// (inference and training graphs, sm_80 and sm_90, f32 and TF32) and every candidate tiling
// compiles with no warnings (TF32 with no spills); the kernel cache (hit, miss on changed
// options, corrupt entries recompiled); compile errors carry the log and the numbered source.
#include "tests/runtime/CudaTestHelpers.h"

namespace sinter {
namespace {

using namespace cudatest;

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

} // namespace
} // namespace sinter

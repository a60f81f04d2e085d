// Helpers shared by the CUDA backend's tests (see CudaTestHelpers.h).
#include "tests/runtime/CudaTestHelpers.h"

#include <unistd.h>

namespace sinter::cudatest {

std::shared_ptr<Graph> optimised(std::unique_ptr<Graph> g, bool train) {
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

CudaTarget target(CudaPrecision p, int sm, int multiprocessors) {
  CudaTarget t;
  t.sm = sm;
  t.precision = p;
  t.multiprocessors = multiprocessors;
  return t;
}

bool onHostDriver() {
  auto dev = cudaDeviceInfo();
  return dev && dev->name.find("host driver") != std::string::npos;
}

std::string tempDir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / fmt::format("sinter-{}-{}", name, ::getpid());
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

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

void expectAutotunedAndStored(std::shared_ptr<const Graph> g, const std::vector<Tensor>& in, const std::vector<Tensor>& want,
                              size_t tiled, test::Tolerance tol) {
  std::string dir = tempDir("autotune");
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "tuning" : "from the store");
    CudaRunOptions ro;
    ro.tf32 = true;
    ro.autotune = true;
    ro.cacheDir = dir;
    auto exe = CudaExecutable::create(g, ro);
    ASSERT_TRUE(exe) << exe.error().message();
    const CudaCompileStats& st = (*exe)->stats();
    std::string lines = fmt::format("{}", fmt::join(st.tuning, "\n"));
    EXPECT_EQ(st.tuneRejected, 0u) << lines;
    EXPECT_EQ(st.tuned, tiled) << lines;
    EXPECT_EQ(st.tuning.size(), tiled) << lines;
    for (const std::string& l : st.tuning)
      if (pass == 1) {
        EXPECT_NE(l.find("stored"), std::string::npos) << l;
      }
    auto got = (*exe)->run(in);
    ASSERT_TRUE(got) << got.error().message();
    ASSERT_EQ(got->size(), want.size());
    for (size_t i = 0; i < got->size(); ++i)
      EXPECT_ALL_CLOSE((*got)[i], want[i], tol) << "result " << i;
  }
  fs::remove_all(dir);
}

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
  // Row-major B with 96 columns: TF32 copies it 16 bytes along n (GemmSpec::bNVec4).
  Value* a3 = b.input("a3", f32({24, 200}));
  Value* fw3 = b.param("fw3", f32({200, 96}), test::randomTensor(f32({200, 96}), 41, -0.1, 0.1));
  Value* g3 = b.op(ops::Gemm, {a3, fw3}, {}, "g3");
  auto g = b.finish({y1, dx, dw, fc, g2, g3});
  EXPECT_TRUE(g) << g.error().message();
  return {std::move(*g),
          {test::randomTensor(f32({2, 6, 14, 14}), 37), test::randomTensor(f32({2, 70, 8, 7}), 38),
           test::randomTensor(f32({20, 1100}), 39), test::randomTensor(f32({300, 20}), 40),
           test::randomTensor(f32({24, 200}), 42)}};
}

} // namespace sinter::cudatest

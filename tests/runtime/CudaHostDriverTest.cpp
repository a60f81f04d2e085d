// runtime/cuda on the host CUDA driver (tests/support/hostcuda), without a GPU: the driver's own
// checks, the executor with and without CUDA-graph replay, its timing and profiling, and
// --autotune end to end (timer, output check, store). CudaGpuTest.cpp runs on it as well.
#include "tests/runtime/CudaTestHelpers.h"
#include "tests/support/hostcuda/HostImage.h"

#include <cuda.h>
#include <dlfcn.h>

#include <cstdlib>

namespace sinter {
namespace {

using namespace cudatest;

// A driver entry point of the host driver, by its exported name.
template <class F> F entry(const char* name) {
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  EXPECT_TRUE(lib) << "the host driver is not loaded";
  F f = lib ? reinterpret_cast<F>(dlsym(lib, name)) : nullptr;
  EXPECT_TRUE(f) << name;
  return f;
}

TEST(HostDriver, IsTheDeviceHere) {
  std::string why;
  auto dev = cudaDeviceInfo(&why);
  ASSERT_TRUE(dev) << why;
  EXPECT_TRUE(onHostDriver()) << dev->name;
  EXPECT_EQ(dev->sm, 90);
  EXPECT_EQ(dev->multiprocessors, 132);
}

// The driver refuses what a GPU's would: synchronising inside a capture (which invalidates it),
// more dynamic shared memory than the function was given, more threads than its launch bounds,
// and device code that is not a host image. Arguments are copied when a launch is captured.
TEST(HostDriver, RefusesWhatAGpuDriverRefuses) {
  auto moduleLoad = entry<CUresult (*)(CUmodule*, const void*)>("cuModuleLoadData");
  auto getFunction = entry<CUresult (*)(CUfunction*, CUmodule, const char*)>("cuModuleGetFunction");
  auto setAttribute = entry<CUresult (*)(CUfunction, CUfunction_attribute, int)>("cuFuncSetAttribute");
  auto launch = entry<CUresult (*)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream,
                                   void**, void**)>("cuLaunchKernel");
  auto streamCreate = entry<CUresult (*)(CUstream*, unsigned)>("cuStreamCreate");
  auto sync = entry<CUresult (*)(CUstream)>("cuStreamSynchronize");
  auto begin = entry<CUresult (*)(CUstream, CUstreamCaptureMode)>("cuStreamBeginCapture_v2");
  auto end = entry<CUresult (*)(CUstream, CUgraph*)>("cuStreamEndCapture");
  auto instantiate = entry<CUresult (*)(CUgraphExec*, CUgraph, unsigned long long)>("cuGraphInstantiateWithFlags");
  auto graphLaunch = entry<CUresult (*)(CUgraphExec, CUstream)>("cuGraphLaunch");
  auto alloc = entry<CUresult (*)(CUdeviceptr*, size_t)>("cuMemAlloc_v2");
  auto toHost = entry<CUresult (*)(void*, CUdeviceptr, size_t, CUstream)>("cuMemcpyDtoHAsync_v2");
  auto graphDestroy = entry<CUresult (*)(CUgraph)>("cuGraphDestroy");
  auto execDestroy = entry<CUresult (*)(CUgraphExec)>("cuGraphExecDestroy");
  auto memFree = entry<CUresult (*)(CUdeviceptr)>("cuMemFree_v2");
  auto unload = entry<CUresult (*)(CUmodule)>("cuModuleUnload");
  ASSERT_TRUE(moduleLoad && getFunction && setAttribute && launch && streamCreate && sync && begin && end && instantiate &&
              graphLaunch && alloc && toHost && graphDestroy && execDestroy && memFree && unload);

  const char* notAnImage = "\x7f" "ELF, but not a host image";
  CUmodule m = nullptr;
  EXPECT_EQ(moduleLoad(&m, notAnImage), CUDA_ERROR_INVALID_IMAGE);
  std::string image = hostcuda::imageOf(
      "extern \"C\" __global__ void __launch_bounds__(64) put(float* out, float v) { out[threadIdx.x] = v; }\n");
  ASSERT_EQ(moduleLoad(&m, image.data()), CUDA_SUCCESS);
  CUfunction f = nullptr;
  EXPECT_EQ(getFunction(&f, m, "missing"), CUDA_ERROR_NOT_FOUND);
  ASSERT_EQ(getFunction(&f, m, "put"), CUDA_SUCCESS);
  CUstream s = nullptr;
  ASSERT_EQ(streamCreate(&s, 0), CUDA_SUCCESS);
  CUdeviceptr out = 0;
  ASSERT_EQ(alloc(&out, 64 * sizeof(float)), CUDA_SUCCESS);
  float v = 2.5f;
  void* params[] = {&out, &v};
  EXPECT_EQ(launch(f, 1, 1, 1, 128, 1, 1, 0, s, params, nullptr), CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES); // bounds 64
  EXPECT_EQ(launch(f, 1, 1, 1, 64, 1, 1, 64 * 1024, s, params, nullptr), CUDA_ERROR_INVALID_VALUE);    // > 48 KiB
  ASSERT_EQ(setAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 64 * 1024), CUDA_SUCCESS);
  EXPECT_EQ(launch(f, 1, 1, 1, 64, 1, 1, 64 * 1024, s, params, nullptr), CUDA_SUCCESS);

  // Capture a launch, change the argument afterwards: the replay writes the captured value.
  ASSERT_EQ(begin(s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), CUDA_SUCCESS);
  v = 7.0f;
  EXPECT_EQ(launch(f, 1, 1, 1, 64, 1, 1, 0, s, params, nullptr), CUDA_SUCCESS);
  v = -1.0f;
  CUgraph g = nullptr;
  ASSERT_EQ(end(s, &g), CUDA_SUCCESS);
  CUgraphExec exec = nullptr;
  ASSERT_EQ(instantiate(&exec, g, 0), CUDA_SUCCESS);
  EXPECT_EQ(graphDestroy(g), CUDA_SUCCESS); // (the instantiated graph stands alone)
  float host[64] = {};
  ASSERT_EQ(toHost(host, out, sizeof host, s), CUDA_SUCCESS);
  EXPECT_EQ(host[5], 2.5f); // captured, not run
  ASSERT_EQ(graphLaunch(exec, s), CUDA_SUCCESS);
  ASSERT_EQ(toHost(host, out, sizeof host, s), CUDA_SUCCESS);
  EXPECT_EQ(host[5], 7.0f);
  EXPECT_EQ(execDestroy(exec), CUDA_SUCCESS);
  EXPECT_EQ(toHost(host, out + 4, sizeof host, s), CUDA_ERROR_INVALID_VALUE); // past the allocation

  // Synchronising (or copying to the host) inside a capture fails and invalidates the capture.
  ASSERT_EQ(begin(s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), CUDA_SUCCESS);
  EXPECT_EQ(sync(s), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  EXPECT_EQ(end(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
  ASSERT_EQ(begin(s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), CUDA_SUCCESS);
  EXPECT_EQ(toHost(host, out, sizeof host, s), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  EXPECT_EQ(end(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
  EXPECT_EQ(sync(s), CUDA_SUCCESS);
  EXPECT_EQ(memFree(out), CUDA_SUCCESS);
  EXPECT_EQ(memFree(out), CUDA_ERROR_INVALID_VALUE); // (freed already)
  EXPECT_EQ(unload(m), CUDA_SUCCESS);
}

// In the sanitizer build the host driver's kernels are compiled with AddressSanitizer and its
// allocations are exact: a kernel that writes past its buffer is reported, as compute-sanitizer
// reports it on a GPU.
TEST(HostDriver, KernelOutOfBoundsIsReportedInTheSanitizerBuild) {
#if !defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "only the AddressSanitizer build compiles kernels with it";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto moduleLoad = entry<CUresult (*)(CUmodule*, const void*)>("cuModuleLoadData");
  auto getFunction = entry<CUresult (*)(CUfunction*, CUmodule, const char*)>("cuModuleGetFunction");
  auto launch = entry<CUresult (*)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream,
                                   void**, void**)>("cuLaunchKernel");
  auto alloc = entry<CUresult (*)(CUdeviceptr*, size_t)>("cuMemAlloc_v2");
  ASSERT_TRUE(moduleLoad && getFunction && launch && alloc);
  std::string image = hostcuda::imageOf(
      "extern \"C\" __global__ void __launch_bounds__(64) put(float* out, float v) { out[threadIdx.x] = v; }\n");
  CUmodule m = nullptr;
  ASSERT_EQ(moduleLoad(&m, image.data()), CUDA_SUCCESS);
  CUfunction f = nullptr;
  ASSERT_EQ(getFunction(&f, m, "put"), CUDA_SUCCESS);
  CUdeviceptr out = 0;
  ASSERT_EQ(alloc(&out, 48 * sizeof(float)), CUDA_SUCCESS);
  float v = 1.0f;
  void* params[] = {&out, &v};
  EXPECT_EQ(launch(f, 1, 1, 1, 48, 1, 1, 0, nullptr, params, nullptr), CUDA_SUCCESS); // in bounds
  EXPECT_DEATH(launch(f, 1, 1, 1, 64, 1, 1, 0, nullptr, params, nullptr), "heap-buffer-overflow");
  entry<CUresult (*)(CUdeviceptr)>("cuMemFree_v2")(out);
  entry<CUresult (*)(CUmodule)>("cuModuleUnload")(m);
#endif
}

// The tiling graph (convolutions, their gradients, two gemms) with and without CUDA-graph
// replay, three runs on different inputs each, against the reference; then step timing and the
// per-kernel profile.
TEST(HostDriver, ExecutorMatchesReferenceWithAndWithoutGraphReplay) {
  TilingCase tc = tilingGraph();
  auto original = tc.graph->clone();
  auto opt = optimised(std::move(tc.graph));
  for (bool graph : {true, false}) {
    SCOPED_TRACE(graph ? "CUDA graph" : "stream");
    CudaRunOptions ro;
    ro.graph = graph;
    auto exe = CudaExecutable::create(opt, ro);
    ASSERT_TRUE(exe) << exe.error().message();
    for (int run = 0; run < 3; ++run) {
      std::vector<Tensor> in;
      for (size_t i = 0; i < tc.inputs.size(); ++i)
        in.push_back(test::randomTensor(tc.inputs[i].type(), 100 + run * 10 + static_cast<int>(i)));
      auto want = runReference(*original, in);
      ASSERT_TRUE(want) << want.error().message();
      auto got = (*exe)->run(in);
      ASSERT_TRUE(got) << got.error().message();
      for (size_t i = 0; i < got->size(); ++i)
        EXPECT_ALL_CLOSE((*got)[i], (*want)[i], (test::Tolerance{1e-5, 1e-4})) << "result " << i << ", run " << run;
    }
    auto times = (*exe)->timeSteps(3);
    ASSERT_TRUE(times) << times.error().message();
    ASSERT_EQ(times->size(), 3u);
    EXPECT_TRUE(std::is_sorted(times->begin(), times->end()));
    EXPECT_GT(times->front(), 0.0);
    auto profile = (*exe)->profileKernels(1);
    ASSERT_TRUE(profile) << profile.error().message();
    EXPECT_EQ(profile->size(), (*exe)->stats().kernels);
  }
}

// Two small tiled-GEMM kernels for the autotune tests (each candidate is launched 12 times, and
// the host driver runs a 64x64 tile's 256 threads as fibers): a convolution with bias and ReLU,
// and a gemm.
TilingCase tuneGraph() {
  GraphBuilder b("tune");
  Value* x = b.input("x", f32({1, 4, 6, 6}));
  Value* w = b.param("w", f32({8, 4, 3, 3}), test::randomTensor(f32({8, 4, 3, 3}), 41, -0.3, 0.3));
  Value* bias = b.param("b", f32({8}), test::randomTensor(f32({8}), 42));
  Value* y = b.relu(b.conv2d(x, w, bias, {1, 1}, {0, 0, 0, 0}, 1, "y"), "r"); // [1, 8, 4, 4]
  Value* a = b.input("a", f32({32, 64}));
  Value* fw = b.param("fw", f32({48, 64}), test::randomTensor(f32({48, 64}), 43, -0.2, 0.2));
  Value* fc = b.op(ops::Gemm, {a, fw}, {{"trans_b", int64_t{1}}}, "fc");
  auto g = b.finish({y, fc});
  EXPECT_TRUE(g) << g.error().message();
  return {std::move(*g), {test::randomTensor(f32({1, 4, 6, 6}), 44), test::randomTensor(f32({32, 64}), 45)}};
}

// --autotune on the host driver: the timer runs every candidate through the executor's buffers
// and checks its outputs; a second executable takes every choice from the store.
TEST(HostDriver, AutotuneTimesChecksAndStores) {
  TilingCase tc = tuneGraph();
  auto want = runReference(*tc.graph, tc.inputs);
  ASSERT_TRUE(want) << want.error().message();
  expectAutotunedAndStored(optimised(std::move(tc.graph)), tc.inputs, *want, 2, {2e-2, 3e-3});
}

// A candidate that writes nothing (the host driver drops the register pipeline's launches) is
// caught by autotune's output check and never chosen.
TEST(HostDriver, AutotuneRejectsACandidateThatWritesNothing) {
  std::string dir = tempDir("host-tune-drop");
  TilingCase tc = tuneGraph();
  auto want = runReference(*tc.graph, tc.inputs);
  ASSERT_TRUE(want) << want.error().message();
  auto opt = optimised(std::move(tc.graph));
  // The register pipeline's candidates (the TF32 rule is the cp.async pipeline) do nothing.
  setenv("SINTER_HOST_CUDA_DROP", "float ra[", 1);
  CudaRunOptions ro;
  ro.tf32 = true;
  ro.autotune = true;
  ro.cacheDir = dir;
  auto exe = CudaExecutable::create(opt, ro);
  unsetenv("SINTER_HOST_CUDA_DROP");
  ASSERT_TRUE(exe) << exe.error().message();
  const CudaCompileStats& st = (*exe)->stats();
  std::string lines = fmt::format("{}", fmt::join(st.tuning, "\n"));
  EXPECT_GT(st.tuneRejected, 0u) << lines;
  auto got = (*exe)->run(tc.inputs);
  ASSERT_TRUE(got) << got.error().message();
  for (size_t i = 0; i < got->size(); ++i)
    EXPECT_ALL_CLOSE((*got)[i], (*want)[i], (test::Tolerance{2e-2, 3e-3})) << "result " << i;
  fs::remove_all(dir);
}

} // namespace
} // namespace sinter

// The CUDA driver, reached through dlopen("libcuda.so.1") (never linked: the binary starts on
// machines without a driver), and the CUDA executable that runs a planned graph on the GPU.
#pragma once

#include "codegen/cuda/CudaProgram.h"
#include "ir/Graph.h"
#include "ir/Tensor.h"

#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>
#include <string>

namespace sinter {

struct CudaDeviceInfo {
  std::string name;
  int sm = 0;               ///< compute capability x10
  int multiprocessors = 0;
  int64_t memoryBytes = 0;
  int clockKHz = 0;         ///< peak SM clock
  /// Peak dense FLOP/s of the SMs (FFMA, or TF32 tensor cores): SMs x clock x FLOP per clock
  /// per SM (FP32: 128 on sm_80, 256 from sm_86; TF32: 1024 on sm_80, 512 on sm_86/89, 2048 on
  /// sm_90 and newer).
  double peakFlops(bool tf32) const;
};

/// The first GPU, or nothing (with the reason in `why`) when there is no driver or no device.
std::optional<CudaDeviceInfo> cudaDeviceInfo(std::string* why = nullptr);

struct CudaRunOptions {
  bool tf32 = false;        ///< tensor cores for conv and gemm
  bool useCache = true;
  std::string cacheDir;
  bool graph = true;        ///< replay the step as one CUDA graph
  /// Time each tiled-GEMM kernel's candidate tilings on the device and keep the fastest (stored
  /// in the cache's "tune" folder for the next compile on this GPU; see runtime/cuda/Autotune).
  bool autotune = false;
  /// Tilings to use for tiled-GEMM kernels by name (tests, experiments); autotune's replace them.
  std::map<std::string, GemmTiling> tilings;
  /// Receives autotune's progress lines (nothing when empty).
  std::function<void(const std::string&)> progress;
};

struct CudaCompileStats {
  double seconds = 0;       ///< everything create() does: codegen, NVRTC or cache, module load, uploads
  double kernelSeconds = 0; ///< codegen + NVRTC (or the cache) + module load, without the uploads
  size_t kernels = 0, cacheHits = 0;
  double tuneSeconds = 0;   ///< autotune's share of `seconds` (timing candidates, or reading stored choices)
  std::vector<std::string> tuning; ///< autotune's choice per tiled-GEMM kernel, and each candidate it rejected
  std::vector<std::string> tuningTimes; ///< autotune's time of every candidate it timed (AutotuneResult::timings)
  size_t tuned = 0, tuneRejected = 0; ///< tiled-GEMM kernels autotune decided; candidates whose outputs were wrong
  CudaDeviceInfo device;
};

class CudaExecutable {
public:
  /// Compiles `g` (after the pass pipeline) for the live GPU and uploads its weights.
  static Expected<std::unique_ptr<CudaExecutable>> create(std::shared_ptr<const Graph> g, const CudaRunOptions& o);
  ~CudaExecutable();
  /// One step: inputs to the device, the kernels (a graph replay), outputs back; checks the
  /// kernels' status word. Outputs are poisoned (NaN bytes) before each step.
  Expected<std::vector<Tensor>> run(const std::vector<Tensor>& inputs);
  /// The current value of a parameter (copied from the device).
  Expected<Tensor> param(std::string_view name) const;
  /// Replaces a parameter's value on the device (same type).
  Error setParam(std::string_view name, const Tensor& value);
  /// Device times (ms) of `iters` steps (inputs already on the device), sorted ascending.
  Expected<std::vector<double>> timeSteps(int iters);
  /// Mean device time (ms) of each kernel over `iters` launches one by one (no graph).
  Expected<std::vector<std::pair<std::string, double>>> profileKernels(int iters);
  const CudaCompileStats& stats() const;

private:
  struct Impl;
  explicit CudaExecutable(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace sinter

// --autotune for the CUDA backend: each tiled-GEMM kernel (convolution, gemm) has candidate
// tilings (codegen/cuda/TiledGemm: tile size, split-K ways, register or cp.async pipeline); the
// tuner times them all on the device and keeps the fastest, stored in the cache ("tune" kind)
// under the device and the rule's kernel source, so the next compile of the same kernel on the
// same GPU takes the winner without timing. The timing itself is the caller's (a function), so
// the choice and the store are tested without a GPU.
#pragma once

#include "codegen/cuda/CudaProgram.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sinter {

/// A stored choice: the winning tiling, its time and the rule's (ms).
struct TuneRecord {
  GemmTiling tiling;
  double ms = 0, ruleMs = 0;
  std::string str() const;
  static std::optional<TuneRecord> parse(std::string_view text);
};

/// The tuner's store: KernelCache kind "tune", keyed by the device (`deviceKey`: name, sm,
/// multiprocessors, NVRTC version) and the kernel's source under the tile rule.
class TuneStore {
public:
  TuneStore(std::string deviceKey, std::string cacheDir = {});
  std::optional<TuneRecord> load(const CudaKernel& ruleKernel) const;
  Error store(const CudaKernel& ruleKernel, const TuneRecord& r) const;

private:
  std::string key(const CudaKernel& ruleKernel) const;
  std::string deviceKey_, cacheDir_;
};

/// One candidate's run: its device time, and how far its outputs are from the rule kernel's on
/// the same inputs (max |out - rule's| / max |rule's|; infinity where NaNs differ; 0 for the
/// rule's own run).
struct KernelTiming {
  double ms = 0;
  double difference = 0;
};

/// Runs each kernel alone on the executable's buffers, its activation inputs filled with the
/// same values every time. `rule`: these are the rule's kernels (the first round); their outputs
/// are what later candidates of the same kernel name are compared with.
using KernelTimer = std::function<Expected<std::vector<KernelTiming>>(const std::vector<CudaKernel>& kernels, bool rule)>;

/// The largest difference from the rule's outputs a candidate may show (summation order and
/// split-K change the rounding; a wrong tiling is off by the outputs' own size).
double autotuneTolerance(CudaPrecision p);

struct AutotuneResult {
  CudaTarget target;            ///< the input target with a tiling for every tiled-GEMM kernel
  size_t tunable = 0, stored = 0, timed = 0, candidates = 0;
  size_t rejected = 0;            ///< candidates whose outputs differed from the rule's
  std::vector<std::string> lines; ///< one per tunable kernel: choice, time, the rule's time
  /// One per candidate timed: "kernel: tiling ms" (the rule's first), for `sinter bench --profile`.
  std::vector<std::string> timings;
};

/// Picks a tiling for every tiled-GEMM kernel of `g` (planned): the stored one, else the fastest
/// candidate as `time` measures it whose outputs match the rule's (then stored). `progress` receives a line per timing round.
Expected<AutotuneResult> autotune(const Graph& g, const CudaTarget& target, const TuneStore& store, const KernelTimer& time,
                                  const std::function<void(const std::string&)>& progress = {});

} // namespace sinter

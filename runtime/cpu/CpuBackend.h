// The CPU backend: JIT-compiles a planned graph (codegen/cpu -> LLVM ORC) and runs it over its
// memory arena on a thread pool. LLVM stays behind this header.
#pragma once

#include "ir/Graph.h"
#include "ir/Tensor.h"

#include <memory>
#include <string>

namespace sinter {

struct CpuOptions {
  int threads = 0;       ///< 0: every core
  bool useCache = true;  ///< the on-disk object cache ($SINTER_CACHE_DIR/cpu)
  std::string cacheDir;  ///< empty: $SINTER_CACHE_DIR or ~/.cache/sinter
};

struct CpuCompileStats {
  double seconds = 0;       ///< codegen + optimisation + JIT link (or cache load)
  bool cacheHit = false;    ///< the object came from the cache (LLVM's optimiser and codegen skipped)
  size_t kernels = 0;
  int64_t arenaBytes = 0;
  std::string cpu;          ///< host CPU name as LLVM knows it
  int vectorFloats = 0;     ///< floats per vector register used by the kernels
};

/// Whether this build has the CPU backend (not with SINTER_WITH_LLVM=OFF).
bool cpuBackendAvailable();

class CpuExecutable {
public:
  /// Compiles `g`, which must have been through the pass pipeline (fused, memory-planned).
  static Expected<std::unique_ptr<CpuExecutable>> compile(std::shared_ptr<const Graph> g, const CpuOptions& options);
  ~CpuExecutable();

  /// Per-kernel wall time of the runs so far (label, total seconds, calls), in kernel order.
  struct KernelTime {
    std::string label;
    double seconds = 0;
    int64_t calls = 0;
  };
  std::vector<KernelTime> kernelTimes() const;

  /// Runs on inputs of the graph's input types (in order); returns the outputs. Then applies the
  /// graph's updates (a training step's new parameters and state) to the parameters it holds.
  Expected<std::vector<Tensor>> run(const std::vector<Tensor>& inputs);
  /// The current value of a parameter (the executable owns copies, made at compile time).
  Expected<Tensor> param(std::string_view name) const;
  /// Replaces a parameter's value (same type); kernels that repack it are prepared again.
  Error setParam(std::string_view name, const Tensor& value);
  const CpuCompileStats& stats() const;
  int threads() const;

private:
  struct Impl;
  explicit CpuExecutable(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace sinter

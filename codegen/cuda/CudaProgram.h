// What the CUDA code generator hands the runtime: one CUDA C translation unit per kernel.
// (No CUDA headers here: runtime/, tools/ and tests include this.)
#pragma once

#include "ir/Error.h"
#include "ir/Graph.h"

#include <array>
#include <string>
#include <vector>

namespace sinter {

enum class CudaPrecision : uint8_t {
  F32,  ///< exact fp32 (FFMA)
  TF32, ///< tensor cores (mma.sync TF32) with fp32 accumulation for conv and gemm
};

struct CudaTarget {
  int sm = 90;                              ///< compute capability x10 (sm_80, sm_90, ...)
  CudaPrecision precision = CudaPrecision::F32;
  int multiprocessors = 132;                ///< for grid sizing (the live device's, when known)
};

/// One generated kernel: `extern "C" __global__ void name(T0* b0, ..., int* status)`; b_i are the
/// buffers (operands, then results) and `status` receives a 1-based error code from
/// CudaProgram::errors when input data is invalid (a label or index out of range).
struct CudaKernel {
  std::string name;
  std::string source; ///< a complete translation unit (deterministic: it is the cache key)
  const Node* node = nullptr;
  std::vector<const Value*> buffers;
  std::array<unsigned, 3> grid{1, 1, 1}, block{1, 1, 1};
  unsigned sharedBytes = 0;
  std::string rule; ///< the launch / tile choice, for `sinter compile --target cuda`
  /// Buffers the runtime fills with zero bytes before each launch (split-K accumulates into them).
  std::vector<size_t> zeroBuffers;
  /// Split-K scratch, allocated once by the runtime when nonzero and passed after the buffers as
  /// `float* sinter_ws, unsigned* sinter_counters`: `workspaceBytes` of partial tiles and
  /// `counters` tile counters, zero at first (the kernel leaves them zero).
  int64_t workspaceBytes = 0, counters = 0;
};

struct CudaProgram {
  std::vector<CudaKernel> kernels;
  std::vector<std::string> errors;
};

/// CUDA C for every kernel of a planned graph (after the pass pipeline). Needs no GPU.
Expected<CudaProgram> emitCudaProgram(const Graph& g, const CudaTarget& target);

} // namespace sinter

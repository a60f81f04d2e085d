// What the CUDA code generator hands the runtime: one CUDA C translation unit per kernel.
// (No CUDA headers here: runtime/, tools/ and tests include this.)
#pragma once

#include "ir/Error.h"
#include "ir/Graph.h"

#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sinter {

enum class CudaPrecision : uint8_t {
  F32,  ///< exact fp32 (FFMA)
  TF32, ///< tensor cores (mma.sync TF32) with fp32 accumulation for conv and gemm
};

/// How a tiled GEMM (convolution, gemm) is cut up: see codegen/cuda/TiledGemm. The tile rule
/// picks one from the problem size; `--autotune` times the candidates on the device instead.
struct GemmTiling {
  int tileM = 128; ///< BM: rows of C per block, 128 or 64
  int tileN = 128; ///< BN: columns of C per block, 128 or 64
  int split = 1;   ///< split-K ways (1: none)
  /// 0: K tiles of 8 loaded through registers into two shared buffers; 2 or more: a cp.async
  /// pipeline of that many shared buffers with K tiles of `bk` (TF32 only).
  int stages = 0;
  int bk = 8;      ///< K tile
  /// Warps per block (TF32 cp.async only: 4 gives each warp a 64x64 tile of a 128x128 block,
  /// twice the MMAs per fragment read of 8 warps' 64x32).
  int warps = 8;
  std::string str() const; ///< "tile=128x64 split=1 stages=0 bk=8", and " warps=4" when not 8
  static std::optional<GemmTiling> parse(std::string_view text);
  bool operator==(const GemmTiling&) const = default;
};

struct CudaTarget {
  int sm = 90;                              ///< compute capability x10 (sm_80, sm_90, ...)
  CudaPrecision precision = CudaPrecision::F32;
  int multiprocessors = 132;                ///< for grid sizing (the live device's, when known)
  /// Tilings chosen for tiled-GEMM kernels by name instead of the rule's (autotune's winners).
  std::map<std::string, GemmTiling> tilings;
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
  /// Tiled-GEMM kernels: the tiling used, and the candidates an autotuner may time (the rule's
  /// first). Empty for other kernels.
  std::optional<GemmTiling> tiling;
  std::vector<GemmTiling> candidates;
};

struct CudaProgram {
  std::vector<CudaKernel> kernels;
  std::vector<std::string> errors;
};

/// CUDA C for every kernel of a planned graph (after the pass pipeline). Needs no GPU.
Expected<CudaProgram> emitCudaProgram(const Graph& g, const CudaTarget& target);

} // namespace sinter

// The tiled GEMM behind CUDA convolution (implicit GEMM) and gemm: shared-memory tiles of A and
// B, double buffered, a register block per thread (FFMA) or per warp (mma.sync TF32).
#pragma once

#include "codegen/cuda/KernelSource.h"

namespace sinter::cuda {

/// C[M x N] = A[M x K] * B[K x N] for every z in [0, Z) (conv groups), described by CUDA snippets.
/// Variables in scope for the snippets: `z` (int), the thread's column variables from
/// `columnSetup` (evaluated once per loaded column `n`), `m`, `k`, `n` (int).
struct GemmSpec {
  int64_t M = 0, N = 0, K = 0, Z = 1;
  std::string aLoad;       ///< float expression: A[m][k] (m < M and k < K are checked by the caller)
  std::string columnSetup; ///< statements defining per-column variables from `n` (any n, maybe >= N)
  std::string bLoad;       ///< float expression: B[k][n] with the column variables, 0 outside
  /// The same elements as `const float*` expressions, nullptr where the element is 0 (padding):
  /// when both are given, TF32 may use the cp.async pipeline (GemmTiling::stages).
  std::string aPtr, bPtr;
  bool aKMajor = true;     ///< A's consecutive k are contiguous (false: consecutive m)
  /// k-major operands whose four elements k..k+3 (k a multiple of 4) are contiguous and 16-byte
  /// aligned: the cp.async pipeline copies them 16 bytes at a time.
  bool aVec4 = false, bVec4 = false;
  /// B not k-major whose four elements n..n+3 (n a multiple of 4) are contiguous and 16-byte
  /// aligned, with N a multiple of 4, and `bPtr` written in `n` alone (no column variables): the
  /// cp.async pipeline copies B 16 bytes at a time along n.
  bool bNVec4 = false;
  /// The cp.async pipeline's B pointer when it differs from `bPtr` (a cheaper form), and the
  /// helper text it needs (e.g. a __constant__ table indexed by k).
  std::string bPtrAsync, asyncHelper;
  /// Statements storing `acc` (a float) into C[m][n], both in range; may use `z`.
  std::string store;
  bool bKMajor = false;    ///< B's consecutive k are contiguous (load B tiles along k)
  /// A long K with too few output tiles to fill the GPU is split across blocks (split-K). When
  /// set (statements adding `acc` to C[m][n] with atomicAdd, for an output the runtime zeroes
  /// first: `atomicBuffer`, which goes to CudaKernel::zeroBuffers), the splits add into the
  /// output; otherwise they write partial tiles to a workspace that the last block of each
  /// tile sums in order before `store` (CudaKernel::workspaceBytes, counters).
  std::string atomicStore;
  size_t atomicBuffer = 0; ///< the buffer atomicStore adds into (zeroed before a split launch)
};

/// The tile rule: the tiling used unless the target names another for the kernel.
GemmTiling ruleTiling(const GemmSpec& spec, const CudaTarget& target);
/// The tilings an autotuner may time for this problem, the rule's first.
std::vector<GemmTiling> tilingCandidates(const GemmSpec& spec, const CudaTarget& target);

/// Emits the kernel into `ks` (and finishes it): the tiling is the target's for this kernel
/// (CudaTarget::tilings) when it names one, else the rule's; the precision is the target's.
void emitTiledGemm(KernelSource& ks, const GemmSpec& spec, const std::string& what);

} // namespace sinter::cuda

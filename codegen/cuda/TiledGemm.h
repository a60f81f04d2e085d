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

/// Emits the kernel into `ks` (and finishes it): the tile size comes from the problem size and
/// the multiprocessor count; the precision from the target.
void emitTiledGemm(KernelSource& ks, const GemmSpec& spec, const std::string& what);

} // namespace sinter::cuda

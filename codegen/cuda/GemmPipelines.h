// Inside the tiled GEMM generator (TiledGemm.cpp): the main loops, one per pipeline kind of
// GemmTiling (`stages` 0: registers, K tiles of 8; 2-4: cp.async into a ring of shared stages),
// between the prologue (thread ids, the block's K range, zeroed accumulators) and the epilogue
// (stores, split-K) that TiledGemm.cpp writes. A new pipeline (e.g. TMA + wgmma on sm_90a) is
// another function here: it reads the same Context and leaves its sums in the same accumulators.
#pragma once

#include "codegen/cuda/TiledGemm.h"

#include <functional>
#include <string>

namespace sinter::cuda::gemm {

constexpr int kThreads = 256; ///< the register pipeline's block (FFMA: 16 x 16 threads)

/// `s` with each `$` replaced by `i` (per-column variables of GemmSpec::columnSetup).
std::string slot(const std::string& s, const std::string& i);
std::string slot(const std::string& s, int i);

/// Dynamic shared memory of a cp.async tiling, in bytes.
int64_t asyncSharedBytes(const GemmSpec& g, const GemmTiling& c);

/// The kernel being written and what the prologue fixed: the tile (BM x BN x BK), FFMA's per
/// thread block (TM x TN) or TF32's warp tiles, the loads per thread of A and B tiles (LA, LB),
/// split-K ways (S) and K steps per block (KT). In scope in the body: tid, mBlk, nBlk, z,
/// kBase, kEnd, acc (and for TF32 warp, lane, gid, tig, wm, wn).
struct Context {
  KernelSource& ks;
  const GemmSpec& g;
  const GemmTiling& c;
  int BM, BN, BK, TM, TN, LA, LB;
  int WM, WN;  ///< TF32: each warp's tile
  int threads; ///< per block (32 per warp)
  bool tf32;
  int64_t S, KT;
};

/// Renders a shared-memory read of an operand at (k, row or column).
using SharedAt = std::function<std::string(const std::string& k, const std::string& rowOrCol)>;

/// TF32: mma.sync m16n8k8 over one K slice of 8 at `kk` of the shared tiles into acc.
std::string mmaStep(const Context& x, const SharedAt& aAt, const SharedAt& bAt, const std::string& kk);

/// The register pipeline: the next K tile loaded into registers while the current one, double
/// buffered in shared memory, feeds FFMA or mma.sync. Returns the dynamic shared bytes (0).
unsigned registerPipeline(Context& x);

/// The cp.async pipeline (TF32): `stages - 1` K tiles in flight into a ring of dynamic shared
/// stages, one barrier per K tile. Returns the dynamic shared bytes.
unsigned asyncPipeline(Context& x);

} // namespace sinter::cuda::gemm

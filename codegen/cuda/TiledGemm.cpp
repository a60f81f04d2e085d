// Tiled GEMM generator (see TiledGemm.h). 256 threads; tile BM x BN x 8 (BM = BN = 128 or 64);
// each K step loads the next tile into registers while the current one, in shared memory,
// feeds FFMA (a TM x TN block per thread) or mma.sync.m16n8k8 TF32 (a warp tile per warp).
// Shared rows are padded by 8 floats: conflict-free tile stores and mma fragment reads, 16-byte aligned float4 reads.
#include "codegen/cuda/TiledGemm.h"

#include <algorithm>
#include <regex>

namespace sinter::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kBK = 8;

// TF32 rounding and the m16n8k8 tensor-core MMA (fragments as in the PTX ISA: A row-major 16x8,
// B column-major 8x8, fp32 accumulators).
constexpr std::string_view kTf32Helpers = R"(#ifndef SINTER_EMULATION
__device__ __forceinline__ u32 sinter_tf32(float f) { u32 r; asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(f)); return r; }
__device__ __forceinline__ void sinter_mma_tf32(float* d, const u32* a, const u32* b) {
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif
)";

std::string slot(const std::string& s, int i) { return std::regex_replace(s, std::regex("\\$"), std::to_string(i)); }

} // namespace

void emitTiledGemm(KernelSource& ks, const GemmSpec& g, const std::string& what) {
  const CudaTarget& t = ks.target();
  int64_t big = ((g.M + 127) / 128) * ((g.N + 127) / 128) * g.Z;
  // 128-wide tiles when there are enough of them to fill the GPU and at least 65 rows to fill a
  // tile (conv2's input gradient has 48 rows per group: 64-wide tiles waste a quarter, not 62%).
  const int BM = big >= t.multiprocessors && g.M > 64 ? 128 : 64, BN = BM;
  const int TM = BM / 16, TN = BN / 16; // FFMA: 16 x 16 threads
  const int LA = BM * kBK / kThreads, LB = BN * kBK / kThreads;
  const int64_t KTall = (g.K + kBK - 1) / kBK;
  const bool tf32 = t.precision == CudaPrecision::TF32;
  // Split-K: when the output tiles cannot fill the GPU but K is long (a weight gradient sums
  // over N*OH*OW), S blocks per tile each take a K range of at least 32 steps and add their
  // partial sums into the zeroed output.
  const int64_t tiles = ((g.N + BN - 1) / BN) * ((g.M + BM - 1) / BM) * g.Z;
  // Without an atomic store (an epilogue such as bias + ReLU must see the whole sum), the splits
  // write partial tiles to a workspace and the last block to finish a tile (a counter per tile)
  // adds them in split order and runs the store: deterministic, one launch.
  int64_t S = 1;
  if (tiles < 2 * t.multiprocessors && KTall >= 64)
    S = std::clamp<int64_t>((2 * t.multiprocessors + tiles - 1) / tiles, 1, KTall / 32);
  const int64_t KT = (KTall + S - 1) / S; // K steps per split
  S = (KTall + KT - 1) / KT;
  const bool atomicSplit = S > 1 && !g.atomicStore.empty();
  const bool workspaceSplit = S > 1 && !atomicSplit;
  std::string& b = ks.body;
  b += fmt::format("  __shared__ __align__(16) float As[2][{}][{}];\n", kBK, BM + 8);
  b += fmt::format("  __shared__ __align__(16) float Bs[2][{}][{}];\n", kBK, BN + 8);
  b += "  const int tid = threadIdx.x;\n";
  b += fmt::format("  const int mBlk = blockIdx.y * {}, nBlk = blockIdx.x * {}, z = blockIdx.z % {};\n  (void)z;\n", BM, BN, g.Z);
  // This block's K range [kBase, kEnd).
  b += fmt::format("  const i64 kBase = (i64)(blockIdx.z / {}) * {}, kEnd = kBase + {} < {}ll ? kBase + {} : {}ll;\n", g.Z,
                   KT * kBK, KT * kBK, g.K, KT * kBK, g.K);
  // Columns this thread loads B from, and their setup.
  std::vector<std::string> bk(LB), bn(LB);
  for (int i = 0; i < LB; ++i) {
    if (g.bKMajor) {
      bn[i] = fmt::format("(tid / {} + {})", kBK, i * (kThreads / kBK));
      bk[i] = fmt::format("(tid % {})", kBK);
    } else {
      bn[i] = fmt::format("(tid % {})", BN);
      bk[i] = fmt::format("(tid / {} + {})", BN, i * (kThreads / BN));
    }
  }
  int setups = g.bKMajor ? LB : 1;
  for (int i = 0; i < setups; ++i) {
    b += fmt::format("  const int n{} = nBlk + {};\n", i, bn[i]);
    b += "  " + slot(g.columnSetup, i) + "\n";
  }
  auto colSlot = [&](int i) { return g.bKMajor ? i : 0; };
  b += fmt::format("  float ra[{}], rb[{}];\n", LA, LB);
  // Loads of tile kt into registers.
  std::string loads;
  for (int i = 0; i < LA; ++i) {
    loads += fmt::format("    {{ const int idx = tid + {}; const int m = mBlk + idx / {}; const int k = (int)(kBase + k0 + idx % {});\n",
                         i * kThreads, kBK, kBK);
    loads += fmt::format("      ra[{}] = (m < {}ll && k < kEnd) ? ({}) : 0.f; }}\n", i, g.M, g.aLoad);
  }
  for (int i = 0; i < LB; ++i) {
    int c = colSlot(i);
    loads += fmt::format("    {{ const int k = (int)(kBase + k0 + {}); const int n = n{};\n", bk[i], c);
    loads += fmt::format("      rb[{}] = (k < kEnd && n < {}ll) ? ({}) : 0.f; }}\n", i, g.N, slot(g.bLoad, c));
  }
  std::string stores;
  for (int i = 0; i < LA; ++i)
    stores += fmt::format("    {{ const int idx = tid + {}; As[buf][idx % {}][idx / {}] = ra[{}]; }}\n", i * kThreads, kBK,
                          kBK, i);
  for (int i = 0; i < LB; ++i)
    stores += fmt::format("    Bs[buf][{}][{}] = rb[{}];\n", bk[i], bn[i], i);
  b += "  { const int k0 = 0, buf = 0;\n" + loads + stores + "  }\n  __syncthreads();\n";

  if (!tf32) {
    b += fmt::format("  const int tx = tid % 16, ty = tid / 16;\n  float acc[{}][{}];\n", TM, TN);
    b += fmt::format("  #pragma unroll\n  for (int i = 0; i < {}; ++i)\n    #pragma unroll\n    for (int j = 0; j < {}; ++j) "
                     "acc[i][j] = 0.f;\n",
                     TM, TN);
  } else {
    // 8 warps as 2 x 4; each warp owns a (BM/2) x (BN/4) tile of m16n8 fragments.
    b += fmt::format("  const int warp = tid / 32, lane = tid % 32, gid = lane / 4, tig = lane % 4;\n");
    b += fmt::format("  const int wm = (warp / 4) * {}, wn = (warp % 4) * {};\n", BM / 2, BN / 4);
    b += fmt::format("  float acc[{}][{}][4];\n", BM / 32, BN / 32);
    b += fmt::format("  #pragma unroll\n  for (int i = 0; i < {}; ++i)\n    #pragma unroll\n    for (int j = 0; j < {}; ++j)\n"
                     "      #pragma unroll\n      for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.f;\n",
                     BM / 32, BN / 32);
    ks.helper(std::string(kTf32Helpers));
  }
  b += fmt::format("  for (int kt = 0; kt < {}; ++kt) {{\n    const int cur = kt & 1;\n", KT);
  b += fmt::format("    if (kt + 1 < {}) {{ const int k0 = (kt + 1) * {};\n", KT, kBK);
  b += loads + "    }\n";
  if (!tf32) {
    b += fmt::format("    #pragma unroll\n    for (int kk = 0; kk < {}; ++kk) {{\n", kBK);
    b += fmt::format("      float a[{}], bv[{}];\n", TM, TN);
    b += fmt::format("      #pragma unroll\n      for (int i = 0; i < {}; i += 4) *(float4*)&a[i] = *(const float4*)&As[cur][kk][ty * "
                     "{} + i];\n",
                     TM, TM);
    b += fmt::format("      #pragma unroll\n      for (int j = 0; j < {}; j += 4) *(float4*)&bv[j] = *(const float4*)&Bs[cur][kk][tx * "
                     "{} + j];\n",
                     TN, TN);
    b += fmt::format("      #pragma unroll\n      for (int i = 0; i < {}; ++i)\n        #pragma unroll\n        for (int j = 0; j < {}; "
                     "++j) acc[i][j] = fmaf(a[i], bv[j], acc[i][j]);\n    }}\n",
                     TM, TN);
  } else {
    b += fmt::format("    u32 af[{}][4], bf[{}][2];\n", BM / 32, BN / 32);
    b += fmt::format("    #pragma unroll\n    for (int i = 0; i < {}; ++i) {{\n", BM / 32);
    b += "      const int r = wm + i * 16 + gid;\n";
    b += "      af[i][0] = sinter_tf32(As[cur][tig][r]); af[i][1] = sinter_tf32(As[cur][tig][r + 8]);\n";
    b += "      af[i][2] = sinter_tf32(As[cur][tig + 4][r]); af[i][3] = sinter_tf32(As[cur][tig + 4][r + 8]);\n    }\n";
    b += fmt::format("    #pragma unroll\n    for (int j = 0; j < {}; ++j) {{\n", BN / 32);
    b += "      const int c = wn + j * 8 + gid;\n";
    b += "      bf[j][0] = sinter_tf32(Bs[cur][tig][c]); bf[j][1] = sinter_tf32(Bs[cur][tig + 4][c]);\n    }\n";
    b += fmt::format("    #pragma unroll\n    for (int i = 0; i < {}; ++i)\n      #pragma unroll\n      for (int j = 0; j < {}; ++j)\n",
                     BM / 32, BN / 32);
    b += "        sinter_mma_tf32(acc[i][j], af[i], bf[j]);\n";
  }
  b += fmt::format("    if (kt + 1 < {}) {{ const int buf = cur ^ 1;\n", KT);
  b += stores + "    }\n    __syncthreads();\n  }\n";
  // Epilogue: each accumulator to its (m, n). `loop(true)` opens the loop over this thread's
  // accumulators with `m`, `n` and `acc_`; `loop(false)` with `m` and `n` only.
  auto loop = [&](bool withAcc) {
    std::string l;
    if (!tf32) {
      l += fmt::format("  #pragma unroll\n  for (int i = 0; i < {}; ++i)\n    #pragma unroll\n    for (int j = 0; j < {}; ++j) {{\n",
                       TM, TN);
      l += fmt::format("      const int m = mBlk + ty * {} + i, n = nBlk + tx * {} + j;\n", TM, TN);
      if (withAcc)
        l += "      const float acc_ = acc[i][j];\n";
    } else {
      l += fmt::format("  #pragma unroll\n  for (int i = 0; i < {}; ++i)\n    #pragma unroll\n    for (int j = 0; j < {}; ++j)\n"
                       "      #pragma unroll\n      for (int r = 0; r < 4; ++r) {{\n",
                       BM / 32, BN / 32);
      l += "      const int m = mBlk + wm + i * 16 + gid + (r / 2) * 8, n = nBlk + wn + j * 8 + tig * 2 + (r % 2);\n";
      if (withAcc)
        l += "      const float acc_ = acc[i][j][r];\n";
    }
    return l;
  };
  if (!workspaceSplit) {
    b += loop(true);
    b += fmt::format("      if (m < {}ll && n < {}ll) {{\n        const float acc = acc_;\n{}      }}\n    }}\n", g.M, g.N,
                     atomicSplit ? g.atomicStore : g.store);
  } else {
    const int64_t plane = g.Z * g.M * g.N; // floats per split in the workspace
    b += fmt::format("  const long long wsTile = (long long)z * {}ll;\n", g.M * g.N);
    b += loop(true);
    b += fmt::format("      if (m < {}ll && n < {}ll) sinter_ws[(long long)(blockIdx.z / {}) * {}ll + wsTile + (long long)m * {}ll + n] = acc_;\n    }}\n",
                     g.M, g.N, g.Z, plane, g.N);
    b += "  __threadfence();\n  __syncthreads();\n  __shared__ unsigned sinter_last;\n";
    b += fmt::format("  const unsigned tile = (blockIdx.y * gridDim.x + blockIdx.x) * {}u + (unsigned)z;\n", g.Z);
    b += fmt::format("  if (tid == 0) sinter_last = atomicAdd(&sinter_counters[tile], 1u) == {}u;\n", S - 1);
    b += "  __syncthreads();\n  if (!sinter_last) return;\n  __threadfence();\n";
    b += loop(false);
    b += fmt::format("      if (m < {}ll && n < {}ll) {{\n        float sum = 0.f;\n", g.M, g.N);
    b += fmt::format("        for (int s = 0; s < {}; ++s) sum += __ldcg(&sinter_ws[(long long)s * {}ll + wsTile + (long long)m * {}ll + n]);\n",
                     S, plane, g.N);
    b += fmt::format("        const float acc = sum;\n{}      }}\n    }}\n", g.store);
    b += "  if (tid == 0) sinter_counters[tile] = 0u; // ready for the next launch\n";
  }
  unsigned gx = static_cast<unsigned>((g.N + BN - 1) / BN), gy = static_cast<unsigned>((g.M + BM - 1) / BM);
  std::string rule = fmt::format("{}: tiled GEMM M={} N={} K={} x{}: tile {}x{}x{}, 256 threads, {}; grid {}x{}x{} ({} tile: "
                                 "{} blocks of 128x128 vs {} SMs){}",
                                 what, g.M, g.N, g.K, g.Z, BM, BN, kBK,
                                 tf32 ? "mma.sync m16n8k8 TF32 per warp" : fmt::format("{}x{} FFMA per thread", TM, TN), gx,
                                 gy, g.Z * S, BM == 128 ? "large" : "small", big, t.multiprocessors,
                                 atomicSplit ? fmt::format("; split-K {} ways of {} (atomic adds into the zeroed output)", S, KT * kBK)
                                 : workspaceSplit
                                     ? fmt::format("; split-K {} ways of {} (partial tiles in a workspace, summed in order by "
                                                   "the last block of each tile)", S, KT * kBK)
                                     : "");
  // TF32's large tile fits 128 registers without spilling: ask for two blocks per SM. (The FFMA
  // tile's 8x8 accumulators spill under that cap on sm_80, so it gets one.)
  ks.minBlocksPerSM = BM == 128 && tf32 ? 2 : 0;
  if (atomicSplit)
    ks.kernel().zeroBuffers.push_back(g.atomicBuffer);
  if (workspaceSplit) {
    ks.kernel().workspaceBytes = S * g.Z * g.M * g.N * 4;
    ks.kernel().counters = static_cast<int64_t>(gx) * gy * g.Z;
  }
  ks.finish({gx, gy, static_cast<unsigned>(g.Z * S)}, kThreads, 0, rule);
}

} // namespace sinter::cuda

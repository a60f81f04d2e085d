// The tiled GEMM's main loops, one per pipeline kind (GemmTiling::stages), each writing into the
// kernel body between the prologue and the epilogue that TiledGemm.cpp emits (see GemmPipelines.h).
// Register pipeline (stages = 0): K tiles of 8; each step loads the next tile into registers
// while the current one, in shared memory, feeds FFMA (a TM x TN block per thread) or
// mma.sync.m16n8k8 TF32 (a warp tile per warp). Shared rows are padded by 8 floats:
// conflict-free tile stores and mma fragment reads, 16-byte aligned float4 reads.
// cp.async pipeline (stages >= 2, TF32): K tiles of 16 or 32 copied by cp.async (4 or 16 bytes,
// zero-fill for padding) into a ring of `stages` shared buffers, `stages - 1` tiles in flight
// while one feeds the tensor cores; one barrier per K tile. Each operand keeps its global layout
// in shared memory ([row][k] rows padded by 4 when k is contiguous, [k][row] padded by 8
// otherwise), so the copies stay coalesced and the fragment reads conflict-free.
#include "codegen/cuda/GemmPipelines.h"

#include <regex>

namespace sinter::cuda::gemm {

namespace {

// cp.async of one float with zero-fill (src null: 0), and its group commit/wait.
constexpr std::string_view kCpAsyncHelpers = R"(#ifndef SINTER_EMULATION
__device__ const float sinter_zero_src = 0.f;
__device__ __forceinline__ void sinter_cp_async4(float* dst, const float* src) {
  const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" :: "r"(s), "l"(src ? src : &sinter_zero_src), "r"(src ? 4 : 0));
}
__device__ __forceinline__ void sinter_cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void sinter_cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" :: "n"(N)); }
#endif
)";
// 16-byte cp.async (both addresses 16-byte aligned) with zero-fill.
constexpr std::string_view kCpAsync16Helper = R"(#ifndef SINTER_EMULATION
__device__ __align__(16) const float sinter_zero_src4[4] = {0.f, 0.f, 0.f, 0.f};
__device__ __forceinline__ void sinter_cp_async16(float* dst, const float* src) {
  const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" :: "r"(s), "l"(src ? src : sinter_zero_src4), "r"(src ? 16 : 0));
}
#endif
)";

} // namespace

std::string slot(const std::string& s, const std::string& i) { return std::regex_replace(s, std::regex("\\$"), i); }
std::string slot(const std::string& s, int i) { return slot(s, std::to_string(i)); }

int64_t asyncSharedBytes(const GemmSpec& g, const GemmTiling& c) {
  auto region = [&](bool kMajor, int rows) { return kMajor ? rows * (c.bk + 4) : c.bk * (rows + 8); };
  return static_cast<int64_t>(c.stages) * (region(g.aKMajor, c.tileM) + region(g.bKMajor, c.tileN)) * 4;
}

std::string mmaStep(const Context& x, const SharedAt& aAt, const SharedAt& bAt, const std::string& kk) {
  const int MI = x.WM / 16, NJ = x.WN / 8; // m16 and n8 fragments per warp
  std::string m;
  m += fmt::format("    u32 af[{}][4], bf[{}][2];\n", MI, NJ);
  m += fmt::format("    #pragma unroll\n    for (int i = 0; i < {}; ++i) {{\n", MI);
  m += "      const int r = wm + i * 16 + gid;\n";
  m += fmt::format("      af[i][0] = sinter_tf32({}); af[i][1] = sinter_tf32({});\n", aAt(kk + " + tig", "r"), aAt(kk + " + tig", "r + 8"));
  m += fmt::format("      af[i][2] = sinter_tf32({}); af[i][3] = sinter_tf32({});\n    }}\n", aAt(kk + " + tig + 4", "r"),
                   aAt(kk + " + tig + 4", "r + 8"));
  m += fmt::format("    #pragma unroll\n    for (int j = 0; j < {}; ++j) {{\n", NJ);
  m += "      const int c = wn + j * 8 + gid;\n";
  m += fmt::format("      bf[j][0] = sinter_tf32({}); bf[j][1] = sinter_tf32({});\n    }}\n", bAt(kk + " + tig", "c"),
                   bAt(kk + " + tig + 4", "c"));
  m += fmt::format("    #pragma unroll\n    for (int i = 0; i < {}; ++i)\n      #pragma unroll\n      for (int j = 0; j < {}; ++j)\n",
                   MI, NJ);
  m += "        sinter_mma_tf32(acc[i][j], af[i], bf[j]);\n";
  return m;
}

unsigned registerPipeline(Context& x) {
  const GemmSpec& g = x.g;
  const int BM = x.BM, BN = x.BN, BK = x.BK, TM = x.TM, TN = x.TN, LA = x.LA, LB = x.LB;
  const bool tf32 = x.tf32;
  const int64_t KT = x.KT;
  std::string& b = x.ks.body;
  b += fmt::format("  __shared__ __align__(16) float As[2][{}][{}];\n", BK, BM + 8);
  b += fmt::format("  __shared__ __align__(16) float Bs[2][{}][{}];\n", BK, BN + 8);
  // Columns this thread loads B from, and their setup.
  std::vector<std::string> bk(LB), bn(LB);
  for (int i = 0; i < LB; ++i) {
    if (g.bKMajor) {
      bn[i] = fmt::format("(tid / {} + {})", BK, i * (kThreads / BK));
      bk[i] = fmt::format("(tid % {})", BK);
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
                         i * kThreads, BK, BK);
    loads += fmt::format("      ra[{}] = (m < {}ll && k < kEnd) ? ({}) : 0.f; }}\n", i, g.M, g.aLoad);
  }
  for (int i = 0; i < LB; ++i) {
    int cs = colSlot(i);
    loads += fmt::format("    {{ const int k = (int)(kBase + k0 + {}); const int n = n{};\n", bk[i], cs);
    loads += fmt::format("      rb[{}] = (k < kEnd && n < {}ll) ? ({}) : 0.f; }}\n", i, g.N, slot(g.bLoad, cs));
  }
  std::string stores;
  for (int i = 0; i < LA; ++i)
    stores += fmt::format("    {{ const int idx = tid + {}; As[buf][idx % {}][idx / {}] = ra[{}]; }}\n", i * kThreads, BK, BK, i);
  for (int i = 0; i < LB; ++i)
    stores += fmt::format("    Bs[buf][{}][{}] = rb[{}];\n", bk[i], bn[i], i);
  b += "  { const int k0 = 0, buf = 0;\n" + loads + stores + "  }\n  __syncthreads();\n";
  b += fmt::format("  for (int kt = 0; kt < {}; ++kt) {{\n    const int cur = kt & 1;\n", KT);
  b += fmt::format("    if (kt + 1 < {}) {{ const int k0 = (kt + 1) * {};\n", KT, BK);
  b += loads + "    }\n";
  if (!tf32) {
    b += fmt::format("    #pragma unroll\n    for (int kk = 0; kk < {}; ++kk) {{\n", BK);
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
    b += mmaStep(x, [](const std::string& k, const std::string& r) { return fmt::format("As[cur][{}][{}]", k, r); },
                 [](const std::string& k, const std::string& col) { return fmt::format("Bs[cur][{}][{}]", k, col); }, "0");
  }
  b += fmt::format("    if (kt + 1 < {}) {{ const int buf = cur ^ 1;\n", KT);
  b += stores + "    }\n    __syncthreads();\n  }\n";
  return 0;
}

unsigned asyncPipeline(Context& x) {
  const GemmSpec& g = x.g;
  const GemmTiling& c = x.c;
  KernelSource& ks = x.ks;
  const int BM = x.BM, BN = x.BN, BK = x.BK, LA = x.LA, LB = x.LB, T = x.threads;
  const int64_t KT = x.KT;
  std::string& b = ks.body;
  // cp.async ring of c.stages shared buffers. Shared layout per operand: [row][BK + 4] when k is
  // contiguous in memory (lanes copy along k), else [BK][row + 8] (lanes copy along the row).
  ks.helper(std::string(kCpAsyncHelpers));
  const int ST = c.stages;
  const int aRow = g.aKMajor ? BK + 4 : BM + 8, bRow = g.bKMajor ? BK + 4 : BN + 8;
  const int aSize = g.aKMajor ? BM * aRow : BK * aRow, bSize = g.bKMajor ? BN * bRow : BK * bRow;
  const int stageFloats = aSize + bSize;
  const unsigned sharedBytes = static_cast<unsigned>(asyncSharedBytes(g, c));
  b += "#ifdef SINTER_EMULATION\n  float* const smem = sinter_emu::dynamicShared();\n#else\n"
       "  extern __shared__ __align__(16) float sinter_dynamic_smem[];\n  float* const smem = sinter_dynamic_smem;\n#endif\n";
  auto aAt = [&](const std::string& k, const std::string& m) {
    return g.aKMajor ? fmt::format("As[({}) * {} + {}]", m, aRow, k) : fmt::format("As[({}) * {} + {}]", k, aRow, m);
  };
  auto bAt = [&](const std::string& k, const std::string& n) {
    return g.bKMajor ? fmt::format("Bs[({}) * {} + {}]", n, bRow, k) : fmt::format("Bs[({}) * {} + {}]", k, bRow, n);
  };
  if (!g.bKMajor) { // one column per thread for every tile
    b += fmt::format("  const int n0 = nBlk + tid % {};\n", BN);
    b += "  " + slot(g.columnSetup, 0) + "\n";
  }
  // Copies of K tile `kt` into stage `st`.
  std::string copies = "    float* const As = smem + st * " + std::to_string(stageFloats) + ";\n";
  copies += fmt::format("    float* const Bs = As + {};\n", aSize);
  // k-major operands with aligned runs of 4 go 16 bytes per copy (BK / 4 copies per row).
  const bool aVec = g.aKMajor && g.aVec4, bVec = g.bKMajor && g.bVec4, bNVec = !g.bKMajor && g.bNVec4 && g.N % 4 == 0;
  if (aVec || bVec || bNVec)
    ks.helper(std::string(kCpAsync16Helper));
  const int BV = BK / 4;
  for (int i = 0; i < (aVec ? LA / 4 : LA); ++i) {
    std::string mi = aVec        ? fmt::format("tid / {} + {}", BV, i * (T / BV))
                     : g.aKMajor ? fmt::format("tid / {} + {}", BK, i * (T / BK))
                                 : fmt::format("tid % {}", BM);
    std::string ki = aVec        ? fmt::format("(tid % {}) * 4", BV)
                     : g.aKMajor ? fmt::format("tid % {}", BK)
                                 : fmt::format("tid / {} + {}", BM, i * (T / BM));
    copies += fmt::format("    {{ const int mi = {}, ki = {}; const int m = mBlk + mi; const int k = (int)(k0 + ki);\n", mi, ki);
    copies += fmt::format("      sinter_cp_async{}(&{}, (m < {}ll && k < kEnd) ? ({}) : nullptr); }}\n", aVec ? 16 : 4,
                          aAt("ki", "mi"), g.M, g.aPtr);
  }
  const std::string& bPtr = g.bPtrAsync.empty() ? g.bPtr : g.bPtrAsync;
  if (!g.asyncHelper.empty())
    ks.helper(g.asyncHelper);
  const int NV = BN / 4;
  for (int i = 0; i < (bVec || bNVec ? LB / 4 : LB); ++i) {
    if (bNVec) { // runs of 4 columns: NV threads per K row, T / NV rows per pass
      copies += fmt::format("    {{ const int ni = (tid % {}) * 4, ki = tid / {} + {}; const int k = (int)(k0 + ki); const int n = "
                            "nBlk + ni;\n",
                            NV, NV, i * (T / NV));
      copies += fmt::format("      sinter_cp_async16(&{}, (k < kEnd && n < {}ll) ? ({}) : nullptr); }}\n", bAt("ki", "ni"), g.N, bPtr);
    } else if (g.bKMajor) {
      if (bVec)
        copies += fmt::format("    {{ const int ni = tid / {} + {}, ki = (tid % {}) * 4; const int nc = nBlk + ni;\n", BV,
                              i * (T / BV), BV);
      else
        copies += fmt::format("    {{ const int ni = tid / {} + {}, ki = tid % {}; const int nc = nBlk + ni;\n", BK,
                              i * (T / BK), BK);
      copies += "      " + slot(g.columnSetup, "c") + "\n";
      copies += "      const int k = (int)(k0 + ki); const int n = nc;\n";
      copies += fmt::format("      sinter_cp_async{}(&{}, (k < kEnd && n < {}ll) ? ({}) : nullptr); }}\n", bVec ? 16 : 4,
                            bAt("ki", "ni"), g.N, slot(bPtr, "c"));
    } else {
      copies += fmt::format("    {{ const int ni = tid % {}, ki = tid / {} + {}; const int k = (int)(k0 + ki); const int n = n0;\n",
                            BN, BN, i * (T / BN));
      copies += fmt::format("      sinter_cp_async4(&{}, (k < kEnd && n < {}ll) ? ({}) : nullptr); }}\n", bAt("ki", "ni"), g.N,
                            slot(bPtr, 0));
    }
  }
  // Prologue: the first ST - 1 tiles in flight (one commit group each, empty past the end).
  b += fmt::format("  #pragma unroll\n  for (int st = 0; st < {}; ++st) {{\n", ST - 1);
  b += fmt::format("    if (st < {}) {{\n      const i64 k0 = kBase + (i64)st * {};\n", KT, BK);
  b += copies + "    }\n    sinter_cp_async_commit();\n  }\n";
  // Tile kt is in stage kt % ST; tile kt + ST - 1 goes to the stage tile kt - 1 used.
  b += "  int cur = 0, nxt = " + std::to_string(ST - 1) + ";\n";
  b += fmt::format("  for (int kt = 0; kt < {}; ++kt) {{\n", KT);
  b += fmt::format("    sinter_cp_async_wait<{}>();\n    __syncthreads();\n", ST - 2);
  b += fmt::format("    if (kt + {} < {}) {{\n      const int st = nxt;\n      const i64 k0 = kBase + (i64)(kt + {}) * {};\n", ST - 1,
                   KT, ST - 1, BK);
  b += copies + "    }\n    sinter_cp_async_commit();\n";
  b += fmt::format("    const float* const As = smem + cur * {};\n    const float* const Bs = As + {};\n", stageFloats, aSize);
  b += fmt::format("    #pragma unroll\n    for (int kk = 0; kk < {}; kk += 8) {{\n", BK);
  b += mmaStep(x, aAt, bAt, "kk");
  b += "    }\n";
  b += fmt::format("    cur = cur + 1 == {} ? 0 : cur + 1;\n    nxt = nxt + 1 == {} ? 0 : nxt + 1;\n  }}\n", ST, ST);
  b += "  sinter_cp_async_wait<0>();\n";
  return sharedBytes;
}

} // namespace sinter::cuda::gemm

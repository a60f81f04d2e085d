// Tiled GEMM generator (see TiledGemm.h): the tilings (text form, the rule, the candidates,
// validity), and the kernel around the main loop: the prologue (thread ids, the block's K range,
// zeroed accumulators: FFMA's TM x TN per thread, or TF32's m16n8 fragments per warp), the
// pipeline's main loop (GemmPipelines.cpp), and the epilogue (stores, split-K through atomics or
// a workspace), the rule text and the launch shape. 256 threads (TF32 cp.async 128x128: 128 or
// 256); tiles of 128 or 64 each way.
#include "codegen/cuda/TiledGemm.h"

#include "codegen/cuda/GemmPipelines.h"

#include <algorithm>
#include <charconv>

namespace sinter {

std::string GemmTiling::str() const {
  return fmt::format("tile={}x{} split={} stages={} bk={}{}", tileM, tileN, split, stages, bk,
                     warps == 8 ? std::string() : fmt::format(" warps={}", warps));
}

std::optional<GemmTiling> GemmTiling::parse(std::string_view text) {
  GemmTiling t;
  int seen = 0;
  size_t pos = 0;
  auto number = [](std::string_view v, int* out) {
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), *out);
    return ec == std::errc() && p == v.data() + v.size() && *out >= 0 && *out <= 4096;
  };
  while (pos < text.size()) {
    size_t end = text.find(' ', pos);
    std::string_view item = text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    pos = end == std::string_view::npos ? text.size() : end + 1;
    if (item.empty())
      continue;
    size_t eq = item.find('=');
    if (eq == std::string_view::npos)
      return std::nullopt;
    std::string_view key = item.substr(0, eq), val = item.substr(eq + 1);
    if (key == "tile") {
      size_t x = val.find('x');
      if (x == std::string_view::npos || !number(val.substr(0, x), &t.tileM) || !number(val.substr(x + 1), &t.tileN))
        return std::nullopt;
      seen |= 1;
      continue;
    }
    int* field = key == "split"    ? &t.split
                 : key == "stages" ? &t.stages
                 : key == "bk"     ? &t.bk
                 : key == "warps"  ? &t.warps
                                   : nullptr;
    if (!field || !number(val, field))
      return std::nullopt;
    seen |= key == "split" ? 2 : key == "stages" ? 4 : key == "bk" ? 8 : 16; // warps is optional (8)
  }
  if ((seen & 15) != 15)
    return std::nullopt;
  return t;
}

} // namespace sinter

namespace sinter::cuda {

using namespace gemm;

namespace {

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

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

int64_t tileCount(const GemmSpec& g, int tm, int tn) { return ceilDiv(g.M, tm) * ceilDiv(g.N, tn) * g.Z; }

bool asyncPossible(const GemmSpec& g, const CudaTarget& t) {
  return t.precision == CudaPrecision::TF32 && t.sm >= 80 && !g.aPtr.empty() && !g.bPtr.empty();
}

int64_t maxSharedBytes(const CudaTarget& t) {
  return t.sm == 80 || t.sm == 87 ? 163 * 1024 : t.sm >= 90 ? 227 * 1024 : 99 * 1024;
}

// The split-K ways a tiling really gets (the K steps divide into equal ranges) and the K steps
// of each range.
std::pair<int64_t, int64_t> splitOf(const GemmSpec& g, const GemmTiling& c) {
  const int64_t steps = ceilDiv(g.K, c.bk);
  const int64_t per = ceilDiv(steps, std::max(1, c.split));
  return {ceilDiv(steps, per), per};
}

bool valid(const GemmSpec& g, const GemmTiling& c, const CudaTarget& t) {
  if ((c.tileM != 64 && c.tileM != 128) || (c.tileN != 64 && c.tileN != 128) || c.split < 1)
    return false;
  // Workspace splits of a big output would need gigabytes: at most 256 MB of partial tiles.
  if (c.split > 1 && g.atomicStore.empty() && splitOf(g, c).first * g.Z * g.M * g.N * 4 > (int64_t{256} << 20))
    return false;
  // 4 warps: the 64x64 warp tile of a 128x128 block (TF32, cp.async). An operand copied 4 bytes
  // at a time along k (a gathered weight transpose, a weight gradient's images) costs 16 or 32
  // copies per thread per K tile, each with its own address: with K tiles of 32, or with both
  // operands so, the kernel spills at the 255-register cap.
  if (c.warps != 8) {
    const int gathered = (g.aKMajor && !g.aVec4) + (g.bKMajor && !g.bVec4);
    if (c.warps != 4 || c.stages == 0 || t.precision != CudaPrecision::TF32 || c.tileM != 128 || c.tileN != 128 ||
        gathered == 2 || (c.bk == 32 && gathered == 1))
      return false;
  }
  if (c.stages == 0)
    return c.bk == 8;
  return asyncPossible(g, t) && c.stages >= 2 && c.stages <= 4 && (c.bk == 16 || c.bk == 32) &&
         asyncSharedBytes(g, c) <= maxSharedBytes(t);
}

} // namespace

GemmTiling ruleTiling(const GemmSpec& g, const CudaTarget& t) {
  // What autotune found on the H200 (2026-11-28, bench/gpu/2026-11-28-h200/bench-*-tuned.txt),
  // written as a rule:
  // - Split-K when the output tiles cannot fill the GPU but K is long, each split at least 32
  //   K steps of 8. A split that adds into the output with atomics (weight gradients) is cheap:
  //   aim at 4 blocks per SM (tuned: 520-670 blocks in both precisions). A workspace split (an
  //   epilogue must see the whole sum: FC layers, small-batch convs) pays for its partial tiles:
  //   TF32 aims at one block per SM (tuned: 126-128 blocks); f32 keeps twice the SMs with
  //   64-wide tiles (tuned: the same choice, 1.00x).
  // - 128-wide tiles when they fill the GPU with at least 65 rows, or (atomic or TF32) when
  //   split-K can still reach the aim with them: fewer, larger tiles read A and B fewer times.
  //   Else 64-wide. (conv2's input gradient has 48 rows per group: 64-wide tiles waste a
  //   quarter, not 62%.)
  // - TF32 with pointer operands: the cp.async pipeline, 3 stages, K tiles of 16 (128x128) or
  //   32 (64x64); tuned 1.4-2.4x the register pipeline on AlexNet's forward convs and FC layers.
  GemmTiling c;
  const bool tf32 = t.precision == CudaPrecision::TF32, atomic = !g.atomicStore.empty();
  const int64_t steps = ceilDiv(g.K, 8), maxSplit = steps >= 64 ? steps / 32 : 1;
  const int64_t aim = (atomic ? 4 : tf32 ? 1 : 2) * int64_t{t.multiprocessors};
  const int64_t tiles128 = tileCount(g, 128, 128);
  const bool wide = g.M > 64 && (tiles128 >= t.multiprocessors ||
                                 ((atomic || tf32) && maxSplit > 1 && tiles128 * maxSplit >= aim));
  c.tileM = c.tileN = wide ? 128 : 64;
  const int64_t tiles = tileCount(g, c.tileM, c.tileN);
  if (maxSplit > 1 && tiles < aim) {
    const int64_t ways = atomic || tf32 ? (aim + tiles / 2) / tiles : ceilDiv(aim, tiles);
    c.split = static_cast<int>(std::clamp<int64_t>(ways, 1, maxSplit));
  }
  if (asyncPossible(g, t)) {
    GemmTiling a = c;
    a.stages = 3;
    a.bk = wide ? 16 : 32;
    if (valid(g, a, t))
      c = a;
  }
  return c;
}

std::vector<GemmTiling> tilingCandidates(const GemmSpec& g, const CudaTarget& t) {
  std::vector<GemmTiling> out{ruleTiling(g, t)};
  auto add = [&](const GemmTiling& c) {
    if (valid(g, c, t) && std::find(out.begin(), out.end(), c) == out.end())
      out.push_back(c);
  };
  struct Pipeline {
    int stages, bk, warps;
  };
  std::vector<Pipeline> pipelines{{0, 8, 8}};
  if (asyncPossible(g, t))
    pipelines.insert(pipelines.end(), {{3, 16, 8}, {3, 32, 8}, {3, 16, 4}, {3, 32, 4}});
  for (auto [tm, tn] : {std::pair{128, 128}, {64, 64}, {64, 128}, {128, 64}})
    for (auto [stages, bk, warps] : pipelines) {
      const int64_t tiles = tileCount(g, tm, tn), steps = ceilDiv(g.K, 8);
      std::vector<int64_t> splits{1};
      if (tiles < 2 * t.multiprocessors && steps >= 64) {
        int64_t base = ceilDiv(2 * t.multiprocessors, tiles);
        for (int64_t s : {base / 2, base, base * 2, base * 4})
          if (s > 1 && s <= steps / 32)
            splits.push_back(s);
      }
      for (int64_t s : splits)
        add(GemmTiling{tm, tn, static_cast<int>(s), stages, bk, warps});
    }
  return out;
}

void emitTiledGemm(KernelSource& ks, const GemmSpec& g, const std::string& what) {
  const CudaTarget& t = ks.target();
  GemmTiling c = ruleTiling(g, t);
  std::string source = "rule";
  if (auto it = t.tilings.find(ks.kernel().name); it != t.tilings.end()) {
    if (valid(g, it->second, t)) {
      c = it->second;
      source = "chosen";
    } else {
      source = fmt::format("rule; {} does not fit this GEMM", it->second.str());
    }
  }
  ks.kernel().candidates = tilingCandidates(g, t);
  ks.kernel().tiling = c;
  const int BM = c.tileM, BN = c.tileN, BK = c.bk;
  const int TM = BM / 16, TN = BN / 16; // FFMA: 16 x 16 threads
  const int threads = 32 * c.warps;
  const int LA = BM * BK / threads, LB = BN * BK / threads;
  const bool tf32 = t.precision == CudaPrecision::TF32;
  // TF32: the warps as 2 x (warps / 2), each with a WM x WN tile of m16n8 fragments.
  const int WM = BM / 2, WN = BN / (c.warps / 2);
  const bool async = c.stages > 0;
  // Split-K: S blocks per output tile each take KT steps of K. With an atomic store they add
  // their sums into the zeroed output; otherwise (an epilogue such as bias + ReLU must see the
  // whole sum) they write partial tiles to a workspace and the last block to finish a tile (a
  // counter per tile) adds them in split order and runs the store: deterministic, one launch.
  const auto [S, KT] = splitOf(g, c);
  const bool atomicSplit = S > 1 && !g.atomicStore.empty();
  const bool workspaceSplit = S > 1 && !atomicSplit;
  std::string& b = ks.body;
  b += "  const int tid = threadIdx.x;\n";
  b += fmt::format("  const int mBlk = blockIdx.y * {}, nBlk = blockIdx.x * {}, z = blockIdx.z % {};\n  (void)z;\n", BM, BN, g.Z);
  // This block's K range [kBase, kEnd).
  b += fmt::format("  const i64 kBase = (i64)(blockIdx.z / {}) * {}, kEnd = kBase + {} < {}ll ? kBase + {} : {}ll;\n", g.Z,
                   KT * BK, KT * BK, g.K, KT * BK, g.K);
  if (tf32) {
    // The warps as 2 x (warps / 2); each owns a WM x WN tile of m16n8 fragments.
    b += "  const int warp = tid / 32, lane = tid % 32, gid = lane / 4, tig = lane % 4;\n";
    b += fmt::format("  const int wm = (warp / {}) * {}, wn = (warp % {}) * {};\n", c.warps / 2, WM, c.warps / 2, WN);
    b += fmt::format("  float acc[{}][{}][4];\n", WM / 16, WN / 8);
    b += fmt::format("  #pragma unroll\n  for (int i = 0; i < {}; ++i)\n    #pragma unroll\n    for (int j = 0; j < {}; ++j)\n"
                     "      #pragma unroll\n      for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.f;\n",
                     WM / 16, WN / 8);
    ks.helper(std::string(kTf32Helpers));
  } else {
    b += fmt::format("  const int tx = tid % 16, ty = tid / 16;\n  float acc[{}][{}];\n", TM, TN);
    b += fmt::format("  #pragma unroll\n  for (int i = 0; i < {}; ++i)\n    #pragma unroll\n    for (int j = 0; j < {}; ++j) "
                     "acc[i][j] = 0.f;\n",
                     TM, TN);
  }
  // The main loop, by pipeline (GemmPipelines.cpp).
  Context x{ks, g, c, BM, BN, BK, TM, TN, LA, LB, WM, WN, threads, tf32, S, KT};
  const unsigned sharedBytes = async ? asyncPipeline(x) : registerPipeline(x);
  // Epilogue: each accumulator to its (m, n). `loop(true)` opens the loop over this thread's
  // accumulators with `m`, `n` and `acc_`; `loop(false)` with `m` and `n` only.
  // Without accumulators (the split-K sum) the outer loop stays rolled: unrolled, the compiler
  // hoists every partial-tile load of the tile and spills.
  auto loop = [&](bool withAcc) {
    std::string l;
    const char* outer = withAcc ? "#pragma unroll" : "#pragma unroll 1";
    if (!tf32) {
      l += fmt::format("  {}\n  for (int i = 0; i < {}; ++i)\n    #pragma unroll\n    for (int j = 0; j < {}; ++j) {{\n",
                       outer, TM, TN);
      l += fmt::format("      const int m = mBlk + ty * {} + i, n = nBlk + tx * {} + j;\n", TM, TN);
      if (withAcc)
        l += "      const float acc_ = acc[i][j];\n";
    } else {
      l += fmt::format("  {}\n  for (int i = 0; i < {}; ++i)\n    #pragma unroll\n    for (int j = 0; j < {}; ++j)\n"
                       "      #pragma unroll\n      for (int r = 0; r < 4; ++r) {{\n",
                       outer, WM / 16, WN / 8);
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
  unsigned gx = static_cast<unsigned>(ceilDiv(g.N, BN)), gy = static_cast<unsigned>(ceilDiv(g.M, BM));
  std::string rule = fmt::format(
      "{}: tiled GEMM M={} N={} K={} x{}: tile {}x{}x{} ({}), {} threads, {}, {}; grid {}x{}x{} ({} tiles vs {} SMs){}", what, g.M,
      g.N, g.K, g.Z, BM, BN, BK, source, threads,
      tf32 ? fmt::format("mma.sync m16n8k8 TF32, {}x{} per warp", WM, WN) : fmt::format("{}x{} FFMA per thread", TM, TN),
      async ? fmt::format("cp.async {} stages, {} KiB shared", c.stages, sharedBytes / 1024) : "register double buffer", gx, gy,
      g.Z * S, tileCount(g, BM, BN), t.multiprocessors,
      atomicSplit      ? fmt::format("; split-K {} ways of {} (atomic adds into the zeroed output)", S, KT * BK)
      : workspaceSplit ? fmt::format("; split-K {} ways of {} (partial tiles in a workspace, summed in order by "
                                     "the last block of each tile)", S, KT * BK)
                       : "");
  // TF32's large tiles fit 128 registers without spilling: ask for two blocks per SM. (The FFMA
  // tile's 8x8 accumulators spill under that cap on sm_80, so it gets one.)
  ks.minBlocksPerSM = BM * BN > 64 * 64 && tf32 ? 2 : 0;
  // cp.async tiles: 128x128, and the others with K tiles of 32, get every register they ask for
  // (one block per SM: under 128 registers their copy addresses spill), 64x64 a cap of 85
  // (ptxas otherwise aims at 64 and spills), the rest 128.
  // 4 warps (128 threads, 128 accumulators each) ask for two blocks: a cap of 255 registers.
  if (async)
    ks.minBlocksPerSM = c.warps == 4 ? 2 : BM * BN == 64 * 64 ? 3 : BM * BN == 128 * 128 || BK == 32 ? 1 : 2;
  if (atomicSplit)
    ks.kernel().zeroBuffers.push_back(g.atomicBuffer);
  if (workspaceSplit) {
    ks.kernel().workspaceBytes = S * g.Z * g.M * g.N * 4;
    ks.kernel().counters = static_cast<int64_t>(gx) * gy * g.Z;
  }
  ks.finish({gx, gy, static_cast<unsigned>(g.Z * S)}, static_cast<unsigned>(threads), sharedBytes, rule);
}

} // namespace sinter::cuda

// CUDA kernels: gemm (warp dot products for FC layers at small batch, tiled GEMM otherwise),
// numpy matmul, reductions.
#include "codegen/cuda/TiledGemm.h"
#include "ir/Printer.h"

namespace sinter::cuda {

namespace {

std::string gridLoop(const std::string& var, int64_t n) {
  return fmt::format("  for (i64 {} = (i64)blockIdx.x * blockDim.x + threadIdx.x; {} < {}ll; {} += (i64)gridDim.x * "
                     "blockDim.x) {{\n",
                     var, var, n, var);
}

// y[m][n] = x[m] . w[n] for at most 16 rows: one warp per output column, lanes striding k with
// float4 loads (w read once, coalesced), a shuffle reduction per row.
Error gemmDot(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi, int64_t M, int64_t N,
              int64_t K) {
  double alpha = op.attrs().getFloat("alpha"), beta = op.attrs().getFloat("beta");
  bool vec4 = K % 4 == 0;
  std::string& b = ks.body;
  b += fmt::format("  const int lane = threadIdx.x % 32;\n  const i64 n = (i64)blockIdx.x * 8 + threadIdx.x / 32;\n");
  b += fmt::format("  if (n >= {}ll) return;\n  float acc[{}];\n  #pragma unroll\n  for (int m = 0; m < {}; ++m) acc[m] = 0.f;\n",
                   N, M, M);
  std::string x = KernelSource::buf(bind.in[0]), w = KernelSource::buf(bind.in[1]);
  if (vec4) {
    b += fmt::format("  const float4* wr = (const float4*)({} + n * {}ll);\n", w, K);
    b += fmt::format("  for (int k4 = lane; k4 < {}; k4 += 32) {{\n    const float4 wv = wr[k4];\n", K / 4);
    b += fmt::format("    #pragma unroll\n    for (int m = 0; m < {}; ++m) {{\n      const float4 xv = ((const float4*)({} + (i64)m * "
                     "{}ll))[k4];\n",
                     M, x, K);
    b += "      acc[m] += wv.x * xv.x + wv.y * xv.y + wv.z * xv.z + wv.w * xv.w;\n    }\n  }\n";
  } else {
    b += fmt::format("  for (int k = lane; k < {}; k += 32) {{\n    const float wv = {}[n * {}ll + k];\n", K, w, K);
    b += fmt::format("    #pragma unroll\n    for (int m = 0; m < {}; ++m) acc[m] += wv * {}[(i64)m * {}ll + k];\n  }}\n", M, x, K);
  }
  b += fmt::format("  #pragma unroll\n  for (int m = 0; m < {}; ++m) {{\n    float v = acc[m];\n", M);
  b += "    #pragma unroll\n    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);\n";
  b += "    if (lane == 0) {\n      const i64 o = (i64)m * " + std::to_string(N) + "ll + n;\n";
  std::string val = alpha == 1.0 ? "v" : fmt::format("(v * {})", literal(alpha, "float"));
  if (op.numInputs() > 2) {
    std::string c = ks.load(bind.in[2], KernelSource::broadcastIndex("o", {M, N}, op.input(2)->type().shape), "float");
    val = fmt::format("({} + {})", val, beta == 1.0 ? c : fmt::format("{} * {}", literal(beta, "float"), c));
  }
  b += "      " + ks.store(bind.out, "o", epi.apply(ks, val, "o", op.output()->type().shape, "float"));
  b += "    }\n  }\n";
  ks.finish({static_cast<unsigned>((N + 7) / 8), 1, 1}, 256, 0,
            fmt::format("gemm M={} N={} K={}: one warp per output column ({}), 8 per block", M, N, K,
                        vec4 ? "float4 loads" : "scalar loads"));
  return Error::success();
}

Error gemm(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  const Shape& a = op.input(0)->type().shape;
  const Shape& wsh = op.input(1)->type().shape;
  bool ta = op.attrs().getInt("trans_a") != 0, tb = op.attrs().getInt("trans_b") != 0;
  int64_t M = ta ? a[1] : a[0], K = ta ? a[0] : a[1], N = tb ? wsh[0] : wsh[1];
  double alpha = op.attrs().getFloat("alpha"), beta = op.attrs().getFloat("beta");
  bool f32 = op.output()->type().dtype == DType::F32;
  for (const sinter::Value* v : op.inputs())
    f32 = f32 && v->type().dtype == DType::F32;
  const Shape& outShape = op.output()->type().shape;
  std::string x = KernelSource::buf(bind.in[0]), w = KernelSource::buf(bind.in[1]);
  if (f32 && !ta && tb && M <= 16)
    return gemmDot(ks, op, bind, epi, M, N, K);
  std::string biasTerm = [&]() -> std::string {
    if (op.numInputs() < 3)
      return "";
    // Indexed by the tiled GEMM's m and n (a [N] bias: n), not by dividing the flat index:
    // a 64-bit modulo per accumulator made a 64x64 warp tile's epilogue spill.
    const Shape& cs = op.input(2)->type().shape;
    const int64_t cm = cs.size() == 2 ? cs[0] : 1, cn = cs.empty() ? 1 : cs.back();
    std::string at = cm != 1 && cn != 1 ? fmt::format("(i64)m * {} + n", N) : cm != 1 ? "m" : cn != 1 ? "n" : "0";
    std::string c = ks.load(bind.in[2], at, "float");
    return " + " + (beta == 1.0 ? c : fmt::format("{} * {}", literal(beta, "float"), c));
  }();
  if (f32) {
    GemmSpec g;
    g.M = M;
    g.N = N;
    g.K = K;
    g.aPtr = ta ? fmt::format("&{}[(i64)k * {} + m]", x, M) : fmt::format("&{}[(i64)m * {} + k]", x, K);
    g.aLoad = "*" + g.aPtr;
    g.aKMajor = !ta;
    g.columnSetup = "(void)n$;";
    g.bPtr = tb ? fmt::format("&{}[(i64)n * {} + k]", w, K) : fmt::format("&{}[(i64)k * {} + n]", w, N);
    g.bLoad = "*" + g.bPtr;
    g.bKMajor = tb;
    g.aVec4 = !ta && K % 4 == 0;
    g.bVec4 = tb && K % 4 == 0;
    g.bNVec4 = !tb && N % 4 == 0;
    std::string v = alpha == 1.0 ? fmt::format("(acc{})", biasTerm) : fmt::format("(acc * {}{})", literal(alpha, "float"), biasTerm);
    g.store = fmt::format("        const i64 o = (i64)m * {} + n;\n        {}", N,
                          ks.store(bind.out, "o", epi.apply(ks, v, "o", outShape, "float")));
    emitTiledGemm(ks, g, "gemm");
    return Error::success();
  }
  std::string t = computeType(op.output()->type().dtype);
  ks.body += gridLoop("o", M * N);
  ks.body += fmt::format("    const i64 m = o / {}, n = o % {};\n    {} acc = 0;\n", N, N, t);
  ks.body += fmt::format("    for (i64 k = 0; k < {}; ++k) acc += {} * {};\n", K,
                         ks.load(bind.in[0], ta ? fmt::format("k * {} + m", M) : fmt::format("m * {} + k", K), t),
                         ks.load(bind.in[1], tb ? fmt::format("n * {} + k", K) : fmt::format("k * {} + n", N), t));
  std::string v = fmt::format("(acc * {}{})", literal(alpha, t),
                              op.numInputs() > 2 ? fmt::format(" + {} * {}", literal(beta, t),
                                                               ks.load(bind.in[2], KernelSource::broadcastIndex("o", {M, N}, op.input(2)->type().shape), t))
                                                 : std::string());
  ks.body += "    " + ks.store(bind.out, "o", epi.apply(ks, v, "o", outShape, t)) + "  }\n";
  ks.finish({gridFor(M * N, 256, ks.target()), 1, 1}, 256, 0, "gemm: one thread per output (direct loop)");
  return Error::success();
}

Error matmul(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  Shape as = op.input(0)->type().shape, bs = op.input(1)->type().shape;
  if (as.size() == 1)
    as.insert(as.begin(), 1);
  if (bs.size() == 1)
    bs.push_back(1);
  int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  const Shape& out = op.output()->type().shape;
  Shape batch(out.begin(), out.end() - (op.input(0)->type().rank() == 1 ? 0 : 1) - (op.input(1)->type().rank() == 1 ? 0 : 1));
  Shape aBatch(as.begin(), as.end() - 2), bBatch(bs.begin(), bs.end() - 2);
  std::string t = computeType(op.output()->type().dtype);
  int64_t total = numElements(batch) * M * N;
  ks.body += gridLoop("o", total);
  ks.body += fmt::format("    const i64 bi = o / {}, m = o / {} % {}, n = o % {};\n", M * N, N, M, N);
  ks.body += fmt::format("    const i64 ao = {} * {}, bo = {} * {};\n    {} acc = 0;\n",
                         KernelSource::broadcastIndex("bi", batch, aBatch), M * K,
                         KernelSource::broadcastIndex("bi", batch, bBatch), K * N, t);
  ks.body += fmt::format("    for (i64 k = 0; k < {}; ++k) acc += {} * {};\n", K, ks.load(bind.in[0], fmt::format("ao + m * {} + k", K), t),
                         ks.load(bind.in[1], fmt::format("bo + k * {} + n", N), t));
  ks.body += "    " + ks.store(bind.out, "o", epi.apply(ks, "acc", "o", out, t)) + "  }\n";
  ks.finish({gridFor(total, 256, ks.target()), 1, 1}, 256, 0, "matmul: one thread per output");
  return Error::success();
}

enum class Red { Sum, Mean, Max };

template <Red R> Error reduce(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  const TensorType& x = op.input(0)->type();
  const auto& axes = op.attrs().getInts("axes");
  int64_t r = x.rank();
  std::vector<bool> reduced(static_cast<size_t>(r), axes.empty());
  for (int64_t a : axes)
    reduced[a < 0 ? a + r : a] = true;
  std::vector<int64_t> strides(static_cast<size_t>(r), 1);
  for (int64_t d = r - 1; d > 0; --d)
    strides[d - 1] = strides[d] * x.shape[d];
  Shape kept;
  int64_t count = 1;
  for (int64_t d = 0; d < r; ++d) {
    kept.push_back(reduced[d] ? 1 : x.shape[d]);
    if (reduced[d])
      count *= x.shape[d];
  }
  std::string t = computeType(op.output()->type().dtype);
  std::string base = "0", red = "0";
  int64_t s = 1, js = 1;
  for (int64_t d = r - 1; d >= 0; --d) {
    if (!reduced[d])
      base += fmt::format(" + (o / {} % {}) * {}", s, kept[d], strides[d]);
    else {
      red += fmt::format(" + (j / {} % {}) * {}", js, x.shape[d], strides[d]);
      js *= x.shape[d];
    }
    s *= kept[d];
  }
  int64_t outN = numElements(kept);
  std::string init = R == Red::Max ? "sinter_neg_inf<" + t + ">()" : "0";
  auto combine = [&](const std::string& a, const std::string& b) {
    return R == Red::Max ? fmt::format("sinter_max<{}>({}, {})", t, a, b) : a + " + " + b;
  };
  if (count >= 256) {
    // Long reductions (a bias gradient sums N*H*W elements per channel): one block of 256
    // threads per output, strided loads (consecutive threads read consecutive elements of the
    // innermost reduced axis), warp shuffles, then one warp over the 8 partial results.
    std::string v = ks.load(bind.in[0], "base + " + red, t);
    ks.body += fmt::format("  __shared__ {} part[8];\n", t);
    ks.body += fmt::format("  for (i64 o = blockIdx.x; o < {}; o += gridDim.x) {{\n", outN);
    ks.body += fmt::format("    const i64 base = {};\n    {} acc = {};\n", base, t, init);
    ks.body += fmt::format("    for (i64 j = threadIdx.x; j < {}; j += 256) acc = {};\n", count, combine("acc", v));
    ks.body += fmt::format("    for (int s = 16; s > 0; s /= 2) acc = {};\n",
                           combine("__shfl_xor_sync(0xffffffffu, acc, s)", "acc"));
    ks.body += "    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = acc;\n    __syncthreads();\n";
    ks.body += fmt::format("    if (threadIdx.x < 32) {{\n      acc = threadIdx.x < 8 ? part[threadIdx.x] : {};\n", init);
    ks.body += fmt::format("      for (int s = 4; s > 0; s /= 2) acc = {};\n",
                           combine("__shfl_xor_sync(0xffffffffu, acc, s)", "acc"));
    std::string res = R == Red::Mean ? fmt::format("(acc / ({}){})", t, count) : "acc";
    ks.body += "      if (threadIdx.x == 0) { " +
               ks.store(bind.out, "o", epi.apply(ks, res, "o", op.output()->type().shape, t)) + " }\n    }\n";
    ks.body += "    __syncthreads();\n  }\n";
    ks.finish({static_cast<unsigned>(std::min<int64_t>(outN, 1 << 20)), 1, 1}, 256, 0,
              fmt::format("reduction: one block of 256 threads per output ({} outputs of {} elements)", outN, count));
    return Error::success();
  }
  ks.body += gridLoop("o", outN);
  ks.body += fmt::format("    const i64 base = {};\n    {} acc = {};\n", base, t,
                         R == Red::Max ? "sinter_neg_inf<" + t + ">()" : "0");
  std::string v = ks.load(bind.in[0], "base + " + red, t);
  ks.body += fmt::format("    for (i64 j = 0; j < {}; ++j) acc = {};\n", count,
                         R == Red::Max ? fmt::format("sinter_max<{}>({}, acc)", t, v) : "acc + " + v);
  std::string res = R == Red::Mean ? fmt::format("(acc / ({}){})", t, count) : "acc";
  ks.body += "    " + ks.store(bind.out, "o", epi.apply(ks, res, "o", op.output()->type().shape, t)) + "  }\n";
  ks.finish({gridFor(outN, 256, ks.target()), 1, 1}, 256, 0, "reduction: one thread per output");
  return Error::success();
}

constexpr CudaEmitter kEmitters[] = {
    {"gemm", gemm},
    {"matmul", matmul},
    {"reduce_sum", reduce<Red::Sum>},
    {"reduce_mean", reduce<Red::Mean>},
    {"reduce_max", reduce<Red::Max>},
};

} // namespace

std::span<const CudaEmitter> linearEmitters() { return kEmitters; }

} // namespace sinter::cuda

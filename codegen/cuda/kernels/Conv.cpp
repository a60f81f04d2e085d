// CUDA kernels: conv2d as implicit GEMM (f32 / TF32), a direct loop for other dtypes.
#include "codegen/cuda/TiledGemm.h"

namespace sinter::cuda {

namespace {

Error conv2d(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  ConvShape c = ConvShape::of(op);
  int64_t Mg = c.M / c.G, K = c.Cg * c.KH * c.KW, OHW = c.OH * c.OW;
  bool bias = op.numInputs() > 2;
  bool f32 = op.input(0)->type().dtype == DType::F32 && op.input(1)->type().dtype == DType::F32 &&
             op.output()->type().dtype == DType::F32;
  const Shape& outShape = op.output()->type().shape;
  if (f32) {
    GemmSpec g;
    g.M = Mg;
    g.N = c.N * OHW;
    g.K = K;
    g.Z = c.G;
    g.aLoad = fmt::format("{}[((i64)z * {} + m) * {} + k]", KernelSource::buf(bind.in[1]), Mg, K);
    // Column n = (image, oh, ow): its input window origin.
    g.columnSetup = fmt::format(
        "const int img$ = n$ / {}, r$ = n$ % {}; const int ih$ = (r$ / {}) * {} - {}, iw$ = (r$ % {}) * {} - {}; "
        "const i64 xb$ = ((i64)img$ * {} + (i64)z * {}) * {};",
        OHW, OHW, c.OW, c.SH, c.PT, c.OW, c.SW, c.PL, c.C, c.Cg, c.H * c.W);
    g.bLoad = fmt::format("[&]() -> float {{ const int cc = k / {}, rr = k % {}; const int ih = ih$ + (rr / {}) * {}, iw = "
                          "iw$ + (rr % {}) * {}; return ((unsigned)ih < {}u && (unsigned)iw < {}u) ? {}[xb$ + ((i64)cc * "
                          "{} + ih) * {} + iw] : 0.f; }}()",
                          c.KH * c.KW, c.KH * c.KW, c.KW, c.DH, c.KW, c.DW, c.H, c.W, KernelSource::buf(bind.in[0]), c.H,
                          c.W);
    std::string ch = fmt::format("((i64)z * {} + m)", Mg);
    std::string flat = fmt::format("(((i64)(n / {}) * {} + {}) * {} + n % {})", OHW, c.M, ch, OHW, OHW);
    std::string v = bias ? fmt::format("(acc + {})", ks.load(bind.in[2], ch, "float")) : "acc";
    g.store = fmt::format("        const i64 o = {};\n        {}", flat,
                          ks.store(bind.out, "o", epi.apply(ks, v, "o", outShape, "float")));
    emitTiledGemm(ks, g, "conv2d");
    return Error::success();
  }
  // Other dtypes: one thread per output element, accumulation in the compute type.
  std::string t = computeType(op.output()->type().dtype);
  int64_t n = op.output()->type().numel();
  std::string& b = ks.body;
  b += fmt::format("  for (i64 o = (i64)blockIdx.x * blockDim.x + threadIdx.x; o < {}ll; o += (i64)gridDim.x * blockDim.x) {{\n", n);
  b += fmt::format("    const i64 ow = o % {}, oh = o / {} % {}, m = o / {} % {}, img = o / {};\n", c.OW, c.OW, c.OH,
                   OHW, c.M, OHW * c.M);
  b += fmt::format("    const i64 g = m / {};\n    {} acc = {};\n", Mg, t, bias ? ks.load(bind.in[2], "m", t) : "0");
  b += fmt::format("    for (int cc = 0; cc < {}; ++cc) for (int kh = 0; kh < {}; ++kh) for (int kw = 0; kw < {}; ++kw) {{\n",
                   c.Cg, c.KH, c.KW);
  b += fmt::format("      const i64 ih = oh * {} - {} + kh * {}, iw = ow * {} - {} + kw * {};\n", c.SH, c.PT, c.DH, c.SW,
                   c.PL, c.DW);
  b += fmt::format("      if (ih < 0 || ih >= {} || iw < 0 || iw >= {}) continue;\n", c.H, c.W);
  b += fmt::format("      acc += {} * {};\n    }}\n",
                   ks.load(bind.in[0], fmt::format("((img * {} + g * {} + cc) * {} + ih) * {} + iw", c.C, c.Cg, c.H, c.W), t),
                   ks.load(bind.in[1], fmt::format("((m * {} + cc) * {} + kh) * {} + kw", c.Cg, c.KH, c.KW), t));
  b += "    " + ks.store(bind.out, "o", epi.apply(ks, "acc", "o", outShape, t)) + "  }\n";
  ks.finish({gridFor(n, 256, ks.target()), 1, 1}, 256, 0, "conv2d: one thread per output (direct loop)");
  return Error::success();
}

constexpr CudaEmitter kEmitters[] = {{"conv2d", conv2d}};

} // namespace

std::span<const CudaEmitter> convEmitters() { return kEmitters; }

} // namespace sinter::cuda

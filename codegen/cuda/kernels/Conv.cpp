// CUDA kernels: conv2d as implicit GEMM (f32 / TF32), a direct loop for other dtypes.
#include "codegen/cuda/TiledGemm.h"
#include "ir/Winograd.h"

#include <array>
#include <functional>

namespace sinter::cuda {

namespace {

// The element a pointer expression (nullptr: padding) designates, or 0.
std::string derefOrZero(const std::string& ptr) {
  return fmt::format("[&]() -> float {{ const float* p_ = {}; return p_ ? *p_ : 0.f; }}()", ptr);
}

// The cp.async gather's table over k (K entries): `sinter_koff[k]`, an element offset, and
// `sinter_khw[k]`, the tap's row shift << 16 | column shift. k is uniform across a warp where the
// pipeline reads it, so the reads are constant-cache broadcasts.
std::string kTable(int64_t K, const std::function<std::array<int64_t, 3>(int64_t)>& entry) {
  std::string off, hw;
  for (int64_t k = 0; k < K; ++k) {
    auto [o, dh, dw] = entry(k);
    off += fmt::format("{}{}", k ? "," : "", o);
    hw += fmt::format("{}{}", k ? "," : "", dh << 16 | dw);
  }
  return fmt::format("__constant__ int sinter_koff[{}] = {{{}}};\n__constant__ int sinter_khw[{}] = {{{}}};\n", K, off, K, hw);
}

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
    g.aPtr = fmt::format("&{}[((i64)z * {} + m) * {} + k]", KernelSource::buf(bind.in[1]), Mg, K);
    g.aLoad = "*" + g.aPtr;
    // Column n = (image, oh, ow): its input window origin.
    g.columnSetup = fmt::format(
        "const int img$ = n$ / {}, r$ = n$ % {}; const int ih$ = (r$ / {}) * {} - {}, iw$ = (r$ % {}) * {} - {}; "
        "const i64 xb$ = ((i64)img$ * {} + (i64)z * {}) * {};",
        OHW, OHW, c.OW, c.SH, c.PT, c.OW, c.SW, c.PL, c.C, c.Cg, c.H * c.W);
    g.bPtr = fmt::format("[&]() -> const float* {{ const int cc = k / {}, rr = k % {}; const int ih = ih$ + (rr / {}) * {}, iw = "
                         "iw$ + (rr % {}) * {}; return ((unsigned)ih < {}u && (unsigned)iw < {}u) ? &{}[xb$ + ((i64)cc * "
                         "{} + ih) * {} + iw] : nullptr; }}()",
                         c.KH * c.KW, c.KH * c.KW, c.KW, c.DH, c.KW, c.DW, c.H, c.W, KernelSource::buf(bind.in[0]), c.H, c.W);
    g.bLoad = derefOrZero(g.bPtr);
    g.aVec4 = K % 4 == 0;
    // The cp.async pipeline reads each k's input offset and window shift from a table (uniform
    // across a warp: constant-cache broadcasts) instead of dividing k by KH*KW and KW.
    if (K * 8 <= 32 * 1024) {
      g.asyncHelper = kTable(K, [&](int64_t k) {
        int64_t cc = k / (c.KH * c.KW), kh = k % (c.KH * c.KW) / c.KW, kw = k % c.KW;
        return std::array<int64_t, 3>{cc * c.H * c.W + kh * c.DH * c.W + kw * c.DW, kh * c.DH, kw * c.DW};
      });
      g.bPtrAsync = fmt::format("[&]() -> const float* {{ const int hw = sinter_khw[k]; const int ih = ih$ + (hw >> 16), iw = iw$ + "
                                "(hw & 0xffff); return ((unsigned)ih < {}u && (unsigned)iw < {}u) ? &{}[xb$ + (i64)ih$ * {} + iw$ + "
                                "sinter_koff[k]] : nullptr; }}()",
                                c.H, c.W, KernelSource::buf(bind.in[0]), c.W);
    }
    // A 1x1 convolution of one image without padding (Winograd's products) is a plain GEMM per
    // group: B[k][n] = x[z * Cg + k][n], no window or bounds to work out.
    if (c.N == 1 && c.KH == 1 && c.KW == 1 && c.SH == 1 && c.SW == 1 && c.PT == 0 && c.PL == 0 &&
        c.H * c.W == OHW) { // (OH x OW = H x W with no top or left pad: none at all)
      g.columnSetup = "(void)n$;";
      g.bPtr = fmt::format("&{}[((i64)z * {} + k) * {} + n]", KernelSource::buf(bind.in[0]), c.Cg, OHW);
      g.bLoad = "*" + g.bPtr;
      g.bPtrAsync.clear();
      g.asyncHelper.clear();
      g.bNVec4 = OHW % 4 == 0; // rows of x start 16-byte aligned: TF32 copies 4 columns at once
    }
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

bool allF32(const Node& op) {
  bool f32 = op.output()->type().dtype == DType::F32;
  for (const sinter::Value* v : op.inputs())
    f32 = f32 && v->type().dtype == DType::F32;
  return f32;
}

// dx = the transposed convolution, as an implicit GEMM per group: rows = the group's input
// channels, columns = (image, ih, iw), reduction over (output channel, kh, kw); B gathers dy at
// the output position each tap came from (zero where the stride skips it).
Error conv2dGradInput(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  ConvShape c = ConvShape::ofGradient(op);
  int64_t HW = c.H * c.W, OHW = c.OH * c.OW, KK = c.KH * c.KW, Mg = c.Mg();
  const Shape& outShape = op.output()->type().shape;
  std::string dy = KernelSource::buf(bind.in[0]), w = KernelSource::buf(bind.in[1]);
  if (allF32(op)) {
    GemmSpec g;
    g.M = c.Cg;
    g.N = c.N * HW;
    g.K = Mg * KK;
    g.Z = c.G;
    g.aPtr = fmt::format("&{}[(((i64)z * {} + k / {}) * {} + m) * {} + k % {}]", w, Mg, KK, c.Cg, KK, KK);
    g.aLoad = "*" + g.aPtr;
    g.columnSetup = fmt::format("const int img$ = n$ / {}, r$ = n$ % {}; const int ih$ = r$ / {} + {}, iw$ = r$ % {} + {}; "
                                "const i64 yb$ = ((i64)img$ * {} + (i64)z * {}) * {};",
                                HW, HW, c.W, c.PT, c.W, c.PL, c.M, Mg, OHW);
    g.bPtr = fmt::format("[&]() -> const float* {{ const int mm = k / {}, rr = k % {}; const int th = ih$ - (rr / {}) * {}, tw = "
                         "iw$ - (rr % {}) * {}; if (th < 0 || tw < 0 || th % {} != 0 || tw % {} != 0) return nullptr; const "
                         "int oh = th / {}, ow = tw / {}; return (oh < {} && ow < {}) ? &{}[yb$ + (i64)mm * {} + oh * {} + "
                         "ow] : nullptr; }}()",
                         KK, KK, c.KW, c.DH, c.KW, c.DW, c.SH, c.SW, c.SH, c.SW, c.OH, c.OW, dy, OHW, c.OW);
    g.bLoad = derefOrZero(g.bPtr);
    // The cp.async pipeline: each k's output-channel offset and tap shift from a table.
    if (g.K * 8 <= 32 * 1024) {
      g.asyncHelper = kTable(g.K, [&](int64_t k) {
        int64_t mm = k / KK, kh = k % KK / c.KW, kw = k % c.KW;
        return std::array<int64_t, 3>{mm * OHW, kh * c.DH, kw * c.DW};
      });
      g.bPtrAsync = fmt::format("[&]() -> const float* {{ const int hw = sinter_khw[k]; const int th = ih$ - (hw >> 16), tw = iw$ - "
                                "(hw & 0xffff); if (th < 0 || tw < 0 || th % {} != 0 || tw % {} != 0) return nullptr; const int oh = "
                                "th / {}, ow = tw / {}; return (oh < {} && ow < {}) ? &{}[yb$ + sinter_koff[k] + oh * {} + ow] : "
                                "nullptr; }}()",
                                c.SH, c.SW, c.SH, c.SW, c.OH, c.OW, dy, c.OW);
    }
    g.store = fmt::format("        const i64 o = ((i64)(n / {}) * {} + (i64)z * {} + m) * {} + n % {};\n        {}", HW, c.C,
                          c.Cg, HW, HW, ks.store(bind.out, "o", epi.apply(ks, "acc", "o", outShape, "float")));
    emitTiledGemm(ks, g, "conv2d_grad_input");
    return Error::success();
  }
  std::string t = computeType(op.output()->type().dtype);
  int64_t n = op.output()->type().numel();
  std::string& b = ks.body;
  b += fmt::format("  for (i64 o = (i64)blockIdx.x * blockDim.x + threadIdx.x; o < {}ll; o += (i64)gridDim.x * blockDim.x) {{\n", n);
  b += fmt::format("    const i64 iw = o % {}, ih = o / {} % {}, ch = o / {} % {}, img = o / {};\n", c.W, c.W, c.H, HW, c.C,
                   HW * c.C);
  b += fmt::format("    const i64 g = ch / {}, cg = ch % {};\n    {} acc = 0;\n", c.Cg, c.Cg, t);
  b += fmt::format("    for (i64 mm = 0; mm < {}; ++mm) for (int kh = 0; kh < {}; ++kh) for (int kw = 0; kw < {}; ++kw) {{\n",
                   Mg, c.KH, c.KW);
  b += fmt::format("      const i64 th = ih + {} - kh * {}, tw = iw + {} - kw * {};\n", c.PT, c.DH, c.PL, c.DW);
  b += fmt::format("      if (th < 0 || tw < 0 || th % {} != 0 || tw % {} != 0 || th / {} >= {} || tw / {} >= {}) continue;\n",
                   c.SH, c.SW, c.SH, c.OH, c.SW, c.OW);
  b += fmt::format("      const i64 m = g * {} + mm;\n", Mg);
  b += fmt::format("      acc += {} * {};\n    }}\n",
                   ks.load(bind.in[0], fmt::format("((img * {} + m) * {} + th / {}) * {} + tw / {}", c.M, c.OH, c.SH, c.OW, c.SW), t),
                   ks.load(bind.in[1], fmt::format("((m * {} + cg) * {} + kh) * {} + kw", c.Cg, c.KH, c.KW), t));
  b += "    " + ks.store(bind.out, "o", epi.apply(ks, "acc", "o", outShape, t)) + "  }\n";
  ks.finish({gridFor(n, 256, ks.target()), 1, 1}, 256, 0, "conv2d_grad_input: one thread per element (direct loop)");
  return Error::success();
}

// dw as an implicit GEMM per group: rows = the group's output channels, columns = (input
// channel, kh, kw), reduction over (image, oh, ow): A = dy, B = the input at each tap.
Error conv2dGradWeight(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  ConvShape c = ConvShape::ofGradient(op);
  int64_t HW = c.H * c.W, OHW = c.OH * c.OW, KK = c.KH * c.KW, Mg = c.Mg();
  const Shape& outShape = op.output()->type().shape;
  std::string x = KernelSource::buf(bind.in[0]), dy = KernelSource::buf(bind.in[1]);
  if (allF32(op)) {
    GemmSpec g;
    g.M = Mg;
    g.N = c.Cg * KK;
    g.K = c.N * OHW;
    g.Z = c.G;
    g.aPtr = fmt::format("&{}[((i64)(k / {}) * {} + (i64)z * {} + m) * {} + k % {}]", dy, OHW, c.M, Mg, OHW, OHW);
    g.aLoad = "*" + g.aPtr;
    g.columnSetup = fmt::format("const int c$ = n$ / {}, dh$ = ((n$ % {}) / {}) * {} - {}, dw$ = (n$ % {}) * {} - {}; "
                                "const i64 xc$ = ((i64)z * {} + c$) * {};",
                                KK, KK, c.KW, c.DH, c.PT, c.KW, c.DW, c.PL, c.Cg, HW);
    g.bPtr = fmt::format("[&]() -> const float* {{ const int img = k / {}, r = k % {}; const int ih = (r / {}) * {} + dh$, iw = (r % "
                         "{}) * {} + dw$; return ((unsigned)ih < {}u && (unsigned)iw < {}u) ? &{}[(i64)img * {} + xc$ + ih * "
                         "{} + iw] : nullptr; }}()",
                         OHW, OHW, c.OW, c.SH, c.OW, c.SW, c.H, c.W, x, c.C * HW, c.W);
    g.bLoad = derefOrZero(g.bPtr);
    g.bKMajor = true;
    g.store = fmt::format("        const i64 o = ((i64)z * {} + m) * {} + n;\n        {}", Mg, c.Cg * KK,
                          ks.store(bind.out, "o", epi.apply(ks, "acc", "o", outShape, "float")));
    if (epi.empty()) { // the sum over images and positions may be split across blocks
      g.atomicStore = fmt::format("        atomicAdd(&{}[((i64)z * {} + m) * {} + n], acc);\n", KernelSource::buf(bind.out), Mg,
                                  c.Cg * KK);
      g.atomicBuffer = bind.out;
    }
    emitTiledGemm(ks, g, "conv2d_grad_weight");
    return Error::success();
  }
  std::string t = computeType(op.output()->type().dtype);
  int64_t n = op.output()->type().numel();
  std::string& b = ks.body;
  b += fmt::format("  for (i64 o = (i64)blockIdx.x * blockDim.x + threadIdx.x; o < {}ll; o += (i64)gridDim.x * blockDim.x) {{\n", n);
  b += fmt::format("    const i64 kw = o % {}, kh = o / {} % {}, cg = o / {} % {}, m = o / {};\n", c.KW, c.KW, c.KH, KK, c.Cg,
                   KK * c.Cg);
  b += fmt::format("    const i64 ch = (m / {}) * {} + cg;\n    {} acc = 0;\n", Mg, c.Cg, t);
  b += fmt::format("    for (i64 img = 0; img < {}; ++img) for (i64 oh = 0; oh < {}; ++oh) for (i64 ow = 0; ow < {}; ++ow) {{\n",
                   c.N, c.OH, c.OW);
  b += fmt::format("      const i64 ih = oh * {} - {} + kh * {}, iw = ow * {} - {} + kw * {};\n", c.SH, c.PT, c.DH, c.SW,
                   c.PL, c.DW);
  b += fmt::format("      if (ih < 0 || ih >= {} || iw < 0 || iw >= {}) continue;\n", c.H, c.W);
  b += fmt::format("      acc += {} * {};\n    }}\n",
                   ks.load(bind.in[1], fmt::format("((img * {} + m) * {} + oh) * {} + ow", c.M, c.OH, c.OW), t),
                   ks.load(bind.in[0], fmt::format("((img * {} + ch) * {} + ih) * {} + iw", c.C, c.H, c.W), t));
  b += "    " + ks.store(bind.out, "o", epi.apply(ks, "acc", "o", outShape, t)) + "  }\n";
  ks.finish({gridFor(n, 256, ks.target()), 1, 1}, 256, 0, "conv2d_grad_weight: one thread per element (direct loop)");
  return Error::success();
}

// Winograd F(m x m, 3x3) transforms (ir/Winograd.h): one thread per filter pair, input tile or
// output tile; each point a sum of the term list, written out (no zero terms, +-1 as adds).
std::string winogradSum(const std::vector<winograd::Term>& terms, const std::function<std::string(int, int)>& in,
                        const std::string& t) {
  std::string e;
  for (const auto& term : terms) {
    double mag = term.coef < 0 ? -term.coef : term.coef;
    std::string v = mag == 1 ? in(term.i, term.j) : fmt::format("{} * {}", literal(mag, t), in(term.i, term.j));
    e += e.empty() ? (term.coef < 0 ? "-" + v : v) : (term.coef < 0 ? " - " : " + ") + v;
  }
  return e.empty() ? literal(0, t) : "(" + e + ")";
}

const winograd::Variant& variantOf(const Node& op) { return *winograd::variant(op.attrs().getInt("tile")); }

// TF32 rounds the transformed values to 10 bits; F(4x4)'s coefficients (up to 8 and 1/24) then
// cost about 1% of the outputs' scale in the emulator (F(2x2): under 0.1%). Checked by every
// transform: the filter transform may have been folded into a parameter at compile time.
Error refuseF4WithTf32(const KernelSource& ks, const winograd::Variant& wv) {
  if (wv.m == 4 && ks.target().precision == CudaPrecision::TF32)
    return makeError("Winograd F(4x4,3x3) loses about 1% with TF32 products: use --winograd-tile 2, or --precision f32");
  return Error::success();
}

Error winogradFilter(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  const winograd::Variant& wv = variantOf(op);
  SINTER_CHECK(refuseF4WithTf32(ks, wv));
  const Shape& ws = op.input(0)->type().shape;
  int64_t M = ws[0], Cg = ws[1], n = M * Cg;
  std::string t = computeType(op.output()->type().dtype);
  std::string& b = ks.body;
  b += gridLoop(n);
  b += fmt::format("    const i64 m = o / {}, c = o % {};\n", Cg, Cg);
  for (int i = 0; i < 9; ++i)
    b += fmt::format("    const {} g{} = {};\n", t, i, ks.load(bind.in[0], fmt::format("o * 9 + {}", i), t));
  for (int p = 0; p < wv.points(); ++p) {
    std::string v = winogradSum(winograd::filterTerms(wv, p), [](int i, int j) { return fmt::format("g{}", i * 3 + j); }, t);
    std::string flat = fmt::format("({}ll + m) * {} + c", p * M, Cg);
    b += fmt::format("    {{ const i64 u = {}; {} }}\n", flat,
                     ks.store(bind.out, "u", epi.apply(ks, v, "u", op.output()->type().shape, t)));
  }
  b += "  }\n";
  ks.finish({gridFor(n, 256, ks.target()), 1, 1}, 256, 0, "winograd_filter: one thread per filter");
  return Error::success();
}

Error winogradInput(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  const winograd::Variant& wv = variantOf(op);
  SINTER_CHECK(refuseF4WithTf32(ks, wv));
  const Shape& xs = op.input(0)->type().shape;
  const auto& pad = op.attrs().getInts("pad");
  int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3];
  int64_t TH = winograd::tiles(H + pad[0] + pad[2] - 2, wv.m), TW = winograd::tiles(W + pad[1] + pad[3] - 2, wv.m);
  int64_t P = N * TH * TW, n = N * C * TH * TW;
  std::string t = computeType(op.output()->type().dtype);
  std::string& b = ks.body;
  b += gridLoop(n);
  b += fmt::format("    const i64 tw = o % {}, th = o / {} % {}, c = o / {} % {}, img = o / {};\n", TW, TW, TH, TH * TW, C,
                   C * TH * TW);
  b += fmt::format("    const i64 plane = (img * {} + c) * {}, tile = (img * {} + th) * {} + tw;\n", C, H * W, TH, TW);
  b += fmt::format("    const int h0 = (int)th * {} - {}, w0 = (int)tw * {} - {};\n", wv.m, pad[0], wv.m, pad[1]);
  b += fmt::format("    {} d[{}][{}];\n", t, wv.alpha, wv.alpha);
  b += fmt::format("    #pragma unroll\n    for (int i = 0; i < {0}; ++i)\n      #pragma unroll\n      for (int j = 0; j < {0}; ++j) {{\n",
                   wv.alpha);
  b += fmt::format("        const int ih = h0 + i, iw = w0 + j;\n        d[i][j] = ((unsigned)ih < {}u && (unsigned)iw < {}u) ? "
                   "{} : ({})0;\n      }}\n",
                   H, W, ks.load(bind.in[0], fmt::format("plane + ih * {} + iw", W), t), t);
  for (int p = 0; p < wv.points(); ++p) {
    std::string v = winogradSum(winograd::inputTerms(wv, p), [](int i, int j) { return fmt::format("d[{}][{}]", i, j); }, t);
    b += fmt::format("    {{ const i64 v = ({}ll + c) * {} + tile; {} }}\n", p * C, P,
                     ks.store(bind.out, "v", epi.apply(ks, v, "v", op.output()->type().shape, t)));
  }
  b += "  }\n";
  ks.finish({gridFor(n, 256, ks.target()), 1, 1}, 256, 0,
            fmt::format("winograd_input: one thread per {0}x{0} input tile", wv.alpha));
  return Error::success();
}

Error winogradOutput(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  const winograd::Variant& wv = variantOf(op);
  SINTER_CHECK(refuseF4WithTf32(ks, wv));
  const Shape& ys = op.output()->type().shape;
  int64_t N = ys[0], M = ys[1], OH = ys[2], OW = ys[3];
  int64_t TH = winograd::tiles(OH, wv.m), TW = winograd::tiles(OW, wv.m), P = N * TH * TW, n = N * M * TH * TW;
  std::string t = computeType(op.output()->type().dtype);
  std::string& b = ks.body;
  b += gridLoop(n);
  b += fmt::format("    const i64 tw = o % {}, th = o / {} % {}, m = o / {} % {}, img = o / {};\n", TW, TW, TH, TH * TW, M,
                   M * TH * TW);
  b += fmt::format("    const i64 tile = (img * {} + th) * {} + tw;\n", TH, TW);
  b += fmt::format("    {} p[{}];\n    #pragma unroll\n    for (int q = 0; q < {}; ++q) p[q] = {};\n", t, wv.points(),
                   wv.points(), ks.load(bind.in[0], fmt::format("(q * {}ll + m) * {} + tile", M, P), t));
  b += fmt::format("    const {} bias = {};\n", t, op.numInputs() > 1 ? ks.load(bind.in[1], "m", t) : "(" + t + ")0");
  for (int i = 0; i < wv.m; ++i)
    for (int j = 0; j < wv.m; ++j) {
      std::string v =
          winogradSum(winograd::outputTerms(wv, i, j), [&](int a, int c) { return fmt::format("p[{}]", a * wv.alpha + c); }, t);
      // Only the last row / column of tiles can reach past an extent that m does not divide.
      bool rowEdge = OH % wv.m && i >= OH % wv.m, colEdge = OW % wv.m && j >= OW % wv.m;
      std::string guard = rowEdge && colEdge ? fmt::format("if (th * {} + {} < {} && tw * {} + {} < {}) ", wv.m, i, OH, wv.m, j, OW)
                          : rowEdge          ? fmt::format("if (th * {} + {} < {}) ", wv.m, i, OH)
                          : colEdge          ? fmt::format("if (tw * {} + {} < {}) ", wv.m, j, OW)
                                             : "";
      b += fmt::format("    {}{{ const i64 y = ((img * {} + m) * {} + th * {} + {}) * {} + tw * {} + {}; {} }}\n", guard, M, OH,
                       wv.m, i, OW, wv.m, j, ks.store(bind.out, "y", epi.apply(ks, "(" + v + " + bias)", "y", ys, t)));
    }
  b += "  }\n";
  ks.finish({gridFor(n, 256, ks.target()), 1, 1}, 256, 0,
            fmt::format("winograd_output: one thread per {0}x{0} output tile", wv.m));
  return Error::success();
}

constexpr CudaEmitter kEmitters[] = {
    {"conv2d", conv2d},
    {"conv2d_grad_input", conv2dGradInput},
    {"conv2d_grad_weight", conv2dGradWeight},
    {"winograd_filter", winogradFilter},
    {"winograd_input", winogradInput},
    {"winograd_output", winogradOutput},
};

} // namespace

std::span<const CudaEmitter> convEmitters() { return kEmitters; }

} // namespace sinter::cuda

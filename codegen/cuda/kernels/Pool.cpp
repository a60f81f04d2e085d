// CUDA kernels: max/average pooling, global average pooling, LRN fused with max-pooling.
#include "codegen/cuda/KernelSource.h"

namespace sinter::cuda {

namespace {

// Body of a pooling loop over output `o` reading window values through `read(index in plane)`.
template <bool IsMax>
std::string poolBody(const PoolShape& ps, bool includePad, const std::string& t,
                     const std::function<std::string(const std::string& plane, const std::string& idx)>& read) {
  std::string b = fmt::format("    const i64 ow = o % {}, oh = o / {} % {}, plane = o / {};\n", ps.OW, ps.OW, ps.OH, ps.OH * ps.OW);
  b += fmt::format("    const int h0 = (int)oh * {} - {}, w0 = (int)ow * {} - {};\n", ps.SH, ps.PT, ps.SW, ps.PL);
  b += fmt::format("    {} acc = {};\n    int count = 0;\n", t, IsMax ? "sinter_neg_inf<" + t + ">()" : "0");
  b += fmt::format("    #pragma unroll\n    for (int kh = 0; kh < {}; ++kh)\n      #pragma unroll\n      for (int kw = 0; kw < {}; "
                   "++kw) {{\n",
                   ps.KH, ps.KW);
  b += fmt::format("        const int ih = h0 + kh * {}, iw = w0 + kw * {};\n", ps.DH, ps.DW);
  b += fmt::format("        if ((unsigned)ih >= {}u || (unsigned)iw >= {}u) continue;\n", ps.H, ps.W);
  b += fmt::format("        const {} v = {};\n", t, read("plane", fmt::format("ih * {} + iw", ps.W)));
  b += IsMax ? fmt::format("        acc = sinter_max<{}>(v, acc);\n", t) : "        acc += v;\n";
  b += "        ++count;\n      }\n";
  if (!IsMax) {
    if (includePad)
      b += fmt::format("    count = (min(h0 + {}, {}) - h0) * (min(w0 + {}, {}) - w0);\n", ps.KH, ps.H + ps.PB, ps.KW,
                       ps.W + ps.PR);
    b += fmt::format("    acc = count > 0 ? acc / ({})count : ({})0;\n", t, t);
  }
  return b;
}

template <bool IsMax> Error pool2d(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  PoolShape ps = PoolShape::of(op);
  std::string t = computeType(op.output()->type().dtype);
  bool includePad = !IsMax && op.attrs().getInt("count_include_pad") != 0;
  int64_t n = op.output()->type().numel();
  ks.body += gridLoop(n);
  ks.body += poolBody<IsMax>(ps, includePad, t, [&](const std::string& plane, const std::string& idx) {
    return ks.load(bind.in[0], fmt::format("{} * {} + {}", plane, ps.H * ps.W, idx), t);
  });
  ks.body += "    " + ks.store(bind.out, "o", epi.apply(ks, "acc", "o", op.output()->type().shape, t)) + "  }\n";
  ks.finish({gridFor(n, 256, ks.target()), 1, 1}, 256, 0, "pool: one thread per output");
  return Error::success();
}

Error globalAvgPool(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  const TensorType& x = op.input(0)->type();
  int64_t NC = x.shape[0] * x.shape[1], S = NC ? x.numel() / NC : 0;
  std::string t = computeType(op.output()->type().dtype);
  ks.body += gridLoop(NC);
  ks.body += fmt::format("    {} acc = 0;\n    for (i64 i = 0; i < {}; ++i) acc += {};\n", t, S,
                         ks.load(bind.in[0], fmt::format("o * {} + i", S), t));
  ks.body += "    " + ks.store(bind.out, "o", epi.apply(ks, fmt::format("(acc / ({}){})", t, S), "o",
                                                         op.output()->type().shape, t)) + "  }\n";
  ks.finish({gridFor(NC, 256, ks.target()), 1, 1}, 256, 0, "global average pool: one thread per plane");
  return Error::success();
}

// Gradients of the pools, one thread per dx element: every window that holds the element sends
// it its share (max: the whole gradient when the element is the window's first maximum, found
// again as the forward finds it; average: gradient / the forward's count).
template <bool IsMax> Error pool2dGrad(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  const Shape& dxs = op.output()->type().shape;
  const Shape& dys = op.input(IsMax ? 1 : 0)->type().shape;
  const auto& k = op.attrs().getInts("kernel");
  const auto& st = op.attrs().getInts("stride");
  const auto& pad = op.attrs().getInts("pad");
  std::vector<int64_t> d = IsMax ? op.attrs().getInts("dilation") : std::vector<int64_t>{1, 1};
  bool includePad = !IsMax && op.attrs().getInt("count_include_pad") != 0;
  int64_t H = dxs[2], W = dxs[3], OH = dys[2], OW = dys[3];
  std::string t = computeType(op.output()->type().dtype);
  size_t dyBuf = bind.in[IsMax ? 1 : 0];
  int64_t n = op.output()->type().numel();
  std::string& b = ks.body;
  if (IsMax && op.output()->type().dtype == DType::F32 && epi.empty()) {
    // f32: one thread per pool output finds its window's maximum once (as the forward does) and
    // adds the gradient there (atomicAdd into dx, which the runtime zeroes first). The
    // per-element form re-finds the maximum of every window holding the element (up to four
    // windows of nine for 3/2 pooling). Where windows share a maximum, the order of their
    // additions varies between runs.
    int64_t outs = numElements(dys);
    b += gridLoop(outs);
    b += fmt::format("    const int ow = (int)(o % {}), oh = (int)(o / {} % {});\n    const i64 plane = o / {};\n", OW, OW, OH,
                     OH * OW);
    b += fmt::format("    const int h0 = oh * {} - {}, w0 = ow * {} - {};\n", st[0], pad[0], st[1], pad[1]);
    b += "    float best = sinter_neg_inf<float>();\n    int bestAt = -1;\n";
    b += fmt::format("    for (int kh = 0; kh < {}; ++kh)\n      for (int kw = 0; kw < {}; ++kw) {{\n", k[0], k[1]);
    b += fmt::format("        const int hh = h0 + kh * {}, ww = w0 + kw * {};\n", d[0], d[1]);
    b += fmt::format("        if ((unsigned)hh >= {}u || (unsigned)ww >= {}u) continue;\n", H, W);
    b += fmt::format("        const float v = {};\n", ks.load(bind.in[0], fmt::format("plane * {} + hh * {} + ww", H * W, W), "float"));
    b += "        if (bestAt < 0 || v != v || v > best) { best = v; bestAt = hh * " + std::to_string(W) + " + ww; }\n      }\n";
    b += fmt::format("    if (bestAt >= 0) atomicAdd(&{}[plane * {} + bestAt], {});\n  }}\n", KernelSource::buf(bind.out), H * W,
                     ks.load(dyBuf, "o", "float"));
    ks.kernel().zeroBuffers.push_back(bind.out);
    ks.finish({gridFor(outs, 256, ks.target()), 1, 1}, 256, 0,
              "max_pool2d_grad: one thread per pool output, atomic add at its window's maximum");
    return Error::success();
  }
  b += gridLoop(n);
  b += fmt::format("    const int iw = (int)(o % {}), ih = (int)(o / {} % {});\n    const i64 plane = o / {};\n    {} acc = 0;\n",
                   W, W, H, H * W, t);
  // Candidate windows: oh with oh*SH - PT <= ih <= oh*SH - PT + (KH-1)*DH.
  b += fmt::format("    const int oh0 = max(0, (ih + {} - {} + {}) / {}), oh1 = min({}, (ih + {}) / {});\n", pad[0],
                   (k[0] - 1) * d[0], st[0] - 1, st[0], OH - 1, pad[0], st[0]);
  b += fmt::format("    const int ow0 = max(0, (iw + {} - {} + {}) / {}), ow1 = min({}, (iw + {}) / {});\n", pad[1],
                   (k[1] - 1) * d[1], st[1] - 1, st[1], OW - 1, pad[1], st[1]);
  b += "    for (int oh = oh0; oh <= oh1; ++oh)\n      for (int ow = ow0; ow <= ow1; ++ow) {\n";
  b += fmt::format("        const int h0 = oh * {} - {}, w0 = ow * {} - {};\n", st[0], pad[0], st[1], pad[1]);
  b += fmt::format("        if (ih < h0 || iw < w0 || (ih - h0) % {} != 0 || (iw - w0) % {} != 0) continue;\n", d[0], d[1]);
  std::string g = ks.load(dyBuf, fmt::format("(plane * {} + oh) * {} + ow", OH, OW), t);
  if (IsMax) {
    b += fmt::format("        {} best = sinter_neg_inf<{}>();\n        int bestAt = -1;\n", t, t);
    b += fmt::format("        for (int kh = 0; kh < {}; ++kh)\n          for (int kw = 0; kw < {}; ++kw) {{\n", k[0], k[1]);
    b += fmt::format("            const int hh = h0 + kh * {}, ww = w0 + kw * {};\n", d[0], d[1]);
    b += fmt::format("            if ((unsigned)hh >= {}u || (unsigned)ww >= {}u) continue;\n", H, W);
    b += fmt::format("            const {} v = {};\n", t, ks.load(bind.in[0], fmt::format("plane * {} + hh * {} + ww", H * W, W), t));
    b += "            if (bestAt < 0 || v != v || v > best) { best = v; bestAt = hh * " + std::to_string(W) + " + ww; }\n";
    b += "          }\n";
    b += fmt::format("        if (bestAt == ih * {} + iw) acc += {};\n      }}\n", W, g);
  } else {
    b += "        int count = 0;\n";
    b += fmt::format("        for (int kh = 0; kh < {}; ++kh)\n          for (int kw = 0; kw < {}; ++kw)\n", k[0], k[1]);
    b += fmt::format("            count += (unsigned)(h0 + kh) < {}u && (unsigned)(w0 + kw) < {}u;\n", H, W);
    if (includePad)
      b += fmt::format("        count = (min(h0 + {}, {}) - h0) * (min(w0 + {}, {}) - w0);\n", k[0], H + pad[2], k[1],
                       W + pad[3]);
    b += fmt::format("        if (count > 0 && ih < h0 + {} && iw < w0 + {}) acc += {} / ({})count;\n      }}\n", k[0], k[1], g, t);
  }
  b += "    " + ks.store(bind.out, "o", epi.apply(ks, "acc", "o", op.output()->type().shape, t)) + "  }\n";
  ks.finish({gridFor(n, 256, ks.target()), 1, 1}, 256, 0,
            IsMax ? "max_pool2d_grad: one thread per input element" : "avg_pool2d_grad: one thread per input element");
  return Error::success();
}

constexpr CudaEmitter kEmitters[] = {
    {"max_pool2d_grad", pool2dGrad<true>},
    {"avg_pool2d_grad", pool2dGrad<false>},
    {"max_pool2d", pool2d<true>},
    {"avg_pool2d", pool2d<false>},
    {"global_avg_pool", globalAvgPool},
};

} // namespace

// One thread per (image, pool output, chunk of channels) walks the chunk's channels holding, for
// each pixel of its window, the LRN window of x in registers (a shift register of `size` values:
// one new load per window pixel and channel). An LRN value shared by overlapping pool windows is
// recomputed by each (arithmetic), but x is loaded once per window pixel and channel, where
// evaluating LRN per window pixel would load `size` values for each.
Error emitLrnMaxPool(KernelSource& ks, const Node& lrn, const Node& pool, const Binding& lrnBind, const Binding& poolBind) {
  PoolShape ps = PoolShape::of(pool);
  const Shape& x = lrn.input(0)->type().shape;
  const int64_t N = x[0], C = x[1], HW = ps.H * ps.W, OHW = ps.OH * ps.OW, P = ps.KH * ps.KW;
  const int64_t size = lrn.attrs().getInt("size"), before = (size - 1) / 2, after = size - 1 - before;
  const double alpha = lrn.attrs().getFloat("alpha"), beta = lrn.attrs().getFloat("beta"),
               bias = lrn.attrs().getFloat("bias");
  std::string t = computeType(pool.output()->type().dtype);
  // Channels in chunks of up to 32 per thread (a chunk reloads size-1 channels of halo), halved
  // while the threads would not fill the GPU (batch 1).
  const int64_t target = int64_t{ks.target().multiprocessors} * 1024;
  int64_t CH = C > 48 ? 32 : C;
  while (CH > 1 && N * OHW * ((C + CH - 1) / CH) < target)
    CH = (CH + 1) / 2;
  const int64_t chunks = (C + CH - 1) / CH, n = N * OHW * chunks;
  std::string& b = ks.body;
  b += gridLoop(n);
  b += fmt::format("    const int pix = (int)(o % {0}), c0 = (int)(o / {2}) * {3}, c1 = min(c0 + {3}, {4});\n"
                   "    const i64 img = o / {0} % {1};\n",
                   OHW, N, N * OHW, CH, C);
  b += fmt::format("    const int ow = pix % {}, oh = pix / {};\n", ps.OW, ps.OW);
  b += fmt::format("    const int h0 = oh * {} - {}, w0 = ow * {} - {};\n", ps.SH, ps.PT, ps.SW, ps.PL);
  b += fmt::format("    const i64 xb = img * {}ll;\n", C * HW);
  // Window pixel p's offset in a channel plane, -1 where it lies outside the image.
  b += fmt::format("    int off[{0}];\n    #pragma unroll\n    for (int p = 0; p < {0}; ++p) {{\n", P);
  b += fmt::format("      const int ih = h0 + p / {} * {}, iw = w0 + p % {} * {};\n", ps.KW, ps.DH, ps.KW, ps.DW);
  b += fmt::format("      off[p] = (unsigned)ih < {}u && (unsigned)iw < {}u ? ih * {} + iw : -1;\n    }}\n", ps.H, ps.W, ps.W);
  // xw[p][i] = x at window pixel p and channel c - before + i (zero outside [0, C) and the image).
  auto xAt = [&](const std::string& p) {
    return fmt::format("(inC && off[{0}] >= 0 ? {1} : {2}(0))", p, ks.load(lrnBind.in[0], fmt::format("cb + off[{}]", p), t), t);
  };
  auto channel = [&](const std::string& ch, const std::string& indent) {
    return fmt::format("{0}const int ch = {1};\n{0}const bool inC = ch >= 0 && ch < {2};\n{0}const i64 cb = xb + (i64)ch * {3};\n",
                       indent, ch, C, HW);
  };
  b += fmt::format("    {} xw[{}][{}];\n", t, P, size);
  b += fmt::format("    #pragma unroll\n    for (int i = 0; i + 1 < {}; ++i) {{\n", size);
  b += channel(fmt::format("c0 + i - {}", before), "      ");
  b += fmt::format("      #pragma unroll\n      for (int p = 0; p < {}; ++p) xw[p][i + 1] = {};\n    }}\n", P, xAt("p"));
  b += "    for (int c = c0; c < c1; ++c) {\n";
  b += channel(fmt::format("c + {}", after), "      ");
  b += fmt::format("      {0} acc = sinter_neg_inf<{0}>();\n", t);
  b += fmt::format("      #pragma unroll\n      for (int p = 0; p < {}; ++p) {{\n", P);
  b += fmt::format("        #pragma unroll\n        for (int i = 0; i + 1 < {}; ++i) xw[p][i] = xw[p][i + 1];\n", size);
  b += fmt::format("        xw[p][{}] = {};\n", size - 1, xAt("p"));
  b += fmt::format("        {} sq = 0;\n        #pragma unroll\n        for (int i = 0; i < {}; ++i) sq += xw[p][i] * xw[p][i];\n", t,
                   size);
  b += fmt::format("        const {} d = {} + {} * sq;\n", t, literal(bias, t), literal(alpha / static_cast<double>(size), t));
  b += fmt::format("        if (off[p] >= 0) acc = sinter_max<{}>(xw[p][{}] * {}, acc);\n      }}\n", t, before,
                   lrnPowNeg("d", beta, t, false));
  b += "      " + ks.store(poolBind.out, fmt::format("(img * {}ll + c) * {}ll + pix", C, OHW), "acc") + "    }\n  }\n";
  ks.finish({gridFor(n, 256, ks.target()), 1, 1}, 256, 0,
            fmt::format("lrn+max_pool2d: one thread per pool output and {} channel{}, the LRN windows of its {} pixels "
                        "in registers",
                        CH, CH == 1 ? "" : "s", P));
  return Error::success();
}

std::span<const CudaEmitter> poolEmitters() { return kEmitters; }

} // namespace sinter::cuda

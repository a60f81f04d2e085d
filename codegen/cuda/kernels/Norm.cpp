// CUDA kernels: LRN, batch norm, softmax / log-softmax (a warp per line), the class losses.
#include "codegen/cuda/KernelSource.h"
#include "ir/Printer.h"

namespace sinter::cuda {

// d^-beta and d^(-beta-1), with beta = 0.75 (the paper's) as square roots.
std::string lrnPowNeg(const std::string& d, double beta, const std::string& t, bool plusOne) {
  if (beta == 0.75)
    return plusOne ? fmt::format("({0}(1) / ({1} * sqrt({1}) * sqrt(sqrt({1}))))", t, d)
                   : fmt::format("({0}(1) / (sqrt({1}) * sqrt(sqrt({1}))))", t, d);
  return fmt::format("pow({}, {})", d, literal(plusOne ? -beta - 1 : -beta, t));
}

namespace {

// One thread per (image, pixel, chunk of channels) walks them with the window of x in registers (a shift
// register of `size` values, one new load per channel): each x is read once and each
// denominator computed once, where one thread per element reads `size` values per output.
Error lrn(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  const Shape& s = op.input(0)->type().shape;
  int64_t N = s[0], C = s[1], HW = numElements(std::span(s).subspan(2));
  int64_t size = op.attrs().getInt("size"), before = (size - 1) / 2, after = size - 1 - before;
  double alpha = op.attrs().getFloat("alpha"), beta = op.attrs().getFloat("beta"), bias = op.attrs().getFloat("bias");
  std::string t = computeType(op.output()->type().dtype);
  std::string& b = ks.body;
  // Channels in chunks of 32 per thread (more threads for wide layers; a chunk reloads its halo).
  const int64_t CH = C > 48 ? 32 : C, chunks = (C + CH - 1) / CH;
  b += gridLoop(N * HW * chunks);
  b += fmt::format("    const i64 pix = o % {0}, n = o / {0} % {1}, c0 = o / {2} * {3}ll, c1 = min(c0 + {3}ll, {4}ll);\n", HW, N,
                   N * HW, CH, C);
  b += fmt::format("    const i64 base = n * {}ll + pix;\n", C * HW);
  // xw[i] = x at channel c - before + i (the window of channel c), zero outside [0, C).
  b += fmt::format("    {} xw[{}];\n    #pragma unroll\n    for (int i = 0; i < {}; ++i) {{ const i64 ch = c0 + i - {}ll - 1;"
                   " xw[i] = ch >= 0 && ch < {}ll ? {} : {}(0); }}\n",
                   t, size, size, before, C, ks.load(bind.in[0], fmt::format("base + ch * {}ll", HW), t), t);
  b += "    for (i64 c = c0; c < c1; ++c) {\n";
  b += fmt::format("      #pragma unroll\n      for (int i = 0; i + 1 < {}; ++i) xw[i] = xw[i + 1];\n", size);
  b += fmt::format("      xw[{}] = c + {}ll < {}ll ? {} : {}(0);\n", size - 1, after, C,
                   ks.load(bind.in[0], fmt::format("base + (c + {}ll) * {}ll", after, HW), t), t);
  b += fmt::format("      {} sq = 0;\n      #pragma unroll\n      for (int i = 0; i < {}; ++i) sq += xw[i] * xw[i];\n", t, size);
  b += fmt::format("      const {} d = {} + {} * sq;\n", t, literal(bias, t), literal(alpha / static_cast<double>(size), t));
  b += fmt::format("      const {} v = xw[{}] * {};\n", t, before, lrnPowNeg("d", beta, t, false));
  b += fmt::format("      const i64 oi = base + c * {}ll;\n", HW);
  b += "      " + ks.store(bind.out, "oi", epi.apply(ks, "v", "oi", op.output()->type().shape, t)) + "    }\n  }\n";
  ks.finish({gridFor(N * HW * chunks, 256, ks.target()), 1, 1}, 256, 0,
            fmt::format("lrn: one thread per pixel and {} channels, walking them with the window in registers", CH));
  return Error::success();
}

// batch_norm_train and its gradient: one block of 256 threads per channel walks the channel's
// N*S values (double sums, warp shuffles, then one warp over the 8 warps' partials).
struct ChannelBlock {
  int64_t N, C, S;
  static ChannelBlock of(const Node& op) {
    const TensorType& x = op.input(0)->type();
    const int64_t N = x.shape[0], C = x.shape[1];
    return {N, C, x.numel() / std::max<int64_t>(1, N * C)};
  }
  // Opens a loop over this channel's values with `at`, their flat index.
  std::string loop() const {
    return fmt::format("  for (i64 j = threadIdx.x; j < {}ll; j += 256) {{\n    const i64 at = (j / {}ll * {}ll + c) * {}ll + j % {}ll;\n",
                       N * S, S, C, S, S);
  }
  // Sums each of `vars` (doubles) over the block; afterwards every thread holds the totals.
  static std::string sum(const std::vector<std::string>& vars) {
    std::string r;
    for (size_t k = 0; k < vars.size(); ++k) {
      const std::string& v = vars[k];
      r += fmt::format("  for (int s = 16; s > 0; s /= 2) {0} += __shfl_xor_sync(0xffffffffu, {0}, s);\n", v);
      r += fmt::format("  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5][{}] = {};\n", k, v);
    }
    r += "  __syncthreads();\n  if (threadIdx.x < 32) {\n";
    for (size_t k = 0; k < vars.size(); ++k) {
      r += fmt::format("    double p{0} = threadIdx.x < 8 ? part[threadIdx.x][{0}] : 0.0;\n", k);
      r += fmt::format("    for (int s = 4; s > 0; s /= 2) p{0} += __shfl_xor_sync(0xffffffffu, p{0}, s);\n", k);
      r += fmt::format("    if (threadIdx.x == 0) total[{0}] = p{0};\n", k);
    }
    r += "  }\n  __syncthreads();\n";
    for (size_t k = 0; k < vars.size(); ++k)
      r += fmt::format("  {} = total[{}];\n", vars[k], k);
    r += "  __syncthreads();\n";
    return r;
  }
};

Error batchNormTrain(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue&) {
  const ChannelBlock cb = ChannelBlock::of(op);
  const double eps = op.attrs().getFloat("epsilon"), M = static_cast<double>(cb.N * cb.S);
  std::string t = computeType(op.input(0)->type().dtype);
  std::string& b = ks.body;
  b += "  __shared__ double part[8][2], total[2];\n  const i64 c = blockIdx.x;\n";
  b += "  double sum = 0.0;\n" + cb.loop() + fmt::format("    sum += {};\n  }}\n", ks.load(bind.in[0], "at", "double"));
  b += ChannelBlock::sum({"sum"});
  b += fmt::format("  const double mean = sum / {};\n  double sq = 0.0;\n", literal(M, "double"));
  b += cb.loop() + fmt::format("    const double d = {} - mean;\n    sq += d * d;\n  }}\n", ks.load(bind.in[0], "at", "double"));
  b += ChannelBlock::sum({"sq"});
  b += fmt::format("  const double var = sq / {};\n", literal(M, "double"));
  // (x - mean) * k + bias in the compute type: no cancellation between x * k and mean * k.
  b += fmt::format("  const {0} k = ({0})({1} / sqrt(var + {2})), meanT = ({0})mean, biasT = {3};\n", t,
                   ks.load(bind.in[1], "c", "double"), literal(eps, "double"), ks.load(bind.in[2], "c", t));
  b += cb.loop() + fmt::format("    {}  }}\n", ks.store(ks.result(0), "at", fmt::format("({} - meanT) * k + biasT", ks.load(bind.in[0], "at", t))));
  b += "  if (threadIdx.x == 0) {\n    " + ks.store(ks.result(1), "c", "mean") + "    " + ks.store(ks.result(2), "c", "var") + "  }\n";
  ks.finish({static_cast<unsigned>(cb.C), 1, 1}, 256, 0,
            fmt::format("batch_norm_train: one block of 256 threads per channel ({} values each), double sums", cb.N * cb.S));
  return Error::success();
}

Error batchNormTrainGrad(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue&) {
  const ChannelBlock cb = ChannelBlock::of(op);
  const double eps = op.attrs().getFloat("epsilon"), M = static_cast<double>(cb.N * cb.S);
  std::string t = computeType(op.input(0)->type().dtype);
  std::string& b = ks.body;
  b += "  __shared__ double part[8][2], total[2];\n  const i64 c = blockIdx.x;\n";
  b += fmt::format("  const double mean = {}, inv = 1.0 / sqrt({} + {});\n", ks.load(bind.in[3], "c", "double"),
                   ks.load(bind.in[4], "c", "double"), literal(eps, "double"));
  b += "  double dbias = 0.0, dxm = 0.0;\n" + cb.loop();
  b += fmt::format("    const double g = {};\n    dbias += g;\n    dxm += g * ({} - mean);\n  }}\n", ks.load(bind.in[1], "at", "double"),
                   ks.load(bind.in[0], "at", "double"));
  b += ChannelBlock::sum({"dbias", "dxm"});
  // dx = k * dy + a * (x - mean) + c0 with k = scale * inv, a = -k * inv * dscale / M,
  // c0 = -k * dbias / M.
  b += fmt::format("  const double dscale = dxm * inv, kd = {} * inv;\n", ks.load(bind.in[2], "c", "double"));
  b += fmt::format("  const {0} k = ({0})kd, a = ({0})(-kd * inv * dscale / {1}), c0 = ({0})(-kd * dbias / {1}), meanT = ({0})mean;\n",
                   t, literal(M, "double"));
  b += cb.loop() + fmt::format("    {}  }}\n", ks.store(ks.result(0), "at",
                                                      fmt::format("k * {} + a * ({} - meanT) + c0", ks.load(bind.in[1], "at", t),
                                                                  ks.load(bind.in[0], "at", t))));
  b += "  if (threadIdx.x == 0) {\n    " + ks.store(ks.result(1), "c", "dscale") + "    " + ks.store(ks.result(2), "c", "dbias") + "  }\n";
  ks.finish({static_cast<unsigned>(cb.C), 1, 1}, 256, 0,
            fmt::format("batch_norm_train_grad: one block of 256 threads per channel ({} values each), double sums", cb.N * cb.S));
  return Error::success();
}

Error batchNorm(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  const TensorType& x = op.input(0)->type();
  int64_t C = x.shape[1], S = x.numel() / std::max<int64_t>(1, x.shape[0] * C), n = x.numel();
  std::string t = computeType(op.output()->type().dtype);
  ks.body += gridLoop(n);
  ks.body += fmt::format("    const i64 c = o / {} % {};\n", S, C);
  auto p = [&](size_t i) { return ks.load(bind.in[i], "c", t); };
  ks.body += fmt::format("    const {} scale = {} / sqrt({} + {});\n", t, p(1), p(4),
                         literal(op.attrs().getFloat("epsilon"), t));
  ks.body += fmt::format("    const {} v = {} * scale + ({} - {} * scale);\n", t, ks.load(bind.in[0], "o", t), p(2), p(3));
  ks.body += "    " + ks.store(bind.out, "o", epi.apply(ks, "v", "o", op.output()->type().shape, t)) + "  }\n";
  ks.finish({gridFor(n, 256, ks.target()), 1, 1}, 256, 0, "batch_norm: one thread per element");
  return Error::success();
}

struct Split {
  int64_t outer = 1, len = 1, inner = 1;
};
Split split(const Shape& s, int64_t axis) {
  Split r;
  if (axis < 0)
    axis += static_cast<int64_t>(s.size());
  for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i)
    (i < axis ? r.outer : i == axis ? r.len : r.inner) *= s[i];
  return r;
}

// One warp per line: max and sum of exponentials by shuffles, then the outputs.
template <bool Log> Error softmax(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  const TensorType& x = op.input(0)->type();
  Split sp = split(x.shape, op.attrs().getInt("axis"));
  std::string t = computeType(op.output()->type().dtype);
  int64_t lines = sp.outer * sp.inner;
  std::string& b = ks.body;
  b += fmt::format("  const i64 line = (i64)blockIdx.x * 8 + threadIdx.x / 32;\n  const int lane = threadIdx.x % 32;\n");
  b += fmt::format("  if (line >= {}ll) return;\n", lines);
  b += fmt::format("  const i64 base = (line / {}) * {} + line % {};\n", sp.inner, sp.len * sp.inner, sp.inner);
  std::string at = fmt::format("base + k * {}ll", sp.inner);
  b += fmt::format("  {} mx = sinter_neg_inf<{}>();\n  for (i64 k = lane; k < {}; k += 32) mx = sinter_max<{}>({}, mx);\n", t, t,
                   sp.len, t, ks.load(bind.in[0], at, t));
  b += fmt::format("  for (int s = 16; s > 0; s /= 2) mx = sinter_max<{}>(__shfl_xor_sync(0xffffffffu, mx, s), mx);\n", t);
  b += fmt::format("  {} sum = 0;\n  for (i64 k = lane; k < {}; k += 32) sum += exp({} - mx);\n", t, sp.len, ks.load(bind.in[0], at, t));
  b += "  for (int s = 16; s > 0; s /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, s);\n";
  b += fmt::format("  const {} lse = log(sum);\n  for (i64 k = lane; k < {}; k += 32) {{\n    const i64 o = {};\n", t, sp.len, at);
  std::string v = Log ? fmt::format("({} - mx - lse)", ks.load(bind.in[0], "o", t)) : fmt::format("exp({} - mx - lse)", ks.load(bind.in[0], "o", t));
  b += "    " + ks.store(bind.out, "o", epi.apply(ks, v, "o", op.output()->type().shape, t)) + "  }\n";
  ks.finish({static_cast<unsigned>((lines + 7) / 8), 1, 1}, 256, 0, "softmax: one warp per line");
  return Error::success();
}

// One block: each thread sums some items; the block reduces the loss and the weight sum.
template <bool Softmax> Error classLoss(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  const TensorType& x = op.input(0)->type();
  int64_t N = x.shape[0], C = x.shape[1], D = x.numel() / std::max<int64_t>(1, N * C);
  std::string reduction = op.attrs().getString("reduction");
  std::string t = computeType(op.output()->type().dtype);
  bool weighted = op.numInputs() > 2;
  std::string& b = ks.body;
  b += fmt::format("  __shared__ {} sl[256], sw[256];\n  {} loss = 0, wsum = 0;\n", t, t);
  b += fmt::format("  for (i64 item = threadIdx.x; item < {}ll; item += 256) {{\n", N * D);
  b += fmt::format("    const i64 n = item / {}, d = item % {};\n", D, D);
  b += fmt::format("    const i64 label = (i64){};\n", ks.load(bind.in[1], "item", "double"));
  b += fmt::format("    const bool ignored = label == {}ll;\n", op.attrs().getInt("ignore_index"));
  b += fmt::format("    if (!ignored && (label < 0 || label >= {}ll)) {}\n", C,
                   ks.fail(fmt::format("a label is out of range [0, {}) ({})", C, op.op().name)));
  b += fmt::format("    const i64 at = (n * {}ll + (ignored ? 0 : label)) * {}ll + d;\n", C, D);
  b += fmt::format("    {} logp = {};\n", t, ks.load(bind.in[0], "at", t));
  if (Softmax) {
    std::string xv = ks.load(bind.in[0], fmt::format("(n * {}ll + c) * {}ll + d", C, D), t);
    b += fmt::format("    {} mx = sinter_neg_inf<{}>();\n    for (i64 c = 0; c < {}; ++c) mx = sinter_max<{}>({}, mx);\n", t, t, C, t, xv);
    b += fmt::format("    {} sum = 0;\n    for (i64 c = 0; c < {}; ++c) sum += exp({} - mx);\n", t, C, xv);
    b += "    logp = logp - mx - log(sum);\n";
  }
  b += fmt::format("    const {} w = ignored ? ({})0 : {};\n", t, t,
                   weighted ? ks.load(bind.in[2], "(ignored ? 0 : label)", t) : "(" + t + ")1");
  b += fmt::format("    const {} l = ignored ? ({})0 : -w * logp;\n", t, t);
  if (reduction == "none")
    b += "    " + ks.store(bind.out, "item", epi.apply(ks, "l", "item", op.output()->type().shape, t));
  b += "    loss += l; wsum += w;\n  }\n";
  if (reduction != "none") {
    b += "  sl[threadIdx.x] = loss; sw[threadIdx.x] = wsum;\n  __syncthreads();\n";
    b += "  for (int s = 128; s > 0; s /= 2) {\n    if (threadIdx.x < s) { sl[threadIdx.x] += sl[threadIdx.x + s]; sw[threadIdx.x] += "
         "sw[threadIdx.x + s]; }\n    __syncthreads();\n  }\n";
    std::string v = reduction == "sum" ? "sl[0]" : "(sl[0] / sw[0])";
    b += "  if (threadIdx.x == 0) { " + ks.store(bind.out, "0", epi.apply(ks, v, "0", op.output()->type().shape, t)) + " }\n";
  }
  ks.finish({1, 1, 1}, 256, 0, "class loss: one block");
  return Error::success();
}

// dx of lrn: with d_c = bias + k * (sum of x^2 over c's window), k = alpha / size,
//   dx_j = dy_j d_j^-beta - 2 k beta x_j * sum over the c whose windows hold j of dy_c x_c d_c^(-beta-1),
// and j is in c's window iff j - after <= c <= j + before. One thread per (image, pixel) walks
// c = 0 .. C-1+before: x's window, and the last `size` terms t_c = dy_c x_c d_c^(-beta-1) with
// the d, x and dy of the channel `before` back, in shift registers; dx_j comes out at c = j + before.
Error lrnGrad(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  const TensorType& x = op.input(0)->type();
  int64_t N = x.shape[0], C = x.shape[1], HW = x.numel() / std::max<int64_t>(1, N * C);
  int64_t size = op.attrs().getInt("size");
  double alpha = op.attrs().getFloat("alpha"), beta = op.attrs().getFloat("beta"), bias = op.attrs().getFloat("bias");
  int64_t before = (size - 1) / 2, after = size - 1 - before, H = before + 1;
  std::string t = computeType(op.output()->type().dtype);
  double k = alpha / static_cast<double>(size);
  std::string& b = ks.body;
  auto xAt = [&](const std::string& ch) { return ks.load(bind.in[0], fmt::format("base + ({}) * {}ll", ch, HW), t); };
  auto dyAt = [&](const std::string& ch) { return ks.load(bind.in[1], fmt::format("base + ({}) * {}ll", ch, HW), t); };
  // Output channels in chunks of 32 per thread: a chunk [c0, c1) walks c from c0 - after (the
  // terms its first outputs need) to c1 - 1 + before.
  const int64_t CH = C > 48 ? 32 : C, chunks = (C + CH - 1) / CH;
  b += gridLoop(N * HW * chunks);
  b += fmt::format("    const i64 pix = o % {0}, n = o / {0} % {1}, c0 = o / {2} * {3}ll, c1 = min(c0 + {3}ll, {4}ll);\n", HW, N,
                   N * HW, CH, C);
  b += fmt::format("    const i64 base = n * {}ll + pix, cs = max(c0 - {}ll, 0ll);\n", C * HW, after);
  b += fmt::format("    {} xw[{}], th[{}], dh[{}], xh[{}], gh[{}];\n", t, size, size, H, H, H);
  b += fmt::format("    #pragma unroll\n    for (int i = 0; i < {}; ++i) {{ const i64 ch = cs + i - {}ll - 1; xw[i] = ch >= 0 && ch < {}ll ? {} : {}(0); th[i] = 0; }}\n",
                   size, before, C, xAt("ch"), t);
  b += fmt::format("    #pragma unroll\n    for (int i = 0; i < {}; ++i) {{ dh[i] = 1; xh[i] = 0; gh[i] = 0; }}\n", H);
  b += fmt::format("    for (i64 c = cs; c < c1 + {}ll; ++c) {{\n", before);
  b += fmt::format("      #pragma unroll\n      for (int i = 0; i + 1 < {}; ++i) {{ xw[i] = xw[i + 1]; th[i] = th[i + 1]; }}\n", size);
  b += fmt::format("      #pragma unroll\n      for (int i = 0; i + 1 < {}; ++i) {{ dh[i] = dh[i + 1]; xh[i] = xh[i + 1]; gh[i] = gh[i + 1]; }}\n", H);
  b += fmt::format("      xw[{}] = c + {}ll < {}ll ? {} : {}(0);\n", size - 1, after, C, xAt(fmt::format("c + {}ll", after)), t);
  b += fmt::format("      {} sq = 0;\n      #pragma unroll\n      for (int i = 0; i < {}; ++i) sq += xw[i] * xw[i];\n", t, size);
  b += fmt::format("      const {} d = {} + {} * sq;\n", t, literal(bias, t), literal(k, t));
  b += fmt::format("      const {} g = c < {}ll ? {} : {}(0);\n", t, C, dyAt("c"), t);
  b += fmt::format("      th[{}] = c < {}ll ? g * xw[{}] * {} : {}(0);\n", size - 1, C, before, lrnPowNeg("d", beta, t, true), t);
  b += fmt::format("      dh[{}] = d; xh[{}] = xw[{}]; gh[{}] = g;\n", H - 1, H - 1, before, H - 1);
  b += fmt::format("      if (c < c0 + {}ll) continue;\n", before);
  b += fmt::format("      {} acc = 0;\n      #pragma unroll\n      for (int i = 0; i < {}; ++i) acc += th[i];\n", t, size);
  b += fmt::format("      const {} v = gh[0] * {} - {} * xh[0] * acc;\n", t, lrnPowNeg("dh[0]", beta, t, false), literal(2 * k * beta, t));
  b += fmt::format("      const i64 oi = base + (c - {}ll) * {}ll;\n", before, HW);
  b += "      " + ks.store(bind.out, "oi", epi.apply(ks, "v", "oi", op.output()->type().shape, t)) + "    }\n  }\n";
  ks.finish({gridFor(N * HW * chunks, 256, ks.target()), 1, 1}, 256, 0,
            fmt::format("lrn_grad: one thread per pixel and {} channels, walking them with the windows in registers", CH));
  return Error::success();
}

// Gradient of the class losses (operands: scores, labels, dloss, weights?), one block: the
// weight sum (the mean's norm) reduced in shared memory, then the items strided over threads.
template <bool Softmax> Error classLossGrad(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  const TensorType& x = op.input(0)->type();
  int64_t N = x.shape[0], C = x.shape[1], D = x.numel() / std::max<int64_t>(1, N * C);
  std::string reduction = op.attrs().getString("reduction");
  int64_t ignore = op.attrs().getInt("ignore_index");
  std::string t = computeType(op.output()->type().dtype);
  bool weighted = op.numInputs() > 3;
  std::string& b = ks.body;
  auto label = [&](const std::string& item) { return fmt::format("(i64){}", ks.load(bind.in[1], item, "double")); };
  auto weight = [&](const std::string& l) { return weighted ? ks.load(bind.in[3], l, t) : "(" + t + ")1"; };
  b += fmt::format("  __shared__ {} sw[256];\n  {} wsum = 0;\n", t, t);
  b += fmt::format("  for (i64 item = threadIdx.x; item < {}ll; item += 256) {{\n    const i64 l = {};\n", N * D, label("item"));
  b += fmt::format("    if (l == {}ll) continue;\n", ignore);
  b += fmt::format("    if (l < 0 || l >= {}ll) {}\n", C,
                   ks.fail(fmt::format("a label is out of range [0, {}) ({})", C, op.op().name), "continue"));
  b += fmt::format("    wsum += {};\n  }}\n", weight("l"));
  b += "  sw[threadIdx.x] = wsum;\n  __syncthreads();\n";
  b += "  for (int s = 128; s > 0; s /= 2) {\n    if (threadIdx.x < s) sw[threadIdx.x] += sw[threadIdx.x + s];\n    __syncthreads();\n  }\n";
  b += fmt::format("  const {} norm = {};\n", t, reduction == "mean" ? "sw[0]" : "(" + t + ")1");
  b += fmt::format("  for (i64 item = threadIdx.x; item < {}ll; item += 256) {{\n", N * D);
  b += fmt::format("    const i64 n = item / {}, d = item % {}, l = {};\n", D, D, label("item"));
  b += fmt::format("    const bool ignored = l == {}ll || l < 0 || l >= {}ll;\n", ignore, C);
  b += fmt::format("    const {} scale = ignored ? ({})0 : {} * {} / norm;\n", t, t, weight("(ignored ? 0 : l)"),
                   ks.load(bind.in[2], reduction == "none" ? "item" : "0", t));
  std::string at = fmt::format("(n * {}ll + c) * {}ll + d", C, D);
  if (Softmax) {
    std::string xv = ks.load(bind.in[0], at, t);
    b += fmt::format("    {} mx = sinter_neg_inf<{}>();\n    for (i64 c = 0; c < {}; ++c) mx = sinter_max<{}>({}, mx);\n", t, t,
                     C, t, xv);
    b += fmt::format("    {} sum = 0;\n    for (i64 c = 0; c < {}; ++c) sum += exp({} - mx);\n", t, C, xv);
    b += fmt::format("    for (i64 c = 0; c < {}; ++c) {{\n      const i64 o = {};\n", C, at);
    b += fmt::format("      const {} v = exp({} - mx) / sum * scale - (c == l ? scale : ({})0);\n", t, ks.load(bind.in[0], "o", t), t);
  } else {
    b += fmt::format("    for (i64 c = 0; c < {}; ++c) {{\n      const i64 o = {};\n", C, at);
    b += fmt::format("      const {} v = c == l ? -scale : ({})0;\n", t, t);
  }
  b += "      " + ks.store(bind.out, "o", epi.apply(ks, "v", "o", op.output()->type().shape, t)) + "    }\n  }\n";
  ks.finish({1, 1, 1}, 256, 0, "class loss gradient: one block");
  return Error::success();
}

constexpr CudaEmitter kEmitters[] = {
    {"lrn_grad", lrnGrad},
    {"batch_norm_train", batchNormTrain},
    {"batch_norm_train_grad", batchNormTrainGrad},
    {"softmax_cross_entropy_grad", classLossGrad<true>},
    {"nll_loss_grad", classLossGrad<false>},
    {"lrn", lrn},
    {"batch_norm", batchNorm},
    {"softmax", softmax<false>},
    {"log_softmax", softmax<true>},
    {"softmax_cross_entropy", classLoss<true>},
    {"nll_loss", classLoss<false>},
};

} // namespace

std::span<const CudaEmitter> normEmitters() { return kEmitters; }

} // namespace sinter::cuda

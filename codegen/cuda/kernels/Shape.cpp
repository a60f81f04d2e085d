// CUDA kernels: data movement, one thread per output element (transpose, slice, pad, concat,
// gather, gather_elements); indices are checked and reported through the status word.
#include "codegen/cuda/KernelSource.h"
#include "ir/Printer.h"
#include "ir/ops/ShapeRules.h"

namespace sinter::cuda {

namespace {

std::vector<int64_t> stridesOf(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;)
    st[i - 1] = st[i] * s[i];
  return st;
}

// Output coordinates c0, c1, ... of element o.
std::string coords(const Shape& out) {
  auto st = stridesOf(out);
  std::string s;
  for (size_t d = 0; d < out.size(); ++d)
    s += fmt::format("    const i64 c{} = o / {}ll % {}ll; (void)c{};\n", d, st[d], out[d], d);
  return s;
}

// Copies src[index] (computed by `indexCode`, which defines `src`, or sets `outside`) to o.
Error perElement(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi, size_t from,
                 const std::string& indexCode, std::optional<double> fill = std::nullopt) {
  const TensorType& out = op.output()->type();
  std::string t = computeType(out.dtype);
  int64_t n = out.numel();
  ks.body += fmt::format("  for (i64 o = (i64)blockIdx.x * blockDim.x + threadIdx.x; o < {}ll; o += (i64)gridDim.x * "
                         "blockDim.x) {{\n",
                         n);
  ks.body += coords(out.shape);
  bool usesOutside = indexCode.find("outside") != std::string::npos;
  ks.body += std::string("    i64 src = 0;") + (usesOutside ? " bool outside = false;" : "") + "\n" + indexCode;
  std::string v = ks.load(from, "src", t);
  if (fill)
    v = usesOutside ? fmt::format("(outside ? {} : {})", literal(*fill, t), v) : v;
  ks.body += "    " + ks.store(bind.out, "o", epi.apply(ks, v, "o", out.shape, t)) + "  }\n";
  ks.finish({gridFor(n, 256, ks.target()), 1, 1}, 256, 0, std::string(op.op().name) + ": one thread per element");
  return Error::success();
}

Error transpose(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  const auto& perm = op.attrs().getInts("perm");
  auto st = stridesOf(op.input(0)->type().shape);
  std::string code = "    src = 0";
  for (size_t d = 0; d < perm.size(); ++d)
    code += fmt::format(" + c{} * {}ll", d, st[perm[d]]);
  return perElement(ks, op, bind, epi, bind.in[0], code + ";\n");
}

Error slice(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  const Shape& xs = op.input(0)->type().shape;
  auto dims = rules::sliceDims(xs, op.attrs().getInts("starts"), op.attrs().getInts("ends"), op.attrs().getInts("axes"),
                               op.attrs().getInts("steps"));
  if (!dims)
    return dims.error();
  auto st = stridesOf(xs);
  std::string code = "    src = 0";
  for (size_t d = 0; d < xs.size(); ++d)
    code += fmt::format(" + ({}ll + c{} * {}ll) * {}ll", (*dims)[d].start, d, (*dims)[d].step, st[d]);
  return perElement(ks, op, bind, epi, bind.in[0], code + ";\n");
}

Error pad(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  const Shape& xs = op.input(0)->type().shape;
  const auto& pads = op.attrs().getInts("pads");
  std::string mode = op.attrs().getString("mode");
  auto st = stridesOf(xs);
  std::string code;
  for (size_t d = 0; d < xs.size(); ++d) {
    code += fmt::format("    {{ i64 i = c{} - {}ll;\n", d, pads[d]);
    if (mode == "edge")
      code += fmt::format("      i = i < 0 ? 0 : i >= {}ll ? {}ll : i;\n", xs[d], xs[d] - 1);
    else if (mode == "reflect")
      code += fmt::format("      i = i < 0 ? -i : i >= {}ll ? {}ll - i : i;\n", xs[d], 2 * (xs[d] - 1));
    else
      code += fmt::format("      if (i < 0 || i >= {}ll) {{ outside = true; i = 0; }}\n", xs[d]);
    code += fmt::format("      src += i * {}ll; }}\n", st[d]);
  }
  if (mode == "constant")
    return perElement(ks, op, bind, epi, bind.in[0], code, op.attrs().getFloat("value"));
  return perElement(ks, op, bind, epi, bind.in[0], code);
}

Error concat(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  const TensorType& out = op.output()->type();
  int64_t axis = op.attrs().getInt("axis");
  if (axis < 0)
    axis += out.rank();
  auto st = stridesOf(out.shape);
  int64_t inner = st[axis];
  std::string t = computeType(out.dtype);
  int64_t n = out.numel();
  std::string& b = ks.body;
  b += fmt::format("  for (i64 o = (i64)blockIdx.x * blockDim.x + threadIdx.x; o < {}ll; o += (i64)gridDim.x * blockDim.x) {{\n", n);
  b += fmt::format("    const i64 a = o / {}ll % {}ll, outer = o / {}ll, rest = o % {}ll;\n    {} v = 0;\n", inner,
                   out.shape[axis], inner * out.shape[axis], inner, t);
  int64_t offset = 0;
  for (size_t k = 0; k < op.numInputs(); ++k) {
    int64_t len = op.input(k)->type().shape[axis];
    b += fmt::format("    {}if (a < {}ll) v = {};\n", k ? "else " : "", offset + len,
                     ks.load(bind.in[k], fmt::format("(outer * {}ll + a - {}ll) * {}ll + rest", len, offset, inner), t));
    offset += len;
  }
  b += "    " + ks.store(bind.out, "o", epi.apply(ks, "v", "o", out.shape, t)) + "  }\n";
  ks.finish({gridFor(n, 256, ks.target()), 1, 1}, 256, 0, "concat: one thread per element");
  return Error::success();
}

// Reads an index, checks [-dim, dim), wraps negatives.
std::string checkedIndex(KernelSource& ks, const Node& op, size_t buf, const std::string& k, int64_t dim) {
  return fmt::format("    i64 at = (i64){};\n    if (at < -{}ll || at >= {}ll) {}\n    if (at < 0) at += {}ll;\n",
                     ks.load(buf, k, "double"), dim, dim,
                     ks.fail(fmt::format("an index is out of range for a dim of {} ({})", dim, op.op().name)), dim);
}

Error gather(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  const Shape& xs = op.input(0)->type().shape;
  const Shape& is = op.input(1)->type().shape;
  int64_t axis = op.attrs().getInt("axis");
  if (axis < 0)
    axis += static_cast<int64_t>(xs.size());
  auto xst = stridesOf(xs), ist = stridesOf(is);
  std::string k = "0";
  for (size_t d = 0; d < is.size(); ++d)
    k += fmt::format(" + c{} * {}ll", axis + static_cast<int64_t>(d), ist[d]);
  std::string code = checkedIndex(ks, op, bind.in[1], k, xs[axis]);
  code += fmt::format("    src = at * {}ll", xst[axis]);
  for (int64_t d = 0; d < axis; ++d)
    code += fmt::format(" + c{} * {}ll", d, xst[d]);
  for (size_t d = axis + 1; d < xs.size(); ++d)
    code += fmt::format(" + c{} * {}ll", d - 1 + is.size(), xst[d]);
  return perElement(ks, op, bind, epi, bind.in[0], code + ";\n");
}

Error gatherElements(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  const Shape& xs = op.input(0)->type().shape;
  int64_t axis = op.attrs().getInt("axis");
  if (axis < 0)
    axis += static_cast<int64_t>(xs.size());
  auto xst = stridesOf(xs);
  std::string code = checkedIndex(ks, op, bind.in[1], "o", xs[axis]);
  code += "    src = 0";
  for (size_t d = 0; d < xs.size(); ++d)
    code += fmt::format(" + {} * {}ll", static_cast<int64_t>(d) == axis ? std::string("at") : "c" + std::to_string(d), xst[d]);
  return perElement(ks, op, bind, epi, bind.in[0], code + ";\n");
}

constexpr CudaEmitter kEmitters[] = {
    {"transpose", transpose}, {"slice", slice}, {"pad", pad}, {"concat", concat},
    {"gather", gather},       {"gather_elements", gatherElements},
};

} // namespace

std::span<const CudaEmitter> shapeEmitters() { return kEmitters; }

} // namespace sinter::cuda

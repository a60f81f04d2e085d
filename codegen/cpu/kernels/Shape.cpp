// CPU kernels: data movement (transpose, concat, slice, pad, gather, gather_elements). Elements
// are copied as bytes of their size (any dtype); an epilogue, when fused, converts instead.
#include "codegen/cpu/Emitters.h"
#include "ir/ops/ShapeRules.h"

#include <llvm/IR/Intrinsics.h>

namespace sinter::cpu {

using namespace llvm;
using llvm::Value;

namespace {

constexpr int64_t kChunk = 8192;

std::vector<int64_t> stridesOf(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;)
    st[i - 1] = st[i] * s[i];
  return st;
}

// For every output element: dst[i] = src[sourceIndex(coords of i)]. `source` returns the source
// buffer's element index, or null to store `fill` instead. Work items are chunks of output rows
// (the last dimension); each row's leading coordinates are decoded once, and the inner loop runs
// along the row with only the last coordinate changing, so the rest of `source`'s arithmetic is
// loop-invariant and hoisted (decoding every element's coordinates by division made ShuffleNet's
// channel-shuffle transposes and slices a third of its step).
Error gatherCopy(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi,
                 const std::function<std::pair<Value*, size_t>(const std::vector<Value*>& coords)>& source,
                 std::optional<double> fill = std::nullopt) {
  auto& b = kb.b();
  const TensorType& out = op.output()->type();
  const size_t rank = out.shape.size();
  const int64_t last = rank ? out.shape.back() : 1;
  const int64_t rows = last ? out.numel() / last : 0;
  const int64_t rowsPerItem = std::max<int64_t>(1, kChunk / std::max<int64_t>(last, 1));
  kb.kernel().items = chunks(rows, rowsPerItem);
  Value* lo = b.CreateMul(kb.begin(), kb.c64(rowsPerItem));
  Value* hi = b.CreateBinaryIntrinsic(Intrinsic::smin, b.CreateMul(kb.end(), kb.c64(rowsPerItem)), kb.c64(rows));
  auto outStrides = stridesOf(out.shape);
  kb.loop(lo, hi, [&](Value* row) {
    std::vector<Value*> coords;
    for (size_t d = 0; d + 1 < rank; ++d) // row = the flat index over the leading dimensions
      coords.push_back(b.CreateURem(b.CreateUDiv(row, kb.c64(outStrides[d] / std::max<int64_t>(last, 1))), kb.c64(out.shape[d])));
    Value* rowStart = b.CreateMul(row, kb.c64(last));
    kb.loop(0, last, [&](Value* j) {
      std::vector<Value*> c = coords;
      if (rank)
        c.push_back(j);
      Value* i = b.CreateAdd(rowStart, j);
      auto [src, buf] = source(c);
      const TensorType& st = kb.type(buf);
      if (epi.empty() && !fill) { // a plain copy of the element's bytes
        kb.copyElement(dtypeSize(out.dtype), kb.addr(out.dtype, kb.buffer(bind.out), i),
                       kb.addr(st.dtype, kb.buffer(buf), src));
        return;
      }
      Type* t = computeType(kb.ctx(), out.dtype);
      Value* inside = b.CreateICmpSGE(src, kb.c64(0)); // index -1: outside (the fill)
      Value* v = kb.load(st.dtype, kb.buffer(buf), b.CreateSelect(inside, src, kb.c64(0)), t);
      if (fill)
        v = b.CreateSelect(inside, v, kb.cf(*fill, t));
      kb.store(out.dtype, kb.buffer(bind.out), i, epi.apply(kb, v, i, out.shape));
    }, "j");
  }, "row");
  return Error::success();
}

Error transpose(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  const auto& perm = op.attrs().getInts("perm");
  auto inStrides = stridesOf(op.input(0)->type().shape);
  return gatherCopy(kb, op, bind, epi, [&](const std::vector<Value*>& c) {
    Value* idx = kb.c64(0);
    for (size_t d = 0; d < c.size(); ++d)
      idx = kb.b().CreateAdd(idx, kb.b().CreateMul(c[d], kb.c64(inStrides[perm[d]])));
    return std::make_pair(idx, bind.in[0]);
  });
}

Error slice(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  const Shape& xs = op.input(0)->type().shape;
  auto dims = rules::sliceDims(xs, op.attrs().getInts("starts"), op.attrs().getInts("ends"), op.attrs().getInts("axes"),
                               op.attrs().getInts("steps"));
  if (!dims)
    return dims.error();
  auto inStrides = stridesOf(xs);
  return gatherCopy(kb, op, bind, epi, [&](const std::vector<Value*>& c) {
    auto& b = kb.b();
    Value* idx = kb.c64(0);
    for (size_t d = 0; d < c.size(); ++d) {
      Value* coord = b.CreateAdd(kb.c64((*dims)[d].start), b.CreateMul(c[d], kb.c64((*dims)[d].step)));
      idx = b.CreateAdd(idx, b.CreateMul(coord, kb.c64(inStrides[d])));
    }
    return std::make_pair(idx, bind.in[0]);
  });
}

// Padding: reflect and edge map out-of-range coordinates back inside; constant mode reads
// index -1 for the fill (handled by gatherCopy's `fill`).
Error pad(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  const Shape& xs = op.input(0)->type().shape;
  const auto& pads = op.attrs().getInts("pads");
  std::string mode = op.attrs().getString("mode");
  auto inStrides = stridesOf(xs);
  size_t r = xs.size();
  auto source = [&](const std::vector<Value*>& c) {
    auto& b = kb.b();
    Value* idx = kb.c64(0);
    Value* outside = b.getFalse();
    for (size_t d = 0; d < r; ++d) {
      Value* i = b.CreateSub(c[d], kb.c64(pads[d]));
      Value* below = b.CreateICmpSLT(i, kb.c64(0));
      Value* above = b.CreateICmpSGE(i, kb.c64(xs[d]));
      if (mode == "edge") {
        i = b.CreateBinaryIntrinsic(Intrinsic::smax, b.CreateBinaryIntrinsic(Intrinsic::smin, i, kb.c64(xs[d] - 1)),
                                    kb.c64(0));
      } else if (mode == "reflect") {
        i = b.CreateSelect(below, b.CreateNeg(i), i);
        i = b.CreateSelect(above, b.CreateSub(kb.c64(2 * (xs[d] - 1)), i), i);
      } else {
        outside = b.CreateOr(outside, b.CreateOr(below, above));
      }
      idx = b.CreateAdd(idx, b.CreateMul(i, kb.c64(inStrides[d])));
    }
    if (mode == "constant")
      idx = b.CreateSelect(outside, kb.c64(-1), idx);
    return std::make_pair(idx, bind.in[0]);
  };
  if (mode == "constant")
    return gatherCopy(kb, op, bind, epi, source, op.attrs().getFloat("value"));
  return gatherCopy(kb, op, bind, epi, source);
}

// Concatenation as copies of contiguous runs: an output row (one index of the axes before
// `axis`) is every operand's run of len_k * inner elements, one after another. Work items are
// chunks of kChunk elements of a row (so one image's concat still spreads over the threads);
// each copies, from every operand whose run meets the chunk, the overlap: a plain contiguous
// loop the vectoriser takes. (Finding each element's operand by its axis coordinate instead
// loaded from every operand per element: DenseNet-121's 25-operand concats ran at 0.1 GB/s.)
Error concat(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  const Shape& out = op.output()->type().shape;
  int64_t axis = op.attrs().getInt("axis");
  if (axis < 0)
    axis += static_cast<int64_t>(out.size());
  auto& b = kb.b();
  const TensorType& ot = op.output()->type();
  auto outStrides = stridesOf(out);
  int64_t inner = outStrides[axis], row = out[axis] * inner, rows = row ? ot.numel() / row : 0;
  int64_t chunksPerRow = std::max<int64_t>(chunks(row, kChunk), 1); // (empty rows: no items)
  kb.kernel().items = row ? rows * chunksPerRow : 0;
  Type* t = computeType(kb.ctx(), ot.dtype);
  kb.loop(kb.begin(), kb.end(), [&](Value* item) {
    Value* r = b.CreateUDiv(item, kb.c64(chunksPerRow));
    Value* c0 = b.CreateMul(b.CreateURem(item, kb.c64(chunksPerRow)), kb.c64(kChunk));
    Value* c1 = b.CreateBinaryIntrinsic(Intrinsic::smin, b.CreateAdd(c0, kb.c64(kChunk)), kb.c64(row));
    Value* outRow = b.CreateMul(r, kb.c64(row));
    int64_t start = 0;
    for (size_t k = 0; k < op.numInputs(); ++k) {
      const TensorType& it = op.input(k)->type();
      int64_t run = it.shape[axis] * inner;
      Value* lo = b.CreateBinaryIntrinsic(Intrinsic::smax, c0, kb.c64(start));
      Value* hi = b.CreateBinaryIntrinsic(Intrinsic::smin, c1, kb.c64(start + run));
      // Operand element = r * run + (j - start).
      Value* inBase = b.CreateSub(b.CreateMul(r, kb.c64(run)), kb.c64(start));
      kb.loop(lo, hi, [&](Value* j) {
        Value* dst = b.CreateAdd(outRow, j);
        Value* v = kb.load(it.dtype, kb.buffer(bind.in[k]), b.CreateAdd(inBase, j), t);
        kb.store(ot.dtype, kb.buffer(bind.out), dst, epi.apply(kb, v, dst, out));
      }, "j");
      start += run;
    }
  }, "chunk");
  return Error::success();
}

// Reads index tensor element `k` and checks it against [-dim, dim); negative wraps.
Value* checkedIndex(KernelBuilder& kb, const Node& op, size_t buf, Value* k, int64_t dim) {
  auto& b = kb.b();
  const TensorType& it = kb.type(buf);
  Value* raw = b.CreateFPToSI(kb.load(it.dtype, kb.buffer(buf), k, kb.f64()), kb.i64());
  Value* bad = b.CreateOr(b.CreateICmpSLT(raw, kb.c64(-dim)), b.CreateICmpSGE(raw, kb.c64(dim)));
  kb.failIf(bad, fmt::format("an index is out of range for a dim of {} ({})", dim, op.op().name));
  return b.CreateSelect(b.CreateICmpSLT(raw, kb.c64(0)), b.CreateAdd(raw, kb.c64(dim)), raw);
}

Error gather(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  const Shape& xs = op.input(0)->type().shape;
  const Shape& is = op.input(1)->type().shape;
  int64_t axis = op.attrs().getInt("axis");
  if (axis < 0)
    axis += static_cast<int64_t>(xs.size());
  auto inStrides = stridesOf(xs);
  auto idxStrides = stridesOf(is);
  return gatherCopy(kb, op, bind, epi, [&](const std::vector<Value*>& c) {
    auto& b = kb.b();
    // Output coords: data[:axis], indices..., data[axis+1:].
    Value* k = kb.c64(0);
    for (size_t d = 0; d < is.size(); ++d)
      k = b.CreateAdd(k, b.CreateMul(c[axis + d], kb.c64(idxStrides[d])));
    Value* at = checkedIndex(kb, op, bind.in[1], k, xs[axis]);
    Value* idx = b.CreateMul(at, kb.c64(inStrides[axis]));
    for (int64_t d = 0; d < axis; ++d)
      idx = b.CreateAdd(idx, b.CreateMul(c[d], kb.c64(inStrides[d])));
    for (size_t d = axis + 1; d < xs.size(); ++d)
      idx = b.CreateAdd(idx, b.CreateMul(c[d - 1 + is.size()], kb.c64(inStrides[d])));
    return std::make_pair(idx, bind.in[0]);
  });
}

Error gatherElements(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  const Shape& xs = op.input(0)->type().shape;
  int64_t axis = op.attrs().getInt("axis");
  if (axis < 0)
    axis += static_cast<int64_t>(xs.size());
  auto inStrides = stridesOf(xs);
  auto outStrides = stridesOf(op.output()->type().shape);
  return gatherCopy(kb, op, bind, epi, [&](const std::vector<Value*>& c) {
    auto& b = kb.b();
    Value* k = kb.c64(0);
    for (size_t d = 0; d < c.size(); ++d)
      k = b.CreateAdd(k, b.CreateMul(c[d], kb.c64(outStrides[d])));
    Value* at = checkedIndex(kb, op, bind.in[1], k, xs[axis]);
    Value* idx = kb.c64(0);
    for (size_t d = 0; d < c.size(); ++d)
      idx = b.CreateAdd(idx, b.CreateMul(static_cast<int64_t>(d) == axis ? at : c[d], kb.c64(inStrides[d])));
    return std::make_pair(idx, bind.in[0]);
  });
}

constexpr CpuEmitter kEmitters[] = {
    {"transpose", transpose}, {"slice", slice}, {"pad", pad}, {"concat", concat},
    {"gather", gather},       {"gather_elements", gatherElements},
};

} // namespace

std::span<const CpuEmitter> shapeEmitters() { return kEmitters; }

} // namespace sinter::cpu

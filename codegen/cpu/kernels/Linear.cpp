// CPU kernels: gemm (packed for f32), numpy matmul, reductions.
#include "codegen/cpu/Emitters.h"
#include "codegen/cpu/Gemm.h"

#include <llvm/IR/Intrinsics.h>

namespace sinter::cpu {

using namespace llvm;
using llvm::Value;

namespace {

Error gemm(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  bool f32 = op.output()->type().dtype == DType::F32;
  for (const sinter::Value* v : op.inputs())
    f32 = f32 && v->type().dtype == DType::F32;
  bool ta = op.attrs().getInt("trans_a") != 0, tb = op.attrs().getInt("trans_b") != 0;
  if (f32 && !ta && tb && op.input(0)->type().shape[0] <= 32)
    return emitGemmDot(kb, op, bind, epi);
  if (f32)
    return emitGemmPacked(kb, op, bind, epi);
  // Generic: one output row per work item, accumulation in the compute type.
  auto& b = kb.b();
  const Shape& a = op.input(0)->type().shape;
  const Shape& w = op.input(1)->type().shape;
  int64_t M = ta ? a[1] : a[0], K = ta ? a[0] : a[1], N = tb ? w[0] : w[1];
  DType yt = op.output()->type().dtype;
  Type* t = computeType(kb.ctx(), yt);
  double alpha = op.attrs().getFloat("alpha"), beta = op.attrs().getFloat("beta");
  kb.kernel().items = M;
  kb.loop(kb.begin(), kb.end(), [&](Value* m) {
    kb.loop(0, N, [&](Value* n) {
      auto acc = kb.loopCarry(kb.c64(0), kb.c64(K), {kb.cf(0, t)}, [&](Value* k, const auto& s) {
        Value* ai = ta ? b.CreateAdd(b.CreateMul(k, kb.c64(M)), m) : b.CreateAdd(b.CreateMul(m, kb.c64(K)), k);
        Value* bi = tb ? b.CreateAdd(b.CreateMul(n, kb.c64(K)), k) : b.CreateAdd(b.CreateMul(k, kb.c64(N)), n);
        Value* av = kb.load(op.input(0)->type().dtype, kb.buffer(bind.in[0]), ai, t);
        Value* bv = kb.load(op.input(1)->type().dtype, kb.buffer(bind.in[1]), bi, t);
        return std::vector<Value*>{b.CreateFAdd(s[0], b.CreateFMul(av, bv))};
      });
      Value* flat = b.CreateAdd(b.CreateMul(m, kb.c64(N)), n);
      Value* v = b.CreateFMul(acc[0], kb.cf(alpha, t));
      if (op.numInputs() > 2) {
        const TensorType& ct = op.input(2)->type();
        Value* c = kb.load(ct.dtype, kb.buffer(bind.in[2]), broadcastIndex(kb, flat, {M, N}, ct.shape), t);
        v = b.CreateFAdd(v, b.CreateFMul(c, kb.cf(beta, t)));
      }
      kb.store(yt, kb.buffer(bind.out), flat, epi.apply(kb, v, flat, op.output()->type().shape));
    }, "n");
  }, "m");
  return Error::success();
}

// Numpy matmul with batch broadcasting: one output row per work item.
Error matmul(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  auto& b = kb.b();
  Shape as = op.input(0)->type().shape, bs = op.input(1)->type().shape;
  if (as.size() == 1)
    as.insert(as.begin(), 1);
  if (bs.size() == 1)
    bs.push_back(1);
  int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  Shape batch(op.output()->type().shape);
  // Output viewed as [batch..., M, N] even when 1-D operands dropped M or N.
  Shape full(batch.begin(), batch.end() - (op.input(0)->type().rank() == 1 ? 0 : 1) - (op.input(1)->type().rank() == 1 ? 0 : 1));
  Shape aBatch(as.begin(), as.end() - 2), bBatch(bs.begin(), bs.end() - 2);
  int64_t batches = numElements(full);
  DType yt = op.output()->type().dtype;
  Type* t = computeType(kb.ctx(), yt);
  kb.kernel().items = batches * M;
  kb.loop(kb.begin(), kb.end(), [&](Value* row) {
    Value* bi = b.CreateUDiv(row, kb.c64(M));
    Value* m = b.CreateURem(row, kb.c64(M));
    Value* aOff = b.CreateMul(broadcastIndex(kb, bi, full, aBatch), kb.c64(M * K));
    Value* bOff = b.CreateMul(broadcastIndex(kb, bi, full, bBatch), kb.c64(K * N));
    kb.loop(0, N, [&](Value* n) {
      auto acc = kb.loopCarry(kb.c64(0), kb.c64(K), {kb.cf(0, t)}, [&](Value* k, const auto& s) {
        Value* av = kb.load(op.input(0)->type().dtype, kb.buffer(bind.in[0]),
                            b.CreateAdd(aOff, b.CreateAdd(b.CreateMul(m, kb.c64(K)), k)), t);
        Value* bv = kb.load(op.input(1)->type().dtype, kb.buffer(bind.in[1]),
                            b.CreateAdd(bOff, b.CreateAdd(b.CreateMul(k, kb.c64(N)), n)), t);
        return std::vector<Value*>{b.CreateFAdd(s[0], b.CreateFMul(av, bv))};
      });
      Value* flat = b.CreateAdd(b.CreateMul(row, kb.c64(N)), n);
      kb.store(yt, kb.buffer(bind.out), flat, epi.apply(kb, acc[0], flat, op.output()->type().shape));
    }, "n");
  }, "row");
  return Error::success();
}

enum class Red { Sum, Mean, Max };

// One output element per work item: its reduced elements are visited by a nested walk over
// the reduced dims. Sums accumulate in double: a batch norm's statistics and its gradients sum
// tens of thousands of floats, where a float accumulator drifts by 1e-6 relative and a training
// run amplifies it (the batch-norm parity test against PyTorch sees it by step 20).
template <Red R> Error reduce(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  auto& b = kb.b();
  const TensorType& x = op.input(0)->type();
  const auto& axes = op.attrs().getInts("axes");
  int64_t r = x.rank();
  std::vector<bool> reduced(static_cast<size_t>(r), axes.empty());
  for (int64_t a : axes)
    reduced[a < 0 ? a + r : a] = true;
  Shape kept, red; // dims of the output (reduced = 1) and sizes of the reduced dims
  std::vector<int64_t> strides(static_cast<size_t>(r), 1);
  for (int64_t d = r - 1; d > 0; --d)
    strides[d - 1] = strides[d] * x.shape[d];
  int64_t count = 1;
  for (int64_t d = 0; d < r; ++d) {
    kept.push_back(reduced[d] ? 1 : x.shape[d]);
    if (reduced[d])
      count *= x.shape[d];
  }
  DType yt = op.output()->type().dtype;
  Type* t = computeType(kb.ctx(), yt);
  int64_t outN = numElements(kept);
  kb.kernel().items = outN;
  kb.loop(kb.begin(), kb.end(), [&](Value* o) {
    // Base input index of this output element.
    Value* base = kb.c64(0);
    int64_t s = 1;
    for (int64_t d = r - 1; d >= 0; --d) {
      if (!reduced[d]) {
        Value* coord = b.CreateURem(b.CreateUDiv(o, kb.c64(s)), kb.c64(kept[d]));
        base = b.CreateAdd(base, b.CreateMul(coord, kb.c64(strides[d])));
      }
      s *= kept[d];
    }
    Type* at = R == Red::Max ? t : b.getDoubleTy();
    Value* init = R == Red::Max ? kb.cf(-INFINITY, t) : kb.cf(0, at);
    auto acc = kb.loopCarry(kb.c64(0), kb.c64(count), {init}, [&](Value* j, const auto& a) {
      Value* idx = base;
      int64_t js = 1;
      for (int64_t d = r - 1; d >= 0; --d) {
        if (!reduced[d])
          continue;
        Value* coord = b.CreateURem(b.CreateUDiv(j, kb.c64(js)), kb.c64(x.shape[d]));
        idx = b.CreateAdd(idx, b.CreateMul(coord, kb.c64(strides[d])));
        js *= x.shape[d];
      }
      Value* v = kb.load(x.dtype, kb.buffer(bind.in[0]), idx, at);
      if (R == Red::Max)
        return std::vector<Value*>{kb.math("max", {v, a[0]})};
      return std::vector<Value*>{b.CreateFAdd(a[0], v)};
    });
    Value* v = acc[0];
    if (R == Red::Mean)
      v = b.CreateFDiv(v, kb.cf(static_cast<double>(count), at));
    if (at != t)
      v = b.CreateFPTrunc(v, t);
    kb.store(yt, kb.buffer(bind.out), o, epi.apply(kb, v, o, op.output()->type().shape));
  }, "out");
  return Error::success();
}

constexpr CpuEmitter kEmitters[] = {
    {"gemm", gemm},
    {"matmul", matmul},
    {"reduce_sum", reduce<Red::Sum>},
    {"reduce_mean", reduce<Red::Mean>},
    {"reduce_max", reduce<Red::Max>},
};

} // namespace

std::span<const CpuEmitter> linearEmitters() { return kEmitters; }

} // namespace sinter::cpu

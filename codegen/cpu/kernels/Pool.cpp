// CPU kernels: max/average pooling, global average pooling, and LRN fused with max-pooling.
#include "codegen/cpu/Emitters.h"
#include "ir/OpTable.h"

#include <llvm/IR/Intrinsics.h>

namespace sinter::cpu {

using namespace llvm;
using llvm::Value;

namespace {

// Pools plane `src` (H x W, read through `read(index)`) into output plane starting at `outBase`.
template <bool IsMax>
void poolPlane(KernelBuilder& kb, const PoolShape& ps, bool includePad, Type* t,
               const std::function<Value*(Value*)>& read, const std::function<void(Value* ohow, Value* v)>& write) {
  auto& b = kb.b();
  // No padding and every window inside the input: plain loads, no counting (AlexNet's pools).
  bool inside = ps.PT == 0 && ps.PL == 0 && (ps.OH - 1) * ps.SH + (ps.KH - 1) * ps.DH < ps.H &&
                (ps.OW - 1) * ps.SW + (ps.KW - 1) * ps.DW < ps.W;
  if (inside) {
    kb.loop(0, ps.OH, [&](Value* oh) {
      kb.loop(0, ps.OW, [&](Value* ow) {
        Value* base = b.CreateAdd(b.CreateMul(b.CreateMul(oh, kb.c64(ps.SH)), kb.c64(ps.W)), b.CreateMul(ow, kb.c64(ps.SW)));
        Value* acc = IsMax ? kb.cf(-INFINITY, t) : kb.cf(0, t);
        for (int64_t kh = 0; kh < ps.KH; ++kh)
          for (int64_t kw = 0; kw < ps.KW; ++kw) {
            Value* v = read(b.CreateAdd(base, kb.c64(kh * ps.DH * ps.W + kw * ps.DW)));
            acc = IsMax ? kb.math("max", {v, acc}) : b.CreateFAdd(acc, v);
          }
        if (!IsMax)
          acc = b.CreateFDiv(acc, kb.cf(static_cast<double>(ps.KH * ps.KW), t));
        write(b.CreateAdd(b.CreateMul(oh, kb.c64(ps.OW)), ow), acc);
      }, "ow");
    }, "oh");
    return;
  }
  kb.loop(0, ps.OH, [&](Value* oh) {
    kb.loop(0, ps.OW, [&](Value* ow) {
      Value* h0 = b.CreateSub(b.CreateMul(oh, kb.c64(ps.SH)), kb.c64(ps.PT));
      Value* w0 = b.CreateSub(b.CreateMul(ow, kb.c64(ps.SW)), kb.c64(ps.PL));
      Value* init = IsMax ? kb.cf(-INFINITY, t) : kb.cf(0, t);
      auto acc = kb.loopCarry(kb.c64(0), kb.c64(ps.KH * ps.KW), {init, kb.c64(0)}, [&](Value* k, const auto& a) {
        Value* ih = b.CreateAdd(h0, b.CreateMul(b.CreateUDiv(k, kb.c64(ps.KW)), kb.c64(ps.DH)));
        Value* iw = b.CreateAdd(w0, b.CreateMul(b.CreateURem(k, kb.c64(ps.KW)), kb.c64(ps.DW)));
        Value* inside = b.CreateAnd(b.CreateICmpULT(ih, kb.c64(ps.H)), b.CreateICmpULT(iw, kb.c64(ps.W)));
        Value* idx = b.CreateSelect(inside, b.CreateAdd(b.CreateMul(ih, kb.c64(ps.W)), iw), kb.c64(0));
        Value* v = read(idx);
        Value* next = IsMax ? kb.math("max", {v, a[0]}) : b.CreateFAdd(a[0], v);
        return std::vector<Value*>{b.CreateSelect(inside, next, a[0]),
                                   b.CreateAdd(a[1], b.CreateZExt(inside, kb.i64()))};
      });
      Value* v = acc[0];
      if (!IsMax) {
        Value* count = acc[1];
        if (includePad) { // window clipped to the padded input
          Value* hEnd = b.CreateBinaryIntrinsic(Intrinsic::smin, b.CreateAdd(h0, kb.c64(ps.KH)), kb.c64(ps.H + ps.PB));
          Value* wEnd = b.CreateBinaryIntrinsic(Intrinsic::smin, b.CreateAdd(w0, kb.c64(ps.KW)), kb.c64(ps.W + ps.PR));
          count = b.CreateMul(b.CreateSub(hEnd, h0), b.CreateSub(wEnd, w0));
        }
        Value* cf = b.CreateSIToFP(count, t);
        v = b.CreateSelect(b.CreateICmpSGT(count, kb.c64(0)), b.CreateFDiv(v, cf), kb.cf(0, t));
      }
      write(b.CreateAdd(b.CreateMul(oh, kb.c64(ps.OW)), ow), v);
    }, "ow");
  }, "oh");
}

template <bool IsMax> Error pool2d(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  auto& b = kb.b();
  PoolShape ps = PoolShape::of(op);
  DType xt = op.input(0)->type().dtype, yt = op.output()->type().dtype;
  Type* t = computeType(kb.ctx(), yt);
  bool includePad = !IsMax && op.attrs().getInt("count_include_pad") != 0;
  kb.kernel().items = ps.NC;
  kb.loop(kb.begin(), kb.end(), [&](Value* plane) {
    Value* in = b.CreateMul(plane, kb.c64(ps.H * ps.W));
    Value* out = b.CreateMul(plane, kb.c64(ps.OH * ps.OW));
    poolPlane<IsMax>(kb, ps, includePad, t,
                     [&](Value* idx) { return kb.load(xt, kb.buffer(bind.in[0]), b.CreateAdd(in, idx), t); },
                     [&](Value* o, Value* v) {
                       Value* flat = b.CreateAdd(out, o);
                       kb.store(yt, kb.buffer(bind.out), flat, epi.apply(kb, v, flat, op.output()->type().shape));
                     });
  }, "plane");
  return Error::success();
}

Error globalAvgPool(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  auto& b = kb.b();
  const TensorType& x = op.input(0)->type();
  int64_t NC = x.shape[0] * x.shape[1];
  int64_t S = NC ? x.numel() / NC : 0;
  DType yt = op.output()->type().dtype;
  Type* t = computeType(kb.ctx(), yt);
  kb.kernel().items = NC;
  kb.loop(kb.begin(), kb.end(), [&](Value* plane) {
    Value* base = b.CreateMul(plane, kb.c64(S));
    auto acc = kb.loopCarry(kb.c64(0), kb.c64(S), {kb.cf(0, t)}, [&](Value* i, const auto& a) {
      return std::vector<Value*>{b.CreateFAdd(a[0], kb.load(x.dtype, kb.buffer(bind.in[0]), b.CreateAdd(base, i), t))};
    });
    Value* v = b.CreateFDiv(acc[0], kb.cf(static_cast<double>(S), t));
    kb.store(yt, kb.buffer(bind.out), plane, epi.apply(kb, v, plane, op.output()->type().shape));
  }, "plane");
  return Error::success();
}

// Gradients of the pools: work item = one (image, channel) plane accumulated in scratch. Max
// sends each window's gradient to the element the forward picks (the first maximum), average
// spreads it over the elements the forward counted.
template <bool IsMax> Error pool2dGrad(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  auto& b = kb.b();
  const Shape& dxs = op.output()->type().shape;
  const Shape& dys = op.input(IsMax ? 1 : 0)->type().shape;
  const auto& k = op.attrs().getInts("kernel");
  const auto& st = op.attrs().getInts("stride");
  const auto& pad = op.attrs().getInts("pad");
  std::vector<int64_t> dil = IsMax ? op.attrs().getInts("dilation") : std::vector<int64_t>{1, 1};
  bool includePad = !IsMax && op.attrs().getInt("count_include_pad") != 0;
  int64_t NC = dxs[0] * dxs[1], H = dxs[2], W = dxs[3], OH = dys[2], OW = dys[3];
  DType yt = op.output()->type().dtype, dyt = op.input(IsMax ? 1 : 0)->type().dtype;
  DType xt = op.input(0)->type().dtype;
  Type* t = computeType(kb.ctx(), yt);
  size_t dyBuf = bind.in[IsMax ? 1 : 0];
  kb.kernel().items = NC;
  // Max: each window's argmax goes to `where` first (a loop with no stores to dx, which LLVM
  // vectorises), then a second loop adds the gradients there.
  const int64_t accBytes = (H * W * static_cast<int64_t>(t->getPrimitiveSizeInBits() / 8) + 63) / 64 * 64;
  kb.kernel().scratchBytes = accBytes + (IsMax ? OH * OW * 8 : 0) + 64;
  Value* acc = kb.scratch();
  Value* where = IsMax ? b.CreateInBoundsGEP(kb.i64(), b.CreateBitCast(acc, PointerType::getUnqual(kb.i64())), kb.c64(accBytes / 8))
                       : nullptr;
  kb.loop(kb.begin(), kb.end(), [&](Value* plane) {
    kb.loop(0, H * W, [&](Value* i) { b.CreateStore(kb.cf(0, t), b.CreateInBoundsGEP(t, acc, i)); }, "z");
    Value* in = b.CreateMul(plane, kb.c64(H * W));
    kb.loop(0, OH, [&](Value* oh) {
      kb.loop(0, OW, [&](Value* ow) {
        Value* g = kb.load(dyt, kb.buffer(dyBuf),
                           b.CreateAdd(b.CreateMul(plane, kb.c64(OH * OW)), b.CreateAdd(b.CreateMul(oh, kb.c64(OW)), ow)), t);
        Value* h0 = b.CreateSub(b.CreateMul(oh, kb.c64(st[0])), kb.c64(pad[0]));
        Value* w0 = b.CreateSub(b.CreateMul(ow, kb.c64(st[1])), kb.c64(pad[1]));
        // Pass 1 over the window: the argmax (max) or the count (average). Windows of up to 16
        // taps are straight-line code with constant offsets (ResNet's 3x3 stem pool: 3.3x).
        auto step = [&](Value* dh, Value* dw, const std::vector<Value*>& a) {
          Value* ih = b.CreateAdd(h0, dh);
          Value* iw = b.CreateAdd(w0, dw);
          Value* inside = b.CreateAnd(b.CreateICmpULT(ih, kb.c64(H)), b.CreateICmpULT(iw, kb.c64(W)));
          Value* idx = b.CreateSelect(inside, b.CreateAdd(b.CreateMul(ih, kb.c64(W)), iw), kb.c64(0));
          Value* count = b.CreateAdd(a[2], b.CreateZExt(inside, kb.i64()));
          if (!IsMax)
            return std::vector<Value*>{a[0], a[1], count};
          Value* v = kb.load(xt, kb.buffer(bind.in[0]), b.CreateAdd(in, idx), t);
          Value* better = b.CreateOr(b.CreateICmpSLT(a[1], kb.c64(0)),
                                     b.CreateOr(b.CreateFCmpUNO(v, v), b.CreateFCmpOGT(v, a[0])));
          Value* take = b.CreateAnd(inside, better);
          return std::vector<Value*>{b.CreateSelect(take, v, a[0]), b.CreateSelect(take, idx, a[1]), count};
        };
        std::vector<Value*> r{kb.cf(-INFINITY, t), kb.c64(-1), kb.c64(0)};
        if (k[0] * k[1] <= 16) {
          for (int64_t kh = 0; kh < k[0]; ++kh)
            for (int64_t kw = 0; kw < k[1]; ++kw)
              r = step(kb.c64(kh * dil[0]), kb.c64(kw * dil[1]), r);
        } else {
          r = kb.loopCarry(kb.c64(0), kb.c64(k[0] * k[1]), r, [&](Value* kk, const auto& a) {
            return step(b.CreateMul(b.CreateUDiv(kk, kb.c64(k[1])), kb.c64(dil[0])),
                        b.CreateMul(b.CreateURem(kk, kb.c64(k[1])), kb.c64(dil[1])), std::vector<Value*>(a.begin(), a.end()));
          });
        }
        if (IsMax) {
          b.CreateStore(r[1], b.CreateInBoundsGEP(kb.i64(), where, b.CreateAdd(b.CreateMul(oh, kb.c64(OW)), ow)));
          return;
        }
        Value* count = r[2];
        if (includePad) {
          Value* hEnd = b.CreateBinaryIntrinsic(Intrinsic::smin, b.CreateAdd(h0, kb.c64(k[0])), kb.c64(H + pad[2]));
          Value* wEnd = b.CreateBinaryIntrinsic(Intrinsic::smin, b.CreateAdd(w0, kb.c64(k[1])), kb.c64(W + pad[3]));
          count = b.CreateMul(b.CreateSub(hEnd, h0), b.CreateSub(wEnd, w0));
        }
        kb.ifThen(b.CreateICmpSGT(count, kb.c64(0)), [&] {
          Value* share = b.CreateFDiv(g, b.CreateSIToFP(count, t));
          kb.loop(0, k[0] * k[1], [&](Value* kk) {
            Value* ih = b.CreateAdd(h0, b.CreateUDiv(kk, kb.c64(k[1])));
            Value* iw = b.CreateAdd(w0, b.CreateURem(kk, kb.c64(k[1])));
            Value* inside = b.CreateAnd(b.CreateICmpULT(ih, kb.c64(H)), b.CreateICmpULT(iw, kb.c64(W)));
            kb.ifThen(inside, [&] {
              Value* at = b.CreateInBoundsGEP(t, acc, b.CreateAdd(b.CreateMul(ih, kb.c64(W)), iw));
              b.CreateStore(b.CreateFAdd(b.CreateLoad(t, at), share), at);
            });
          }, "kk");
        });
      }, "ow");
    }, "oh");
    if (IsMax)
      kb.loop(0, OH * OW, [&](Value* o) {
        Value* i = b.CreateLoad(kb.i64(), b.CreateInBoundsGEP(kb.i64(), where, o));
        kb.ifThen(b.CreateICmpSGE(i, kb.c64(0)), [&] {
          Value* g = kb.load(dyt, kb.buffer(dyBuf), b.CreateAdd(b.CreateMul(plane, kb.c64(OH * OW)), o), t);
          Value* at = b.CreateInBoundsGEP(t, acc, i);
          b.CreateStore(b.CreateFAdd(b.CreateLoad(t, at), g), at);
        });
      }, "add");
    kb.loop(0, H * W, [&](Value* i) {
      Value* flat = b.CreateAdd(in, i);
      Value* v = b.CreateLoad(t, b.CreateInBoundsGEP(t, acc, i));
      kb.store(yt, kb.buffer(bind.out), flat, epi.apply(kb, v, flat, op.output()->type().shape));
    }, "st");
  }, "plane");
  return Error::success();
}

constexpr CpuEmitter kEmitters[] = {
    {"max_pool2d", pool2d<true>},
    {"avg_pool2d", pool2d<false>},
    {"global_avg_pool", globalAvgPool},
    {"max_pool2d_grad", pool2dGrad<true>},
    {"avg_pool2d_grad", pool2dGrad<false>},
};

} // namespace

// LRN over one channel plane into scratch (float), then the max-pool reads it: the LRN output
// never reaches memory. Work item = one (image, channel) plane.
void lrnPlane(KernelBuilder& kb, const Node& lrn, Value* x, DType xt, Value* n, Value* c, Value* dst, Type* t);

Error emitLrnMaxPool(KernelBuilder& kb, const Node& lrn, const Node& pool, const Binding& lrnBind,
                     const Binding& poolBind) {
  auto& b = kb.b();
  const TensorType& x = lrn.input(0)->type();
  int64_t C = x.shape[1], HW = x.shape[2] * x.shape[3];
  PoolShape ps = PoolShape::of(pool);
  DType yt = pool.output()->type().dtype;
  Type* t = computeType(kb.ctx(), yt);
  kb.kernel().items = ps.NC;
  kb.kernel().scratchBytes = HW * 8 + 64;
  Value* plane = kb.scratch();
  kb.loop(kb.begin(), kb.end(), [&](Value* item) {
    Value* n = b.CreateUDiv(item, kb.c64(C));
    Value* c = b.CreateURem(item, kb.c64(C));
    lrnPlane(kb, lrn, kb.buffer(lrnBind.in[0]), x.dtype, n, c, plane, t);
    Value* out = b.CreateMul(item, kb.c64(ps.OH * ps.OW));
    poolPlane<true>(kb, ps, false, t, [&](Value* idx) { return b.CreateLoad(t, b.CreateInBoundsGEP(t, plane, idx)); },
                    [&](Value* o, Value* v) { kb.store(yt, kb.buffer(poolBind.out), b.CreateAdd(out, o), v); });
  }, "plane");
  return Error::success();
}

std::span<const CpuEmitter> poolEmitters() { return kEmitters; }

} // namespace sinter::cpu

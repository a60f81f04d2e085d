// CPU kernels: 2-D convolution (grouped, strided, dilated, padded) with a fused epilogue.
#include "codegen/cpu/Emitters.h"
#include "codegen/cpu/Gemm.h"

namespace sinter::cpu {

using namespace llvm;
using llvm::Value;

namespace {

Error conv2d(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  ConvShape cs = ConvShape::of(op);
  if (directConvApplies(kb, op, bind))
    return emitDirectConv(kb, op, cs, bind, epi, kb.module(), kb.program(), kb.target());
  if (op.input(0)->type().dtype == DType::F32 && op.input(1)->type().dtype == DType::F32 &&
      op.output()->type().dtype == DType::F32)
    return emitConvGemm(kb, op, cs, bind, epi);
  // Other dtypes: a direct loop nest in the compute type (f64 accumulation for f64).
  auto& b = kb.b();
  DType xt = op.input(0)->type().dtype, wt = op.input(1)->type().dtype, yt = op.output()->type().dtype;
  Type* t = computeType(kb.ctx(), yt);
  bool bias = op.numInputs() > 2;
  kb.kernel().items = cs.N * cs.M;
  kb.loop(kb.begin(), kb.end(), [&](Value* item) {
    Value* n = b.CreateUDiv(item, kb.c64(cs.M));
    Value* m = b.CreateURem(item, kb.c64(cs.M));
    Value* g = b.CreateUDiv(m, kb.c64(cs.M / cs.G));
    kb.loop(0, cs.OH, [&](Value* oh) {
      kb.loop(0, cs.OW, [&](Value* ow) {
        Value* init = bias ? kb.load(op.input(2)->type().dtype, kb.buffer(bind.in[2]), m, t) : kb.cf(0, t);
        auto acc = kb.loopCarry(kb.c64(0), kb.c64(cs.Cg * cs.KH * cs.KW), {init}, [&](Value* k, const auto& a) {
          Value* c = b.CreateUDiv(k, kb.c64(cs.KH * cs.KW));
          Value* kh = b.CreateURem(b.CreateUDiv(k, kb.c64(cs.KW)), kb.c64(cs.KH));
          Value* kw = b.CreateURem(k, kb.c64(cs.KW));
          Value* ih = b.CreateAdd(b.CreateMul(oh, kb.c64(cs.SH)), b.CreateSub(b.CreateMul(kh, kb.c64(cs.DH)), kb.c64(cs.PT)));
          Value* iw = b.CreateAdd(b.CreateMul(ow, kb.c64(cs.SW)), b.CreateSub(b.CreateMul(kw, kb.c64(cs.DW)), kb.c64(cs.PL)));
          Value* inside = b.CreateAnd(b.CreateICmpULT(ih, kb.c64(cs.H)), b.CreateICmpULT(iw, kb.c64(cs.W)));
          Value* ch = b.CreateAdd(b.CreateMul(g, kb.c64(cs.Cg)), c);
          Value* xi = b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.c64(cs.C)), ch),
                                                                         kb.c64(cs.H)), ih), kb.c64(cs.W)), iw);
          Value* safe = b.CreateSelect(inside, xi, kb.c64(0));
          Value* xv = b.CreateSelect(inside, kb.load(xt, kb.buffer(bind.in[0]), safe, t), kb.cf(0, t));
          Value* wv = kb.load(wt, kb.buffer(bind.in[1]), b.CreateAdd(b.CreateMul(m, kb.c64(cs.Cg * cs.KH * cs.KW)), k), t);
          return std::vector<Value*>{b.CreateFAdd(a[0], b.CreateFMul(xv, wv))};
        });
        Value* flat = b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(item, kb.c64(cs.OH)), oh), kb.c64(cs.OW)), ow);
        kb.store(yt, kb.buffer(bind.out), flat, epi.apply(kb, acc[0], flat, op.output()->type().shape));
      }, "ow");
    }, "oh");
  }, "plane");
  return Error::success();
}

constexpr CpuEmitter kEmitters[] = {{"conv2d", conv2d}};

} // namespace

std::span<const CpuEmitter> convEmitters() { return kEmitters; }

} // namespace sinter::cpu

// CPU kernels: optimizer steps, elementwise over a parameter and its state (chunks of elements
// as work items).
#include "codegen/cpu/Emitters.h"

namespace sinter::cpu {

using namespace llvm;
using llvm::Value;

namespace {

constexpr int64_t kChunk = 16384;

// Runs `body(i)` for every element of the parameter, chunked over the thread pool.
void overElements(KernelBuilder& kb, int64_t n, const std::function<void(Value*)>& body) {
  auto& b = kb.b();
  kb.kernel().items = chunks(n, kChunk);
  kb.loop(kb.begin(), kb.end(), [&](Value* chunk) {
    Value* lo = b.CreateMul(chunk, kb.c64(kChunk));
    Value* hi = b.CreateBinaryIntrinsic(Intrinsic::smin, b.CreateAdd(lo, kb.c64(kChunk)), kb.c64(n));
    kb.loop(lo, hi, body, "e");
  }, "chunk");
}

Error sgdUpdate(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue&) {
  auto& b = kb.b();
  DType dt = op.input(0)->type().dtype;
  Type* t = computeType(kb.ctx(), dt);
  double mom = op.attrs().getFloat("momentum"), wd = op.attrs().getFloat("weight_decay");
  Value* lr = kb.load(op.input(3)->type().dtype, kb.buffer(bind.in[3]), kb.c64(0), t);
  Value* wdlr = b.CreateFMul(kb.cf(wd, t), lr);
  overElements(kb, op.input(0)->type().numel(), [&](Value* i) {
    Value* w = kb.load(dt, kb.buffer(bind.in[0]), i, t);
    Value* g = kb.load(dt, kb.buffer(bind.in[1]), i, t);
    Value* v = kb.load(dt, kb.buffer(bind.in[2]), i, t);
    Value* vn = b.CreateFSub(b.CreateFSub(b.CreateFMul(kb.cf(mom, t), v), b.CreateFMul(wdlr, w)), b.CreateFMul(lr, g));
    kb.store(dt, kb.buffer(kb.result(1)), i, vn);
    kb.store(dt, kb.buffer(kb.result(0)), i, b.CreateFAdd(w, vn));
  });
  return Error::success();
}

Error adamUpdate(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue&) {
  auto& b = kb.b();
  DType dt = op.input(0)->type().dtype;
  Type* t = computeType(kb.ctx(), dt);
  double b1 = op.attrs().getFloat("beta1"), b2 = op.attrs().getFloat("beta2"), eps = op.attrs().getFloat("eps");
  double wd = op.attrs().getFloat("weight_decay");
  Value* lrT = kb.load(op.input(4)->type().dtype, kb.buffer(bind.in[4]), kb.c64(0), t);
  Value* c2 = kb.load(op.input(5)->type().dtype, kb.buffer(bind.in[5]), kb.c64(0), t);
  overElements(kb, op.input(0)->type().numel(), [&](Value* i) {
    Value* w = kb.load(dt, kb.buffer(bind.in[0]), i, t);
    Value* g = b.CreateFAdd(kb.load(dt, kb.buffer(bind.in[1]), i, t), b.CreateFMul(kb.cf(wd, t), w));
    Value* m = kb.load(dt, kb.buffer(bind.in[2]), i, t);
    Value* v = kb.load(dt, kb.buffer(bind.in[3]), i, t);
    Value* mn = b.CreateFAdd(b.CreateFMul(kb.cf(b1, t), m), b.CreateFMul(kb.cf(1 - b1, t), g));
    Value* vn = b.CreateFAdd(b.CreateFMul(kb.cf(b2, t), v), b.CreateFMul(kb.cf(1 - b2, t), b.CreateFMul(g, g)));
    Value* den = b.CreateFAdd(b.CreateFMul(kb.math("sqrt", {vn}), c2), kb.cf(eps, t));
    kb.store(dt, kb.buffer(kb.result(1)), i, mn);
    kb.store(dt, kb.buffer(kb.result(2)), i, vn);
    kb.store(dt, kb.buffer(kb.result(0)), i, b.CreateFSub(w, b.CreateFDiv(b.CreateFMul(lrT, mn), den)));
  });
  return Error::success();
}

constexpr CpuEmitter kEmitters[] = {
    {"sgd_update", sgdUpdate},
    {"adam_update", adamUpdate},
};

} // namespace

std::span<const CpuEmitter> optimEmitters() { return kEmitters; }

} // namespace sinter::cpu

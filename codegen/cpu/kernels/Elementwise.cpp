// CPU kernels: elementwise ops (any Scalar lowering, with broadcasting) and dropout.
#include "codegen/cpu/Emitters.h"
#include "ir/OpTable.h"

#include <llvm/IR/Intrinsics.h>

#include <map>
#include <mutex>

namespace sinter::cpu {

using namespace llvm;
using llvm::Value;

namespace {

constexpr int64_t kChunk = 8192; // elements per work item

const ScalarExpr& exprOf(const OpDef& op) {
  static std::mutex mu;
  static std::map<const OpDef*, ScalarExpr> cache;
  std::lock_guard lock(mu);
  auto it = cache.find(&op);
  if (it == cache.end())
    it = cache.emplace(&op, *parseScalarExpr(op.scalar()->expr)).first;
  return it->second;
}

// Float for f32/f16/bf16 everywhere, else double (the reference's float64 for ints and f64).
Type* commonType(KernelBuilder& kb, const Node& op) {
  auto narrow = [](DType d) { return d == DType::F32 || d == DType::F16 || d == DType::BF16; };
  bool all = narrow(op.output()->type().dtype);
  for (const sinter::Value* v : op.inputs())
    all = all && narrow(v->type().dtype);
  return all ? kb.f32() : kb.f64();
}

// Loops over this item's chunk of the result's elements (a parallel loop: the result may
// overwrite an operand of its own shape in place, element i by element i).
void forChunk(KernelBuilder& kb, int64_t n, const std::function<void(llvm::Value*)>& body) {
  auto& b = kb.b();
  kb.kernel().items = chunks(n, kChunk);
  Value* lo = b.CreateMul(kb.begin(), kb.c64(kChunk));
  Value* hi = b.CreateBinaryIntrinsic(Intrinsic::smin, b.CreateMul(kb.end(), kb.c64(kChunk)), kb.c64(n));
  kb.parallelLoop(lo, hi, body);
}

Error elementwise(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  const ScalarExpr& expr = exprOf(op.op());
  const TensorType& out = op.output()->type();
  Type* t = commonType(kb, op);
  forChunk(kb, out.numel(), [&](Value* i) {
    std::vector<Value*> args;
    for (size_t k = 0; k < op.numInputs(); ++k) {
      const TensorType& in = op.input(k)->type();
      args.push_back(kb.load(in.dtype, kb.buffer(bind.in[k]), broadcastIndex(kb, i, out.shape, in.shape), t));
    }
    Value* v = kb.scalar(expr, args, t);
    kb.store(out.dtype, kb.buffer(bind.out), i, epi.apply(kb, v, i, out.shape));
  });
  return Error::success();
}

// Philox4x32-10 word `index` of stream `seed` at counter high word `step` (an i64 value), as
// ir/Philox.cpp computes it.
Value* philoxBits(KernelBuilder& kb, uint64_t seed, Value* index, Value* step) {
  auto& b = kb.b();
  Type* i32 = b.getInt32Ty();
  Value* block = b.CreateLShr(index, 2);
  Value* c[4] = {b.CreateTrunc(block, i32), b.CreateTrunc(b.CreateLShr(block, 32), i32), b.CreateTrunc(step, i32),
                 b.CreateTrunc(b.CreateLShr(step, 32), i32)};
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    Value* p0 = b.CreateMul(b.CreateZExt(c[0], kb.i64()), kb.c64(0xD2511F53u));
    Value* p1 = b.CreateMul(b.CreateZExt(c[2], kb.i64()), kb.c64(0xCD9E8D57u));
    Value* hi0 = b.CreateTrunc(b.CreateLShr(p0, 32), i32);
    Value* lo0 = b.CreateTrunc(p0, i32);
    Value* hi1 = b.CreateTrunc(b.CreateLShr(p1, 32), i32);
    Value* lo1 = b.CreateTrunc(p1, i32);
    Value* n0 = b.CreateXor(b.CreateXor(hi1, c[1]), b.getInt32(k0));
    Value* n2 = b.CreateXor(b.CreateXor(hi0, c[3]), b.getInt32(k1));
    c[0] = n0;
    c[1] = lo1;
    c[2] = n2;
    c[3] = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  Value* lane = b.CreateTrunc(b.CreateAnd(index, 3), i32);
  Value* w = c[3];
  for (int l = 2; l >= 0; --l)
    w = b.CreateSelect(b.CreateICmpEQ(lane, b.getInt32(l)), c[l], w);
  return w;
}

Error dropout(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  const TensorType& out = op.output()->type();
  bool training = op.attrs().getInt("training") != 0;
  double ratio = op.attrs().getFloat("ratio");
  uint64_t seed = static_cast<uint64_t>(op.attrs().getInt("seed"));
  Type* t = commonType(kb, op);
  auto& b = kb.b();
  Value* step = op.numInputs() > 1
                    ? b.CreateFPToSI(kb.load(op.input(1)->type().dtype, kb.buffer(bind.in[1]), kb.c64(0), kb.f64()), kb.i64())
                    : kb.c64(0);
  forChunk(kb, out.numel(), [&](Value* i) {
    Value* v = kb.load(out.dtype, kb.buffer(bind.in[0]), i, t);
    if (training) {
      Value* bits = b.CreateLShr(philoxBits(kb, seed, i, step), 8);
      Value* u = b.CreateFMul(b.CreateUIToFP(bits, kb.f32()), kb.cf(1.0 / 16777216.0, kb.f32()));
      Value* keep = b.CreateFCmpOGE(u, kb.cf(static_cast<float>(ratio), kb.f32()));
      v = b.CreateSelect(keep, b.CreateFMul(v, kb.cf(1.0 / (1.0 - ratio), t)), kb.cf(0.0, t));
    }
    kb.store(out.dtype, kb.buffer(bind.out), i, epi.apply(kb, v, i, out.shape));
  });
  return Error::success();
}

constexpr CpuEmitter kEmitters[] = {
    {"elementwise", elementwise},
    {"dropout", dropout},
};

} // namespace

Value* Epilogue::apply(KernelBuilder& kb, Value* v, Value* flat, const Shape& out) const {
  for (const Step& s : steps) {
    std::vector<Value*> args;
    for (int a : s.args) {
      if (a < 0) {
        args.push_back(v);
        continue;
      }
      const TensorType& t = kb.type(static_cast<size_t>(a));
      args.push_back(kb.load(t.dtype, kb.buffer(static_cast<size_t>(a)), broadcastIndex(kb, flat, out, t.shape),
                             v->getType()));
    }
    v = kb.scalar(s.expr, args, v->getType());
  }
  return v;
}

std::span<const CpuEmitter> elementwiseEmitters() { return kEmitters; }

} // namespace sinter::cpu

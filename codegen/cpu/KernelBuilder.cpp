// KernelBuilder: loops, conversions, scalar expressions and errors in LLVM IR.
#include "codegen/cpu/KernelBuilder.h"

#include <llvm/IR/Intrinsics.h>

namespace sinter::cpu {

using namespace llvm;
using llvm::Value;

Type* computeType(LLVMContext& c, DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16 ? Type::getFloatTy(c) : Type::getDoubleTy(c);
}

Type* storageType(LLVMContext& c, DType t) {
  switch (t) {
  case DType::F32: return Type::getFloatTy(c);
  case DType::F64: return Type::getDoubleTy(c);
  case DType::F16: return Type::getHalfTy(c);
  case DType::BF16:
  case DType::I16:
  case DType::U16: return Type::getInt16Ty(c);
  case DType::I64:
  case DType::U64: return Type::getInt64Ty(c);
  case DType::I32:
  case DType::U32: return Type::getInt32Ty(c);
  case DType::I8:
  case DType::U8:
  case DType::Bool: return Type::getInt8Ty(c);
  }
  SINTER_UNREACHABLE("unknown dtype");
}

namespace {
bool isUnsigned(DType t) { return t == DType::U8 || t == DType::U16 || t == DType::U32 || t == DType::U64; }
} // namespace

KernelBuilder::KernelBuilder(Module& m, CpuKernel& kernel, CpuProgram& program, const CpuTarget& target,
                             bool prepare)
    : m_(m), kernel_(kernel), program_(program), target_(target), b_(m.getContext()) {
  LLVMContext& c = m.getContext();
  Type* ptr = PointerType::getUnqual(c);
  auto* fty = FunctionType::get(Type::getInt32Ty(c), {ptr, Type::getInt64Ty(c), Type::getInt64Ty(c), ptr, ptr}, false);
  if (prepare)
    kernel.prepSymbol = kernel.symbol + "_prep";
  fn_ = Function::Create(fty, Function::ExternalLinkage, prepare ? kernel.prepSymbol : kernel.symbol, m);
  fn_->addFnAttr(Attribute::NoUnwind);
  auto* entry = BasicBlock::Create(c, "entry", fn_);
  b_.SetInsertPoint(entry);
  auto args = fn_->arg_begin();
  Value* bufs = &*args++;
  begin_ = &*args++;
  end_ = &*args++;
  scratch_ = &*args++;
  persistent_ = &*args;
  for (size_t i = 0; i < kernel.buffers.size(); ++i) {
    Value* slot = b_.CreateConstGEP1_64(ptr, bufs, i);
    auto* p = b_.CreateLoad(ptr, slot, fmt::format("buf{}", i));
    p->setMetadata(LLVMContext::MD_invariant_load, MDNode::get(c, {}));
    ptrs_.push_back(p);
  }
}

void KernelBuilder::loop(Value* lo, Value* hi, const std::function<void(Value*)>& body, const char* name) {
  loopCarry(lo, hi, {}, [&](Value* iv, const std::vector<Value*>&) {
    body(iv);
    return std::vector<Value*>{};
  }, name);
}

std::vector<Value*> KernelBuilder::loopCarry(
    Value* lo, Value* hi, std::vector<Value*> init,
    const std::function<std::vector<Value*>(Value*, const std::vector<Value*>&)>& body, const char* name) {
  LLVMContext& c = ctx();
  BasicBlock* pre = b_.GetInsertBlock();
  auto* header = BasicBlock::Create(c, std::string(name) + ".head", fn_);
  auto* bodyBB = BasicBlock::Create(c, std::string(name) + ".body", fn_);
  auto* exit = BasicBlock::Create(c, std::string(name) + ".exit", fn_);
  b_.CreateBr(header);
  b_.SetInsertPoint(header);
  PHINode* iv = b_.CreatePHI(i64(), 2, name);
  iv->addIncoming(lo, pre);
  std::vector<PHINode*> phis;
  std::vector<Value*> carried;
  for (Value* v : init) {
    PHINode* p = b_.CreatePHI(v->getType(), 2);
    p->addIncoming(v, pre);
    phis.push_back(p);
    carried.push_back(p);
  }
  b_.CreateCondBr(b_.CreateICmpSLT(iv, hi), bodyBB, exit);
  b_.SetInsertPoint(bodyBB);
  std::vector<Value*> next = body(iv, carried);
  assert(next.size() == phis.size());
  Value* inc = b_.CreateAdd(iv, c64(1), "", /*HasNUW=*/true, /*HasNSW=*/true);
  BasicBlock* latch = b_.GetInsertBlock();
  iv->addIncoming(inc, latch);
  for (size_t k = 0; k < phis.size(); ++k)
    phis[k]->addIncoming(next[k], latch);
  lastBackedge_ = b_.CreateBr(header);
  b_.SetInsertPoint(exit);
  return carried; // the phis: their values on exit
}

void KernelBuilder::parallelLoop(Value* lo, Value* hi, const std::function<void(Value*)>& body, const char* name) {
  size_t firstBlock = fn_->size(); // the loop's blocks are appended from here on
  loop(lo, hi, body, name);
  LLVMContext& c = ctx();
  MDNode* group = MDNode::getDistinct(c, {});
  size_t k = 0;
  for (BasicBlock& bb : *fn_)
    if (k++ >= firstBlock)
      for (Instruction& inst : bb)
        if (inst.mayReadOrWriteMemory())
          inst.setMetadata(LLVMContext::MD_access_group, group);
  MDNode* parallel = MDNode::get(c, {MDString::get(c, "llvm.loop.parallel_accesses"), group});
  MDNode* id = MDNode::getDistinct(c, {nullptr, parallel});
  id->replaceOperandWith(0, id);
  lastBackedge_->setMetadata(LLVMContext::MD_loop, id);
}

void KernelBuilder::ifThen(Value* cond, const std::function<void()>& then) {
  auto* thenBB = BasicBlock::Create(ctx(), "then", fn_);
  auto* cont = BasicBlock::Create(ctx(), "cont", fn_);
  b_.CreateCondBr(cond, thenBB, cont);
  b_.SetInsertPoint(thenBB);
  then();
  b_.CreateBr(cont);
  b_.SetInsertPoint(cont);
}

Value* KernelBuilder::addr(DType t, Value* base, Value* index) {
  return b_.CreateInBoundsGEP(storageType(ctx(), t), base, index);
}

Value* KernelBuilder::load(DType t, Value* base, Value* index, Type* as) {
  Value* v = b_.CreateLoad(storageType(ctx(), t), addr(t, base, index));
  switch (t) {
  case DType::F32:
  case DType::F64:
  case DType::F16: return b_.CreateFPCast(v, as);
  case DType::BF16: {
    Value* bits = b_.CreateShl(b_.CreateZExt(v, b_.getInt32Ty()), 16);
    return b_.CreateFPCast(b_.CreateBitCast(bits, f32()), as);
  }
  default: return isUnsigned(t) || t == DType::Bool ? b_.CreateUIToFP(v, as) : b_.CreateSIToFP(v, as);
  }
}

void KernelBuilder::store(DType t, Value* base, Value* index, Value* v) {
  Type* st = storageType(ctx(), t);
  Value* out;
  switch (t) {
  case DType::F32:
  case DType::F64: out = b_.CreateFPCast(v, st); break;
  case DType::F16: out = b_.CreateFPTrunc(b_.CreateFPCast(v, f32()), st); break; // via float, as the reference
  case DType::BF16: { // round to nearest even; NaN stays NaN
    Value* x = b_.CreateBitCast(b_.CreateFPCast(v, f32()), b_.getInt32Ty());
    Value* lsb = b_.CreateAnd(b_.CreateLShr(x, 16), 1);
    Value* rounded = b_.CreateLShr(b_.CreateAdd(x, b_.CreateAdd(b_.getInt32(0x7fff), lsb)), 16);
    Value* nan = b_.CreateOr(b_.CreateLShr(x, 16), 0x40);
    Value* isNan = b_.CreateFCmpUNO(v, v);
    out = b_.CreateTrunc(b_.CreateSelect(isNan, nan, rounded), st);
    break;
  }
  case DType::Bool: out = b_.CreateZExt(b_.CreateFCmpUNE(v, ConstantFP::get(v->getType(), 0.0)), st); break;
  default: {
    Intrinsic::ID id = isUnsigned(t) ? Intrinsic::fptoui_sat : Intrinsic::fptosi_sat;
    out = b_.CreateIntrinsic(id, {st, v->getType()}, {v});
  }
  }
  b_.CreateStore(out, addr(t, base, index));
}

void KernelBuilder::copyElement(size_t bytes, Value* dst, Value* src) {
  Type* t = b_.getIntNTy(static_cast<unsigned>(bytes * 8));
  b_.CreateStore(b_.CreateLoad(t, src), dst);
}

// exp of an f32 x, computed in double and rounded once, as glibc's expf does (so within about
// 0.5 ulp: training trajectories are sensitive enough that a 1-2 ulp exp in the softmax moved
// a 20-step batch-norm run's losses from 2e-7 to 5e-5 of PyTorch's): n = round(x / ln 2),
// r = x - n ln 2 (|r| <= 0.347, exact enough in double), exp(r) by its Taylor series to r^9
// (truncation 2e-10 relative, under 0.004 ulp of f32), times 2^n from exponent bits. x is
// clamped to [-104, 89] first (exp rounds to 0 or inf in f32 beyond; 2^n stays a normal
// double), and the single rounding to f32 gives subnormal and overflowing results their
// correct values. NaN passes through. llvm.exp became a libm call per element, which the
// vectoriser cannot widen: sigmoid, swish and softmax ran one element at a time; this is
// straight-line arithmetic that runs 8 doubles at a time.
Value* KernelBuilder::expF32(Value* x) {
  Type* d = b_.getDoubleTy();
  auto c = [&](double v) { return ConstantFP::get(d, v); };
  Value* xd = b_.CreateFPExt(x, d);
  Value* xc = b_.CreateBinaryIntrinsic(Intrinsic::maxnum, b_.CreateBinaryIntrinsic(Intrinsic::minnum, xd, c(89.0)), c(-104.0));
  Value* nf = b_.CreateUnaryIntrinsic(Intrinsic::rint, b_.CreateFMul(xc, c(1.4426950408889634)));
  // ln 2 in two parts: the first has 32 significant bits, so n * it is exact for |n| < 2^21.
  Value* r = b_.CreateFSub(b_.CreateFSub(xc, b_.CreateFMul(nf, c(0.693147180369123816490))),
                           b_.CreateFMul(nf, c(1.90821492927058770002e-10)));
  Value* p = c(1.0 / 362880);
  for (double k : {1.0 / 40320, 1.0 / 5040, 1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5, 1.0, 1.0})
    p = b_.CreateFAdd(b_.CreateFMul(p, r), c(k));
  Value* n = b_.CreateFPToSI(nf, b_.getInt64Ty()); // within [-150, 128]
  Value* pow2 = b_.CreateBitCast(b_.CreateShl(b_.CreateAdd(n, b_.getInt64(1023)), 52), d);
  Value* y = b_.CreateFPTrunc(b_.CreateFMul(p, pow2), b_.getFloatTy());
  return b_.CreateSelect(b_.CreateFCmpUNO(x, x), x, y);
}

Value* KernelBuilder::math(std::string_view fn, std::vector<Value*> args) {
  Type* t = args[0]->getType();
  auto intrinsic = [&](Intrinsic::ID id) { return b_.CreateIntrinsic(id, {t}, args); };
  if (fn == "exp")
    return t->isFloatTy() ? expF32(args[0]) : intrinsic(Intrinsic::exp);
  if (fn == "log")
    return intrinsic(Intrinsic::log);
  if (fn == "sqrt")
    return intrinsic(Intrinsic::sqrt);
  if (fn == "abs")
    return intrinsic(Intrinsic::fabs);
  if (fn == "floor")
    return intrinsic(Intrinsic::floor);
  if (fn == "pow")
    return intrinsic(Intrinsic::pow);
  if (fn == "tanh") {
    std::string name = t->isFloatTy() ? "tanhf" : "tanh";
    FunctionCallee f = m_.getOrInsertFunction(name, FunctionType::get(t, {t}, false));
    return b_.CreateCall(f, args);
  }
  if (fn == "max" || fn == "min") { // NaN in the first operand wins, as in the reference
    Value* a = args[0];
    Value* c = args[1];
    Value* better = fn == "max" ? b_.CreateFCmpOGT(a, c) : b_.CreateFCmpOLT(a, c);
    return b_.CreateSelect(b_.CreateOr(b_.CreateFCmpUNO(a, a), better), a, c);
  }
  SINTER_UNREACHABLE("scalar function without a CPU rendering");
}

Value* KernelBuilder::scalar(const ScalarExpr& e, const std::vector<Value*>& args, Type* t) {
  using K = ScalarExpr::Kind;
  auto sub = [&](size_t i) { return scalar(e.operands[i], args, t); };
  auto boolean = [&](Value* cond) { return b_.CreateUIToFP(cond, t); };
  switch (e.kind) {
  case K::Const: return ConstantFP::get(t, e.value);
  case K::Arg: return args[static_cast<size_t>(e.arg)];
  case K::Neg: return b_.CreateFNeg(sub(0));
  case K::Add: return b_.CreateFAdd(sub(0), sub(1));
  case K::Sub: return b_.CreateFSub(sub(0), sub(1));
  case K::Mul: return b_.CreateFMul(sub(0), sub(1));
  case K::Div: return b_.CreateFDiv(sub(0), sub(1));
  case K::Lt: return boolean(b_.CreateFCmpOLT(sub(0), sub(1)));
  case K::Gt: return boolean(b_.CreateFCmpOGT(sub(0), sub(1)));
  case K::Le: return boolean(b_.CreateFCmpOLE(sub(0), sub(1)));
  case K::Ge: return boolean(b_.CreateFCmpOGE(sub(0), sub(1)));
  case K::Eq: return boolean(b_.CreateFCmpOEQ(sub(0), sub(1)));
  case K::Ne: return boolean(b_.CreateFCmpUNE(sub(0), sub(1)));
  case K::Call: {
    if (e.fn == "select")
      return b_.CreateSelect(b_.CreateFCmpUNE(sub(0), ConstantFP::get(t, 0.0)), sub(1), sub(2));
    std::vector<Value*> a;
    for (size_t i = 0; i < e.operands.size(); ++i)
      a.push_back(sub(i));
    return math(e.fn, a);
  }
  }
  SINTER_UNREACHABLE("unhandled scalar expression");
}

void KernelBuilder::failIf(Value* cond, const std::string& message) {
  program_.errors.push_back(message);
  int32_t code = static_cast<int32_t>(program_.errors.size());
  auto* fail = BasicBlock::Create(ctx(), "fail", fn_);
  auto* cont = BasicBlock::Create(ctx(), "ok", fn_);
  b_.CreateCondBr(cond, fail, cont);
  b_.SetInsertPoint(fail);
  b_.CreateRet(b_.getInt32(code));
  b_.SetInsertPoint(cont);
}

void KernelBuilder::finish() { b_.CreateRet(b_.getInt32(0)); }

Value* broadcastIndex(KernelBuilder& kb, Value* flat, const Shape& shape, const Shape& operand) {
  auto& b = kb.b();
  if (operand == shape)
    return flat;
  if (numElements(operand) == 1)
    return kb.c64(0);
  // Walk dims from the innermost: coordinate d of the output contributes to the operand's index
  // when the operand has that dim with size > 1.
  size_t r = shape.size(), off = r - operand.size();
  Value* index = kb.c64(0);
  int64_t outStride = 1, opStride = 1;
  for (size_t d = r; d-- > 0;) {
    int64_t od = d >= off ? operand[d - off] : 1;
    if (od != 1) {
      Value* coord = b.CreateURem(b.CreateUDiv(flat, kb.c64(outStride)), kb.c64(shape[d]));
      index = b.CreateAdd(index, b.CreateMul(coord, kb.c64(opStride)));
    }
    outStride *= shape[d];
    opStride *= od;
  }
  return index;
}

} // namespace sinter::cpu

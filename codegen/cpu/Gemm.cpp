// Packed GEMM: micro-kernel, item driver, and the conv / gemm front ends that pack B.
//
// Per work item the driver blocks K by KC; for each K block it packs the item's B columns into
// panels of NR (zero padded), then for every MR-row tile of A runs the micro-kernel on every
// panel, accumulating into C. After the last K block the caller's `finish` (bias, alpha/beta,
// epilogue) runs over the item's C tile while it is still in cache.
#include "codegen/cpu/Gemm.h"

#include "ir/OpTable.h"

#include <llvm/IR/Intrinsics.h>

namespace sinter::cpu {

using namespace llvm;
using llvm::Value;

namespace {

constexpr int64_t kMR = 6;   // rows of A per micro-kernel
constexpr int64_t kKC = 256; // K block
constexpr int64_t kNVec = 2; // vectors of B per micro-kernel row (NR = kNVec * vector width)

int64_t nr(const KernelBuilder& kb) { return kNVec * kb.target().vectorFloats; }

Value* smin(IRBuilder<>& b, Value* a, Value* c) { return b.CreateBinaryIntrinsic(Intrinsic::smin, a, c); }

// void micro(ptr A, i64 lda, ptr B, i64 kc, ptr C, i64 ldc, i1 accumulate, i64 mValid, i64 nValid):
// C[0:mValid, 0:nValid] (+)= A[0:MR, 0:kc] * B[0:kc, 0:NR], B packed as kc rows of NR floats.
Function* microKernel(Module& m, int vf) {
  std::string name = fmt::format("sinter_micro_{}x{}", kMR, kNVec * vf);
  if (Function* f = m.getFunction(name))
    return f;
  LLVMContext& c = m.getContext();
  Type* ptr = PointerType::getUnqual(c);
  Type* i64 = Type::getInt64Ty(c);
  Type* f32 = Type::getFloatTy(c);
  auto* vt = FixedVectorType::get(f32, static_cast<unsigned>(vf));
  auto* fty = FunctionType::get(Type::getVoidTy(c), {ptr, i64, ptr, i64, ptr, i64, Type::getInt1Ty(c), i64, i64}, false);
  Function* f = Function::Create(fty, Function::InternalLinkage, name, m);
  f->addFnAttr(Attribute::NoUnwind);
  std::vector<Value*> args;
  for (auto& a : f->args())
    args.push_back(&a);
  Value *A = args[0], *lda = args[1], *B = args[2], *kc = args[3], *C = args[4], *ldc = args[5], *accumulate = args[6],
        *mValid = args[7], *nValid = args[8];
  IRBuilder<> b(BasicBlock::Create(c, "entry", f));
  // Row pointers of A; rows past mValid repeat the last valid row (computed, never stored).
  std::vector<Value*> rows;
  for (int64_t i = 0; i < kMR; ++i) {
    Value* r = b.CreateBinaryIntrinsic(Intrinsic::smin, b.getInt64(i), b.CreateSub(mValid, b.getInt64(1)));
    rows.push_back(b.CreateInBoundsGEP(f32, A, b.CreateMul(r, lda)));
  }
  BasicBlock* pre = b.GetInsertBlock();
  auto* head = BasicBlock::Create(c, "k.head", f);
  auto* body = BasicBlock::Create(c, "k.body", f);
  auto* exit = BasicBlock::Create(c, "k.exit", f);
  b.CreateBr(head);
  b.SetInsertPoint(head);
  PHINode* k = b.CreatePHI(i64, 2, "k");
  k->addIncoming(b.getInt64(0), pre);
  std::vector<PHINode*> acc;
  for (int64_t i = 0; i < kMR * kNVec; ++i) {
    PHINode* p = b.CreatePHI(vt, 2);
    p->addIncoming(Constant::getNullValue(vt), pre);
    acc.push_back(p);
  }
  b.CreateCondBr(b.CreateICmpSLT(k, kc), body, exit);
  b.SetInsertPoint(body);
  Value* brow = b.CreateInBoundsGEP(f32, B, b.CreateMul(k, b.getInt64(kNVec * vf)));
  std::vector<Value*> bv;
  for (int64_t v = 0; v < kNVec; ++v)
    bv.push_back(b.CreateAlignedLoad(vt, b.CreateInBoundsGEP(f32, brow, b.getInt64(v * vf)), Align(64)));
  std::vector<Value*> next(acc.size());
  for (int64_t i = 0; i < kMR; ++i) {
    Value* a = b.CreateLoad(f32, b.CreateInBoundsGEP(f32, rows[i], k));
    Value* splat = b.CreateVectorSplat(static_cast<unsigned>(vf), a);
    for (int64_t v = 0; v < kNVec; ++v)
      next[i * kNVec + v] = b.CreateIntrinsic(Intrinsic::fma, {vt}, {splat, bv[v], acc[i * kNVec + v]});
  }
  Value* kn = b.CreateAdd(k, b.getInt64(1));
  k->addIncoming(kn, b.GetInsertBlock());
  for (size_t i = 0; i < acc.size(); ++i)
    acc[i]->addIncoming(next[i], b.GetInsertBlock());
  b.CreateBr(head);
  b.SetInsertPoint(exit);
  // Masked stores of the valid tile; accumulate adds what C holds.
  Value* lanes = ConstantVector::get([&] {
    std::vector<Constant*> l;
    for (int i = 0; i < vf; ++i)
      l.push_back(b.getInt64(i));
    return l;
  }());
  for (int64_t i = 0; i < kMR; ++i) {
    auto* store = BasicBlock::Create(c, "row", f);
    auto* cont = BasicBlock::Create(c, "row.next", f);
    b.CreateCondBr(b.CreateICmpSLT(b.getInt64(i), mValid), store, cont);
    b.SetInsertPoint(store);
    Value* crow = b.CreateInBoundsGEP(f32, C, b.CreateMul(b.getInt64(i), ldc));
    for (int64_t v = 0; v < kNVec; ++v) {
      Value* left = b.CreateSub(nValid, b.getInt64(v * vf));
      Value* mask = b.CreateICmpSLT(lanes, b.CreateVectorSplat(static_cast<unsigned>(vf), left));
      Value* p = b.CreateInBoundsGEP(f32, crow, b.getInt64(v * vf));
      Value* old = b.CreateMaskedLoad(vt, p, Align(4), mask, Constant::getNullValue(vt));
      Value* val = b.CreateSelect(accumulate, b.CreateFAdd(old, acc[i * kNVec + v]), acc[i * kNVec + v]);
      b.CreateMaskedStore(val, p, Align(4), mask);
    }
    b.CreateBr(cont);
    b.SetInsertPoint(cont);
  }
  b.CreateRetVoid();
  return f;
}

struct ItemGemm {
  Value* A;          // A[0][0] of this item's rows
  int64_t lda;
  Value* mRows;      // rows of this item (<= MC)
  int64_t K;
  Value* C;          // C[0][0] of this item's tile
  int64_t ldc;
  Value* nCols;      // columns of this item (<= NC)
  int64_t NC;        // column chunk (multiple of NR)
  Value* bpack;      // scratch for packed B panels: (NC / NR) * KC * NR floats
  // K may come in `segments` (images, for a weight gradient): each segment has K steps, its
  // A rows start at aBase(segment) (A when aBase is empty), and all segments sum into C.
  int64_t segments = 1;
  std::function<Value*(Value* segment)> aBase;
  // Packs B[k0 : k0 + kc][this item's columns] of a segment into bpack as panels of NR.
  std::function<void(Value* segment, Value* k0, Value* kc)> packB;
  // When set (A stored transposed), packs A[this item's rows][k0 : k0 + kc] into apack, rows of
  // KC floats, which the micro-kernel then reads instead of A.
  std::function<void(Value* segment, Value* k0, Value* kc)> packA;
  Value* apack = nullptr;
  // Applied to every element of the finished tile: value, row (in item), column (in item).
  std::function<Value*(Value* v, Value* row, Value* col)> finish;
};

void emitItemGemm(KernelBuilder& kb, const ItemGemm& g) {
  auto& b = kb.b();
  int64_t NR = nr(kb);
  Function* micro = microKernel(kb.module(), kb.target().vectorFloats);
  int64_t kBlocks = (g.K + kKC - 1) / kKC;
  kb.loop(0, g.segments * kBlocks, [&](Value* sk) {
    Value* seg = b.CreateUDiv(sk, kb.c64(kBlocks));
    Value* kbi = b.CreateURem(sk, kb.c64(kBlocks));
    Value* A = g.aBase ? g.aBase(seg) : g.A;
    Value* k0 = b.CreateMul(kbi, kb.c64(kKC));
    Value* kc = smin(b, kb.c64(kKC), b.CreateSub(kb.c64(g.K), k0));
    g.packB(seg, k0, kc);
    if (g.packA)
      g.packA(seg, k0, kc);
    Value* mTiles = b.CreateUDiv(b.CreateAdd(g.mRows, kb.c64(kMR - 1)), kb.c64(kMR));
    Value* panels = b.CreateUDiv(b.CreateAdd(g.nCols, kb.c64(NR - 1)), kb.c64(NR));
    kb.loop(kb.c64(0), mTiles, [&](Value* mt) {
      Value* m = b.CreateMul(mt, kb.c64(kMR));
      Value* mValid = smin(b, kb.c64(kMR), b.CreateSub(g.mRows, m));
      Value* a = g.packA ? b.CreateInBoundsGEP(kb.f32(), g.apack, b.CreateMul(m, kb.c64(kKC)))
                         : b.CreateInBoundsGEP(kb.f32(), A, b.CreateAdd(b.CreateMul(m, kb.c64(g.lda)), k0));
      const int64_t lda = g.packA ? kKC : g.lda;
      kb.loop(kb.c64(0), panels, [&](Value* j) {
        Value* col = b.CreateMul(j, kb.c64(NR));
        Value* nValid = smin(b, kb.c64(NR), b.CreateSub(g.nCols, col));
        Value* bp = b.CreateInBoundsGEP(kb.f32(), g.bpack, b.CreateMul(j, kb.c64(kKC * NR)));
        Value* c = b.CreateInBoundsGEP(kb.f32(), g.C, b.CreateAdd(b.CreateMul(m, kb.c64(g.ldc)), col));
        b.CreateCall(micro, {a, kb.c64(lda), bp, kc, c, kb.c64(g.ldc), b.CreateICmpSGT(sk, kb.c64(0)), mValid, nValid});
      }, "panel");
    }, "mtile");
  }, "kblock");
  kb.loop(kb.c64(0), g.mRows, [&](Value* row) {
    kb.loop(kb.c64(0), g.nCols, [&](Value* col) {
      Value* p = b.CreateInBoundsGEP(kb.f32(), g.C, b.CreateAdd(b.CreateMul(row, kb.c64(g.ldc)), col));
      b.CreateStore(g.finish(b.CreateLoad(kb.f32(), p), row, col), p);
    }, "fcol");
  }, "frow");
}

int64_t roundUp(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

} // namespace

Error emitConvGemm(KernelBuilder& kb, const Node& conv, const ConvShape& cs, const Binding& bind, const Epilogue& epi) {
  auto& b = kb.b();
  int64_t NR = nr(kb);
  int64_t Mg = cs.M / cs.G, K = cs.Cg * cs.KH * cs.KW, cols = cs.OH * cs.OW;
  int64_t NC = std::min<int64_t>(roundUp(cols, NR), 6 * NR);
  int64_t MC = std::min<int64_t>(Mg, 16 * kMR);
  int64_t nChunks = (cols + NC - 1) / NC, mChunks = (Mg + MC - 1) / MC;
  int64_t bpackFloats = (NC / NR) * kKC * NR;
  kb.kernel().items = cs.N * cs.G * mChunks * nChunks;
  kb.kernel().scratchBytes = bpackFloats * 4 + 2 * NC * 8 + 64;
  bool bias = conv.numInputs() > 2;
  Value* x = kb.buffer(bind.in[0]);
  Value* w = kb.buffer(bind.in[1]);
  Value* y = kb.buffer(bind.out);
  Value* bpack = kb.scratch();
  Value* colIH = b.CreateInBoundsGEP(b.getInt8Ty(), kb.scratch(), kb.c64(bpackFloats * 4));
  Value* colIW = b.CreateInBoundsGEP(kb.i64(), colIH, kb.c64(NC));
  kb.loop(kb.begin(), kb.end(), [&](Value* item) {
    Value* nc = b.CreateURem(item, kb.c64(nChunks));
    Value* rest = b.CreateUDiv(item, kb.c64(nChunks));
    Value* mc = b.CreateURem(rest, kb.c64(mChunks));
    rest = b.CreateUDiv(rest, kb.c64(mChunks));
    Value* g = b.CreateURem(rest, kb.c64(cs.G));
    Value* n = b.CreateUDiv(rest, kb.c64(cs.G));
    Value* col0 = b.CreateMul(nc, kb.c64(NC));
    Value* nCols = smin(b, kb.c64(NC), b.CreateSub(kb.c64(cols), col0));
    Value* m0 = b.CreateMul(mc, kb.c64(MC));
    Value* mRows = smin(b, kb.c64(MC), b.CreateSub(kb.c64(Mg), m0));
    // Input row/column origin of every output column of the chunk.
    kb.loop(kb.c64(0), nCols, [&](Value* l) {
      Value* col = b.CreateAdd(col0, l);
      Value* oh = b.CreateUDiv(col, kb.c64(cs.OW));
      Value* ow = b.CreateURem(col, kb.c64(cs.OW));
      b.CreateStore(b.CreateSub(b.CreateMul(oh, kb.c64(cs.SH)), kb.c64(cs.PT)), b.CreateInBoundsGEP(kb.i64(), colIH, l));
      b.CreateStore(b.CreateSub(b.CreateMul(ow, kb.c64(cs.SW)), kb.c64(cs.PL)), b.CreateInBoundsGEP(kb.i64(), colIW, l));
    }, "colorigin");
    Value* mAbs0 = b.CreateAdd(b.CreateMul(g, kb.c64(Mg)), m0); // first output channel of the item
    Value* xImage = b.CreateInBoundsGEP(kb.f32(), x, b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.c64(cs.C)),
                                                                             b.CreateMul(g, kb.c64(cs.Cg))),
                                                                 kb.c64(cs.H * cs.W)));
    ItemGemm gm;
    gm.A = b.CreateInBoundsGEP(kb.f32(), w, b.CreateMul(mAbs0, kb.c64(K)));
    gm.lda = K;
    gm.mRows = mRows;
    gm.K = K;
    gm.C = b.CreateInBoundsGEP(kb.f32(), y, b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.c64(cs.M)), mAbs0),
                                                                    kb.c64(cols)), col0));
    gm.ldc = cols;
    gm.nCols = nCols;
    gm.NC = NC;
    gm.bpack = bpack;
    gm.packB = [&](Value*, Value* k0, Value* kc) {
      kb.loop(kb.c64(0), kc, [&](Value* kk) {
        Value* k = b.CreateAdd(k0, kk);
        Value* c = b.CreateUDiv(k, kb.c64(cs.KH * cs.KW));
        Value* r = b.CreateURem(k, kb.c64(cs.KH * cs.KW));
        Value* dh = b.CreateMul(b.CreateUDiv(r, kb.c64(cs.KW)), kb.c64(cs.DH));
        Value* dw = b.CreateMul(b.CreateURem(r, kb.c64(cs.KW)), kb.c64(cs.DW));
        Value* plane = b.CreateInBoundsGEP(kb.f32(), xImage, b.CreateMul(c, kb.c64(cs.H * cs.W)));
        kb.loop(0, NC / NR, [&](Value* j) {
          Value* dst = b.CreateInBoundsGEP(kb.f32(), bpack, b.CreateAdd(b.CreateMul(j, kb.c64(kKC * NR)),
                                                                        b.CreateMul(kk, kb.c64(NR))));
          kb.loop(0, NR, [&](Value* l) {
            Value* colIn = b.CreateAdd(b.CreateMul(j, kb.c64(NR)), l);
            Value* valid = b.CreateICmpSLT(colIn, nCols);
            Value* safeCol = b.CreateSelect(valid, colIn, kb.c64(0));
            Value* ih = b.CreateAdd(b.CreateLoad(kb.i64(), b.CreateInBoundsGEP(kb.i64(), colIH, safeCol)), dh);
            Value* iw = b.CreateAdd(b.CreateLoad(kb.i64(), b.CreateInBoundsGEP(kb.i64(), colIW, safeCol)), dw);
            Value* inside = b.CreateAnd(valid, b.CreateAnd(b.CreateICmpULT(ih, kb.c64(cs.H)), b.CreateICmpULT(iw, kb.c64(cs.W))));
            Value* src = b.CreateSelect(inside, b.CreateAdd(b.CreateMul(ih, kb.c64(cs.W)), iw), kb.c64(0));
            Value* v = b.CreateLoad(kb.f32(), b.CreateInBoundsGEP(kb.f32(), plane, src));
            b.CreateStore(b.CreateSelect(inside, v, kb.cf(0, kb.f32())), b.CreateInBoundsGEP(kb.f32(), dst, l));
          }, "l");
        }, "j");
      }, "kk");
    };
    gm.finish = [&](Value* v, Value* row, Value* col) {
      Value* ch = b.CreateAdd(mAbs0, row);
      if (bias)
        v = b.CreateFAdd(v, kb.load(conv.input(2)->type().dtype, kb.buffer(bind.in[2]), ch, kb.f32()));
      if (epi.empty())
        return v;
      Value* flat = b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.c64(cs.M)), ch), kb.c64(cols)),
                                b.CreateAdd(col0, col));
      return epi.apply(kb, v, flat, conv.output()->type().shape);
    };
    emitItemGemm(kb, gm);
  }, "item");
  return Error::success();
}

Error emitGemmPacked(KernelBuilder& kb, const Node& gemm, const Binding& bind, const Epilogue& epi) {
  auto& b = kb.b();
  int64_t NR = nr(kb);
  const Shape& a = gemm.input(0)->type().shape;
  const Shape& wshape = gemm.input(1)->type().shape;
  bool ta = gemm.attrs().getInt("trans_a") != 0, tb = gemm.attrs().getInt("trans_b") != 0;
  double alpha = gemm.attrs().getFloat("alpha"), beta = gemm.attrs().getFloat("beta");
  int64_t M = ta ? a[1] : a[0], K = ta ? a[0] : a[1], N = tb ? wshape[0] : wshape[1];
  int64_t NC = std::min<int64_t>(roundUp(N, NR), 4 * NR);
  int64_t MC = std::min<int64_t>(M, 16 * kMR);
  int64_t nChunks = (N + NC - 1) / NC, mChunks = (M + MC - 1) / MC;
  int64_t bpackFloats = (NC / NR) * kKC * NR;
  kb.kernel().items = mChunks * nChunks;
  // trans_a (weight gradients dy^T x): the item's rows of A^T are packed per K block as well.
  kb.kernel().scratchBytes = bpackFloats * 4 + (ta ? MC * kKC * 4 : 0) + 64;
  Value* x = kb.buffer(bind.in[0]);
  Value* w = kb.buffer(bind.in[1]);
  Value* y = kb.buffer(bind.out);
  Value* bpack = kb.scratch();
  Value* apack = b.CreateInBoundsGEP(b.getInt8Ty(), kb.scratch(), kb.c64(bpackFloats * 4));
  Shape biasShape = gemm.numInputs() > 2 ? gemm.input(2)->type().shape : Shape{};
  kb.loop(kb.begin(), kb.end(), [&](Value* item) {
    Value* nc = b.CreateURem(item, kb.c64(nChunks));
    Value* mc = b.CreateUDiv(item, kb.c64(nChunks));
    Value* col0 = b.CreateMul(nc, kb.c64(NC));
    Value* m0 = b.CreateMul(mc, kb.c64(MC));
    ItemGemm gm;
    gm.A = b.CreateInBoundsGEP(kb.f32(), x, b.CreateMul(m0, kb.c64(K)));
    gm.lda = K;
    gm.mRows = smin(b, kb.c64(MC), b.CreateSub(kb.c64(M), m0));
    gm.K = K;
    if (ta) { // x is [K, M]: A[m][k] = x[k][m]; a K block's rows are contiguous in x
      gm.apack = apack;
      gm.packA = [&](Value*, Value* k0, Value* kc) {
        kb.loop(kb.c64(0), kc, [&](Value* kk) {
          Value* src = b.CreateInBoundsGEP(kb.f32(), x, b.CreateAdd(b.CreateMul(b.CreateAdd(k0, kk), kb.c64(M)), m0));
          kb.loop(kb.c64(0), gm.mRows, [&](Value* r) {
            Value* v = b.CreateLoad(kb.f32(), b.CreateInBoundsGEP(kb.f32(), src, r));
            b.CreateStore(v, b.CreateInBoundsGEP(kb.f32(), apack, b.CreateAdd(b.CreateMul(r, kb.c64(kKC)), kk)));
          }, "r");
        }, "ka");
      };
    }
    gm.C = b.CreateInBoundsGEP(kb.f32(), y, b.CreateAdd(b.CreateMul(m0, kb.c64(N)), col0));
    gm.ldc = N;
    gm.nCols = smin(b, kb.c64(NC), b.CreateSub(kb.c64(N), col0));
    gm.NC = NC;
    gm.bpack = bpack;
    gm.packB = [&](Value*, Value* k0, Value* kc) {
      // B[k][n] = w[n][k] (trans_b) or w[k][n]; columns past N pack as zeros.
      kb.loop(0, NC / NR, [&](Value* j) {
        kb.loop(0, NR, [&](Value* l) {
          Value* colIn = b.CreateAdd(b.CreateMul(j, kb.c64(NR)), l);
          Value* valid = b.CreateICmpSLT(colIn, gm.nCols);
          Value* col = b.CreateSelect(valid, b.CreateAdd(col0, colIn), kb.c64(0));
          Value* dst = b.CreateInBoundsGEP(kb.f32(), bpack, b.CreateAdd(b.CreateMul(j, kb.c64(kKC * NR)), l));
          kb.loop(kb.c64(0), kc, [&](Value* kk) {
            Value* k = b.CreateAdd(k0, kk);
            Value* src = tb ? b.CreateAdd(b.CreateMul(col, kb.c64(K)), k) : b.CreateAdd(b.CreateMul(k, kb.c64(N)), col);
            Value* v = b.CreateLoad(kb.f32(), b.CreateInBoundsGEP(kb.f32(), w, src));
            b.CreateStore(b.CreateSelect(valid, v, kb.cf(0, kb.f32())),
                          b.CreateInBoundsGEP(kb.f32(), dst, b.CreateMul(kk, kb.c64(NR))));
          }, "kk");
        }, "l");
      }, "j");
    };
    gm.finish = [&](Value* v, Value* row, Value* col) {
      Value* m = b.CreateAdd(m0, row);
      Value* n = b.CreateAdd(col0, col);
      Value* flat = b.CreateAdd(b.CreateMul(m, kb.c64(N)), n);
      if (alpha != 1.0)
        v = b.CreateFMul(v, kb.cf(alpha, kb.f32()));
      if (gemm.numInputs() > 2) {
        Value* c = kb.load(gemm.input(2)->type().dtype, kb.buffer(bind.in[2]),
                           broadcastIndex(kb, flat, {M, N}, biasShape), kb.f32());
        v = b.CreateFAdd(v, beta == 1.0 ? c : b.CreateFMul(c, kb.cf(beta, kb.f32())));
      }
      return epi.empty() ? v : epi.apply(kb, v, flat, gemm.output()->type().shape);
    };
    emitItemGemm(kb, gm);
  }, "item");
  return Error::success();
}

} // namespace sinter::cpu

namespace sinter::cpu {

// y[m][n] = x[m] . w[n] for gemm with trans_b and few rows (fully connected layers at small
// batch): every work item streams a few rows of w once and keeps MT x NT dot products in vector
// accumulators along k. Memory-bound on w, as such layers are.
Error emitGemmDot(KernelBuilder& kb, const Node& gemm, const Binding& bind, const Epilogue& epi) {
  auto& b = kb.b();
  const int64_t VF = kb.target().vectorFloats;
  const Shape& a = gemm.input(0)->type().shape;
  const Shape& wshape = gemm.input(1)->type().shape;
  int64_t M = a[0], K = a[1], N = wshape[0];
  constexpr int64_t kNT = 4;
  const int64_t MT = std::min<int64_t>(M, 4);
  double alpha = gemm.attrs().getFloat("alpha"), beta = gemm.attrs().getFloat("beta");
  auto* vt = FixedVectorType::get(kb.f32(), static_cast<unsigned>(VF));
  int64_t nTiles = (N + kNT - 1) / kNT, mTiles = (M + MT - 1) / MT;
  kb.kernel().items = nTiles;
  Value* x = kb.buffer(bind.in[0]);
  Value* w = kb.buffer(bind.in[1]);
  Value* y = kb.buffer(bind.out);
  int64_t kVec = K / VF, kTail = K % VF;
  Shape biasShape = gemm.numInputs() > 2 ? gemm.input(2)->type().shape : Shape{};
  kb.loop(kb.begin(), kb.end(), [&](Value* nt) {
    Value* n0 = b.CreateMul(nt, kb.c64(kNT));
    std::vector<Value*> wRow(kNT);
    for (int64_t j = 0; j < kNT; ++j) // rows past N repeat the last one (computed, not stored)
      wRow[j] = b.CreateInBoundsGEP(kb.f32(), w, b.CreateMul(smin(b, b.CreateAdd(n0, kb.c64(j)), kb.c64(N - 1)), kb.c64(K)));
    kb.loop(0, mTiles, [&](Value* mt) {
      Value* m0 = b.CreateMul(mt, kb.c64(MT));
      std::vector<Value*> xRow(MT);
      for (int64_t i = 0; i < MT; ++i)
        xRow[i] = b.CreateInBoundsGEP(kb.f32(), x, b.CreateMul(smin(b, b.CreateAdd(m0, kb.c64(i)), kb.c64(M - 1)), kb.c64(K)));
      std::vector<Value*> init(MT * kNT, Constant::getNullValue(vt));
      auto step = [&](Value* k, const std::vector<Value*>& acc, Value* mask) {
        std::vector<Value*> xv(MT), wv(kNT), next(acc.size());
        auto load = [&](Value* row) {
          Value* p = b.CreateInBoundsGEP(kb.f32(), row, k);
          return mask ? static_cast<Value*>(b.CreateMaskedLoad(vt, p, Align(4), mask, Constant::getNullValue(vt)))
                      : static_cast<Value*>(b.CreateAlignedLoad(vt, p, Align(4)));
        };
        for (int64_t i = 0; i < MT; ++i)
          xv[i] = load(xRow[i]);
        for (int64_t j = 0; j < kNT; ++j)
          wv[j] = load(wRow[j]);
        for (int64_t i = 0; i < MT; ++i)
          for (int64_t j = 0; j < kNT; ++j)
            next[i * kNT + j] = b.CreateIntrinsic(Intrinsic::fma, {vt}, {xv[i], wv[j], acc[i * kNT + j]});
        return next;
      };
      auto acc = kb.loopCarry(kb.c64(0), kb.c64(kVec), init, [&](Value* kv, const std::vector<Value*>& s) {
        return step(b.CreateMul(kv, kb.c64(VF)), s, nullptr);
      }, "kv");
      if (kTail) {
        std::vector<Constant*> lanes;
        for (int64_t l = 0; l < VF; ++l)
          lanes.push_back(b.getInt1(l < kTail));
        acc = step(kb.c64(kVec * VF), acc, ConstantVector::get(lanes));
      }
      for (int64_t i = 0; i < MT; ++i)
        for (int64_t j = 0; j < kNT; ++j) {
          Value* m = b.CreateAdd(m0, kb.c64(i));
          Value* n = b.CreateAdd(n0, kb.c64(j));
          kb.ifThen(b.CreateAnd(b.CreateICmpSLT(m, kb.c64(M)), b.CreateICmpSLT(n, kb.c64(N))), [&] {
            Value* v = b.CreateFAddReduce(kb.cf(0, kb.f32()), acc[i * kNT + j]);
            Value* flat = b.CreateAdd(b.CreateMul(m, kb.c64(N)), n);
            if (alpha != 1.0)
              v = b.CreateFMul(v, kb.cf(alpha, kb.f32()));
            if (gemm.numInputs() > 2) {
              Value* c = kb.load(gemm.input(2)->type().dtype, kb.buffer(bind.in[2]),
                                 broadcastIndex(kb, flat, {M, N}, biasShape), kb.f32());
              v = b.CreateFAdd(v, beta == 1.0 ? c : b.CreateFMul(c, kb.cf(beta, kb.f32())));
            }
            if (!epi.empty())
              v = epi.apply(kb, v, flat, gemm.output()->type().shape);
            b.CreateStore(v, b.CreateInBoundsGEP(kb.f32(), y, flat));
          });
        }
    }, "mt");
  }, "nt");
  return Error::success();
}

} // namespace sinter::cpu

namespace sinter::cpu {

// dw[g*Mg + m][(c, kh, kw)] = sum over images n and positions (oh, ow) of
//   dy[n][g*Mg + m][oh][ow] * x[n][g*Cg + c][oh*SH - PT + kh*DH][ow*SW - PL + kw*DW]:
// A = dy's rows of one image (K = OH*OW contiguous), B = the image's im2col panel packed per K
// block, one K segment per image, all summed into the item's tile of dw.
Error emitConvGradWeightGemm(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  auto& b = kb.b();
  const int64_t NR = nr(kb), VF = kb.target().vectorFloats;
  const ConvShape cs = ConvShape::ofGradient(op);
  const auto& s = op.attrs().getInts("stride");
  const auto& p = op.attrs().getInts("pad");
  const auto& d = op.attrs().getInts("dilation");
  const int64_t G = cs.G, N = cs.N, C = cs.C, H = cs.H, W = cs.W, M = cs.M, Cg = cs.Cg, KH = cs.KH, KW = cs.KW;
  const int64_t OH = cs.OH, OW = cs.OW, Mg = cs.Mg();
  const int64_t cols = Cg * KH * KW, OHW = OH * OW;
  const int64_t NC = std::min<int64_t>(roundUp(cols, NR), 6 * NR);
  const int64_t MC = std::min<int64_t>(Mg, 16 * kMR);
  const int64_t nChunks = (cols + NC - 1) / NC, mChunks = (Mg + MC - 1) / MC;
  const int64_t bpackFloats = (NC / NR) * kKC * NR;
  kb.kernel().items = G * mChunks * nChunks;
  kb.kernel().scratchBytes = bpackFloats * 4 + 3 * NC * 8 + 64;
  Value* x = kb.buffer(bind.in[0]);
  Value* dy = kb.buffer(bind.in[1]);
  Value* dw = kb.buffer(bind.out);
  Value* bpack = kb.scratch();
  Value* colBase = b.CreateInBoundsGEP(b.getInt8Ty(), kb.scratch(), kb.c64(bpackFloats * 4));
  Value* colDH = b.CreateInBoundsGEP(kb.i64(), colBase, kb.c64(NC));
  Value* colDW = b.CreateInBoundsGEP(kb.i64(), colDH, kb.c64(NC));
  kb.loop(kb.begin(), kb.end(), [&](Value* item) {
    Value* nc = b.CreateURem(item, kb.c64(nChunks));
    Value* rest = b.CreateUDiv(item, kb.c64(nChunks));
    Value* mc = b.CreateURem(rest, kb.c64(mChunks));
    Value* g = b.CreateUDiv(rest, kb.c64(mChunks));
    Value* col0 = b.CreateMul(nc, kb.c64(NC));
    Value* nCols = smin(b, kb.c64(NC), b.CreateSub(kb.c64(cols), col0));
    Value* m0 = b.CreateMul(mc, kb.c64(MC));
    Value* mAbs0 = b.CreateAdd(b.CreateMul(g, kb.c64(Mg)), m0);
    // Per column of the chunk (all NC, so the packing below runs whole vectors): the tap's
    // offset in the image for position (0, 0), and its row/column offsets; columns past nCols
    // get a row offset no position brings inside the image (their lanes load nothing).
    kb.loop(kb.c64(0), kb.c64(NC), [&](Value* l) {
      Value* col = b.CreateAdd(col0, l);
      Value* c = b.CreateUDiv(col, kb.c64(KH * KW));
      Value* r = b.CreateURem(col, kb.c64(KH * KW));
      Value* plane = b.CreateMul(b.CreateAdd(b.CreateMul(g, kb.c64(Cg)), c), kb.c64(H * W));
      Value* valid = b.CreateICmpSLT(l, nCols);
      Value* dh = b.CreateSub(b.CreateMul(b.CreateUDiv(r, kb.c64(KW)), kb.c64(d[0])), kb.c64(p[0]));
      Value* dwo = b.CreateSub(b.CreateMul(b.CreateURem(r, kb.c64(KW)), kb.c64(d[1])), kb.c64(p[1]));
      Value* off = b.CreateAdd(plane, b.CreateAdd(b.CreateMul(dh, kb.c64(W)), dwo));
      b.CreateStore(b.CreateSelect(valid, off, kb.c64(0)), b.CreateInBoundsGEP(kb.i64(), colBase, l));
      b.CreateStore(b.CreateSelect(valid, dh, kb.c64(int64_t{1} << 40)), b.CreateInBoundsGEP(kb.i64(), colDH, l));
      b.CreateStore(b.CreateSelect(valid, dwo, kb.c64(0)), b.CreateInBoundsGEP(kb.i64(), colDW, l));
    }, "colorigin");
    ItemGemm gm;
    gm.A = dy;
    gm.aBase = [&](Value* n) {
      return b.CreateInBoundsGEP(kb.f32(), dy, b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.c64(M)), mAbs0), kb.c64(OHW)));
    };
    gm.segments = N;
    gm.lda = OHW;
    gm.mRows = smin(b, kb.c64(MC), b.CreateSub(kb.c64(Mg), m0));
    gm.K = OHW;
    gm.C = b.CreateInBoundsGEP(kb.f32(), dw, b.CreateAdd(b.CreateMul(mAbs0, kb.c64(cols)), col0));
    gm.ldc = cols;
    gm.nCols = nCols;
    gm.NC = NC;
    gm.bpack = bpack;
    // The im2col panel, a vector of columns at a time: index and bounds per lane from the column
    // tables, one masked gather (padding and columns past the chunk read as zero).
    gm.packB = [&](Value* n, Value* k0, Value* kc) {
      Value* xImage = b.CreateInBoundsGEP(kb.f32(), x, b.CreateMul(n, kb.c64(C * H * W)));
      auto* vi = FixedVectorType::get(kb.i64(), static_cast<unsigned>(VF));
      auto* vt = FixedVectorType::get(kb.f32(), static_cast<unsigned>(VF));
      kb.loop(kb.c64(0), kc, [&](Value* kk) {
        Value* k = b.CreateAdd(k0, kk);
        Value* ohs = b.CreateMul(b.CreateUDiv(k, kb.c64(OW)), kb.c64(s[0]));
        Value* ows = b.CreateMul(b.CreateURem(k, kb.c64(OW)), kb.c64(s[1]));
        Value* base = b.CreateVectorSplat(static_cast<unsigned>(VF), b.CreateAdd(b.CreateMul(ohs, kb.c64(W)), ows));
        Value* ohv = b.CreateVectorSplat(static_cast<unsigned>(VF), ohs);
        Value* owv = b.CreateVectorSplat(static_cast<unsigned>(VF), ows);
        kb.loop(0, NC / VF, [&](Value* v) {
          Value* l0 = b.CreateMul(v, kb.c64(VF));
          auto table = [&](Value* t) { return b.CreateAlignedLoad(vi, b.CreateInBoundsGEP(kb.i64(), t, l0), Align(8)); };
          Value* ih = b.CreateAdd(ohv, table(colDH));
          Value* iw = b.CreateAdd(owv, table(colDW));
          Value* inside = b.CreateAnd(b.CreateICmpULT(ih, b.CreateVectorSplat(static_cast<unsigned>(VF), kb.c64(H))),
                                      b.CreateICmpULT(iw, b.CreateVectorSplat(static_cast<unsigned>(VF), kb.c64(W))));
          Value* ptrs = b.CreateInBoundsGEP(kb.f32(), xImage, b.CreateAdd(base, table(colBase)));
          Value* vals = b.CreateMaskedGather(vt, ptrs, Align(4), inside, Constant::getNullValue(vt));
          // bpack[j][kk][l % NR] for j = l / NR.
          Value* j = b.CreateUDiv(l0, kb.c64(NR));
          Value* dst = b.CreateInBoundsGEP(kb.f32(), bpack, b.CreateAdd(b.CreateAdd(b.CreateMul(j, kb.c64(kKC * NR)),
                                                                                  b.CreateMul(kk, kb.c64(NR))),
                                                                      b.CreateURem(l0, kb.c64(NR))));
          b.CreateAlignedStore(vals, dst, Align(4));
        }, "v");
      }, "kk");
    };
    gm.finish = [&](Value* v, Value* row, Value* col) {
      if (epi.empty())
        return v;
      Value* flat = b.CreateAdd(b.CreateMul(b.CreateAdd(mAbs0, row), kb.c64(cols)), b.CreateAdd(col0, col));
      return epi.apply(kb, v, flat, op.output()->type().shape);
    };
    emitItemGemm(kb, gm);
  }, "item");
  return Error::success();
}

} // namespace sinter::cpu

// CPU kernels: 2-D convolution (grouped, strided, dilated, padded) with a fused epilogue.
#include "codegen/cpu/Emitters.h"
#include "codegen/cpu/Gemm.h"
#include "ir/Winograd.h"

#include <algorithm>

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

// Output positions o in [0, outLen) whose input index o*stride + offset lies in [0, inLen) (the
// taps of one kernel offset; computed here, so the loops below have constant bounds).
std::pair<int64_t, int64_t> validRange(int64_t outLen, int64_t stride, int64_t offset, int64_t inLen) {
  int64_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  int64_t hiExcl = inLen - 1 - offset < 0 ? 0 : (inLen - 1 - offset) / stride + 1;
  return {std::min(lo, outLen), std::clamp(hiExcl, std::min(lo, outLen), outLen)};
}

// f32 dx where the direct convolution does not apply (strides above 1, pads beyond the kernel):
// per (image, group, block of BC input channels), the column block dcol[BC*KH*KW x OH*OW] =
// W_g^T * dy_g, each row a sum over the group's output channels of a weight times that channel's
// contiguous dy plane, kept in vector registers (chunks of 64 positions), then scattered into the
// BC input planes (col2im) and stored through the epilogue. The scatter kernel below it walks taps over rectangles of a
// few positions each; on ResNet-18's stride-2 layers it reached 12 GFLOP/s.
Error gradInputColumns(KernelBuilder& kb, const Node& op, const ConvShape& cs, const Binding& bind, const Epilogue& epi) {
  auto& b = kb.b();
  const auto& s = op.attrs().getInts("stride");
  const auto& p = op.attrs().getInts("pad");
  const auto& d = op.attrs().getInts("dilation");
  const int64_t G = cs.G, N = cs.N, C = cs.C, H = cs.H, W = cs.W, M = cs.M, Cg = cs.Cg, KH = cs.KH, KW = cs.KW;
  const int64_t P = cs.OH * cs.OW, T = KH * KW, Mg = cs.Mg(), OW = cs.OW;
  // Channels per block: a divisor of Cg keeping the column block near 32 KB (L1) where one
  // channel's KH*KW*OH*OW allows it (a block of one channel is larger: conv1-like shapes).
  int64_t bc = std::clamp<int64_t>(8192 / std::max<int64_t>(1, T * P), 1, Cg);
  while (Cg % bc)
    --bc;
  const int64_t BC = bc, blocks = Cg / BC, rows = BC * T;
  Type* t = kb.f32();
  kb.kernel().items = N * G * blocks;
  kb.kernel().scratchBytes = (rows * P + BC * H * W) * 4 + 64;
  Value* col = kb.scratch();
  Value* planes = b.CreateInBoundsGEP(t, col, kb.c64(rows * P));
  kb.loop(kb.begin(), kb.end(), [&](Value* item) {
    Value* n = b.CreateUDiv(item, kb.c64(G * blocks));
    Value* g = b.CreateURem(b.CreateUDiv(item, kb.c64(blocks)), kb.c64(G));
    Value* c0 = b.CreateMul(b.CreateURem(item, kb.c64(blocks)), kb.c64(BC)); // first channel in the group
    // Row r of the block, positions [start, start + width): a vector accumulator over the group's
    // output channels (dy_g stays in L1), stored once.
    Value* dyImage = b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.c64(M)), b.CreateMul(g, kb.c64(Mg))), kb.c64(P));
    Value* wBlock = b.CreateAdd(b.CreateMul(g, kb.c64(Mg * Cg * T)), b.CreateMul(c0, kb.c64(T)));
    auto chunk = [&](Value* r, Value* start, int64_t width) {
      auto* vt = FixedVectorType::get(t, static_cast<unsigned>(width));
      Value* zero = ConstantAggregateZero::get(vt);
      auto acc = kb.loopCarry(kb.c64(0), kb.c64(Mg), {zero}, [&](Value* mi, const auto& a) {
        Value* wv = kb.load(DType::F32, kb.buffer(bind.in[1]), b.CreateAdd(wBlock, b.CreateAdd(b.CreateMul(mi, kb.c64(Cg * T)), r)), t);
        Value* at = kb.addr(DType::F32, kb.buffer(bind.in[0]), b.CreateAdd(dyImage, b.CreateAdd(b.CreateMul(mi, kb.c64(P)), start)));
        Value* dv = b.CreateAlignedLoad(vt, at, Align(4));
        return std::vector<Value*>{b.CreateIntrinsic(Intrinsic::fmuladd, {vt}, {b.CreateVectorSplat(static_cast<unsigned>(width), wv), dv, a[0]})};
      }, "m");
      b.CreateAlignedStore(acc[0], b.CreateInBoundsGEP(t, col, b.CreateAdd(b.CreateMul(r, kb.c64(P)), start)), Align(4));
    };
    // Few positions (P < 16: the last stages of a ResNet), vectors run along the rows instead:
    // rows [r0, r0 + width) of W_g^T are contiguous in W for each output channel, and the block
    // is stored transposed (position-major) so each of the P accumulators is one vector store.
    auto rowChunk = [&](Value* r0, int64_t width) {
      auto* vt = FixedVectorType::get(t, static_cast<unsigned>(width));
      std::vector<Value*> init(static_cast<size_t>(P), ConstantAggregateZero::get(vt));
      auto acc = kb.loopCarry(kb.c64(0), kb.c64(Mg), init, [&](Value* mi, const auto& a) {
        Value* wat = kb.addr(DType::F32, kb.buffer(bind.in[1]), b.CreateAdd(wBlock, b.CreateAdd(b.CreateMul(mi, kb.c64(Cg * T)), r0)));
        Value* wv = b.CreateAlignedLoad(vt, wat, Align(4));
        Value* dyRow = b.CreateAdd(dyImage, b.CreateMul(mi, kb.c64(P)));
        std::vector<Value*> next;
        for (int64_t j = 0; j < P; ++j) {
          Value* dv = kb.load(DType::F32, kb.buffer(bind.in[0]), b.CreateAdd(dyRow, kb.c64(j)), t);
          next.push_back(b.CreateIntrinsic(Intrinsic::fmuladd, {vt}, {b.CreateVectorSplat(static_cast<unsigned>(width), dv), wv, a[static_cast<size_t>(j)]}));
        }
        return next;
      }, "m");
      for (int64_t j = 0; j < P; ++j)
        b.CreateAlignedStore(acc[static_cast<size_t>(j)], b.CreateInBoundsGEP(t, col, b.CreateAdd(kb.c64(j * rows), r0)), Align(4));
    };
    const bool byRows = P < 16;
    if (byRows) {
      constexpr int64_t kRows = 16;
      const int64_t full = rows / kRows, tail = rows % kRows;
      if (full)
        kb.loop(0, full, [&](Value* ci) { rowChunk(b.CreateMul(ci, kb.c64(kRows)), kRows); }, "rchunk");
      if (tail)
        rowChunk(kb.c64(full * kRows), tail);
    } else {
      constexpr int64_t kChunk = 64;
      const int64_t full = P / kChunk, tail = P % kChunk;
      kb.loop(0, rows, [&](Value* r) {
        if (full)
          kb.loop(0, full, [&](Value* ci) { chunk(r, b.CreateMul(ci, kb.c64(kChunk)), kChunk); }, "chunk");
        if (tail)
          chunk(r, kb.c64(full * kChunk), tail);
      }, "r");
    }
    // Element (row, position) of the block in either layout.
    auto colAt = [&](Value* row, Value* pos) {
      return byRows ? b.CreateAdd(b.CreateMul(pos, kb.c64(rows)), row) : b.CreateAdd(b.CreateMul(row, kb.c64(P)), pos);
    };
    kb.loop(0, BC * H * W, [&](Value* i) { b.CreateStore(kb.cf(0, t), b.CreateInBoundsGEP(t, planes, i)); }, "zp");
    for (int64_t kh = 0; kh < KH; ++kh) {
      const auto rh = validRange(cs.OH, s[0], kh * d[0] - p[0], H);
      const int64_t oh0 = rh.first, oh1 = rh.second;
      for (int64_t kw = 0; kw < KW; ++kw) {
        const auto rw = validRange(OW, s[1], kw * d[1] - p[1], W);
        const int64_t ow0 = rw.first, ow1 = rw.second;
        if (oh0 >= oh1 || ow0 >= ow1)
          continue;
        const int64_t offH = kh * d[0] - p[0], offW = kw * d[1] - p[1], tap = kh * KW + kw;
        kb.loop(0, BC, [&](Value* c) {
          Value* colRow = b.CreateAdd(b.CreateMul(c, kb.c64(T)), kb.c64(tap));
          Value* plane = b.CreateMul(c, kb.c64(H * W));
          kb.loop(oh0, oh1, [&](Value* oh) {
            Value* row = b.CreateAdd(plane, b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(oh, kb.c64(s[0])), kb.c64(offH)),
                                                                    kb.c64(W)), kb.c64(offW)));
            Value* src = b.CreateMul(oh, kb.c64(OW));
            kb.loop(ow0, ow1, [&](Value* ow) {
              Value* at = b.CreateInBoundsGEP(t, planes, b.CreateAdd(row, b.CreateMul(ow, kb.c64(s[1]))));
              Value* v = b.CreateLoad(t, b.CreateInBoundsGEP(t, col, colAt(colRow, b.CreateAdd(src, ow))));
              b.CreateStore(b.CreateFAdd(b.CreateLoad(t, at), v), at);
            }, "ow");
          }, "oh");
        }, "c");
      }
    }
    Value* out = b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.c64(C)), b.CreateAdd(b.CreateMul(g, kb.c64(Cg)), c0)), kb.c64(H * W));
    kb.loop(0, BC * H * W, [&](Value* i) {
      Value* flat = b.CreateAdd(out, i);
      Value* v = b.CreateLoad(t, b.CreateInBoundsGEP(t, planes, i));
      kb.store(DType::F32, kb.buffer(bind.out), flat, epi.apply(kb, v, flat, op.output()->type().shape));
    }, "st");
  }, "block");
  return Error::success();
}

// dx: work item = one (image, input channel) plane, accumulated in scratch: for each output
// channel of the group and each kernel tap, the valid dy rectangle is scattered (axpy) into the
// plane. Loop bounds per tap are constants.
Error conv2dGradInput(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  auto& b = kb.b();
  const ConvShape cs = ConvShape::ofGradient(op);
  const auto& s = op.attrs().getInts("stride");
  const auto& p = op.attrs().getInts("pad"); // (the bottom and right pads too)
  const auto& d = op.attrs().getInts("dilation");
  const int64_t G = cs.G, N = cs.N, C = cs.C, H = cs.H, W = cs.W, M = cs.M, Cg = cs.Cg, KH = cs.KH, KW = cs.KW;
  const int64_t OH = cs.OH, OW = cs.OW, Mg = cs.Mg();
  DType dyt = op.input(0)->type().dtype, wt = op.input(1)->type().dtype, xt = op.output()->type().dtype;
  // Stride 1: dx is the convolution of dy with the weights transposed per group and flipped,
  // padded by d*(k-1) - pad: the direct convolution (with its weight repacking) does it.
  bool unitStride = s[0] == 1 && s[1] == 1;
  int64_t pt = d[0] * (KH - 1) - p[0], pl = d[1] * (KW - 1) - p[1];
  bool padsFit = pt >= 0 && pl >= 0 && d[0] * (KH - 1) >= p[2] && d[1] * (KW - 1) >= p[3];
  if (unitStride && padsFit && directConvApplies(kb, op, bind)) {
    ConvShape gs{N, M, OH, OW, C, Mg, KH, KW, G, H, W, 1, 1, pt, pl, d[0], d[1]};
    return emitDirectConv(kb, op, gs, bind, epi, kb.module(), kb.program(), kb.target(), /*gradInput=*/true);
  }
  Type* t = computeType(kb.ctx(), xt);
  int64_t esz = static_cast<int64_t>(t->getPrimitiveSizeInBits() / 8);
  if (xt == DType::F32 && dyt == DType::F32 && wt == DType::F32)
    return gradInputColumns(kb, op, cs, bind, epi);
  kb.kernel().items = N * C;
  kb.kernel().scratchBytes = H * W * esz + 64;
  Value* acc = kb.scratch();
  kb.loop(kb.begin(), kb.end(), [&](Value* item) {
    Value* n = b.CreateUDiv(item, kb.c64(C));
    Value* c = b.CreateURem(item, kb.c64(C));
    Value* g = b.CreateUDiv(c, kb.c64(Cg));
    Value* cg = b.CreateURem(c, kb.c64(Cg));
    kb.loop(0, H * W, [&](Value* i) { b.CreateStore(kb.cf(0, t), b.CreateInBoundsGEP(t, acc, i)); }, "z");
    kb.loop(0, Mg, [&](Value* mi) {
      Value* m = b.CreateAdd(b.CreateMul(g, kb.c64(Mg)), mi);
      Value* dyBase = b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.c64(M)), m), kb.c64(OH * OW));
      Value* wBase = b.CreateMul(b.CreateAdd(b.CreateMul(m, kb.c64(Cg)), cg), kb.c64(KH * KW));
      for (int64_t kh = 0; kh < KH; ++kh) {
        const auto rh = validRange(OH, s[0], kh * d[0] - p[0], H);
        const int64_t oh0 = rh.first, oh1 = rh.second; // named copies: clang 14 lambdas cannot capture bindings
        for (int64_t kw = 0; kw < KW; ++kw) {
          const auto rw = validRange(OW, s[1], kw * d[1] - p[1], W);
          const int64_t ow0 = rw.first, ow1 = rw.second;
          if (oh0 >= oh1 || ow0 >= ow1)
            continue;
          Value* wv = kb.load(wt, kb.buffer(bind.in[1]), b.CreateAdd(wBase, kb.c64(kh * KW + kw)), t);
          int64_t offH = kh * d[0] - p[0], offW = kw * d[1] - p[1];
          kb.loop(oh0, oh1, [&](Value* oh) {
            Value* row = b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(oh, kb.c64(s[0])), kb.c64(offH)), kb.c64(W)),
                                     kb.c64(offW));
            Value* dyRow = b.CreateAdd(dyBase, b.CreateMul(oh, kb.c64(OW)));
            kb.loop(ow0, ow1, [&](Value* ow) {
              Value* at = b.CreateInBoundsGEP(t, acc, b.CreateAdd(row, b.CreateMul(ow, kb.c64(s[1]))));
              Value* gv = kb.load(dyt, kb.buffer(bind.in[0]), b.CreateAdd(dyRow, ow), t);
              b.CreateStore(b.CreateFAdd(b.CreateLoad(t, at), b.CreateFMul(wv, gv)), at);
            }, "ow");
          }, "oh");
        }
      }
    }, "m");
    Value* out = b.CreateMul(item, kb.c64(H * W));
    kb.loop(0, H * W, [&](Value* i) {
      Value* flat = b.CreateAdd(out, i);
      Value* v = b.CreateLoad(t, b.CreateInBoundsGEP(t, acc, i));
      kb.store(xt, kb.buffer(bind.out), flat, epi.apply(kb, v, flat, op.output()->type().shape));
    }, "st");
  }, "plane");
  return Error::success();
}

// dw: work item = one (output channel, input channel of its group) pair; each tap is a dot
// product of dy's valid rectangle with the matching x rectangle, over the batch.
Error conv2dGradWeight(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  auto& b = kb.b();
  const ConvShape cs = ConvShape::ofGradient(op);
  const auto& s = op.attrs().getInts("stride");
  const auto& p = op.attrs().getInts("pad");
  const auto& d = op.attrs().getInts("dilation");
  const int64_t N = cs.N, C = cs.C, H = cs.H, W = cs.W, M = cs.M, Cg = cs.Cg, KH = cs.KH, KW = cs.KW;
  const int64_t OH = cs.OH, OW = cs.OW, Mg = cs.Mg();
  DType xt = op.input(0)->type().dtype, dyt = op.input(1)->type().dtype, wt = op.output()->type().dtype;
  if (xt == DType::F32 && dyt == DType::F32 && wt == DType::F32)
    return emitConvGradWeightGemm(kb, op, bind, epi);
  Type* t = computeType(kb.ctx(), wt);
  kb.kernel().items = M * Cg;
  kb.loop(kb.begin(), kb.end(), [&](Value* item) {
    Value* m = b.CreateUDiv(item, kb.c64(Cg));
    Value* cg = b.CreateURem(item, kb.c64(Cg));
    Value* c = b.CreateAdd(b.CreateMul(b.CreateUDiv(m, kb.c64(Mg)), kb.c64(Cg)), cg);
    for (int64_t kh = 0; kh < KH; ++kh) {
      const auto rh = validRange(OH, s[0], kh * d[0] - p[0], H);
      const int64_t oh0 = rh.first, oh1 = rh.second;
      for (int64_t kw = 0; kw < KW; ++kw) {
        const auto rw = validRange(OW, s[1], kw * d[1] - p[1], W);
        const int64_t ow0 = rw.first, ow1 = rw.second;
        int64_t offH = kh * d[0] - p[0], offW = kw * d[1] - p[1];
        auto sum = kb.loopCarry(kb.c64(0), kb.c64(N), {kb.cf(0, t)}, [&](Value* n, const auto& a0) {
          Value* xBase = b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.c64(C)), c), kb.c64(H * W));
          Value* dyBase = b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.c64(M)), m), kb.c64(OH * OW));
          auto rows = kb.loopCarry(kb.c64(oh0), kb.c64(std::max(oh0, oh1)), {a0[0]}, [&](Value* oh, const auto& a1) {
            Value* xRow = b.CreateAdd(xBase, b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(oh, kb.c64(s[0])),
                                                                                 kb.c64(offH)), kb.c64(W)), kb.c64(offW)));
            Value* dyRow = b.CreateAdd(dyBase, b.CreateMul(oh, kb.c64(OW)));
            return kb.loopCarry(kb.c64(ow0), kb.c64(std::max(ow0, ow1)), {a1[0]}, [&](Value* ow, const auto& a2) {
              Value* xv = kb.load(xt, kb.buffer(bind.in[0]), b.CreateAdd(xRow, b.CreateMul(ow, kb.c64(s[1]))), t);
              Value* gv = kb.load(dyt, kb.buffer(bind.in[1]), b.CreateAdd(dyRow, ow), t);
              return std::vector<Value*>{b.CreateFAdd(a2[0], b.CreateFMul(xv, gv))};
            });
          });
          return rows;
        });
        Value* flat = b.CreateAdd(b.CreateMul(item, kb.c64(KH * KW)), kb.c64(kh * KW + kw));
        kb.store(wt, kb.buffer(bind.out), flat, epi.apply(kb, sum[0], flat, op.output()->type().shape));
      }
    }
  }, "pair");
  return Error::success();
}

// Winograd F(m x m, 3x3) transforms (ir/Winograd.h): sums of the term lists, +-1 as adds and
// subtracts, other coefficients as a multiply.
Value* winogradSum(KernelBuilder& kb, const std::vector<winograd::Term>& terms, Type* t,
                   const std::function<Value*(int i, int j)>& in) {
  auto& b = kb.b();
  Value* acc = nullptr;
  for (const auto& term : terms) {
    Value* v = in(term.i, term.j);
    double mag = term.coef < 0 ? -term.coef : term.coef;
    if (mag != 1)
      v = b.CreateFMul(v, kb.cf(mag, t));
    acc = !acc ? (term.coef < 0 ? b.CreateFNeg(v) : v) : term.coef < 0 ? b.CreateFSub(acc, v) : b.CreateFAdd(acc, v);
  }
  return acc ? acc : kb.cf(0, t);
}

const winograd::Variant& variantOf(const Node& op) { return *winograd::variant(op.attrs().getInt("tile")); }

// Work item = one output channel m; u[t * M + m][c] for every c and point t.
Error winogradFilter(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  auto& b = kb.b();
  const winograd::Variant& wv = variantOf(op);
  const Shape& ws = op.input(0)->type().shape;
  int64_t M = ws[0], Cg = ws[1];
  DType wt = op.input(0)->type().dtype, ut = op.output()->type().dtype;
  Type* t = computeType(kb.ctx(), ut);
  kb.kernel().items = M;
  kb.loop(kb.begin(), kb.end(), [&](Value* m) {
    kb.loop(0, Cg, [&](Value* c) {
      Value* base = b.CreateMul(b.CreateAdd(b.CreateMul(m, kb.c64(Cg)), c), kb.c64(9));
      Value* g[3][3];
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
          g[i][j] = kb.load(wt, kb.buffer(bind.in[0]), b.CreateAdd(base, kb.c64(i * 3 + j)), t);
      for (int p = 0; p < wv.points(); ++p) {
        Value* v = winogradSum(kb, winograd::filterTerms(wv, p), t, [&](int i, int j) { return g[i][j]; });
        Value* flat = b.CreateAdd(b.CreateMul(b.CreateAdd(kb.c64(p * M), m), kb.c64(Cg)), c);
        kb.store(ut, kb.buffer(bind.out), flat, epi.apply(kb, v, flat, op.output()->type().shape));
      }
    }, "c");
  }, "m");
  return Error::success();
}

// Work item = one (image, channel) plane; every tile's a x a window (zero outside the input).
Error winogradInput(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  auto& b = kb.b();
  const winograd::Variant& wv = variantOf(op);
  const int A = wv.alpha;
  const Shape& xs = op.input(0)->type().shape;
  const auto& pad = op.attrs().getInts("pad");
  int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3];
  int64_t TH = winograd::tiles(H + pad[0] + pad[2] - 2, wv.m), TW = winograd::tiles(W + pad[1] + pad[3] - 2, wv.m);
  int64_t P = N * TH * TW;
  DType xt = op.input(0)->type().dtype, vt = op.output()->type().dtype;
  Type* t = computeType(kb.ctx(), vt);
  kb.kernel().items = N * C;
  kb.loop(kb.begin(), kb.end(), [&](Value* item) {
    Value* n = b.CreateUDiv(item, kb.c64(C));
    Value* c = b.CreateURem(item, kb.c64(C));
    Value* plane = b.CreateMul(item, kb.c64(H * W));
    kb.loop(0, TH, [&](Value* th) {
      kb.loop(0, TW, [&](Value* tw) {
        Value* d[winograd::kMaxAlpha][winograd::kMaxAlpha];
        Value *rowOk[winograd::kMaxAlpha], *row[winograd::kMaxAlpha], *colOk[winograd::kMaxAlpha], *col[winograd::kMaxAlpha];
        for (int i = 0; i < A; ++i) {
          Value* ih = b.CreateAdd(b.CreateMul(th, kb.c64(wv.m)), kb.c64(i - pad[0]));
          rowOk[i] = b.CreateICmpULT(ih, kb.c64(H));
          row[i] = b.CreateSelect(rowOk[i], ih, kb.c64(0));
          Value* iw = b.CreateAdd(b.CreateMul(tw, kb.c64(wv.m)), kb.c64(i - pad[1]));
          colOk[i] = b.CreateICmpULT(iw, kb.c64(W));
          col[i] = b.CreateSelect(colOk[i], iw, kb.c64(0));
        }
        for (int i = 0; i < A; ++i)
          for (int j = 0; j < A; ++j) {
            Value* idx = b.CreateAdd(plane, b.CreateAdd(b.CreateMul(row[i], kb.c64(W)), col[j]));
            d[i][j] = b.CreateSelect(b.CreateAnd(rowOk[i], colOk[j]), kb.load(xt, kb.buffer(bind.in[0]), idx, t), kb.cf(0, t));
          }
        Value* tile = b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.c64(TH)), th), kb.c64(TW)), tw);
        for (int p = 0; p < wv.points(); ++p) {
          Value* v = winogradSum(kb, winograd::inputTerms(wv, p), t, [&](int i, int j) { return d[i][j]; });
          Value* flat = b.CreateAdd(b.CreateMul(b.CreateAdd(kb.c64(p * C), c), kb.c64(P)), tile);
          kb.store(vt, kb.buffer(bind.out), flat, epi.apply(kb, v, flat, op.output()->type().shape));
        }
      }, "tw");
    }, "th");
  }, "plane");
  return Error::success();
}

// Work item = one (image, channel) output plane; each tile's m x m outputs (+ bias, epilogue).
Error winogradOutput(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  auto& b = kb.b();
  const winograd::Variant& wv = variantOf(op);
  const Shape& ys = op.output()->type().shape;
  int64_t N = ys[0], M = ys[1], OH = ys[2], OW = ys[3];
  int64_t TH = winograd::tiles(OH, wv.m), TW = winograd::tiles(OW, wv.m), P = N * TH * TW;
  DType pt = op.input(0)->type().dtype, yt = op.output()->type().dtype;
  Type* t = computeType(kb.ctx(), yt);
  kb.kernel().items = N * M;
  kb.loop(kb.begin(), kb.end(), [&](Value* item) {
    Value* n = b.CreateUDiv(item, kb.c64(M));
    Value* m = b.CreateURem(item, kb.c64(M));
    Value* bias = op.numInputs() > 1 ? kb.load(op.input(1)->type().dtype, kb.buffer(bind.in[1]), m, t) : nullptr;
    kb.loop(0, TH, [&](Value* th) {
      kb.loop(0, TW, [&](Value* tw) {
        Value* tile = b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.c64(TH)), th), kb.c64(TW)), tw);
        Value* pts[winograd::kMaxAlpha * winograd::kMaxAlpha];
        for (int p = 0; p < wv.points(); ++p)
          pts[p] = kb.load(pt, kb.buffer(bind.in[0]), b.CreateAdd(b.CreateMul(b.CreateAdd(kb.c64(p * M), m), kb.c64(P)), tile), t);
        for (int i = 0; i < wv.m; ++i)
          for (int j = 0; j < wv.m; ++j) {
            Value* oh = b.CreateAdd(b.CreateMul(th, kb.c64(wv.m)), kb.c64(i));
            Value* ow = b.CreateAdd(b.CreateMul(tw, kb.c64(wv.m)), kb.c64(j));
            auto emit = [&] {
              Value* v = winogradSum(kb, winograd::outputTerms(wv, i, j), t,
                                     [&](int a, int c) { return pts[a * wv.alpha + c]; });
              if (bias)
                v = b.CreateFAdd(v, bias);
              Value* flat = b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(item, kb.c64(OH)), oh), kb.c64(OW)), ow);
              kb.store(yt, kb.buffer(bind.out), flat, epi.apply(kb, v, flat, ys));
            };
            // Only the last row / column of tiles can reach past an extent that m does not divide.
            bool rowEdge = OH % wv.m && i >= OH % wv.m, colEdge = OW % wv.m && j >= OW % wv.m;
            if (rowEdge || colEdge)
              kb.ifThen(b.CreateAnd(b.CreateICmpULT(oh, kb.c64(OH)), b.CreateICmpULT(ow, kb.c64(OW))), emit);
            else
              emit();
          }
      }, "tw");
    }, "th");
  }, "plane");
  return Error::success();
}

constexpr CpuEmitter kEmitters[] = {
    {"conv2d", conv2d},
    {"conv2d_grad_input", conv2dGradInput},
    {"conv2d_grad_weight", conv2dGradWeight},
    {"winograd_filter", winogradFilter},
    {"winograd_input", winogradInput},
    {"winograd_output", winogradOutput},
};

} // namespace

std::span<const CpuEmitter> convEmitters() { return kEmitters; }

} // namespace sinter::cpu

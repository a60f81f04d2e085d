// f32 direct convolution, vectorised over output channels.
//
// The prepare function repacks the (constant) weights once as
//   Wp[g][mblock][kw][c][kh][MB]   (MB = MV vectors of output channels, zero padded)
// so the innermost step reads MV contiguous weight vectors. A work item is one output row of
// one channel block of one image/group; it walks the row in tiles of NP pixels, keeping
// MV x NP vector accumulators in registers: each (kw, c, kh) step broadcasts NP input pixels
// and issues MV x NP FMAs. No im2col, any stride or dilation; padding is handled per pixel
// (reads outside the image see 0) and per kernel row (rows outside the image are skipped).
#include "codegen/cpu/Gemm.h"
#include "ir/OpTable.h"

#include <llvm/IR/Intrinsics.h>

namespace sinter::cpu {

using namespace llvm;
using llvm::Value;


bool directConvApplies(KernelBuilder& kb, const Node& conv, const Binding& bind) {
  const sinter::Value* w = kb.kernel().buffers[bind.in[1]];
  bool constWeights = w->isParam() || (w->producer() && w->producer()->is(ops::Constant));
  return constWeights && conv.input(0)->type().dtype == DType::F32 && conv.input(1)->type().dtype == DType::F32 &&
         conv.output()->type().dtype == DType::F32;
}

namespace {

// Rows narrower than a tile (ResNet's 4x4 and 2x2 layers at 64x64 input: a tile of 8 pixels
// along a row of 2 computed 6 pixels of nothing): a tile is instead the same output pixel
// (oh, ow) of kNP images, which share every input offset but the image's. Work item = (block of
// kNP images, group, channel block, output row).
Error emitDirectConvAcrossImages(KernelBuilder& kb, const Node& conv, const ConvShape& cs, const Binding& bind,
                                 const Epilogue& epi, int64_t kMV, int64_t kNP, int64_t MB, int64_t mBlocks) {
  auto& b = kb.b();
  const int64_t VF = kb.target().vectorFloats, Mg = cs.M / cs.G, K = cs.Cg * cs.KH * cs.KW;
  auto* vt = FixedVectorType::get(kb.f32(), static_cast<unsigned>(VF));
  const int64_t nBlocks = (cs.N + kNP - 1) / kNP;
  CpuKernel& kernel = kb.kernel();
  kernel.items = nBlocks * cs.G * mBlocks * cs.OH;
  kernel.scratchBytes = kNP * MB * 4;
  bool bias = conv.numInputs() > 2;
  Value* x = kb.buffer(bind.in[0]);
  Value* y = kb.buffer(bind.out);
  Value* wp = kb.persistent();
  kb.loop(kb.begin(), kb.end(), [&](Value* item) {
    Value* oh = b.CreateURem(item, kb.c64(cs.OH));
    Value* rest = b.CreateUDiv(item, kb.c64(cs.OH));
    Value* mb = b.CreateURem(rest, kb.c64(mBlocks));
    rest = b.CreateUDiv(rest, kb.c64(mBlocks));
    Value* g = b.CreateURem(rest, kb.c64(cs.G));
    Value* n0 = b.CreateMul(b.CreateUDiv(rest, kb.c64(cs.G)), kb.c64(kNP));
    Value* images = b.CreateBinaryIntrinsic(Intrinsic::smin, kb.c64(kNP), b.CreateSub(kb.c64(cs.N), n0));
    // Each pixel's image (past the batch: the last image, computed and not stored).
    std::vector<Value*> xImage(kNP);
    for (int64_t p = 0; p < kNP; ++p) {
      Value* n = b.CreateBinaryIntrinsic(Intrinsic::smin, b.CreateAdd(n0, kb.c64(p)), kb.c64(cs.N - 1));
      xImage[p] = b.CreateInBoundsGEP(kb.f32(), x, b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.c64(cs.C)),
                                                                           b.CreateMul(g, kb.c64(cs.Cg))),
                                                               kb.c64(cs.H * cs.W)));
    }
    // Kernel rows whose input row is inside the image: kh in [khLo, khHi).
    Value* ih0 = b.CreateSub(b.CreateMul(oh, kb.c64(cs.SH)), kb.c64(cs.PT));
    auto firstAtLeast = [&](Value* bound) {
      Value* need = b.CreateSub(bound, ih0); // kh*DH >= need
      Value* kh = b.CreateSDiv(b.CreateAdd(need, kb.c64(cs.DH - 1)), kb.c64(cs.DH));
      kh = b.CreateSelect(b.CreateICmpSLT(need, kb.c64(0)), kb.c64(0), kh);
      return b.CreateBinaryIntrinsic(Intrinsic::smin, kh, kb.c64(cs.KH));
    };
    Value* khLo = firstAtLeast(kb.c64(0));
    Value* khHi = firstAtLeast(kb.c64(cs.H));
    Value* wBlock = b.CreateInBoundsGEP(kb.f32(), wp, b.CreateMul(b.CreateAdd(b.CreateMul(g, kb.c64(mBlocks)), mb),
                                                                  kb.c64(K * MB)));
    kb.loop(0, cs.OW, [&](Value* ow) {
      Value* iw0 = b.CreateSub(b.CreateMul(ow, kb.c64(cs.SW)), kb.c64(cs.PL));
      std::vector<Value*> init(kMV * kNP, Constant::getNullValue(vt));
      auto acc = kb.loopCarry(kb.c64(0), kb.c64(cs.KW), init, [&](Value* kw, const std::vector<Value*>& a0) {
        Value* iw = b.CreateAdd(iw0, b.CreateMul(kw, kb.c64(cs.DW)));
        Value* inside = b.CreateICmpULT(iw, kb.c64(cs.W)); // the same for every image
        Value* col = b.CreateSelect(inside, iw, kb.c64(0));
        return kb.loopCarry(kb.c64(0), kb.c64(cs.Cg), a0, [&](Value* c, const std::vector<Value*>& a1) {
          Value* wStep = b.CreateMul(b.CreateAdd(b.CreateMul(kw, kb.c64(cs.Cg)), c), kb.c64(cs.KH));
          Value* planeOff = b.CreateMul(c, kb.c64(cs.H * cs.W));
          return kb.loopCarry(khLo, khHi, a1, [&](Value* kh, const std::vector<Value*>& a) {
            Value* ih = b.CreateAdd(ih0, b.CreateMul(kh, kb.c64(cs.DH)));
            Value* off = b.CreateAdd(planeOff, b.CreateAdd(b.CreateMul(ih, kb.c64(cs.W)), col));
            Value* wv0 = b.CreateInBoundsGEP(kb.f32(), wBlock, b.CreateMul(b.CreateAdd(wStep, kh), kb.c64(MB)));
            std::vector<Value*> wv;
            for (int64_t v = 0; v < kMV; ++v)
              wv.push_back(b.CreateAlignedLoad(vt, b.CreateInBoundsGEP(kb.f32(), wv0, kb.c64(v * VF)), Align(64)));
            std::vector<Value*> next(a.size());
            for (int64_t p = 0; p < kNP; ++p) {
              Value* xv = b.CreateSelect(inside, b.CreateLoad(kb.f32(), b.CreateInBoundsGEP(kb.f32(), xImage[p], off)),
                                         kb.cf(0, kb.f32()));
              Value* splat = b.CreateVectorSplat(static_cast<unsigned>(VF), xv);
              for (int64_t v = 0; v < kMV; ++v)
                next[v * kNP + p] = b.CreateIntrinsic(Intrinsic::fma, {vt}, {wv[v], splat, a[v * kNP + p]});
            }
            return next;
          }, "kh");
        }, "c");
      }, "kw");
      for (int64_t v = 0; v < kMV; ++v)
        for (int64_t p = 0; p < kNP; ++p)
          b.CreateAlignedStore(acc[v * kNP + p], b.CreateInBoundsGEP(kb.f32(), kb.scratch(), kb.c64(p * MB + v * VF)), Align(64));
      // Scratch is [image][channel]: store with the bias and the epilogue.
      Value* chans = b.CreateBinaryIntrinsic(Intrinsic::smin, kb.c64(MB), b.CreateSub(kb.c64(Mg), b.CreateMul(mb, kb.c64(MB))));
      kb.loop(kb.c64(0), chans, [&](Value* l) {
        Value* ch = b.CreateAdd(b.CreateMul(g, kb.c64(Mg)), b.CreateAdd(b.CreateMul(mb, kb.c64(MB)), l));
        Value* bv = bias ? kb.load(conv.input(2)->type().dtype, kb.buffer(bind.in[2]), ch, kb.f32()) : nullptr;
        Value* pix = b.CreateAdd(b.CreateMul(oh, kb.c64(cs.OW)), ow);
        kb.loop(kb.c64(0), images, [&](Value* p) {
          Value* val = b.CreateLoad(kb.f32(), b.CreateInBoundsGEP(kb.f32(), kb.scratch(), b.CreateAdd(b.CreateMul(p, kb.c64(MB)), l)));
          if (bv)
            val = b.CreateFAdd(val, bv);
          Value* flat = b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(b.CreateAdd(n0, p), kb.c64(cs.M)), ch), kb.c64(cs.OH * cs.OW)),
                                    pix);
          if (!epi.empty())
            val = epi.apply(kb, val, flat, conv.output()->type().shape);
          b.CreateStore(val, b.CreateInBoundsGEP(kb.f32(), y, flat));
        }, "img");
      }, "ch");
    }, "ow");
  }, "item");
  return Error::success();
}

} // namespace

Error emitDirectConv(KernelBuilder& kb, const Node& conv, const ConvShape& cs, const Binding& bind,
                     const Epilogue& epi, Module& m, CpuProgram& program, const CpuTarget& target, bool gradInput) {
  const int64_t VF = target.vectorFloats, Mg = cs.M / cs.G;
  // Tile: kMV channel vectors x kNP output pixels of accumulators. Two vectors of channels (2 x 8
  // accumulators: no spills with AVX-512); one where the group has no more channels than a vector
  // (a 6-channel conv1 would fill 6 of 32 lanes), then with 16 pixels where registers allow.
  const int64_t kMV = Mg <= VF ? 1 : 2, kNP = kMV == 1 && VF >= 16 ? 16 : 8;
  const int64_t MB = kMV * VF, mBlocks = (Mg + MB - 1) / MB;
  const int64_t K = cs.Cg * cs.KH * cs.KW;
  CpuKernel& kernel = kb.kernel();
  kernel.persistentBytes = cs.G * mBlocks * K * MB * 4;
  kernel.prepReads = {bind.in[1]};

  { // Prepare: repack the weights.
    KernelBuilder pb(m, kernel, program, target, /*prepare=*/true);
    auto& b = pb.b();
    Value* w = pb.buffer(bind.in[1]);
    Value* wp = pb.persistent();
    pb.loop(0, cs.G * mBlocks, [&](Value* gb) {
      Value* g = b.CreateUDiv(gb, pb.c64(mBlocks));
      Value* mb = b.CreateURem(gb, pb.c64(mBlocks));
      pb.loop(0, cs.KW, [&](Value* kw) {
        pb.loop(0, cs.Cg, [&](Value* c) {
          pb.loop(0, cs.KH, [&](Value* kh) {
            Value* step = b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(kw, pb.c64(cs.Cg)), c), pb.c64(cs.KH)), kh);
            Value* dst = b.CreateMul(b.CreateAdd(b.CreateMul(gb, pb.c64(K)), step), pb.c64(MB));
            pb.loop(0, MB, [&](Value* l) {
              Value* mg = b.CreateAdd(b.CreateMul(mb, pb.c64(MB)), l); // channel within the group
              Value* valid = b.CreateICmpSLT(mg, pb.c64(Mg));
              Value* ch = b.CreateAdd(b.CreateMul(g, pb.c64(Mg)), b.CreateSelect(valid, mg, pb.c64(0)));
              Value* src = b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(ch, pb.c64(cs.Cg)), c),
                                                                           pb.c64(cs.KH)), kh), pb.c64(cs.KW)), kw);
              if (gradInput) { // w'[g*Mg + mg][c][kh][kw] = w[g*Cg + c][mg][KH-1-kh][KW-1-kw]
                Value* mgSafe = b.CreateSelect(valid, mg, pb.c64(0));
                Value* oc = b.CreateAdd(b.CreateMul(g, pb.c64(cs.Cg)), c);
                Value* fh = b.CreateSub(pb.c64(cs.KH - 1), kh), *fw = b.CreateSub(pb.c64(cs.KW - 1), kw);
                src = b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(oc, pb.c64(Mg)), mgSafe),
                                                                      pb.c64(cs.KH)), fh), pb.c64(cs.KW)), fw);
              }
              Value* v = b.CreateSelect(valid, pb.load(DType::F32, w, src, pb.f32()), pb.cf(0, pb.f32()));
              b.CreateStore(v, b.CreateInBoundsGEP(pb.f32(), wp, b.CreateAdd(dst, l)));
            }, "l");
          }, "kh");
        }, "c");
      }, "kw");
    }, "gb");
    pb.finish();
  }

  auto& b = kb.b();
  auto* vt = FixedVectorType::get(kb.f32(), static_cast<unsigned>(VF));
  if (cs.OW < kNP && cs.N > 1)
    return emitDirectConvAcrossImages(kb, conv, cs, bind, epi, kMV, kNP, MB, mBlocks);
  const int64_t tiles = (cs.OW + kNP - 1) / kNP;
  kernel.items = cs.N * cs.G * mBlocks * cs.OH;
  kernel.scratchBytes = kNP * MB * 4;
  bool bias = conv.numInputs() > 2;
  Value* x = kb.buffer(bind.in[0]);
  Value* y = kb.buffer(bind.out);
  Value* wp = kb.persistent();
  kb.loop(kb.begin(), kb.end(), [&](Value* item) {
    Value* oh = b.CreateURem(item, kb.c64(cs.OH));
    Value* rest = b.CreateUDiv(item, kb.c64(cs.OH));
    Value* mb = b.CreateURem(rest, kb.c64(mBlocks));
    rest = b.CreateUDiv(rest, kb.c64(mBlocks));
    Value* g = b.CreateURem(rest, kb.c64(cs.G));
    Value* n = b.CreateUDiv(rest, kb.c64(cs.G));
    // Kernel rows whose input row is inside the image: kh in [khLo, khHi).
    Value* ih0 = b.CreateSub(b.CreateMul(oh, kb.c64(cs.SH)), kb.c64(cs.PT));
    Value* khLo = kb.c64(0);
    Value* khHi = kb.c64(cs.KH);
    if (cs.PT > 0 || (cs.OH - 1) * cs.SH + (cs.KH - 1) * cs.DH - cs.PT >= cs.H) {
      // first kh with ih0 + kh*DH >= 0, first kh with ih0 + kh*DH >= H
      auto firstAtLeast = [&](Value* bound) {
        Value* need = b.CreateSub(bound, ih0); // kh*DH >= need
        Value* kh = b.CreateSDiv(b.CreateAdd(need, kb.c64(cs.DH - 1)), kb.c64(cs.DH));
        kh = b.CreateSelect(b.CreateICmpSLT(need, kb.c64(0)), kb.c64(0), kh);
        return b.CreateBinaryIntrinsic(Intrinsic::smin, kh, kb.c64(cs.KH));
      };
      khLo = firstAtLeast(kb.c64(0));
      khHi = firstAtLeast(kb.c64(cs.H));
    }
    Value* xImage = b.CreateInBoundsGEP(kb.f32(), x, b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.c64(cs.C)),
                                                                             b.CreateMul(g, kb.c64(cs.Cg))),
                                                                 kb.c64(cs.H * cs.W)));
    Value* wBlock = b.CreateInBoundsGEP(kb.f32(), wp, b.CreateMul(b.CreateAdd(b.CreateMul(g, kb.c64(mBlocks)), mb),
                                                                  kb.c64(K * MB)));
    kb.loop(0, tiles, [&](Value* tile) {
      Value* ow0 = b.CreateMul(tile, kb.c64(kNP));
      // Tiles whose every pixel reads inside the row for every kw take a path without checks.
      Value* iwFirst = b.CreateSub(b.CreateMul(ow0, kb.c64(cs.SW)), kb.c64(cs.PL));
      Value* iwLast = b.CreateAdd(b.CreateSub(b.CreateMul(b.CreateAdd(ow0, kb.c64(kNP - 1)), kb.c64(cs.SW)), kb.c64(cs.PL)),
                                  kb.c64((cs.KW - 1) * cs.DW));
      Value* interior = b.CreateAnd(b.CreateAnd(b.CreateICmpSGE(iwFirst, kb.c64(0)), b.CreateICmpSLT(iwLast, kb.c64(cs.W))),
                                    b.CreateICmpSLE(b.CreateAdd(ow0, kb.c64(kNP)), kb.c64(cs.OW)));
      auto computeTile = [&](bool checked) {
        std::vector<Value*> init(kMV * kNP, Constant::getNullValue(vt));
        return kb.loopCarry(kb.c64(0), kb.c64(cs.KW), init, [&](Value* kw, const std::vector<Value*>& a0) {
          // Input column of each pixel for this kw; in a checked tile, pixels outside the image
          // (or past the row) read element 0 and are zeroed.
          std::vector<Value*> col(kNP), inside(kNP);
          for (int64_t p = 0; p < kNP; ++p) {
            Value* ow = b.CreateAdd(ow0, kb.c64(p));
            Value* iw = b.CreateAdd(b.CreateSub(b.CreateMul(ow, kb.c64(cs.SW)), kb.c64(cs.PL)),
                                    b.CreateMul(kw, kb.c64(cs.DW)));
            inside[p] = b.CreateAnd(b.CreateICmpULT(iw, kb.c64(cs.W)), b.CreateICmpSLT(ow, kb.c64(cs.OW)));
            col[p] = checked ? b.CreateSelect(inside[p], iw, kb.c64(0)) : iw;
          }
          return kb.loopCarry(kb.c64(0), kb.c64(cs.Cg), a0, [&](Value* c, const std::vector<Value*>& a1) {
            Value* plane = b.CreateInBoundsGEP(kb.f32(), xImage, b.CreateMul(c, kb.c64(cs.H * cs.W)));
            Value* wStep = b.CreateMul(b.CreateAdd(b.CreateMul(kw, kb.c64(cs.Cg)), c), kb.c64(cs.KH));
            return kb.loopCarry(khLo, khHi, a1, [&](Value* kh, const std::vector<Value*>& a) {
              Value* ih = b.CreateAdd(ih0, b.CreateMul(kh, kb.c64(cs.DH)));
              Value* row = b.CreateInBoundsGEP(kb.f32(), plane, b.CreateMul(ih, kb.c64(cs.W)));
              Value* wv0 = b.CreateInBoundsGEP(kb.f32(), wBlock, b.CreateMul(b.CreateAdd(wStep, kh), kb.c64(MB)));
              std::vector<Value*> wv;
              for (int64_t v = 0; v < kMV; ++v)
                wv.push_back(b.CreateAlignedLoad(vt, b.CreateInBoundsGEP(kb.f32(), wv0, kb.c64(v * VF)), Align(64)));
              std::vector<Value*> next(a.size());
              for (int64_t p = 0; p < kNP; ++p) {
                Value* xv = b.CreateLoad(kb.f32(), b.CreateInBoundsGEP(kb.f32(), row, col[p]));
                if (checked)
                  xv = b.CreateSelect(inside[p], xv, kb.cf(0, kb.f32()));
                Value* splat = b.CreateVectorSplat(static_cast<unsigned>(VF), xv);
                for (int64_t v = 0; v < kMV; ++v)
                  next[v * kNP + p] = b.CreateIntrinsic(Intrinsic::fma, {vt}, {wv[v], splat, a[v * kNP + p]});
              }
              return next;
            }, "kh");
          }, "c");
        }, "kw");
      };
      // Both paths leave their accumulators in scratch.
      auto spill = [&](const std::vector<Value*>& acc) {
        for (int64_t v = 0; v < kMV; ++v)
          for (int64_t p = 0; p < kNP; ++p)
            b.CreateAlignedStore(acc[v * kNP + p],
                                 b.CreateInBoundsGEP(kb.f32(), kb.scratch(), kb.c64(p * MB + v * VF)), Align(64));
      };
      kb.ifThen(interior, [&] { spill(computeTile(false)); });
      kb.ifThen(b.CreateNot(interior), [&] { spill(computeTile(true)); });
      // The tile is in scratch as [pixel][channel]: store it channel by channel (the output is
      // NCHW) with the bias and the epilogue.
      Value* chans = b.CreateBinaryIntrinsic(Intrinsic::smin, kb.c64(MB), b.CreateSub(kb.c64(Mg), b.CreateMul(mb, kb.c64(MB))));
      Value* pixels = b.CreateBinaryIntrinsic(Intrinsic::smin, kb.c64(kNP), b.CreateSub(kb.c64(cs.OW), ow0));
      kb.loop(kb.c64(0), chans, [&](Value* l) {
        Value* ch = b.CreateAdd(b.CreateMul(g, kb.c64(Mg)), b.CreateAdd(b.CreateMul(mb, kb.c64(MB)), l));
        Value* bv = bias ? kb.load(conv.input(2)->type().dtype, kb.buffer(bind.in[2]), ch, kb.f32()) : nullptr;
        Value* rowBase = b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.c64(cs.M)), ch),
                                                                         kb.c64(cs.OH)), oh), kb.c64(cs.OW)), ow0);
        kb.loop(kb.c64(0), pixels, [&](Value* p) {
          Value* val = b.CreateLoad(kb.f32(), b.CreateInBoundsGEP(kb.f32(), kb.scratch(),
                                                                 b.CreateAdd(b.CreateMul(p, kb.c64(MB)), l)));
          if (bv)
            val = b.CreateFAdd(val, bv);
          Value* flat = b.CreateAdd(rowBase, p);
          if (!epi.empty())
            val = epi.apply(kb, val, flat, conv.output()->type().shape);
          b.CreateStore(val, b.CreateInBoundsGEP(kb.f32(), y, flat));
        }, "px");
      }, "ch");
    }, "tile");
  }, "item");
  return Error::success();
}

} // namespace sinter::cpu

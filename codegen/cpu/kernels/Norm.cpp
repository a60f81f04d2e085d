// CPU kernels: LRN, batch norm, softmax / log-softmax, softmax cross-entropy and NLL losses.
#include "codegen/cpu/Emitters.h"

#include <llvm/IR/Intrinsics.h>

namespace sinter::cpu {

using namespace llvm;
using llvm::Value;

// The LRN of channel plane (n, c) of x into dst (HW values of type t):
//   dst = x[c] / (bias + alpha/size * sum of x[k]^2 over the channel window)^beta
// as three vectorisable loops over the plane. beta = 0.75 (AlexNet) takes two square roots
// instead of pow.
void lrnPlane(KernelBuilder& kb, const Node& lrn, Value* x, DType xt, Value* n, Value* c, Value* dst, Type* t) {
  auto& b = kb.b();
  const Shape& s = lrn.input(0)->type().shape;
  int64_t C = s[1], HW = numElements(std::span(s).subspan(2));
  int64_t size = lrn.attrs().getInt("size");
  double alpha = lrn.attrs().getFloat("alpha"), beta = lrn.attrs().getFloat("beta"),
         bias = lrn.attrs().getFloat("bias");
  int64_t before = (size - 1) / 2;
  Value* lo = b.CreateBinaryIntrinsic(Intrinsic::smax, b.CreateSub(c, kb.c64(before)), kb.c64(0));
  Value* hi = b.CreateBinaryIntrinsic(Intrinsic::smin, b.CreateAdd(c, kb.c64(size - before)), kb.c64(C));
  Value* image = b.CreateMul(b.CreateMul(n, kb.c64(C)), kb.c64(HW));
  kb.loop(0, HW, [&](Value* p) { b.CreateStore(kb.cf(0, t), b.CreateInBoundsGEP(t, dst, p)); }, "zero");
  kb.loop(lo, hi, [&](Value* k) {
    Value* plane = b.CreateAdd(image, b.CreateMul(k, kb.c64(HW)));
    kb.loop(0, HW, [&](Value* p) {
      Value* v = kb.load(xt, x, b.CreateAdd(plane, p), t);
      Value* d = b.CreateInBoundsGEP(t, dst, p);
      b.CreateStore(b.CreateFAdd(b.CreateLoad(t, d), b.CreateFMul(v, v)), d);
    }, "sq");
  }, "win");
  Value* own = b.CreateAdd(image, b.CreateMul(c, kb.c64(HW)));
  kb.loop(0, HW, [&](Value* p) {
    Value* d = b.CreateInBoundsGEP(t, dst, p);
    Value* den = b.CreateFAdd(kb.cf(bias, t), b.CreateFMul(kb.cf(alpha / static_cast<double>(size), t), b.CreateLoad(t, d)));
    Value* pw;
    if (beta == 0.75) {
      Value* r = kb.math("sqrt", {den});
      pw = b.CreateFMul(r, kb.math("sqrt", {r}));
    } else {
      pw = kb.math("pow", {den, kb.cf(beta, t)});
    }
    b.CreateStore(b.CreateFDiv(kb.load(xt, x, b.CreateAdd(own, p), t), pw), d);
  }, "norm");
}

namespace {

Error lrn(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  auto& b = kb.b();
  const TensorType& x = op.input(0)->type();
  int64_t C = x.shape[1], HW = x.numel() / std::max<int64_t>(1, x.shape[0] * C);
  DType yt = op.output()->type().dtype;
  Type* t = computeType(kb.ctx(), yt);
  kb.kernel().items = x.shape[0] * C;
  kb.kernel().scratchBytes = HW * 8 + 64;
  kb.loop(kb.begin(), kb.end(), [&](Value* item) {
    Value* n = b.CreateUDiv(item, kb.c64(C));
    Value* c = b.CreateURem(item, kb.c64(C));
    lrnPlane(kb, op, kb.buffer(bind.in[0]), x.dtype, n, c, kb.scratch(), t);
    kb.loop(0, HW, [&](Value* p) {
      Value* v = b.CreateLoad(t, b.CreateInBoundsGEP(t, kb.scratch(), p));
      Value* flat = b.CreateAdd(b.CreateMul(item, kb.c64(HW)), p);
      kb.store(yt, kb.buffer(bind.out), flat, epi.apply(kb, v, flat, op.output()->type().shape));
    }, "p");
  }, "plane");
  return Error::success();
}

Error batchNorm(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  auto& b = kb.b();
  const TensorType& x = op.input(0)->type();
  int64_t C = x.shape[1], S = x.numel() / std::max<int64_t>(1, x.shape[0] * C);
  DType yt = op.output()->type().dtype;
  Type* t = computeType(kb.ctx(), yt);
  double eps = op.attrs().getFloat("epsilon");
  kb.kernel().items = x.shape[0] * C;
  kb.loop(kb.begin(), kb.end(), [&](Value* item) {
    Value* c = b.CreateURem(item, kb.c64(C));
    auto param = [&](size_t i) { return kb.load(op.input(i)->type().dtype, kb.buffer(bind.in[i]), c, t); };
    Value* scale = b.CreateFDiv(param(1), kb.math("sqrt", {b.CreateFAdd(param(4), kb.cf(eps, t))}));
    Value* shift = b.CreateFSub(param(2), b.CreateFMul(param(3), scale));
    kb.loop(0, S, [&](Value* i) {
      Value* flat = b.CreateAdd(b.CreateMul(item, kb.c64(S)), i);
      Value* v = b.CreateFAdd(b.CreateFMul(kb.load(x.dtype, kb.buffer(bind.in[0]), flat, t), scale), shift);
      kb.store(yt, kb.buffer(bind.out), flat, epi.apply(kb, v, flat, op.output()->type().shape));
    }, "i");
  }, "plane");
  return Error::success();
}

// batch_norm_train and its gradient: one work item per channel, which walks its N planes of S
// values. Sums in double with reassociation allowed, so LLVM vectorises them.
struct ChannelLoops {
  KernelBuilder& kb;
  int64_t N, C, S;
  // The flat index of (n, c, i).
  Value* flat(Value* n, Value* c, Value* i) {
    auto& b = kb.b();
    return b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.c64(C)), c), kb.c64(S)), i);
  }
  // Sums of `terms(flat)` over the channel, in double.
  std::vector<Value*> sums(Value* c, size_t count, const std::function<std::vector<Value*>(Value*)>& terms) {
    auto& b = kb.b();
    std::vector<Value*> zero(count, kb.cf(0, kb.f64()));
    return kb.loopCarry(kb.c64(0), kb.c64(N), zero, [&](Value* n, const std::vector<Value*>& outer) {
      return kb.loopCarry(kb.c64(0), kb.c64(S), outer, [&](Value* i, const std::vector<Value*>& acc) {
        std::vector<Value*> t = terms(flat(n, c, i)), next;
        for (size_t k = 0; k < count; ++k) {
          Value* v = b.CreateFAdd(acc[k], t[k]);
          cast<Instruction>(v)->setHasAllowReassoc(true);
          next.push_back(v);
        }
        return next;
      }, "i");
    }, "n");
  }
  void each(Value* c, const std::function<void(Value*)>& body) {
    kb.loop(0, N, [&](Value* n) { kb.loop(0, S, [&](Value* i) { body(flat(n, c, i)); }, "i"); }, "n");
  }
};

Error batchNormTrain(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue&) {
  auto& b = kb.b();
  const TensorType& x = op.input(0)->type();
  const int64_t N = x.shape[0], C = x.shape[1], S = x.numel() / std::max<int64_t>(1, N * C);
  Type* t = computeType(kb.ctx(), x.dtype);
  Type* d = kb.f64();
  const double eps = op.attrs().getFloat("epsilon"), M = static_cast<double>(N * S);
  ChannelLoops ch{kb, N, C, S};
  kb.kernel().items = C;
  kb.loop(kb.begin(), kb.end(), [&](Value* c) {
    auto xd = [&](Value* at) { return kb.load(x.dtype, kb.buffer(bind.in[0]), at, d); };
    Value* mean = b.CreateFDiv(ch.sums(c, 1, [&](Value* at) { return std::vector<Value*>{xd(at)}; })[0], kb.cf(M, d));
    Value* var = b.CreateFDiv(ch.sums(c, 1, [&](Value* at) {
      Value* dev = b.CreateFSub(xd(at), mean);
      return std::vector<Value*>{b.CreateFMul(dev, dev)};
    })[0], kb.cf(M, d));
    auto param = [&](size_t i) { return kb.load(x.dtype, kb.buffer(bind.in[i]), c, d); };
    Value* k = b.CreateFDiv(param(1), kb.math("sqrt", {b.CreateFAdd(var, kb.cf(eps, d))}));
    auto narrow = [&](Value* v) { return t == d ? v : b.CreateFPTrunc(v, t); };
    // (x - mean) * k + bias: no cancellation between x * k and mean * k when |mean| >> std.
    Value *kt = narrow(k), *meanT = narrow(mean), *biasT = narrow(param(2));
    ch.each(c, [&](Value* at) {
      Value* v = b.CreateFAdd(b.CreateFMul(b.CreateFSub(kb.load(x.dtype, kb.buffer(bind.in[0]), at, t), meanT), kt), biasT);
      kb.store(x.dtype, kb.buffer(kb.result(0)), at, v);
    });
    kb.store(x.dtype, kb.buffer(kb.result(1)), c, mean);
    kb.store(x.dtype, kb.buffer(kb.result(2)), c, var);
  }, "channel");
  return Error::success();
}

Error batchNormTrainGrad(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue&) {
  auto& b = kb.b();
  const TensorType& x = op.input(0)->type();
  const int64_t N = x.shape[0], C = x.shape[1], S = x.numel() / std::max<int64_t>(1, N * C);
  Type* t = computeType(kb.ctx(), x.dtype);
  Type* d = kb.f64();
  const double eps = op.attrs().getFloat("epsilon"), M = static_cast<double>(N * S);
  ChannelLoops ch{kb, N, C, S};
  kb.kernel().items = C;
  kb.loop(kb.begin(), kb.end(), [&](Value* c) {
    auto param = [&](size_t i) { return kb.load(op.input(i)->type().dtype, kb.buffer(bind.in[i]), c, d); };
    Value* mean = param(3);
    Value* inv = b.CreateFDiv(kb.cf(1, d), kb.math("sqrt", {b.CreateFAdd(param(4), kb.cf(eps, d))}));
    auto s = ch.sums(c, 2, [&](Value* at) {
      Value* g = kb.load(x.dtype, kb.buffer(bind.in[1]), at, d);
      Value* dev = b.CreateFSub(kb.load(x.dtype, kb.buffer(bind.in[0]), at, d), mean);
      return std::vector<Value*>{g, b.CreateFMul(g, dev)};
    });
    Value* dbias = s[0];
    Value* dscale = b.CreateFMul(s[1], inv);
    // dx = k * dy + a * (x - mean) + c0 with k = scale * inv, a = -k * inv * dscale / M,
    // c0 = -k * dbias / M.
    Value* k = b.CreateFMul(param(2), inv);
    Value* a = b.CreateFNeg(b.CreateFDiv(b.CreateFMul(b.CreateFMul(k, inv), dscale), kb.cf(M, d)));
    Value* c0 = b.CreateFNeg(b.CreateFDiv(b.CreateFMul(k, dbias), kb.cf(M, d)));
    auto narrow = [&](Value* v) { return t == d ? v : b.CreateFPTrunc(v, t); };
    Value *kt = narrow(k), *aT = narrow(a), *ct = narrow(c0), *meanT = narrow(mean);
    ch.each(c, [&](Value* at) {
      Value* g = kb.load(x.dtype, kb.buffer(bind.in[1]), at, t);
      Value* dev = b.CreateFSub(kb.load(x.dtype, kb.buffer(bind.in[0]), at, t), meanT);
      kb.store(x.dtype, kb.buffer(kb.result(0)), at, b.CreateFAdd(b.CreateFAdd(b.CreateFMul(kt, g), b.CreateFMul(aT, dev)), ct));
    });
    kb.store(x.dtype, kb.buffer(kb.result(1)), c, dscale);
    kb.store(x.dtype, kb.buffer(kb.result(2)), c, dbias);
  }, "channel");
  return Error::success();
}

struct AxisSplit {
  int64_t outer = 1, len = 1, inner = 1;
};
AxisSplit split(const Shape& s, int64_t axis) {
  AxisSplit r;
  if (axis < 0)
    axis += static_cast<int64_t>(s.size());
  for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i)
    (i < axis ? r.outer : i == axis ? r.len : r.inner) *= s[i];
  return r;
}

// For line (o, i) of x along the split axis: max and log(sum(exp(x - max))).
std::pair<Value*, Value*> lineStats(KernelBuilder& kb, Value* x, DType xt, const AxisSplit& sp, Value* o, Value* i,
                                    Type* t) {
  auto& b = kb.b();
  auto at = [&](Value* k) {
    return b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(o, kb.c64(sp.len)), k), kb.c64(sp.inner)), i);
  };
  auto mx = kb.loopCarry(kb.c64(0), kb.c64(sp.len), {kb.cf(-INFINITY, t)}, [&](Value* k, const auto& a) {
    return std::vector<Value*>{kb.math("max", {kb.load(xt, x, at(k), t), a[0]})};
  });
  auto sum = kb.loopCarry(kb.c64(0), kb.c64(sp.len), {kb.cf(0, t)}, [&](Value* k, const auto& a) {
    Value* e = kb.math("exp", {b.CreateFSub(kb.load(xt, x, at(k), t), mx[0])});
    return std::vector<Value*>{b.CreateFAdd(a[0], e)};
  });
  return {mx[0], kb.math("log", {sum[0]})};
}

template <bool Log> Error softmax(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  auto& b = kb.b();
  const TensorType& x = op.input(0)->type();
  AxisSplit sp = split(x.shape, op.attrs().getInt("axis"));
  DType yt = op.output()->type().dtype;
  Type* t = computeType(kb.ctx(), yt);
  kb.kernel().items = sp.outer * sp.inner;
  kb.loop(kb.begin(), kb.end(), [&](Value* line) {
    Value* o = b.CreateUDiv(line, kb.c64(sp.inner));
    Value* i = b.CreateURem(line, kb.c64(sp.inner));
    // (Not a structured binding: clang 14 cannot capture those in the lambda below.)
    const auto stats = lineStats(kb, kb.buffer(bind.in[0]), x.dtype, sp, o, i, t);
    Value* mx = stats.first;
    Value* logSum = stats.second;
    kb.loop(0, sp.len, [&](Value* k) {
      Value* flat = b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(o, kb.c64(sp.len)), k), kb.c64(sp.inner)), i);
      Value* z = b.CreateFSub(b.CreateFSub(kb.load(x.dtype, kb.buffer(bind.in[0]), flat, t), mx), logSum);
      Value* v = Log ? z : kb.math("exp", {z});
      kb.store(yt, kb.buffer(bind.out), flat, epi.apply(kb, v, flat, op.output()->type().shape));
    }, "k");
  }, "line");
  return Error::success();
}

// Softmax cross-entropy (Softmax = true) and NLL over axis 1; one kernel item for the whole
// batch so the mean is a single sum (labels are checked: out of range is an error).
template <bool Softmax> Error classLoss(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  auto& b = kb.b();
  const TensorType& x = op.input(0)->type();
  const TensorType& labels = op.input(1)->type();
  bool weighted = op.numInputs() > 2;
  int64_t N = x.shape[0], C = x.shape[1], D = x.numel() / std::max<int64_t>(1, N * C);
  int64_t ignore = op.attrs().getInt("ignore_index");
  std::string reduction = op.attrs().getString("reduction");
  DType yt = op.output()->type().dtype;
  Type* t = computeType(kb.ctx(), yt);
  AxisSplit sp{N, C, D};
  kb.kernel().items = 1;
  auto sums = kb.loopCarry(kb.c64(0), kb.c64(N * D), {kb.cf(0, t), kb.cf(0, t)}, [&](Value* item, const auto& a) {
    Value* n = b.CreateUDiv(item, kb.c64(D));
    Value* d = b.CreateURem(item, kb.c64(D));
    Value* label = b.CreateFPToSI(kb.load(labels.dtype, kb.buffer(bind.in[1]), item, kb.f64()), kb.i64());
    Value* ignored = b.CreateICmpEQ(label, kb.c64(ignore));
    kb.failIf(b.CreateAnd(b.CreateNot(ignored), b.CreateICmpUGE(label, kb.c64(C))),
              fmt::format("a label is out of range [0, {}) ({})", C, op.op().name));
    Value* safe = b.CreateSelect(ignored, kb.c64(0), label);
    Value* picked = kb.load(x.dtype, kb.buffer(bind.in[0]),
                            b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.c64(C)), safe), kb.c64(D)), d), t);
    Value* logp = picked;
    if (Softmax) {
      auto [mx, logSum] = lineStats(kb, kb.buffer(bind.in[0]), x.dtype, sp, n, d, t);
      logp = b.CreateFSub(b.CreateFSub(picked, mx), logSum);
    }
    Value* w = weighted ? kb.load(op.input(2)->type().dtype, kb.buffer(bind.in[2]), safe, t) : kb.cf(1, t);
    w = b.CreateSelect(ignored, kb.cf(0, t), w);
    Value* loss = b.CreateSelect(ignored, kb.cf(0, t), b.CreateFNeg(b.CreateFMul(w, logp)));
    if (reduction == "none")
      kb.store(yt, kb.buffer(bind.out), item, epi.apply(kb, loss, item, op.output()->type().shape));
    return std::vector<Value*>{b.CreateFAdd(a[0], loss), b.CreateFAdd(a[1], w)};
  });
  if (reduction != "none") {
    Value* v = reduction == "sum" ? sums[0] : b.CreateFDiv(sums[0], sums[1]);
    kb.store(yt, kb.buffer(bind.out), kb.c64(0), epi.apply(kb, v, kb.c64(0), op.output()->type().shape));
  }
  return Error::success();
}

// dx of lrn, per image (work item): den and dy*x*den^(-beta-1) for every channel and pixel in
// scratch, then dx_j = dy_j den_j^-beta - 2 alpha beta / size * x_j * (window sum of the latter).
Error lrnGrad(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  auto& b = kb.b();
  const TensorType& x = op.input(0)->type();
  int64_t N = x.shape[0], C = x.shape[1], HW = x.numel() / std::max<int64_t>(1, N * C);
  int64_t size = op.attrs().getInt("size");
  double alpha = op.attrs().getFloat("alpha"), beta = op.attrs().getFloat("beta"), bias = op.attrs().getFloat("bias");
  int64_t before = (size - 1) / 2, after = size - 1 - before;
  DType dyt = op.input(1)->type().dtype, yt = op.output()->type().dtype;
  Type* t = computeType(kb.ctx(), yt);
  int64_t esz = static_cast<int64_t>(t->getPrimitiveSizeInBits() / 8);
  kb.kernel().items = N;
  kb.kernel().scratchBytes = 2 * C * HW * esz + 64;
  Value* den = kb.scratch();
  Value* tt = b.CreateInBoundsGEP(t, den, kb.c64(C * HW));
  double k = alpha / static_cast<double>(size);
  // d^-beta: with the paper's beta = 0.75, 1 / (sqrt(d) * sqrt(sqrt(d))) (no pow call).
  auto powNegBeta = [&](Value* d) -> Value* {
    if (beta != 0.75)
      return kb.math("pow", {d, kb.cf(-beta, t)});
    Value* r = kb.math("sqrt", {d});
    return b.CreateFDiv(kb.cf(1, t), b.CreateFMul(r, kb.math("sqrt", {r})));
  };
  kb.loop(kb.begin(), kb.end(), [&](Value* n) {
    Value* image = b.CreateMul(n, kb.c64(C * HW));
    auto xAt = [&](Value* c, Value* p) {
      return kb.load(x.dtype, kb.buffer(bind.in[0]), b.CreateAdd(image, b.CreateAdd(b.CreateMul(c, kb.c64(HW)), p)), t);
    };
    auto dyAt = [&](Value* c, Value* p) {
      return kb.load(dyt, kb.buffer(bind.in[1]), b.CreateAdd(image, b.CreateAdd(b.CreateMul(c, kb.c64(HW)), p)), t);
    };
    kb.loop(0, C, [&](Value* c) {
      Value* lo = b.CreateBinaryIntrinsic(Intrinsic::smax, b.CreateSub(c, kb.c64(before)), kb.c64(0));
      Value* hi = b.CreateBinaryIntrinsic(Intrinsic::smin, b.CreateAdd(c, kb.c64(after + 1)), kb.c64(C));
      kb.loop(0, HW, [&](Value* p) {
        auto sq = kb.loopCarry(lo, hi, {kb.cf(0, t)}, [&](Value* q, const auto& a) {
          Value* v = xAt(q, p);
          return std::vector<Value*>{b.CreateFAdd(a[0], b.CreateFMul(v, v))};
        });
        Value* d = b.CreateFAdd(kb.cf(bias, t), b.CreateFMul(kb.cf(k, t), sq[0]));
        Value* at = b.CreateAdd(b.CreateMul(c, kb.c64(HW)), p);
        b.CreateStore(d, b.CreateInBoundsGEP(t, den, at));
        Value* pw = b.CreateFDiv(powNegBeta(d), d); // d^(-beta-1)
        b.CreateStore(b.CreateFMul(b.CreateFMul(dyAt(c, p), xAt(c, p)), pw), b.CreateInBoundsGEP(t, tt, at));
      }, "p");
    }, "c");
    kb.loop(0, C, [&](Value* j) {
      Value* lo = b.CreateBinaryIntrinsic(Intrinsic::smax, b.CreateSub(j, kb.c64(after)), kb.c64(0));
      Value* hi = b.CreateBinaryIntrinsic(Intrinsic::smin, b.CreateAdd(j, kb.c64(before + 1)), kb.c64(C));
      kb.loop(0, HW, [&](Value* p) {
        auto sum = kb.loopCarry(lo, hi, {kb.cf(0, t)}, [&](Value* c, const auto& a) {
          Value* at = b.CreateAdd(b.CreateMul(c, kb.c64(HW)), p);
          return std::vector<Value*>{b.CreateFAdd(a[0], b.CreateLoad(t, b.CreateInBoundsGEP(t, tt, at)))};
        });
        Value* at = b.CreateAdd(b.CreateMul(j, kb.c64(HW)), p);
        Value* d = b.CreateLoad(t, b.CreateInBoundsGEP(t, den, at));
        Value* v = b.CreateFSub(b.CreateFMul(dyAt(j, p), powNegBeta(d)),
                                b.CreateFMul(kb.cf(2 * k * beta, t), b.CreateFMul(xAt(j, p), sum[0])));
        Value* flat = b.CreateAdd(image, at);
        kb.store(yt, kb.buffer(bind.out), flat, epi.apply(kb, v, flat, op.output()->type().shape));
      }, "p");
    }, "j");
  }, "image");
  return Error::success();
}

// Gradient of the class losses with respect to the scores (operands: scores, labels, dloss,
// weights?): (softmax - onehot) * w[label] * dloss / norm per item; for nll only the onehot
// term. One work item (the mean's norm is a sum over the batch).
template <bool Softmax> Error classLossGrad(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi) {
  auto& b = kb.b();
  const TensorType& x = op.input(0)->type();
  const TensorType& labels = op.input(1)->type();
  bool weighted = op.numInputs() > 3;
  int64_t N = x.shape[0], C = x.shape[1], D = x.numel() / std::max<int64_t>(1, N * C);
  int64_t ignore = op.attrs().getInt("ignore_index");
  std::string reduction = op.attrs().getString("reduction");
  DType yt = op.output()->type().dtype, dlt = op.input(2)->type().dtype;
  Type* t = computeType(kb.ctx(), yt);
  AxisSplit sp{N, C, D};
  kb.kernel().items = 1;
  auto labelOf = [&](Value* item) {
    return b.CreateFPToSI(kb.load(labels.dtype, kb.buffer(bind.in[1]), item, kb.f64()), kb.i64());
  };
  auto weightOf = [&](Value* safe) {
    return weighted ? kb.load(op.input(3)->type().dtype, kb.buffer(bind.in[3]), safe, t) : kb.cf(1, t);
  };
  auto total = kb.loopCarry(kb.c64(0), kb.c64(N * D), {kb.cf(0, t)}, [&](Value* item, const auto& a) {
    Value* label = labelOf(item);
    Value* ignored = b.CreateICmpEQ(label, kb.c64(ignore));
    kb.failIf(b.CreateAnd(b.CreateNot(ignored), b.CreateICmpUGE(label, kb.c64(C))),
              fmt::format("a label is out of range [0, {}) ({})", C, op.op().name));
    Value* w = weightOf(b.CreateSelect(ignored, kb.c64(0), label));
    return std::vector<Value*>{b.CreateFAdd(a[0], b.CreateSelect(ignored, kb.cf(0, t), w))};
  });
  kb.loop(0, N * D, [&](Value* item) {
    Value* n = b.CreateUDiv(item, kb.c64(D));
    Value* d = b.CreateURem(item, kb.c64(D));
    Value* label = labelOf(item);
    Value* ignored = b.CreateICmpEQ(label, kb.c64(ignore));
    Value* safe = b.CreateSelect(ignored, kb.c64(0), label);
    Value* dl = kb.load(dlt, kb.buffer(bind.in[2]), reduction == "none" ? item : kb.c64(0), t);
    Value* scale = b.CreateFMul(weightOf(safe), dl);
    if (reduction == "mean")
      scale = b.CreateFDiv(scale, total[0]);
    scale = b.CreateSelect(ignored, kb.cf(0, t), scale);
    Value* mx = nullptr;
    Value* logSum = nullptr;
    if (Softmax) {
      const auto stats = lineStats(kb, kb.buffer(bind.in[0]), x.dtype, sp, n, d, t);
      mx = stats.first;
      logSum = stats.second;
    }
    kb.loop(0, C, [&](Value* c) {
      Value* flat = b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(n, kb.c64(C)), c), kb.c64(D)), d);
      Value* v = kb.cf(0, t);
      if (Softmax) {
        Value* logp = b.CreateFSub(b.CreateFSub(kb.load(x.dtype, kb.buffer(bind.in[0]), flat, t), mx), logSum);
        v = b.CreateFMul(kb.math("exp", {logp}), scale);
      }
      v = b.CreateSelect(b.CreateICmpEQ(c, label), b.CreateFSub(v, scale), v);
      kb.store(yt, kb.buffer(bind.out), flat, epi.apply(kb, v, flat, op.output()->type().shape));
    }, "c");
  }, "item");
  return Error::success();
}

constexpr CpuEmitter kEmitters[] = {
    {"lrn_grad", lrnGrad},
    {"softmax_cross_entropy_grad", classLossGrad<true>},
    {"nll_loss_grad", classLossGrad<false>},
    {"lrn", lrn},
    {"batch_norm", batchNorm},
    {"batch_norm_train", batchNormTrain},
    {"batch_norm_train_grad", batchNormTrainGrad},
    {"softmax", softmax<false>},
    {"log_softmax", softmax<true>},
    {"softmax_cross_entropy", classLoss<true>},
    {"nll_loss", classLoss<false>},
};

} // namespace

std::span<const CpuEmitter> normEmitters() { return kEmitters; }

} // namespace sinter::cpu

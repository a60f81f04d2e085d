// ONNX rules: elementwise ops, casts, comparisons, dropout, identity.
#include "frontend/onnx/ImportContext.h"
#include "frontend/onnx/OnnxTensor.h"

namespace sinter::onnxio {

namespace {

template <const OpDef& Op> Error generic(NodeCtx& c) { return c.generic(Op); }

// Max, Min, Sum: variadic in ONNX, folded left into binary ops.
template <const OpDef& Op> Error variadic(NodeCtx& c) {
  SINTER_CHECK(c.onlyAttrs({}));
  if (c.numInputs() < 1)
    return makeError("takes at least one input");
  auto acc = c.in(0);
  if (!acc)
    return acc.error();
  for (size_t i = 1; i < c.numInputs(); ++i) {
    auto v = c.in(i);
    if (!v)
      return v.error();
    acc = c.emit(Op, {*acc, *v});
    if (!acc)
      return acc.error();
  }
  return c.bind(0, *acc);
}

Expected<Value*> castTo(NodeCtx& c, Value* v, DType t) {
  if (v->type().dtype == t)
    return v;
  return c.emit(ops::Cast, {v}, {{"to", std::string(dtypeName(t))}});
}

// ONNX Pow allows a base and exponent of different types; the result has the base's type.
Error pow(NodeCtx& c) {
  SINTER_CHECK(c.checkInputs(2, 2));
  SINTER_CHECK(c.onlyAttrs({}));
  auto base = c.in(0), exp = c.in(1);
  if (!base || !exp)
    return base ? exp.error() : base.error();
  DType bt = (*base)->type().dtype;
  DType work = isFloat(bt) ? bt : DType::F64; // integer powers: compute in f64, cast back
  auto b = castTo(c, *base, work);
  auto e = b ? castTo(c, *exp, work) : b;
  if (!b || !e)
    return b ? e.error() : b.error();
  auto r = c.emit(ops::Pow, {*b, *e});
  if (r)
    r = castTo(c, *r, bt);
  if (!r)
    return r.error();
  return c.bind(0, *r);
}

// Clip: min/max attributes before opset 11, optional scalar inputs after; max(min(...)).
Error clip(NodeCtx& c) {
  SINTER_CHECK(c.onlyAttrs({"min", "max"}));
  SINTER_CHECK(c.checkInputs(1, 3));
  auto x = c.in(0);
  if (!x)
    return x.error();
  Value* y = *x;
  for (int bound = 0; bound < 2; ++bound) { // 0: lower (max with it), 1: upper (min with it)
    const OpDef& op = bound == 0 ? ops::Max : ops::Min;
    Value* limit = nullptr;
    if (c.opset() < 11) {
      const char* name = bound == 0 ? "min" : "max";
      if (!c.attr(name))
        continue;
      auto v = c.attrFloat(name, 0.0);
      if (!v)
        return v.error();
      Tensor t({(*x)->type().dtype, {}});
      t.set(0, *v);
      limit = c.constantValue(std::move(t));
    } else {
      if (!c.has(1 + bound))
        continue;
      auto v = c.in(1 + bound);
      if (!v)
        return v.error();
      limit = *v;
    }
    auto r = c.emit(op, {y, limit});
    if (!r)
      return r.error();
    y = *r;
  }
  if (y == *x) // no bounds: a copy
    return c.bind(0, *x);
  return c.bind(0, y);
}

Error identity(NodeCtx& c) {
  SINTER_CHECK(c.checkInputs(1, 1));
  SINTER_CHECK(c.onlyAttrs({}));
  auto x = c.in(0);
  if (!x)
    return x.error();
  Graph& g = c.importer().graph();
  if (c.importer().options().training && (*x)->isParam() && c.wantsOutput(0)) {
    // An initializer the exporter merged with an equal one: a parameter of its own again.
    const Tensor* data = g.weights().find((*x)->name());
    Value* p = g.addParam(g.uniqueName(c.node().output(0)), (*x)->type(),
                          data ? std::optional<Tensor>(*data) : std::nullopt);
    return c.bind(0, p);
  }
  return c.bind(0, *x);
}

Error cast(NodeCtx& c) {
  SINTER_CHECK(c.checkInputs(1, 1));
  SINTER_CHECK(c.onlyAttrs({"to", "saturate"}));
  const auto* to = c.attr("to");
  if (!to || to->type() != onnx::AttributeProto::INT)
    return makeError("attribute 'to' (INT) is required");
  auto t = dtypeFromOnnx(static_cast<int32_t>(to->i()));
  if (!t)
    return t.error();
  auto x = c.in(0);
  if (!x)
    return x.error();
  auto y = c.emit(ops::Cast, {*x}, {{"to", std::string(dtypeName(*t))}});
  if (!y)
    return y.error();
  return c.bind(0, *y);
}

// Dropout: ratio and training_mode are attributes before opset 12 and optional inputs after.
Error dropout(NodeCtx& c) {
  SINTER_CHECK(c.onlyAttrs({"ratio", "seed", "is_test"}));
  auto x = c.in(0);
  if (!x)
    return x.error();
  double ratio = 0.5;
  bool training = false;
  if (c.opset() < 12) {
    auto r = c.attrFloat("ratio", 0.5);
    if (!r)
      return r.error();
    ratio = *r;
    auto isTest = c.attrInt("is_test", 0);
    if (!isTest)
      return isTest.error();
    training = c.opset() < 7 && *isTest == 0;
  } else {
    if (c.has(1)) {
      auto r = c.constScalar(1, "ratio");
      if (!r)
        return r.error();
      ratio = *r;
    }
    if (c.has(2)) {
      auto t = c.constScalar(2, "training_mode");
      if (!t)
        return t.error();
      training = *t != 0;
    }
  }
  auto seed = c.attrInt("seed", 0);
  if (!seed)
    return seed.error();
  if (training && ratio == 0)
    training = false;
  if (training && c.wantsOutput(1))
    return makeUnsupported("the mask output of a training-mode Dropout is not supported");
  auto y = c.emit(ops::Dropout, {*x}, {{"ratio", ratio}, {"training", int64_t{training}}, {"seed", *seed}});
  if (!y)
    return y.error();
  SINTER_CHECK(c.bind(0, *y));
  if (c.wantsOutput(1)) { // inference: every element kept
    Tensor mask({DType::Bool, (*x)->type().shape});
    for (int64_t i = 0; i < mask.numel(); ++i)
      mask.set(i, 1.0);
    SINTER_CHECK(c.bind(1, c.constantValue(std::move(mask))));
  }
  return Error::success();
}

constexpr OnnxRule kRules[] = {
    {"Relu", generic<ops::Relu>},       {"Neg", generic<ops::Neg>},         {"Abs", generic<ops::Abs>},
    {"Sqrt", generic<ops::Sqrt>},       {"Exp", generic<ops::Exp>},         {"Log", generic<ops::Log>},
    {"Sigmoid", generic<ops::Sigmoid>}, {"Tanh", generic<ops::Tanh>},       {"Add", generic<ops::Add>},
    {"Sub", generic<ops::Sub>},         {"Mul", generic<ops::Mul>},         {"Div", generic<ops::Div>},
    {"Pow", pow},                       {"Max", variadic<ops::Max>},        {"Min", variadic<ops::Min>},
    {"Sum", variadic<ops::Add>},        {"Equal", generic<ops::Equal>},     {"Where", generic<ops::Where>},
    {"Cast", cast},                     {"Identity", identity},             {"Dropout", dropout},
    {"Clip", clip},
};

} // namespace

std::span<const OnnxRule> elementwiseRules() { return kRules; }

} // namespace sinter::onnxio

// ONNX rules: data movement and the shape arithmetic exporters emit (folded when constant).
#include "frontend/onnx/ImportContext.h"
#include "frontend/onnx/OnnxTensor.h"

#include <algorithm>
#include <cmath>

namespace sinter::onnxio {

namespace {

template <const OpDef& Op> Error generic(NodeCtx& c) { return c.generic(Op); }

// Reshape to fixed dims (Squeeze, Unsqueeze and Reshape all end here).
Error reshapeTo(NodeCtx& c, Value* x, Shape dims) {
  auto y = c.emit(ops::Reshape, {x}, {{"shape", std::move(dims)}});
  if (!y)
    return y.error();
  return c.bind(0, *y);
}

Error reshape(NodeCtx& c) {
  SINTER_CHECK(c.onlyAttrs({"allowzero", "shape"}));
  auto x = c.in(0);
  if (!x)
    return x.error();
  auto shape = c.opset() < 5 ? c.attrInts("shape", {}) : c.constInts(1, "shape");
  auto allowZero = c.attrInt("allowzero", 0);
  if (!shape || !allowZero)
    return shape ? allowZero.error() : shape.error();
  const Shape& in = (*x)->type().shape;
  Shape dims = *shape;
  for (size_t i = 0; i < dims.size(); ++i)
    if (dims[i] == 0 && !*allowZero) {
      if (i >= in.size())
        return makeError("shape {} copies dim {} (0), but the input {} has rank {}", shapeString(*shape), i,
                         (*x)->type().str(), in.size());
      dims[i] = in[i];
    }
  // Resolve -1 here so the IR shows the real dims (the op's rule reports a bad count).
  int64_t known = 1, inferred = -1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1 && inferred < 0)
      inferred = static_cast<int64_t>(i);
    else if (dims[i] >= 0 && dims[i] <= kMaxDim && known <= kMaxDim)
      known *= dims[i];
  }
  int64_t n = (*x)->type().numel();
  if (inferred >= 0 && known > 0 && n % known == 0)
    dims[inferred] = n / known;
  return reshapeTo(c, *x, dims);
}

Error transpose(NodeCtx& c) {
  SINTER_CHECK(c.checkInputs(1, 1));
  SINTER_CHECK(c.onlyAttrs({"perm"}));
  auto x = c.in(0);
  if (!x)
    return x.error();
  std::vector<int64_t> reversed;
  for (int64_t i = (*x)->type().rank() - 1; i >= 0; --i)
    reversed.push_back(i);
  auto perm = c.attrInts("perm", reversed);
  if (!perm)
    return perm.error();
  auto y = c.emit(ops::Transpose, {*x}, {{"perm", *perm}});
  if (!y)
    return y.error();
  return c.bind(0, *y);
}

Error slice(NodeCtx& c) {
  SINTER_CHECK(c.onlyAttrs({"starts", "ends", "axes"}));
  auto x = c.in(0);
  if (!x)
    return x.error();
  Expected<std::vector<int64_t>> starts = std::vector<int64_t>{}, ends = starts, axes = starts, steps = starts;
  if (c.opset() < 10) {
    starts = c.attrInts("starts", {});
    ends = c.attrInts("ends", {});
    axes = c.attrInts("axes", {});
  } else {
    SINTER_CHECK(c.checkInputs(3, 5));
    starts = c.constInts(1, "starts");
    ends = c.constInts(2, "ends");
    if (c.has(3))
      axes = c.constInts(3, "axes");
    if (c.has(4))
      steps = c.constInts(4, "steps");
  }
  for (auto* e : {&starts, &ends, &axes, &steps})
    if (!*e)
      return e->error();
  auto y = c.emit(ops::Slice, {*x}, {{"starts", *starts}, {"ends", *ends}, {"axes", *axes}, {"steps", *steps}});
  if (!y)
    return y.error();
  return c.bind(0, *y);
}

Error pad(NodeCtx& c) {
  SINTER_CHECK(c.onlyAttrs({"mode", "pads", "value", "paddings"}));
  auto x = c.in(0);
  if (!x)
    return x.error();
  int64_t rank = (*x)->type().rank();
  auto mode = c.attrString("mode", "constant");
  if (!mode)
    return mode.error();
  if (*mode == "wrap")
    return makeUnsupported("Pad mode 'wrap' is not supported");
  Expected<std::vector<int64_t>> pads = std::vector<int64_t>{};
  double value = 0;
  if (c.opset() < 11) {
    pads = c.attrInts(c.attr("paddings") ? "paddings" : "pads", {});
    auto v = c.attrFloat("value", 0.0);
    if (!v)
      return v.error();
    value = *v;
  } else {
    SINTER_CHECK(c.checkInputs(2, 4));
    pads = c.constInts(1, "pads");
    if (c.has(2)) {
      auto v = c.constScalar(2, "constant_value");
      if (!v)
        return v.error();
      value = *v;
    }
    if (pads && c.has(3)) { // opset 18: pads only for the listed axes
      auto axes = c.constInts(3, "axes");
      if (!axes)
        return axes.error();
      if (pads->size() != 2 * axes->size())
        return makeError("pads {} must have 2 values per axis in {}", shapeString(*pads), shapeString(*axes));
      std::vector<int64_t> full(2 * rank, 0);
      for (size_t i = 0; i < axes->size(); ++i) {
        int64_t a = (*axes)[i] < 0 ? (*axes)[i] + rank : (*axes)[i];
        if (a < 0 || a >= rank)
          return makeError("axis {} is out of range for rank {}", (*axes)[i], rank);
        full[a] = (*pads)[i];
        full[a + rank] = (*pads)[i + axes->size()];
      }
      pads = full;
    }
  }
  if (!pads)
    return pads.error();
  auto y = c.emit(ops::Pad, {*x}, {{"pads", *pads}, {"mode", *mode}, {"value", value}});
  if (!y)
    return y.error();
  return c.bind(0, *y);
}

// Squeeze/Unsqueeze axes: an attribute before opset 13, an (optional) input after.
Expected<std::vector<int64_t>> squeezeAxes(NodeCtx& c) {
  if (c.opset() < 13)
    return c.attrInts("axes", {});
  if (c.has(1))
    return c.constInts(1, "axes");
  return std::vector<int64_t>{};
}

Error squeeze(NodeCtx& c) {
  SINTER_CHECK(c.onlyAttrs({"axes"}));
  auto x = c.in(0);
  auto axes = squeezeAxes(c);
  if (!x || !axes)
    return x ? axes.error() : x.error();
  const Shape& s = (*x)->type().shape;
  int64_t r = static_cast<int64_t>(s.size());
  std::vector<bool> drop(s.size(), false);
  if (axes->empty())
    for (size_t i = 0; i < s.size(); ++i)
      drop[i] = s[i] == 1;
  for (int64_t a : *axes) {
    int64_t n = a < 0 ? a + r : a;
    if (n < 0 || n >= r)
      return makeError("axis {} is out of range for {}", a, (*x)->type().str());
    if (s[n] != 1)
      return makeError("cannot squeeze dim {} of {}: it is not 1", a, (*x)->type().str());
    drop[n] = true;
  }
  Shape out;
  for (size_t i = 0; i < s.size(); ++i)
    if (!drop[i])
      out.push_back(s[i]);
  return reshapeTo(c, *x, out);
}

Error unsqueeze(NodeCtx& c) {
  SINTER_CHECK(c.onlyAttrs({"axes"}));
  auto x = c.in(0);
  auto axes = squeezeAxes(c);
  if (!x || !axes)
    return x ? axes.error() : x.error();
  const Shape& s = (*x)->type().shape;
  int64_t r = static_cast<int64_t>(s.size() + axes->size());
  std::vector<bool> inserted(static_cast<size_t>(r), false);
  for (int64_t a : *axes) {
    int64_t n = a < 0 ? a + r : a;
    if (n < 0 || n >= r || inserted[n])
      return makeError("axes {} are out of range or repeated for output rank {}", shapeString(*axes), r);
    inserted[n] = true;
  }
  Shape out;
  size_t k = 0;
  for (int64_t i = 0; i < r; ++i)
    out.push_back(inserted[i] ? 1 : s[k++]);
  return reshapeTo(c, *x, out);
}

Tensor i64Tensor(const std::vector<int64_t>& v) {
  Tensor t({DType::I64, {static_cast<int64_t>(v.size())}});
  std::copy(v.begin(), v.end(), t.as<int64_t>().begin());
  return t;
}

Error shapeOp(NodeCtx& c) {
  SINTER_CHECK(c.checkInputs(1, 1));
  SINTER_CHECK(c.onlyAttrs({"start", "end"}));
  auto x = c.in(0);
  if (!x)
    return x.error();
  const Shape& s = (*x)->type().shape;
  int64_t r = static_cast<int64_t>(s.size());
  auto start = c.attrInt("start", 0);
  auto end = c.attrInt("end", r);
  if (!start || !end)
    return start ? end.error() : start.error();
  auto clampIdx = [&](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + r : v, 0, r); };
  int64_t b = clampIdx(*start), e = clampIdx(*end);
  std::vector<int64_t> dims(s.begin() + b, s.begin() + std::max(b, e));
  return c.bind(0, c.constantValue(i64Tensor(dims)));
}

Error constantOfShape(NodeCtx& c) {
  SINTER_CHECK(c.checkInputs(1, 1));
  SINTER_CHECK(c.onlyAttrs({"value"}));
  auto shape = c.constInts(0, "shape");
  if (!shape)
    return shape.error();
  Tensor fill({DType::F32, {1}});
  if (const auto* a = c.attr("value")) {
    if (a->type() != onnx::AttributeProto::TENSOR)
      return makeError("attribute 'value' must be TENSOR");
    auto t = tensorFromOnnx(a->t(), c.importer().baseDir());
    if (!t)
      return t.error();
    if (t->numel() != 1)
      return makeError("attribute 'value' must hold one element, got {}", t->type().str());
    fill = *t;
  }
  TensorType type{fill.dtype(), *shape};
  if (type.numel() < 0 || type.numel() > (int64_t(1) << 28))
    return makeError("shape {} is invalid or too large for a constant", shapeString(*shape));
  Tensor out(type);
  double v = fill.get(0);
  for (int64_t i = 0; i < out.numel(); ++i)
    out.set(i, v);
  return c.bind(0, c.constantValue(std::move(out)));
}

Error range(NodeCtx& c) {
  SINTER_CHECK(c.checkInputs(3, 3));
  SINTER_CHECK(c.onlyAttrs({}));
  auto start = c.constScalar(0, "start");
  auto limit = c.constScalar(1, "limit");
  auto delta = c.constScalar(2, "delta");
  if (!start || !limit || !delta)
    return !start ? start.error() : !limit ? limit.error() : delta.error();
  if (*delta == 0 || !std::isfinite(*start) || !std::isfinite(*limit) || !std::isfinite(*delta))
    return makeError("Range needs a nonzero delta and finite bounds");
  double n = std::max(std::ceil((*limit - *start) / *delta), 0.0);
  if (n > double(1 << 28))
    return makeError("Range of {} elements is too large", n);
  Tensor out({c.constant(0)->dtype(), {static_cast<int64_t>(n)}});
  for (int64_t i = 0; i < out.numel(); ++i)
    out.set(i, *start + static_cast<double>(i) * *delta);
  return c.bind(0, c.constantValue(std::move(out)));
}

// Reductions: axes are an attribute, or (ReduceSum from 13, the others from 18) an input.
template <const OpDef& Op, int InputFromOpset> Error reduce(NodeCtx& c) {
  SINTER_CHECK(c.onlyAttrs({"axes", "keepdims", "noop_with_empty_axes"}));
  auto x = c.in(0);
  if (!x)
    return x.error();
  auto keep = c.attrInt("keepdims", 1);
  auto noop = c.attrInt("noop_with_empty_axes", 0);
  Expected<std::vector<int64_t>> axes = std::vector<int64_t>{};
  if (c.opset() < InputFromOpset)
    axes = c.attrInts("axes", {});
  else if (c.has(1))
    axes = c.constInts(1, "axes");
  if (!keep || !noop || !axes)
    return !keep ? keep.error() : !noop ? noop.error() : axes.error();
  if (axes->empty() && *noop)
    return c.bind(0, *x);
  auto y = c.emit(Op, {*x}, {{"axes", *axes}, {"keepdims", *keep}});
  if (!y)
    return y.error();
  return c.bind(0, *y);
}

constexpr OnnxRule kRules[] = {
    {"Flatten", generic<ops::Flatten>},
    {"Reshape", reshape},
    {"Transpose", transpose},
    {"Concat", generic<ops::Concat>},
    {"Slice", slice},
    {"Pad", pad},
    {"Squeeze", squeeze},
    {"Unsqueeze", unsqueeze},
    {"Shape", shapeOp},
    {"Gather", generic<ops::Gather>},
    {"GatherElements", generic<ops::GatherElements>},
    {"ConstantOfShape", constantOfShape},
    {"Range", range},
    {"ReduceSum", reduce<ops::ReduceSum, 13>},
    {"ReduceMean", reduce<ops::ReduceMean, 18>},
    {"ReduceMax", reduce<ops::ReduceMax, 18>},
};

} // namespace

std::span<const OnnxRule> shapeRules() { return kRules; }

} // namespace sinter::onnxio

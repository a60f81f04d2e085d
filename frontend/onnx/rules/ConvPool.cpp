// ONNX rules: Conv, MaxPool, AveragePool, GlobalAveragePool (2-D, NCHW), incl. auto_pad.
#include "frontend/onnx/ImportContext.h"

namespace sinter::onnxio {

namespace {

struct Window {
  std::vector<int64_t> kernel, strides, dilations, pads; // pads: begins then ends
};

// Reads strides/dilations/pads/auto_pad for a window over the spatial dims of `x` [N, C, ...].
Expected<Window> readWindow(NodeCtx& c, const Shape& x, std::vector<int64_t> kernel, bool hasDilations) {
  size_t n = x.size() < 2 ? 0 : x.size() - 2;
  Window w;
  w.kernel = std::move(kernel);
  if (w.kernel.size() != n)
    return makeError("kernel_shape {} must have {} values", shapeString(w.kernel), n);
  std::vector<int64_t> ones(n, 1), zeros(2 * n, 0);
  auto s = c.attrInts("strides", ones);
  auto d = hasDilations ? c.attrInts("dilations", ones) : Expected<std::vector<int64_t>>(ones);
  auto p = c.attrInts("pads", zeros);
  auto autoPad = c.attrString("auto_pad", "NOTSET");
  if (!s || !d || !p || !autoPad)
    return !s ? s.error() : !d ? d.error() : !p ? p.error() : autoPad.error();
  if (s->size() != n || d->size() != n || p->size() != 2 * n)
    return makeError("strides {}, dilations {} and pads {} must have {}, {} and {} values", shapeString(*s),
                     shapeString(*d), shapeString(*p), n, n, 2 * n);
  w.strides = *s;
  w.dilations = *d;
  w.pads = *p;
  const std::string& mode = *autoPad;
  if (mode == "VALID") {
    w.pads = zeros;
  } else if (mode == "SAME_UPPER" || mode == "SAME_LOWER") {
    for (size_t i = 0; i < n; ++i) {
      int64_t in = x[2 + i], st = w.strides[i];
      if (st < 1 || st > kMaxDim || w.kernel[i] < 1 || w.kernel[i] > (1 << 20) || w.dilations[i] < 1 ||
          w.dilations[i] > (1 << 20))
        return makeError("kernel_shape, strides and dilations must be positive");
      int64_t out = (in + st - 1) / st;
      int64_t total = std::max<int64_t>(0, (out - 1) * st + (w.kernel[i] - 1) * w.dilations[i] + 1 - in);
      int64_t small = total / 2, large = total - small;
      w.pads[i] = mode == "SAME_UPPER" ? small : large;
      w.pads[i + n] = mode == "SAME_UPPER" ? large : small;
    }
  } else if (mode != "NOTSET") {
    return makeError("auto_pad '{}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", mode);
  }
  return w;
}

// Pools with the 2-D op over 1-D, 2-D, or 3-D inputs whose last two window dims are trivial
// (kernel 1, stride 1, no padding: how PyTorch exports LocalResponseNorm), by reshaping.
Error pool(NodeCtx& c, const OpDef& op, Value* x, Window w, Attrs extra) {
  const Shape& s = x->type().shape;
  size_t n = s.size() - 2;
  auto trivial = [&](size_t i) {
    return w.kernel[i] == 1 && w.strides[i] == 1 && w.dilations[i] == 1 && w.pads[i] == 0 && w.pads[i + n] == 0;
  };
  Shape as2d;
  if (n == 1) { // [N, C, L] -> [N, C, L, 1]
    as2d = {s[0], s[1], s[2], 1};
    w = {{w.kernel[0], 1}, {w.strides[0], 1}, {w.dilations[0], 1}, {w.pads[0], 0, w.pads[1], 0}};
  } else if (n == 3 && trivial(1) && trivial(2)) { // [N, C, D, H, W] -> [N, C, D, H*W]
    as2d = {s[0], s[1], s[2], s[3] * s[4]};
    w = {{w.kernel[0], 1}, {w.strides[0], 1}, {w.dilations[0], 1}, {w.pads[0], 0, w.pads[3], 0}};
  } else if (n != 2) {
    return makeUnsupported("{}-D pooling is supported only when it reduces to 2-D (trivial trailing window "
                           "dims), got kernel {}", n, shapeString(w.kernel));
  }
  Value* in = x;
  if (!as2d.empty()) {
    auto r = c.emit(ops::Reshape, {x}, {{"shape", as2d}});
    if (!r)
      return r.error();
    in = *r;
  }
  extra.set("kernel", w.kernel);
  extra.set("stride", w.strides);
  extra.set("pad", w.pads);
  if (op.findAttr("dilation"))
    extra.set("dilation", w.dilations);
  auto y = c.emit(op, {in}, std::move(extra));
  if (y && !as2d.empty()) {
    Shape out = (*y)->type().shape;
    Shape back = s;
    back[2] = out[2];
    if (n == 3) { // trailing dims kept their size
      back[3] = s[3];
      back[4] = s[4];
    }
    y = c.emit(ops::Reshape, {*y}, {{"shape", back}});
  }
  if (!y)
    return y.error();
  return c.bind(0, *y);
}

Error require2d(const Value* x, std::string_view what) {
  if (x->type().rank() != 4)
    return makeUnsupported("only 2-D {} (4-D NCHW input) is supported, got {}", what, x->type().str());
  return Error::success();
}

Error conv(NodeCtx& c) {
  SINTER_CHECK(c.checkInputs(2, 3));
  SINTER_CHECK(c.onlyAttrs({"kernel_shape", "strides", "dilations", "pads", "auto_pad", "group"}));
  auto ins = c.inputs();
  if (!ins)
    return ins.error();
  std::vector<Value*>& in = *ins;
  SINTER_CHECK(require2d(in[0], "convolution"));
  if (in[1]->type().rank() != 4)
    return makeError("weight must be 4-D [M, C/group, kH, kW], got {}", in[1]->type().str());
  std::vector<int64_t> wk(in[1]->type().shape.begin() + 2, in[1]->type().shape.end());
  auto k = c.attrInts("kernel_shape", wk);
  if (!k)
    return k.error();
  if (*k != wk)
    return makeError("kernel_shape {} does not match weight {}", shapeString(*k), in[1]->type().str());
  auto w = readWindow(c, in[0]->type().shape, *k, true);
  auto group = c.attrInt("group", 1);
  if (!w || !group)
    return w ? group.error() : w.error();
  auto y = c.emit(ops::Conv2d, in,
                  {{"stride", w->strides}, {"pad", w->pads}, {"dilation", w->dilations}, {"group", *group}});
  if (!y)
    return y.error();
  return c.bind(0, *y);
}

Error maxPool(NodeCtx& c) {
  SINTER_CHECK(c.checkInputs(1, 1));
  SINTER_CHECK(c.onlyAttrs({"kernel_shape", "strides", "dilations", "pads", "auto_pad", "ceil_mode", "storage_order"}));
  if (c.wantsOutput(1))
    return makeUnsupported("the Indices output of MaxPool is not supported");
  auto x = c.in(0);
  if (!x)
    return x.error();
  auto k = c.attrInts("kernel_shape", {});
  auto ceil = c.attrInt("ceil_mode", 0);
  if (!k || !ceil)
    return k ? ceil.error() : k.error();
  auto w = readWindow(c, (*x)->type().shape, *k, true);
  if (!w)
    return w.error();
  return pool(c, ops::MaxPool2d, *x, *w, {{"ceil_mode", *ceil}});
}

Error averagePool(NodeCtx& c) {
  SINTER_CHECK(c.checkInputs(1, 1));
  SINTER_CHECK(c.onlyAttrs({"kernel_shape", "strides", "pads", "auto_pad", "ceil_mode", "count_include_pad"}));
  auto x = c.in(0);
  if (!x)
    return x.error();
  auto k = c.attrInts("kernel_shape", {});
  auto ceil = c.attrInt("ceil_mode", 0);
  auto incl = c.attrInt("count_include_pad", 0);
  if (!k || !ceil || !incl)
    return !k ? k.error() : !ceil ? ceil.error() : incl.error();
  auto w = readWindow(c, (*x)->type().shape, *k, false);
  if (!w)
    return w.error();
  return pool(c, ops::AvgPool2d, *x, *w, {{"ceil_mode", *ceil}, {"count_include_pad", *incl}});
}

Error globalAveragePool(NodeCtx& c) { return c.generic(ops::GlobalAvgPool); }

constexpr OnnxRule kRules[] = {
    {"Conv", conv},
    {"MaxPool", maxPool},
    {"AveragePool", averagePool},
    {"GlobalAveragePool", globalAveragePool},
};

} // namespace

std::span<const OnnxRule> convPoolRules() { return kRules; }

} // namespace sinter::onnxio

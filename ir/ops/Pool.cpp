// Pooling op entries.
#include "ir/GradBuilder.h"
#include "ir/Graph.h"
#include "ir/ops/Ops.h"
#include "ir/ops/ShapeRules.h"

namespace sinter::ops {

using namespace rules;

namespace {
Error pool2dShape(ShapeCtx& c, bool dilated) {
  if (!dilated) // average pooling divides: floats only; max pooling works on any numeric type
    SINTER_CHECK(requireFloat(c, 0));
  else if (c.in(0).dtype == DType::Bool)
    return makeError("operand 0 must be numeric, got bool");
  SINTER_CHECK(requireRank(c, 0, 4));
  SINTER_CHECK(requireLength(c, "kernel", 2));
  SINTER_CHECK(requireLength(c, "stride", 2));
  SINTER_CHECK(requireLength(c, "pad", 4));
  const Shape& x = c.in(0).shape;
  const auto& k = c.ints("kernel");
  const auto& s = c.ints("stride");
  const auto& p = c.ints("pad");
  std::vector<int64_t> d{1, 1};
  if (dilated) {
    SINTER_CHECK(requireLength(c, "dilation", 2));
    d = c.ints("dilation");
  }
  int64_t ceil = c.i("ceil_mode");
  if (ceil != 0 && ceil != 1)
    return makeError("ceil_mode must be 0 or 1, got {}", ceil);
  for (int i = 0; i < 2; ++i)
    if (p[i] >= k[i] * d[i] || p[i + 2] >= k[i] * d[i])
      return makeError("pad {} must be smaller than the window {}", shapeString(p), shapeString(k));
  auto h = windowExtent(x[2], k[0], s[0], p[0], p[2], d[0], ceil, "height");
  if (!h)
    return h.error();
  auto w = windowExtent(x[3], k[1], s[1], p[1], p[3], d[1], ceil, "width");
  if (!w)
    return w.error();
  return c.result({c.in(0).dtype, {x[0], x[1], *h, *w}});
}
// A pooling gradient's shape: `x` pooled with these attributes must give `dy`; the result is x's type.
Error poolGradShape(ShapeCtx& c, const TensorType& x, const TensorType& dy, bool dilated) {
  std::array<TensorType, 1> xs{x};
  ShapeCtx sub(xs, c.attrs());
  SINTER_CHECK(pool2dShape(sub, dilated));
  if (dy.dtype != x.dtype || dy.shape != sub.outputs[0].shape)
    return makeError("output gradient {} does not match the pooling's output {}", dy.str(), sub.outputs[0].str());
  return c.result(x);
}
Attrs poolAttrs(const Attrs& a, bool dilated) {
  Attrs out{{"kernel", a.getInts("kernel")}, {"stride", a.getInts("stride")}, {"pad", a.getInts("pad")}};
  if (dilated)
    out.set("dilation", a.getInts("dilation"));
  out.set("ceil_mode", a.getInt("ceil_mode"));
  if (!dilated)
    out.set("count_include_pad", a.getInt("count_include_pad"));
  return out;
}
int64_t poolCost(const Node& n) {
  const auto& k = n.attrs().getInts("kernel");
  return n.output()->type().numel() * k[0] * k[1];
}
} // namespace

constexpr OpDef MaxPool2d{
    .name = "max_pool2d", .family = OpFamily::Pool, .onnx = {"MaxPool"}, .inputs = {"x"},
    .attrs = {attr::Required("kernel", AttrKind::Ints), attr::Ints("stride", {1, 1}),
              attr::Ints("pad", {0, 0, 0, 0}, "top, left, bottom, right"),
              attr::Ints("dilation", {1, 1}), attr::Int("ceil_mode", 0)},
    .shape = [](ShapeCtx& c) { return pool2dShape(c, true); }, .lower = Kernel{"max_pool2d"},
    .cost = poolCost,
    .grad = [](GradBuilder& gb, const Node& n) -> Error {
      if (gb.wants(0))
        gb.give(0, gb.emit(MaxPool2dGrad, {n.input(0), gb.dy()}, poolAttrs(n.attrs(), true)));
      return gb.error();
    },
    .differentiable = true, .summary = "2-D max pooling, NCHW (padding never wins)"};

// dx of max_pool2d: each window's gradient goes to its maximum (the first one in row-major
// window order on ties, like PyTorch), summed where windows overlap.
constexpr OpDef MaxPool2dGrad{
    .name = "max_pool2d_grad", .family = OpFamily::Pool, .inputs = {"x", "dy"}, .outputs = {"dx"},
    .attrs = {attr::Required("kernel", AttrKind::Ints), attr::Ints("stride", {1, 1}),
              attr::Ints("pad", {0, 0, 0, 0}, "top, left, bottom, right"),
              attr::Ints("dilation", {1, 1}), attr::Int("ceil_mode", 0)},
    .shape = [](ShapeCtx& c) -> Error {
      SINTER_CHECK(requireFloat(c, 0));
      return poolGradShape(c, c.in(0), c.in(1), true);
    },
    .lower = Kernel{"max_pool2d_grad"}, .cost = poolCost,
    .summary = "gradient of max_pool2d (to each window's first maximum)"};

constexpr OpDef AvgPool2d{
    .name = "avg_pool2d", .family = OpFamily::Pool, .onnx = {"AveragePool"}, .inputs = {"x"},
    .attrs = {attr::Required("kernel", AttrKind::Ints), attr::Ints("stride", {1, 1}),
              attr::Ints("pad", {0, 0, 0, 0}, "top, left, bottom, right"),
              attr::Int("ceil_mode", 0),
              attr::Int("count_include_pad", 0, "1: divide by the full window incl. padding")},
    .shape = [](ShapeCtx& c) { return pool2dShape(c, false); }, .lower = Kernel{"avg_pool2d"},
    .cost = poolCost,
    .grad = [](GradBuilder& gb, const Node& n) -> Error {
      const Shape& x = n.input(0)->type().shape;
      Attrs a = poolAttrs(n.attrs(), false);
      a.set("input_hw", std::vector<int64_t>{x[2], x[3]});
      if (gb.wants(0))
        gb.give(0, gb.emit(AvgPool2dGrad, {gb.dy()}, a));
      return gb.error();
    },
    .differentiable = true, .summary = "2-D average pooling, NCHW"};

// dx of avg_pool2d: each window's gradient spread evenly over the elements it averaged.
constexpr OpDef AvgPool2dGrad{
    .name = "avg_pool2d_grad", .family = OpFamily::Pool, .inputs = {"dy"}, .outputs = {"dx"},
    .attrs = {attr::Required("kernel", AttrKind::Ints), attr::Ints("stride", {1, 1}),
              attr::Ints("pad", {0, 0, 0, 0}, "top, left, bottom, right"),
              attr::Int("ceil_mode", 0),
              attr::Int("count_include_pad", 0, "1: divide by the full window incl. padding"),
              attr::Required("input_hw", AttrKind::Ints, "height and width of the pooling's input")},
    .shape = [](ShapeCtx& c) -> Error {
      SINTER_CHECK(requireFloat(c, 0));
      SINTER_CHECK(requireRank(c, 0, 4));
      SINTER_CHECK(requireLength(c, "input_hw", 2));
      const Shape& dy = c.in(0).shape;
      const auto& hw = c.ints("input_hw");
      if (hw[0] < 1 || hw[1] < 1 || hw[0] > kMaxDim || hw[1] > kMaxDim)
        return makeError("input_hw {} must be positive", shapeString(hw));
      return poolGradShape(c, {c.in(0).dtype, {dy[0], dy[1], hw[0], hw[1]}}, c.in(0), false);
    },
    .lower = Kernel{"avg_pool2d_grad"}, .cost = poolCost,
    .summary = "gradient of avg_pool2d"};

constexpr OpDef GlobalAvgPool{
    .name = "global_avg_pool", .family = OpFamily::Pool, .onnx = {"GlobalAveragePool"},
    .inputs = {"x"},
    .shape = [](ShapeCtx& c) -> Error {
      SINTER_CHECK(requireFloat(c, 0));
      if (c.in(0).rank() < 3)
        return makeError("operand 0 must have rank >= 3 (N, C, spatial...), got {}", c.in(0).str());
      Shape s = c.in(0).shape;
      for (size_t i = 2; i < s.size(); ++i)
        s[i] = 1;
      return c.result({c.in(0).dtype, s});
    },
    .lower = Kernel{"global_avg_pool"},
    .grad = [](GradBuilder& gb, const Node& n) -> Error {
      const Shape& x = n.input(0)->type().shape;
      if (x.size() != 4)
        return makeUnsupported("the gradient of global_avg_pool is implemented for 4-D inputs, not {}",
                               shapeString(x));
      if (gb.wants(0))
        gb.give(0, gb.emit(AvgPool2dGrad, {gb.dy()},
                           {{"kernel", std::vector<int64_t>{x[2], x[3]}},
                            {"input_hw", std::vector<int64_t>{x[2], x[3]}}}));
      return gb.error();
    },
    .differentiable = true,
    .summary = "mean over all spatial dims, keeping them as 1"};

} // namespace sinter::ops

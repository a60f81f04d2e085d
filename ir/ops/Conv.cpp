// Convolution op entries.
#include "ir/Graph.h"
#include "ir/ops/Ops.h"
#include "ir/ops/ShapeRules.h"

namespace sinter::ops {

using namespace rules;

// 2-D convolution (cross-correlation), NCHW, weight [M, C/group, kH, kW], optional bias [M].
// pad = [top, left, bottom, right] (ONNX order: begins then ends).
constexpr OpDef Conv2d{
    .name = "conv2d", .family = OpFamily::Conv, .onnx = {"Conv"}, .inputs = {"x", "w", "b"},
    .minInputs = 2,
    .attrs = {attr::Ints("stride", {1, 1}), attr::Ints("pad", {0, 0, 0, 0}, "top, left, bottom, right"),
              attr::Ints("dilation", {1, 1}), attr::Int("group", 1)},
    .shape = [](ShapeCtx& c) -> Error {
      SINTER_CHECK(requireFloat(c, 0));
      SINTER_CHECK(requireSameDType(c));
      SINTER_CHECK(requireRank(c, 0, 4));
      SINTER_CHECK(requireRank(c, 1, 4));
      SINTER_CHECK(requireLength(c, "stride", 2));
      SINTER_CHECK(requireLength(c, "pad", 4));
      SINTER_CHECK(requireLength(c, "dilation", 2));
      const Shape& x = c.in(0).shape;
      const Shape& w = c.in(1).shape;
      int64_t g = c.i("group");
      if (g < 1 || g > kMaxDim)
        return makeError("group {} must be positive", g);
      if (x[1] % g != 0 || x[1] / g != w[1])
        return makeError("input channels {} do not match weight {} (in-channels {} x group {} = {})",
                         x[1], shapeString(w), w[1], g, w[1] * g);
      if (w[0] % g != 0)
        return makeError("output channels {} are not divisible by group {}", w[0], g);
      if (c.has(2) && c.in(2).shape != Shape{w[0]})
        return makeError("bias {} does not match output channels [{}]", shapeString(c.in(2).shape), w[0]);
      const auto& s = c.ints("stride");
      const auto& p = c.ints("pad");
      const auto& d = c.ints("dilation");
      auto h = windowExtent(x[2], w[2], s[0], p[0], p[2], d[0], false, "height");
      if (!h)
        return h.error();
      auto wd = windowExtent(x[3], w[3], s[1], p[1], p[3], d[1], false, "width");
      if (!wd)
        return wd.error();
      return c.result({c.in(0).dtype, {x[0], w[0], *h, *wd}});
    },
    .lower = Kernel{"conv2d"},
    .cost = [](const Node& n) -> int64_t {
      const Shape& w = n.input(1)->type().shape;
      int64_t out = n.output()->type().numel();
      return 2 * out * w[1] * w[2] * w[3] + (n.numInputs() > 2 ? out : 0);
    }, .differentiable = true,
    .summary = "2-D convolution, NCHW, grouped and dilated"};

} // namespace sinter::ops

// Convolution op entries.
#include "ir/GradBuilder.h"
#include "ir/Graph.h"
#include "ir/ops/Ops.h"
#include "ir/ops/ShapeRules.h"
#include "ir/Winograd.h"

namespace sinter::ops {

using namespace rules;

namespace {

// The forward convolution's sizes for a gradient op: x [N,C,H,W], w [M,C/g,KH,KW] and
// dy [N,M,OH,OW] must be what conv2d(x, w) with these attributes would see and produce.
Error checkConvTriple(const ShapeCtx& c, const Shape& x, const Shape& w, const Shape& dy) {
  SINTER_CHECK(requireLength(c, "stride", 2));
  SINTER_CHECK(requireLength(c, "pad", 4));
  SINTER_CHECK(requireLength(c, "dilation", 2));
  int64_t g = c.i("group");
  if (g < 1 || g > kMaxDim)
    return makeError("group {} must be positive", g);
  if (x[1] % g != 0 || x[1] / g != w[1] || w[0] % g != 0)
    return makeError("channels do not match: input {}, weight {}, group {}", shapeString(x), shapeString(w), g);
  const auto& s = c.ints("stride");
  const auto& p = c.ints("pad");
  const auto& d = c.ints("dilation");
  auto h = windowExtent(x[2], w[2], s[0], p[0], p[2], d[0], false, "height");
  if (!h)
    return h.error();
  auto wd = windowExtent(x[3], w[3], s[1], p[1], p[3], d[1], false, "width");
  if (!wd)
    return wd.error();
  Shape want{x[0], w[0], *h, *wd};
  if (dy != want)
    return makeError("output gradient {} does not match the convolution's output {}", shapeString(dy), shapeString(want));
  return Error::success();
}

int64_t convGradCost(const Node& n, const Shape& w) {
  const Shape& dy = n.input(n.op().name == "conv2d_grad_input" ? 0 : 1)->type().shape;
  return 2 * numElements(dy) * w[1] * w[2] * w[3];
}

} // namespace

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
    },
    .grad = [](GradBuilder& gb, const Node& n) -> Error {
      Value* dy = gb.dy();
      const Attrs& a = n.attrs();
      const Shape& x = n.input(0)->type().shape;
      const Shape& w = n.input(1)->type().shape;
      auto attrs = [&](std::string_view extra, std::vector<int64_t> v) {
        return Attrs{{"stride", a.getInts("stride")}, {"pad", a.getInts("pad")}, {"dilation", a.getInts("dilation")},
                     {"group", a.getInt("group")}, {extra, std::move(v)}};
      };
      if (gb.wants(0))
        gb.give(0, gb.emit(Conv2dGradInput, {dy, n.input(1)}, attrs("input_hw", {x[2], x[3]})));
      if (gb.wants(1))
        gb.give(1, gb.emit(Conv2dGradWeight, {n.input(0), dy}, attrs("kernel_hw", {w[2], w[3]})));
      if (n.numInputs() > 2 && gb.wants(2))
        gb.give(2, gb.emit(ReduceSum, {dy}, {{"axes", std::vector<int64_t>{0, 2, 3}}, {"keepdims", int64_t{0}}}));
      return gb.error();
    },
    .differentiable = true,
    .summary = "2-D convolution, NCHW, grouped and dilated"};

// dx of conv2d: the transposed convolution of dy with the same weights (ONNX ConvTranspose
// without bias). input_hw fixes the result's spatial size, which strides leave ambiguous.
constexpr OpDef Conv2dGradInput{
    .name = "conv2d_grad_input", .family = OpFamily::Conv, .inputs = {"dy", "w"}, .outputs = {"dx"},
    .attrs = {attr::Ints("stride", {1, 1}), attr::Ints("pad", {0, 0, 0, 0}, "top, left, bottom, right"),
              attr::Ints("dilation", {1, 1}), attr::Int("group", 1),
              attr::Required("input_hw", AttrKind::Ints, "height and width of the convolution's input")},
    .shape = [](ShapeCtx& c) -> Error {
      SINTER_CHECK(requireFloat(c, 0));
      SINTER_CHECK(requireSameDType(c));
      SINTER_CHECK(requireRank(c, 0, 4));
      SINTER_CHECK(requireRank(c, 1, 4));
      SINTER_CHECK(requireLength(c, "input_hw", 2));
      const Shape& dy = c.in(0).shape;
      const Shape& w = c.in(1).shape;
      const auto& hw = c.ints("input_hw");
      if (c.i("group") < 1 || c.i("group") > kMaxDim)
        return makeError("group {} must be positive", c.i("group"));
      Shape x{dy[0], w[1] * c.i("group"), hw[0], hw[1]};
      SINTER_CHECK(checkConvTriple(c, x, w, dy));
      return c.result({c.in(0).dtype, x});
    },
    .lower = Kernel{"conv2d_grad_input"},
    .cost = [](const Node& n) -> int64_t { return convGradCost(n, n.input(1)->type().shape); },
    .summary = "gradient of conv2d with respect to its input (transposed convolution)"};

// dw of conv2d: dw[m][c][kh][kw] = sum over n, oh, ow of dy[n][m][oh][ow] * x[n][g*Cg + c][ih][iw].
constexpr OpDef Conv2dGradWeight{
    .name = "conv2d_grad_weight", .family = OpFamily::Conv, .inputs = {"x", "dy"}, .outputs = {"dw"},
    .attrs = {attr::Ints("stride", {1, 1}), attr::Ints("pad", {0, 0, 0, 0}, "top, left, bottom, right"),
              attr::Ints("dilation", {1, 1}), attr::Int("group", 1),
              attr::Required("kernel_hw", AttrKind::Ints, "height and width of the weights")},
    .shape = [](ShapeCtx& c) -> Error {
      SINTER_CHECK(requireFloat(c, 0));
      SINTER_CHECK(requireSameDType(c));
      SINTER_CHECK(requireRank(c, 0, 4));
      SINTER_CHECK(requireRank(c, 1, 4));
      SINTER_CHECK(requireLength(c, "kernel_hw", 2));
      const Shape& x = c.in(0).shape;
      const Shape& dy = c.in(1).shape;
      const auto& k = c.ints("kernel_hw");
      int64_t g = c.i("group");
      if (g < 1 || g > kMaxDim || x[1] % g != 0)
        return makeError("input channels {} are not divisible by group {}", x[1], g);
      if (k[0] < 1 || k[1] < 1 || k[0] > kMaxDim || k[1] > kMaxDim)
        return makeError("kernel_hw {} must be positive", shapeString(k));
      Shape w{dy[1], x[1] / g, k[0], k[1]};
      SINTER_CHECK(checkConvTriple(c, x, w, dy));
      return c.result({c.in(0).dtype, w});
    },
    .lower = Kernel{"conv2d_grad_weight"},
    .cost = [](const Node& n) -> int64_t { return convGradCost(n, n.output()->type().shape); },
    .summary = "gradient of conv2d with respect to its weights"};

// Winograd F(m x m, 3x3) (ir/Winograd.h), m = the `tile` attribute (2 or 4), a = m + 2: the
// winograd pass rewrites a 3x3, stride-1 conv2d as
//   winograd_output(conv2d(winograd_input(x), winograd_filter(w), group = a^2 * group), b)
// where the middle conv2d is 1x1: a^2 x group matrix products over the channels, one per point.
// Point t of output channel m is channel t * M + m (and of input channel c, t * C + c), so the
// 1x1 conv's groups are (point, original group) pairs.
namespace {
constexpr AttrDef kTileAttr = attr::Int("tile", 2, "output tile side m: 2 (F(2x2,3x3)) or 4 (F(4x4,3x3))");

Expected<const winograd::Variant*> variantOf(const ShapeCtx& c) {
  const winograd::Variant* v = winograd::variant(c.i("tile"));
  if (!v)
    return makeError("tile {} is not 2 or 4", c.i("tile"));
  return v;
}
} // namespace

// u[t * M + m][c] = (G w[m][c] G^T)[t]: w [M, C/g, 3, 3] -> [a^2 M, C/g, 1, 1].
constexpr OpDef WinogradFilter{
    .name = "winograd_filter", .family = OpFamily::Conv, .inputs = {"w"}, .outputs = {"u"}, .attrs = {kTileAttr},
    .shape = [](ShapeCtx& c) -> Error {
      SINTER_CHECK(requireFloat(c, 0));
      SINTER_CHECK(requireRank(c, 0, 4));
      auto v = variantOf(c);
      if (!v)
        return v.error();
      const Shape& w = c.in(0).shape;
      if (w[2] != winograd::kTaps || w[3] != winograd::kTaps)
        return makeError("weights {} are not 3x3", shapeString(w));
      if (w[0] > kMaxDim / (*v)->points())
        return makeError("weights {} have too many output channels", shapeString(w));
      return c.result({c.in(0).dtype, {(*v)->points() * w[0], w[1], 1, 1}});
    },
    .lower = Kernel{"winograd_filter"},
    .cost = [](const Node& n) -> int64_t { return 2 * 9 * n.output()->type().numel(); },
    .summary = "Winograd F(m x m,3x3) filter transform: [M,C,3,3] -> [a^2 M,C,1,1], point-major (a = m + 2)"};

// v[t * C + c][(n * TH + th) * TW + tw] = (B^T d B)[t], d the a x a input window at row
// m th - pad_top, column m tw - pad_left (zero outside): x [N,C,H,W] -> [1, a^2 C, 1, N TH TW]
// with TH x TW the m x m tiles covering the 3x3 convolution's output.
constexpr OpDef WinogradInput{
    .name = "winograd_input", .family = OpFamily::Conv, .inputs = {"x"}, .outputs = {"v"},
    .attrs = {attr::Ints("pad", {0, 0, 0, 0}, "top, left, bottom, right: the convolution's"), kTileAttr},
    .shape = [](ShapeCtx& c) -> Error {
      SINTER_CHECK(requireFloat(c, 0));
      SINTER_CHECK(requireRank(c, 0, 4));
      SINTER_CHECK(requireLength(c, "pad", 4));
      auto v = variantOf(c);
      if (!v)
        return v.error();
      const Shape& x = c.in(0).shape;
      auto h = windowExtent(x[2], winograd::kTaps, 1, c.ints("pad")[0], c.ints("pad")[2], 1, false, "height");
      if (!h)
        return h.error();
      auto w = windowExtent(x[3], winograd::kTaps, 1, c.ints("pad")[1], c.ints("pad")[3], 1, false, "width");
      if (!w)
        return w.error();
      int64_t m = (*v)->m, tiles = winograd::tiles(*h, m) * winograd::tiles(*w, m);
      if (x[1] > kMaxDim / (*v)->points() || (x[0] && tiles > kMaxDim / x[0]))
        return makeError("input {} is too large for Winograd tiles", shapeString(x));
      return c.result({c.in(0).dtype, {1, (*v)->points() * x[1], 1, x[0] * tiles}});
    },
    .lower = Kernel{"winograd_input"},
    .cost = [](const Node& n) -> int64_t { return 2 * 4 * n.output()->type().numel(); },
    .summary = "Winograd F(m x m,3x3) input transform: [N,C,H,W] -> [1,a^2 C,1,N*tiles], point-major"};

// y[n][c][m th + i][m tw + j] = (A^T p A)[i][j] + b[c], p the a^2 points of channel c at tile
// (n, th, tw): [1, a^2 M, 1, N TH TW] (+ bias [M]) -> [N, M, OH, OW], OH x OW = output_hw.
constexpr OpDef WinogradOutput{
    .name = "winograd_output", .family = OpFamily::Conv, .inputs = {"p", "b"}, .minInputs = 1, .outputs = {"y"},
    .attrs = {attr::Required("output_hw", AttrKind::Ints, "height and width of the convolution's output"), kTileAttr},
    .shape = [](ShapeCtx& c) -> Error {
      SINTER_CHECK(requireFloat(c, 0));
      SINTER_CHECK(requireSameDType(c));
      SINTER_CHECK(requireRank(c, 0, 4));
      SINTER_CHECK(requireLength(c, "output_hw", 2));
      auto v = variantOf(c);
      if (!v)
        return v.error();
      const Shape& p = c.in(0).shape;
      const auto& hw = c.ints("output_hw");
      if (hw[0] < 1 || hw[1] < 1 || hw[0] > kMaxDim || hw[1] > kMaxDim)
        return makeError("output_hw {} must be positive", shapeString(hw));
      int64_t m = (*v)->m, tiles = winograd::tiles(hw[0], m) * winograd::tiles(hw[1], m);
      if (p[0] != 1 || p[2] != 1 || p[1] % (*v)->points() != 0 || p[3] % tiles != 0)
        return makeError("points {} are not [1, {} x channels, 1, images x {} tiles]", shapeString(p), (*v)->points(),
                         tiles);
      int64_t M = p[1] / (*v)->points();
      if (c.has(1) && c.in(1).shape != Shape{M})
        return makeError("bias {} does not match output channels [{}]", shapeString(c.in(1).shape), M);
      return c.result({c.in(0).dtype, {p[3] / tiles, M, hw[0], hw[1]}});
    },
    .lower = Kernel{"winograd_output"},
    .cost = [](const Node& n) -> int64_t { return 2 * 9 * n.output()->type().numel(); },
    .summary = "Winograd F(m x m,3x3) output transform (+ bias): [1,a^2 M,1,N*tiles] -> [N,M,OH,OW]"};

} // namespace sinter::ops

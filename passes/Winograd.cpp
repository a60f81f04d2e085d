// winograd: a 3x3, stride-1, undilated f32 convolution becomes Winograd F(m x m, 3x3)
// (ir/Winograd.h; m = PassContext::winogradTile, 2 or 4, a = m + 2):
//   winograd_output(conv2d(winograd_input(x), winograd_filter(w), group = a^2 g), b)
// The middle conv2d is 1x1 over one "image" whose pixels are every (image, tile): a^2 g matrix
// products of Mg x Cg by Cg x tiles, a^2 / (9 m^2) of the direct convolution's multiplies per
// output (16/36 for F(2x2), 36/144 for F(4x4)), less the tiles' overhang where m does not divide
// an output extent. The transforms are memory passes. Taken where the products dominate: at
// least 16 channels per group in and out, and at least 1.5 times fewer multiplies once the
// overhang is counted (F(2x2): outputs of 5x5 and up; 3x3 outputs would waste 44%).
// Not in the default pipeline: `--winograd` adds it before fuse (see docs/DESIGN-NOTES.md).
#include "ir/Winograd.h"
#include "passes/Passes.h"
#include "passes/Rewrite.h"

namespace sinter {

namespace {

bool applies(const Node& n, const winograd::Variant& v) {
  if (!n.is(ops::Conv2d))
    return false;
  for (const Value* x : n.inputs())
    if (x->type().dtype != DType::F32)
      return false;
  const Shape& w = n.input(1)->type().shape;
  const Shape& y = n.output()->type().shape;
  const Attrs& a = n.attrs();
  if (w[2] != winograd::kTaps || w[3] != winograd::kTaps || a.getInts("stride") != std::vector<int64_t>{1, 1} ||
      a.getInts("dilation") != std::vector<int64_t>{1, 1})
    return false;
  int64_t g = a.getInt("group");
  if (w[1] < 16 || w[0] / g < 16)
    return false;
  // 9 multiplies per output direct; a^2 per tile of m x m outputs: the gain 9 OH OW / (a^2 tiles).
  int64_t tiles = winograd::tiles(y[2], v.m) * winograd::tiles(y[3], v.m);
  return 2 * 9 * y[2] * y[3] >= 3 * v.points() * tiles;
}

} // namespace

Expected<bool> winogradConvolutions(Graph& g, const PassContext& ctx) {
  const winograd::Variant* v = winograd::variant(ctx.winogradTile);
  if (!v)
    return makeError("winograd: tile {} is not 2 or 4", ctx.winogradTile);
  std::vector<Node*> convs;
  for (const auto& n : g.nodes())
    if (applies(*n, *v))
      convs.push_back(n.get());
  const int64_t tile = v->m;
  for (Node* n : convs) {
    const Shape& y = n->output()->type().shape;
    // Named after the convolution: conv3.wu (filters), conv3.wv (input), conv3.wp (products).
    std::string base = n->output()->name().empty() ? "winograd" : n->output()->name();
    auto name = [&](const char* suffix) { return std::vector<std::string>{g.uniqueName(base + suffix)}; };
    auto u = g.addNode(ops::WinogradFilter, {n->input(1)}, {{"tile", tile}}, name(".wu"), n);
    if (!u)
      return u.error();
    auto in = g.addNode(ops::WinogradInput, {n->input(0)}, {{"pad", n->attrs().getInts("pad")}, {"tile", tile}},
                        name(".wv"), n);
    if (!in)
      return in.error();
    auto p = g.addNode(ops::Conv2d, {(*in)->output(), (*u)->output()}, {{"group", v->points() * n->attrs().getInt("group")}},
                       name(".wp"), n);
    if (!p)
      return p.error();
    std::vector<Value*> outIn{(*p)->output()};
    if (n->numInputs() > 2)
      outIn.push_back(n->input(2));
    auto out = g.addNode(ops::WinogradOutput, outIn, {{"output_hw", std::vector<int64_t>{y[2], y[3]}}, {"tile", tile}}, {}, n);
    if (!out)
      return out.error();
    rewrite::replaceNode(g, n, (*out)->output());
  }
  return !convs.empty();
}

} // namespace sinter

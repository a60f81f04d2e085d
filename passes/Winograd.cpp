// winograd: a 3x3, stride-1, undilated f32 convolution becomes Winograd F(2x2, 3x3)
// (ir/Winograd.h):
//   winograd_output(conv2d(winograd_input(x), winograd_filter(w), group = 16 g), b)
// The middle conv2d is 1x1 over one "image" whose pixels are every (image, tile): 16 g matrix
// products of Mg x Cg by Cg x tiles, 16/36 of the direct convolution's multiplies per output
// pair (less the tiles' overhang where an output extent is odd). The transforms are memory
// passes. Worth it where the products dominate: at least 16 channels in and out per group, and
// tiles that waste at most a third of their outputs (7x7 outputs and up; 3x3 would waste 44%).
// Not in the default pipeline: `--winograd` adds it before fuse (see docs/DESIGN-NOTES.md).
#include "ir/Winograd.h"
#include "passes/Passes.h"
#include "passes/Rewrite.h"

namespace sinter {

namespace {

bool applies(const Node& n) {
  if (!n.is(ops::Conv2d))
    return false;
  for (const Value* v : n.inputs())
    if (v->type().dtype != DType::F32)
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
  int64_t covered = winograd::tiles(y[2]) * winograd::tiles(y[3]) * winograd::kOut * winograd::kOut;
  return y[2] * y[3] * 3 >= covered * 2;
}

} // namespace

Expected<bool> winogradConvolutions(Graph& g, const PassContext&) {
  std::vector<Node*> convs;
  for (const auto& n : g.nodes())
    if (applies(*n))
      convs.push_back(n.get());
  for (Node* n : convs) {
    const Shape& y = n->output()->type().shape;
    // Named after the convolution: conv3.wu (filters), conv3.wv (input), conv3.wp (products).
    std::string base = n->output()->name().empty() ? "winograd" : n->output()->name();
    auto name = [&](const char* suffix) { return std::vector<std::string>{g.uniqueName(base + suffix)}; };
    auto u = g.addNode(ops::WinogradFilter, {n->input(1)}, {}, name(".wu"), n);
    if (!u)
      return u.error();
    auto v = g.addNode(ops::WinogradInput, {n->input(0)}, {{"pad", n->attrs().getInts("pad")}}, name(".wv"), n);
    if (!v)
      return v.error();
    auto p = g.addNode(ops::Conv2d, {(*v)->output(), (*u)->output()},
                       {{"group", winograd::kPoints * n->attrs().getInt("group")}}, name(".wp"), n);
    if (!p)
      return p.error();
    std::vector<Value*> outIn{(*p)->output()};
    if (n->numInputs() > 2)
      outIn.push_back(n->input(2));
    auto out = g.addNode(ops::WinogradOutput, outIn, {{"output_hw", std::vector<int64_t>{y[2], y[3]}}}, {}, n);
    if (!out)
      return out.error();
    rewrite::replaceNode(g, n, (*out)->output());
  }
  return !convs.empty();
}

} // namespace sinter

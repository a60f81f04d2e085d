// canonicalize: local rewrites to one preferred form, repeated until nothing changes.
//   identity(x)                          -> x
//   reshape/flatten(reshape/flatten(x))  -> reshape(x)
//   reshape to x's own shape; pad by 0   -> x
//   add(gemm(a, b), c), add(matmul2d(a, b), c) -> gemm(a, b, c)   (c broadcasts to [M, N])
//   PyTorch's LocalResponseNorm export (mul, reshape, pad, avg-pool, reshape, mul, add, pow, div)
//                                        -> lrn(x)
// Needs: a verified graph. Guarantees: the same numbers (the LRN rewrite up to f32 rounding).
#include "passes/Passes.h"
#include "passes/Rewrite.h"

#include <charconv>
#include <cmath>

namespace sinter {

namespace {

using namespace rewrite;

// A float32 constant widened to double reads 9.999999747378752e-05 for 1e-4; attributes show the
// shortest decimal that gives the same float32 (what the f32 kernels use).
double asFloat32Decimal(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<float>(v));
  double d = v;
  std::from_chars(buf, end, d);
  return d;
}

bool isReshapeLike(const Node* n) { return n && (n->is(ops::Reshape) || n->is(ops::Flatten)); }

// One rewrite attempt at node n; true when it changed the graph (n may be gone).
using Pattern = bool (*)(Graph&, Node*);

bool dropIdentity(Graph& g, Node* n) {
  if (!n->is(ops::Identity))
    return false;
  replaceNode(g, n, n->input(0));
  return true;
}

bool collapseReshapes(Graph& g, Node* n) {
  if (!isReshapeLike(n) || !isReshapeLike(n->input(0)->producer()))
    return false;
  Value* src = n->input(0)->producer()->input(0);
  auto r = g.addNode(ops::Reshape, {src}, {{"shape", n->output()->type().shape}}, {}, n);
  assert(r && "a reshape to a known element count always type-checks");
  replaceNode(g, n, (*r)->output());
  return true;
}

bool dropNoOps(Graph& g, Node* n) {
  bool noop = false;
  if (isReshapeLike(n))
    noop = n->input(0)->type() == n->output()->type();
  if (n->is(ops::Pad)) {
    const auto& p = n->attrs().getInts("pads");
    noop = std::all_of(p.begin(), p.end(), [](int64_t v) { return v == 0; });
  }
  if (!noop)
    return false;
  replaceNode(g, n, n->input(0));
  return true;
}

// add(gemm(a, b), c) or add(matmul(a, b), c) with 2-D operands and no bias yet -> gemm(a, b, c).
bool biasIntoGemm(Graph& g, Node* n) {
  if (!n->is(ops::Add))
    return false;
  for (size_t side = 0; side < 2; ++side) {
    Value* prod = n->input(side);
    Value* bias = n->input(1 - side);
    Node* p = prod->producer();
    if (!p || !singleUse(g, prod))
      continue;
    bool gemm = p->is(ops::Gemm) && p->numInputs() == 2;
    bool matmul = p->is(ops::MatMul) && p->input(0)->type().rank() == 2 && p->input(1)->type().rank() == 2;
    if (!gemm && !matmul)
      continue;
    Attrs attrs = gemm ? p->attrs() : Attrs{};
    attrs.set("beta", 1.0);
    auto fused = g.addNode(ops::Gemm, {p->input(0), p->input(1), bias}, attrs, {}, n);
    if (!fused || (*fused)->output()->type() != n->output()->type()) { // the bias must not widen the result
      if (fused)
        g.eraseNode(*fused);
      continue;
    }
    replaceNode(g, n, (*fused)->output());
    g.eraseNode(p);
    return true;
  }
  return false;
}

// y = div(x, pow(add(mul(S, alpha), k), beta)) where S is PyTorch's channel window average of x*x:
// reshape(avg_pool2d(reshape(pad(reshape(mul(x, x)))))) with a [size, 1] window over the channels
// padded by size/2 before and (size-1)/2 after. For odd sizes that window is ONNX LRN's.
bool recognizeLrn(Graph& g, Node* div) {
  if (!div->is(ops::Div))
    return false;
  Value* x = div->input(0);
  const Shape& xs = x->type().shape;
  Node* pw = producedBy(div->input(1), ops::Pow);
  if (xs.size() != 4 || !pw || !singleUse(g, pw->output()))
    return false;
  auto beta = scalarOf(pw->input(1));
  Node* add = producedBy(pw->input(0), ops::Add);
  if (!beta || !add || !singleUse(g, add->output()))
    return false;
  size_t kSide = scalarOf(add->input(1)) ? 1 : 0;
  auto k = scalarOf(add->input(kSide));
  Node* mul = producedBy(add->input(1 - kSide), ops::Mul);
  if (!k || !mul || !singleUse(g, mul->output()))
    return false;
  size_t aSide = scalarOf(mul->input(1)) ? 1 : 0;
  auto alpha = scalarOf(mul->input(aSide));
  Node* back = producedBy(mul->input(1 - aSide), ops::Reshape);
  if (!alpha || !back || back->output()->type() != x->type())
    return false;
  Node* pool = producedBy(back->input(0), ops::AvgPool2d);
  if (!pool)
    return false;
  const auto& kernel = pool->attrs().getInts("kernel");
  const auto& stride = pool->attrs().getInts("stride");
  const auto& ppad = pool->attrs().getInts("pad");
  int64_t size = kernel[0];
  if (kernel[1] != 1 || stride != std::vector<int64_t>{1, 1} ||
      std::any_of(ppad.begin(), ppad.end(), [](int64_t v) { return v != 0; }) || size % 2 == 0)
    return false;
  Node* flat = producedBy(pool->input(0), ops::Reshape);
  if (!flat)
    return false;
  Node* pad = producedBy(flat->input(0), ops::Pad);
  if (!pad || pad->attrs().getString("mode") != "constant" || pad->attrs().getFloat("value") != 0.0)
    return false;
  Node* lift = producedBy(pad->input(0), ops::Reshape);
  const Shape lifted{xs[0], 1, xs[1], xs[2], xs[3]};
  std::vector<int64_t> wantPads{0, 0, size / 2, 0, 0, 0, 0, (size - 1) / 2, 0, 0};
  if (!lift || lift->output()->type().shape != lifted || pad->attrs().getInts("pads") != wantPads ||
      flat->output()->type().shape != Shape{xs[0], 1, xs[1] + size - 1, xs[2] * xs[3]})
    return false;
  Node* sq = producedBy(lift->input(0), ops::Mul);
  if (!sq || sq->input(0) != x || sq->input(1) != x)
    return false;
  auto lrn = g.addNode(ops::Lrn, {x},
                       {{"size", size}, {"alpha", asFloat32Decimal(*alpha)}, {"beta", asFloat32Decimal(*beta)},
                        {"bias", asFloat32Decimal(*k)}},
                       {}, div);
  if (!lrn)
    return false;
  replaceNode(g, div, (*lrn)->output()); // the chain above is dead now; dce removes it
  return true;
}

constexpr Pattern kPatterns[] = {dropIdentity, collapseReshapes, dropNoOps, biasIntoGemm, recognizeLrn};

} // namespace

Expected<bool> canonicalize(Graph& g, const PassContext&) {
  bool changed = false;
  for (int round = 0; round < 16; ++round) {
    bool any = false;
    std::vector<Node*> order;
    for (const auto& n : g.nodes())
      order.push_back(n.get());
    // Patterns erase only n and nodes before it, so the rest of `order` stays valid.
    for (Node* n : order) {
      for (Pattern p : kPatterns)
        if (p(g, n)) {
          any = true;
          break;
        }
    }
    changed = changed || any;
    if (!any)
      break;
  }
  return changed;
}

} // namespace sinter

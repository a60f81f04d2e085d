// fold-batch-norm: with frozen parameters (see fold-params), an inference batch_norm becomes
// cheaper arithmetic, with s = scale / sqrt(var + epsilon) per channel:
// - after a convolution that nothing else reads, it folds into the filters and bias,
//       w' = w * s[m]          b' = (b - mean) * s + bias      (b = 0 without a conv bias)
//   so the layer is one conv2d (whose epilogue then takes the ReLU or residual add) instead of
//   a conv2d and a full pass over its output;
// - elsewhere (after a concat or a pooling, as in DenseNet's BN-ReLU-conv), it becomes
//   x * s + (bias - mean * s) with both per-channel factors shaped [1, C, 1, ...], an elementwise
//   chain that fuses with the ReLU after it into one kernel.
// The arithmetic is written as ordinary nodes over the parameters, which fold-params, run next,
// evaluates once into new parameters: the rewrite needs no numerics of its own, and without
// fold-params the graph still computes the same thing. Only where every operand involved is a
// parameter with data or a constant, so nothing becomes a per-run computation over weights (the
// CPU prepares only parameter filters).
#include "passes/Passes.h"
#include "passes/Rewrite.h"

namespace sinter {

namespace {

bool frozen(const Graph& g, const Value* v) {
  return (v->isParam() && g.weights().find(v->name())) || rewrite::constantOf(v);
}

// The convolution whose output `bn` normalises, when the filters can take the fold.
Node* foldableConv(const Graph& g, const Node& bn) {
  Node* conv = rewrite::producedBy(bn.input(0), ops::Conv2d);
  if (!conv || !rewrite::singleUse(g, bn.input(0)))
    return nullptr;
  for (size_t i = 1; i < conv->numInputs(); ++i)
    if (!frozen(g, conv->input(i)))
      return nullptr;
  return conv;
}

bool frozenStatistics(const Graph& g, const Node& bn) {
  for (size_t i = 1; i < bn.numInputs(); ++i)
    if (!frozen(g, bn.input(i)))
      return false;
  return true;
}

} // namespace

Expected<bool> foldBatchNorm(Graph& g, const PassContext& ctx) {
  if (!ctx.frozenParams || ctx.training)
    return false;
  std::vector<Node*> bns;
  for (const auto& n : g.nodes())
    if (n->is(ops::BatchNorm) && frozenStatistics(g, *n))
      bns.push_back(n.get());
  for (Node* bn : bns) {
    Error err = Error::success();
    auto emit = [&](const OpDef& op, std::vector<Value*> in, Attrs attrs = {}, std::string name = {}) -> Value* {
      if (err)
        return nullptr;
      std::vector<std::string> names;
      if (!name.empty())
        names.push_back(g.uniqueName(name));
      auto n = g.addNode(op, std::move(in), std::move(attrs), std::move(names), bn);
      if (!n) {
        err = n.error().context(g.describe(bn));
        return nullptr;
      }
      return (*n)->output();
    };
    const TensorType& xt = bn->input(0)->type();
    const double eps[] = {bn->attrs().getFloat("epsilon")};
    Value* epsilon = emit(ops::Constant, {}, {{"value", Tensor::fromDoubles({xt.dtype, {}}, eps)}});
    Value* s = emit(ops::Div, {bn->input(1), emit(ops::Sqrt, {emit(ops::Add, {bn->input(4), epsilon})})});
    // s shaped to broadcast along axis 1 of x (or of the filters [M, C/g, KH, KW]).
    std::vector<int64_t> perChannel(xt.rank(), 1);
    perChannel[1] = xt.shape[1];
    Value* y = nullptr;
    if (Node* conv = foldableConv(g, *bn)) {
      std::vector<int64_t> perFilter{xt.shape[1], 1, 1, 1};
      std::string base = conv->output()->name().empty() ? "conv" : conv->output()->name();
      Value* w = emit(ops::Mul, {conv->input(1), emit(ops::Reshape, {s}, {{"shape", perFilter}})}, {}, base + ".w_bn");
      Value* centred = conv->numInputs() > 2 ? emit(ops::Sub, {conv->input(2), bn->input(3)})
                                             : emit(ops::Neg, {bn->input(3)});
      Value* b = emit(ops::Add, {emit(ops::Mul, {centred, s}), bn->input(2)}, {}, base + ".b_bn");
      y = emit(ops::Conv2d, {conv->input(0), w, b}, conv->attrs());
      if (err)
        return err;
      rewrite::replaceNode(g, bn, y);
      g.eraseNode(conv);
      continue;
    }
    std::string base = bn->output()->name().empty() ? "bn" : bn->output()->name();
    Value* scale = emit(ops::Reshape, {s}, {{"shape", perChannel}}, base + ".scale");
    Value* shift = emit(ops::Reshape, {emit(ops::Sub, {bn->input(2), emit(ops::Mul, {bn->input(3), s})})},
                        {{"shape", perChannel}}, base + ".shift");
    y = emit(ops::Add, {emit(ops::Mul, {bn->input(0), scale}), shift});
    if (err)
      return err;
    rewrite::replaceNode(g, bn, y);
  }
  return !bns.empty();
}

} // namespace sinter

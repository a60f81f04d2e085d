// optimizer: the update half of a training step, after autodiff. For every float parameter P
// with a gradient (the value autodiff names "P.grad"), one optimizer node computes P's next
// value and its state's (SGD: velocity "P.velocity"; Adam: "P.m", "P.v", all starting at zero),
// and graph updates write them back after each run. Scalar inputs carry the rates so a schedule
// changes them without recompiling: `lr` (SGD), or `lr` = lr / (1 - beta1^t) and
// `adam_c2` = 1 / sqrt(1 - beta2^t) (Adam). The gradients leave the outputs (loss and logits stay).
#include "ir/ops/Ops.h"
#include "passes/Passes.h"

#include <algorithm>

namespace sinter {

namespace {

Value* scalarInput(Graph& g, const std::string& name) {
  Value* v = g.findValue(name);
  if (v && v->isInput())
    return v;
  return g.addInput(g.uniqueName(name), {DType::F32, {}});
}

Value* zerosLike(Graph& g, const Value* p, const std::string& suffix) {
  Tensor zeros(p->type());
  return g.addParam(g.uniqueName(p->name() + suffix), p->type(), std::move(zeros));
}

} // namespace

Expected<bool> optimizer(Graph& g, const PassContext& ctx) {
  const OptimizerOptions& o = ctx.optimizer;
  if (o.kind != "sgd" && o.kind != "adam")
    return makeError("optimizer: unknown optimizer '{}' (sgd or adam)", o.kind);
  std::vector<std::pair<Value*, Value*>> pairs; // parameter, gradient
  for (Value* p : g.params())
    if (isFloat(p->type().dtype))
      if (Value* grad = g.findValue(p->name() + ".grad"); grad && !grad->isParam() && !grad->isInput())
        pairs.emplace_back(p, grad);
  if (pairs.empty())
    return makeError("optimizer: no parameter gradients (run autodiff first)");
  bool adam = o.kind == "adam";
  Value* lr = scalarInput(g, "lr");
  Value* c2 = adam ? scalarInput(g, "adam_c2") : nullptr;
  for (auto [p, grad] : pairs) {
    if (grad->type() != p->type())
      return makeError("optimizer: {} is {}, its parameter {}", g.displayName(grad), grad->type().str(), p->type().str());
    Expected<Node*> n = makeError("unreachable");
    if (!adam) {
      Value* v = zerosLike(g, p, ".velocity");
      n = g.addNode(ops::SgdUpdate, {p, grad, v, lr}, {{"momentum", o.momentum}, {"weight_decay", o.weightDecay}},
                    {g.uniqueName(p->name() + ".next"), g.uniqueName(v->name() + ".next")});
      if (n) {
        g.addUpdate(p, (*n)->output(0));
        g.addUpdate(v, (*n)->output(1));
      }
    } else {
      Value* m = zerosLike(g, p, ".m");
      Value* v = zerosLike(g, p, ".v");
      n = g.addNode(ops::AdamUpdate, {p, grad, m, v, lr, c2},
                    {{"beta1", o.beta1}, {"beta2", o.beta2}, {"eps", o.eps}, {"weight_decay", o.weightDecay}},
                    {g.uniqueName(p->name() + ".next"), g.uniqueName(m->name() + ".next"),
                     g.uniqueName(v->name() + ".next")});
      if (n) {
        g.addUpdate(p, (*n)->output(0));
        g.addUpdate(m, (*n)->output(1));
        g.addUpdate(v, (*n)->output(2));
      }
    }
    if (!n)
      return n.error().context("optimizer");
  }
  // The gradients are consumed by the updates: the outputs keep what is not a gradient.
  std::vector<Value*> outs;
  for (Value* v : g.outputs())
    if (std::none_of(pairs.begin(), pairs.end(), [&](const auto& pg) { return pg.second == v; }))
      outs.push_back(v);
  g.setOutputs(std::move(outs));
  return true;
}

} // namespace sinter

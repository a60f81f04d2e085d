// fold-params: with frozen parameters (PassContext::frozenParams: `sinter run`, `bench`, `compile`
// and `dump` compile for the weights they hold), a node whose operands are all parameters with
// data or constants is evaluated once, by the reference interpreter (PassContext::evaluate), and
// its result becomes a new parameter holding the value; dce then drops the parameters nothing
// reads any more. This is what makes a rewrite over weights free at run time: fold-batch-norm's
// scaled filters and biases, winograd's transformed filters (which the CPU's packed direct
// convolution can then prepare once, as it does any parameter). A graph whose parameters change
// after compilation (a training step, or the evaluation graph `train` refreshes from it by name)
// must not fold them: PassContext::frozenParams stays false there and the pass does nothing.
// Results more than 4 times the size of their operands (an expand to activation size) stay
// computed, so folding never multiplies the weights' memory.
#include "passes/Passes.h"
#include "passes/Rewrite.h"

namespace sinter {

namespace {

constexpr int64_t kAlwaysFoldElements = 1 << 16;

// The data of a frozen operand: a constant's value or a parameter's weights, else null.
const Tensor* frozenData(const Graph& g, const Value* v) {
  if (v->isParam())
    return g.weights().find(v->name());
  return rewrite::constantOf(v);
}

} // namespace

Expected<bool> foldParams(Graph& g, const PassContext& ctx) {
  if (!ctx.frozenParams || !ctx.evaluate)
    return false;
  bool changed = false;
  std::vector<Node*> order;
  for (const auto& n : g.nodes())
    order.push_back(n.get());
  for (Node* n : order) {
    if (n->is(ops::Constant) || n->inputs().empty())
      continue;
    std::vector<Tensor> operands;
    int64_t operandElements = 0;
    bool anyParam = false;
    for (const Value* v : n->inputs()) {
      const Tensor* t = frozenData(g, v);
      if (!t)
        break;
      operands.push_back(*t);
      operandElements += t->numel();
      anyParam = anyParam || v->isParam();
    }
    // All-constant nodes are fold-constants' (it keeps large results computed on purpose).
    if (operands.size() != n->inputs().size() || !anyParam)
      continue;
    bool foldable = true;
    for (const Value* r : n->outputs())
      foldable = foldable && !rewrite::isOutput(g, r) &&
                 r->type().numel() <= std::max(kAlwaysFoldElements, 4 * operandElements);
    if (!foldable)
      continue;
    auto results = ctx.evaluate(*n, operands);
    if (!results)
      return results.error().context(g.describe(n));
    for (size_t i = 0; i < n->outputs().size(); ++i) {
      Value* old = n->output(i);
      // The parameter takes the result's name (weights are stored by name), so free it first.
      std::string name = old->name().empty() ? g.uniqueName("folded") : old->name();
      g.rename(old, "");
      Value* p = g.addParam(name, old->type(), std::move((*results)[i]));
      g.replaceAllUses(old, p);
    }
    g.eraseNode(n);
    changed = true;
  }
  return changed;
}

} // namespace sinter

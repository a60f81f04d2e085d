// fold-constants: a node whose operands are all constant nodes becomes a constant, computed by
// the evaluator in PassContext (the reference interpreter), so folding changes no number.
// Results over kMaxFoldElements stay computed (they would bloat the IR text).
#include "passes/Passes.h"
#include "passes/Rewrite.h"

namespace sinter {

namespace {
constexpr int64_t kMaxFoldElements = 1 << 16;
}

Expected<bool> foldConstants(Graph& g, const PassContext& ctx) {
  if (!ctx.evaluate)
    return false;
  bool changed = false;
  std::vector<Node*> order;
  for (const auto& n : g.nodes())
    order.push_back(n.get());
  for (Node* n : order) {
    if (n->is(ops::Constant) || n->inputs().empty())
      continue;
    bool foldable = std::all_of(n->inputs().begin(), n->inputs().end(),
                                [](const Value* v) { return rewrite::constantOf(v) != nullptr; });
    for (const Value* r : n->outputs())
      foldable = foldable && r->type().numel() <= kMaxFoldElements;
    if (!foldable)
      continue;
    std::vector<Tensor> operands;
    for (const Value* v : n->inputs())
      operands.push_back(*rewrite::constantOf(v));
    auto results = ctx.evaluate(*n, operands);
    if (!results)
      return results.error().context(g.describe(n));
    std::vector<Value*> replacements;
    for (Tensor& t : *results) {
      auto c = g.addNode(ops::Constant, {}, {{"value", std::move(t)}}, {}, n);
      if (!c)
        return c.error();
      replacements.push_back((*c)->output());
    }
    std::vector<std::string> names;
    for (size_t i = 0; i < n->outputs().size(); ++i) {
      names.push_back(n->output(i)->name());
      g.replaceAllUses(n->output(i), replacements[i]);
    }
    g.eraseNode(n);
    for (size_t i = 0; i < names.size(); ++i)
      if (!names[i].empty())
        g.rename(replacements[i], g.uniqueName(names[i]));
    changed = true;
  }
  return changed;
}

} // namespace sinter

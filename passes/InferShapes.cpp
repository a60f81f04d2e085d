// infer-shapes: recompute result types in order from the op table's shape rules.
// Needs: operand types of inputs and params. Guarantees: every result type is what its rule says.
#include "passes/Passes.h"

namespace sinter {

Expected<bool> inferShapes(Graph& g, const PassContext&) {
  bool changed = false;
  for (const auto& n : g.nodes()) {
    std::vector<TensorType> in;
    for (const Value* v : n->inputs())
      in.push_back(v->type());
    auto types = inferResultTypes(n->op(), in, n->attrs());
    if (!types)
      return types.error().context(g.describe(n.get()));
    if (types->size() != n->outputs().size())
      return makeError("{}: the shape rule gives {} results, the node has {}", g.describe(n.get()), types->size(),
                       n->outputs().size());
    for (size_t i = 0; i < types->size(); ++i)
      if (n->output(i)->type() != (*types)[i]) {
        n->output(i)->setType((*types)[i]);
        changed = true;
      }
  }
  return changed;
}

} // namespace sinter

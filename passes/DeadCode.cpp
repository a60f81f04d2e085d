// dce: remove nodes whose results nothing uses (graph outputs count as uses), then unused
// parameters and their data.
#include "passes/Passes.h"
#include "passes/Rewrite.h"

namespace sinter {

Expected<bool> deadCode(Graph& g, const PassContext&) {
  bool changed = false;
  std::vector<Node*> order;
  for (const auto& n : g.nodes())
    order.push_back(n.get());
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* n = *it;
    bool used = false;
    for (const Value* v : n->outputs())
      used = used || v->hasUses() || rewrite::isOutput(g, v);
    if (!used) {
      g.eraseNode(n);
      changed = true;
    }
  }
  std::vector<Value*> unused;
  for (Value* p : g.params())
    if (!p->hasUses() && !rewrite::isOutput(g, p))
      unused.push_back(p);
  for (Value* p : unused)
    g.eraseParam(p);
  return changed || !unused.empty();
}

} // namespace sinter

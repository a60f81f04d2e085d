// cse: a node with the same op, operands and attributes as an earlier node is replaced by it.
#include "passes/Passes.h"
#include "passes/Rewrite.h"

#include <map>

namespace sinter {

Expected<bool> commonSubexpressions(Graph& g, const PassContext&) {
  bool changed = false;
  // Candidates by (op, operands); attributes are compared on a hit.
  std::map<std::pair<const OpDef*, std::vector<Value*>>, std::vector<Node*>> seen;
  std::vector<Node*> order;
  for (const auto& n : g.nodes())
    order.push_back(n.get());
  for (Node* n : order) {
    auto& bucket = seen[{&n->op(), n->inputs()}];
    Node* same = nullptr;
    for (Node* m : bucket)
      if (m->attrs() == n->attrs() && m->outputs().size() == n->outputs().size())
        same = m;
    if (!same) {
      bucket.push_back(n);
      continue;
    }
    for (size_t i = 0; i < n->outputs().size(); ++i)
      g.replaceAllUses(n->output(i), same->output(i));
    g.eraseNode(n);
    changed = true;
  }
  return changed;
}

} // namespace sinter

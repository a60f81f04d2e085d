// remove-dropout: inference dropout (training=0) is the identity; its uses read the input.
// Only in inference pipelines: training graphs keep their dropout.
#include "passes/Passes.h"
#include "passes/Rewrite.h"

namespace sinter {

Expected<bool> removeDropout(Graph& g, const PassContext&) {
  std::vector<Node*> dropouts;
  for (const auto& n : g.nodes())
    if (n->is(ops::Dropout) && n->attrs().getInt("training") == 0)
      dropouts.push_back(n.get());
  for (Node* n : dropouts)
    rewrite::replaceNode(g, n, n->input(0));
  return !dropouts.empty();
}

} // namespace sinter

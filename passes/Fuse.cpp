// fuse: applies the rules of FusionRules.cpp, turning each chain into one `fused` node that holds
// the chain as its body graph. Needs: a verified graph (after canonicalize/dce). Guarantees: the
// same numbers (the reference runs fused bodies node by node).
#include "passes/FusionRules.h"
#include "passes/Passes.h"
#include "passes/Rewrite.h"

#include <unordered_map>
#include <unordered_set>

namespace sinter {

namespace {

// "conv2d+relu" for reports and kernel names.
std::string kindOf(const std::vector<const Node*>& chain) {
  std::string k;
  for (const Node* n : chain)
    k += (k.empty() ? "" : "+") + std::string(n->op().name);
  return k;
}

// Replaces the chain by one fused node placed where its last member was.
Error fuseChain(Graph& g, const std::vector<const Node*>& chain) {
  std::string kind = kindOf(chain);
  std::string bodyName = kind;
  std::replace(bodyName.begin(), bodyName.end(), '+', '_');
  auto body = std::make_shared<Graph>(bodyName);
  std::unordered_set<const Node*> members(chain.begin(), chain.end());
  std::unordered_map<const Value*, Value*> inner; // outer value -> body value
  std::vector<Value*> operands;
  for (const Node* n : chain)
    for (Value* v : n->inputs())
      if (!inner.count(v) && !(v->producer() && members.count(v->producer()))) {
        std::string name = v->name().empty() ? fmt::format("in{}", operands.size()) : v->name();
        inner[v] = body->addInput(body->uniqueName(name), v->type());
        operands.push_back(v);
      }
  for (const Node* n : chain) {
    std::vector<Value*> ins;
    for (Value* v : n->inputs())
      ins.push_back(inner.at(v));
    std::vector<std::pair<std::string, TensorType>> res;
    for (const Value* r : n->outputs())
      res.emplace_back(r->name().empty() || body->findValue(r->name()) ? std::string() : r->name(), r->type());
    Node* c = body->addNodeUnchecked(n->op(), std::move(ins), n->attrs(), std::move(res));
    for (size_t i = 0; i < n->outputs().size(); ++i)
      inner[n->output(i)] = c->output(i);
  }
  const Node* last = chain.back();
  body->setOutputs({inner.at(last->output())});
  Node* before = const_cast<Node*>(last);
  auto f = g.addNode(ops::Fused, operands, {{"kind", kind}, {"body", std::shared_ptr<const Graph>(body)}}, {}, before);
  if (!f)
    return f.error().context(fmt::format("fusing {}", kind));
  std::string name = last->output()->name();
  g.replaceAllUses(last->output(), (*f)->output());
  for (auto it = chain.rbegin(); it != chain.rend(); ++it)
    g.eraseNode(const_cast<Node*>(*it));
  if (!name.empty())
    g.rename((*f)->output(), g.uniqueName(name));
  return Error::success();
}

} // namespace

Expected<bool> fuse(Graph& g, const PassContext&) {
  std::vector<std::vector<const Node*>> chains;
  std::unordered_set<const Node*> taken;
  for (const auto& node : g.nodes()) {
    const Node* n = node.get();
    if (taken.count(n) || n->is(ops::Fused))
      continue;
    for (const FusionRule& rule : fusionRules()) {
      if (!rule.start(*n))
        continue;
      std::vector<const Node*> chain{n};
      for (;;) {
        const Value* cur = chain.back()->output();
        if (chain.back()->outputs().size() != 1 || !rewrite::singleUse(g, cur))
          break;
        const Node* next = cur->uses()[0].node;
        if (taken.count(next) || !rule.append(chain, *next))
          break;
        chain.push_back(next);
      }
      if (chain.size() > 1) {
        taken.insert(chain.begin(), chain.end());
        chains.push_back(std::move(chain));
        break;
      }
    }
  }
  for (const auto& chain : chains)
    SINTER_CHECK(fuseChain(g, chain));
  return !chains.empty();
}

} // namespace sinter

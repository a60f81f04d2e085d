// Small helpers the rewriting passes share.
#pragma once

#include "ir/Graph.h"
#include "ir/OpTable.h"

#include <algorithm>

namespace sinter::rewrite {

/// Data of a value made by a constant node, else null.
inline const Tensor* constantOf(const Value* v) {
  const Node* p = v->producer();
  return p && p->is(ops::Constant) ? &p->attrs().getTensor("value") : nullptr;
}

/// A constant holding one value (any shape of one element): that value, else nullopt.
inline std::optional<double> scalarOf(const Value* v) {
  const Tensor* t = constantOf(v);
  if (!t || t->numel() != 1)
    return std::nullopt;
  return t->get(0);
}

inline bool isOutput(const Graph& g, const Value* v) {
  return g.isLiveOut(v);
}

/// Used by exactly one operand of one node and not a graph output.
inline bool singleUse(const Graph& g, const Value* v) { return v->uses().size() == 1 && !isOutput(g, v); }

/// The node producing `v` if it applies `op`, else null.
inline Node* producedBy(const Value* v, const OpDef& op) {
  Node* p = v->producer();
  return p && p->is(op) ? p : nullptr;
}

/// Points every use of n's (single) result at `v`, renames `v` after it when `v` is anonymous,
/// and erases n.
inline void replaceNode(Graph& g, Node* n, Value* v) {
  Value* old = n->output();
  std::string name = old->name();
  g.replaceAllUses(old, v);
  g.eraseNode(n);
  if (v->name().empty() && !name.empty() && v->producer())
    g.rename(v, g.uniqueName(name));
}

} // namespace sinter::rewrite

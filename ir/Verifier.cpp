// Graph verifier: every check a pass or the parser relies on, phrased for users.
#include "ir/Verifier.h"

#include <algorithm>
#include <set>
#include <unordered_set>

namespace sinter {

Error verifyGraph(const Graph& g) {
  std::unordered_set<const Value*> defined;
  std::unordered_set<std::string> names;
  auto define = [&](const Value* v) -> Error {
    if (!v->name().empty() && !names.insert(v->name()).second)
      return makeError("value {} is defined twice", g.displayName(v));
    defined.insert(v);
    return Error::success();
  };
  for (const Value* v : g.inputs())
    SINTER_CHECK(define(v));
  for (const Value* p : g.params()) {
    SINTER_CHECK(define(p));
    if (const Tensor* t = g.weights().find(p->name()); t && t->type() != p->type())
      return makeError("parameter {} is {} but its data is {}", g.displayName(p), p->type().str(),
                       t->type().str());
  }
  for (const auto& n : g.nodes()) {
    std::string where = g.describe(n.get());
    std::vector<TensorType> in;
    for (size_t i = 0; i < n->numInputs(); ++i) {
      const Value* v = n->input(i);
      if (!defined.count(v))
        return makeError("{}: operand {} ({}) is used before it is defined", where, i, g.displayName(v));
      auto& uses = v->uses();
      if (std::none_of(uses.begin(), uses.end(),
                       [&](const Value::Use& u) { return u.node == n.get() && u.operand == i; }))
        return makeError("{}: use list of {} misses operand {}", where, g.displayName(v), i);
      in.push_back(v->type());
    }
    Attrs attrs = n->attrs();
    if (Error e = normalizeAttrs(n->op(), attrs))
      return e.context(where);
    if (!(attrs == n->attrs()))
      return makeError("{}: attributes are not in schema order or miss defaults", where);
    auto types = inferResultTypes(n->op(), in, attrs);
    if (!types)
      return types.error().context(where);
    if (types->size() != n->outputs().size())
      return makeError("{}: has {} results, the op defines {}", where, n->outputs().size(), types->size());
    for (size_t i = 0; i < types->size(); ++i) {
      const Value* r = n->output(i);
      if (r->type() != (*types)[i])
        return makeError("{}: result {} is {} but the shape rule gives {}", where, i, r->type().str(),
                         (*types)[i].str());
      if (r->producer() != n.get() || r->resultIndex() != i)
        return makeError("{}: result {} does not point back at its node", where, i);
      SINTER_CHECK(define(r));
    }
  }
  if (g.outputs().empty())
    return makeError("graph @{} has no outputs", g.name());
  for (const Value* v : g.outputs())
    if (!defined.count(v))
      return makeError("graph output {} is not defined in the graph", g.displayName(v));
  std::set<const Value*> updated;
  for (const auto& [param, value] : g.updates()) {
    if (!param->isParam() || std::find(g.params().begin(), g.params().end(), param) == g.params().end())
      return makeError("update of {}: not a parameter of the graph", g.displayName(param));
    if (!defined.count(value))
      return makeError("update of {}: {} is not defined in the graph", g.displayName(param), g.displayName(value));
    if (value->type() != param->type())
      return makeError("update of {} ({}) with {} of type {}", g.displayName(param), param->type().str(),
                       g.displayName(value), value->type().str());
    if (!updated.insert(param).second)
      return makeError("{} is updated twice", g.displayName(param));
  }
  return Error::success();
}

} // namespace sinter

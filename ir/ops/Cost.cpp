// opFlops: the FLOP count reports use, from each op's cost rule or a default.
#include "ir/Graph.h"
#include "ir/ScalarExpr.h"
#include "ir/ops/Ops.h"

#include <map>
#include <mutex>

namespace sinter {

namespace {
int64_t countOps(const ScalarExpr& e) {
  int64_t n = e.kind == ScalarExpr::Kind::Const || e.kind == ScalarExpr::Kind::Arg ? 0 : 1;
  for (const ScalarExpr& o : e.operands)
    n += countOps(o);
  return n;
}
} // namespace

int64_t opFlops(const Node& n) {
  const OpDef& op = n.op();
  if (op.cost)
    return op.cost(n);
  if (op.isAlias())
    return 0;
  int64_t elements = 0;
  for (const Value* v : n.outputs())
    elements += v->type().numel();
  if (const Scalar* s = op.scalar()) {
    auto e = parseScalarExpr(s->expr);
    return e ? std::max<int64_t>(1, countOps(*e)) * elements : elements;
  }
  return elements;
}

} // namespace sinter

// Node -> kernel plan (see KernelPlan.h).
#include "codegen/KernelPlan.h"

#include "ir/OpTable.h"

#include <cctype>
#include <map>

namespace sinter {

ConvShape ConvShape::of(const Node& conv) {
  const Shape& x = conv.input(0)->type().shape;
  const Shape& w = conv.input(1)->type().shape;
  const Shape& y = conv.output()->type().shape;
  const auto& s = conv.attrs().getInts("stride");
  const auto& p = conv.attrs().getInts("pad");
  const auto& d = conv.attrs().getInts("dilation");
  return {x[0], x[1], x[2], x[3], w[0], w[1], w[2], w[3], conv.attrs().getInt("group"), y[2], y[3],
          s[0], s[1], p[0], p[1], d[0], d[1]};
}

ConvShape ConvShape::ofGradient(const Node& grad) {
  bool input = grad.is(ops::Conv2dGradInput);
  const Shape& x = input ? grad.output()->type().shape : grad.input(0)->type().shape;
  const Shape& w = input ? grad.input(1)->type().shape : grad.output()->type().shape;
  const Shape& dy = grad.input(input ? 0 : 1)->type().shape;
  const auto& s = grad.attrs().getInts("stride");
  const auto& p = grad.attrs().getInts("pad");
  const auto& d = grad.attrs().getInts("dilation");
  return {x[0], x[1], x[2], x[3], w[0], w[1], w[2], w[3], grad.attrs().getInt("group"), dy[2], dy[3],
          s[0], s[1], p[0], p[1], d[0], d[1]};
}

PoolShape PoolShape::of(const Node& pool) {
  const Shape& x = pool.input(0)->type().shape;
  const Shape& y = pool.output()->type().shape;
  const auto& k = pool.attrs().getInts("kernel");
  const auto& s = pool.attrs().getInts("stride");
  const auto& pad = pool.attrs().getInts("pad");
  std::vector<int64_t> d = pool.attrs().has("dilation") ? pool.attrs().getInts("dilation") : std::vector<int64_t>{1, 1};
  return {x[0] * x[1], x[2], x[3], y[2], y[3], k[0], k[1], s[0], s[1], pad[0], pad[1], pad[2], pad[3], d[0], d[1]};
}

bool isKernelNode(const Node& n) { return !n.op().isAlias() && !n.is(ops::Constant); }

std::string_view emitterKey(const OpDef& op) { return op.isElementwise() ? "elementwise" : op.kernel()->name; }

std::string kernelSymbol(size_t index, const Graph& g, const Node& n) {
  std::string name = g.displayName(n.output()).substr(1);
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)))
      c = '_';
  return fmt::format("sinter_k{}_{}", index, name);
}

Expected<KernelPlan> planKernel(const Node& n, std::string_view backend) {
  KernelPlan plan;
  if (!n.is(ops::Fused)) {
    plan.producer = &n;
    for (size_t i = 0; i < n.numInputs(); ++i)
      plan.operands.push_back(i);
    return plan;
  }
  const Graph& body = n.attrs().getGraph("body");
  std::map<const Value*, size_t> bufferOf; // body value -> kernel buffer
  for (size_t i = 0; i < body.inputs().size(); ++i)
    bufferOf[body.inputs()[i]] = i;
  std::vector<const Node*> nodes;
  for (const auto& b : body.nodes())
    nodes.push_back(b.get());
  if (nodes.empty())
    return makeUnsupported("fused node with an empty body");
  plan.producer = nodes.front();
  for (const Value* v : plan.producer->inputs())
    plan.operands.push_back(bufferOf.at(v));
  if (nodes.size() == 2 && nodes[0]->is(ops::Lrn) && nodes[1]->is(ops::MaxPool2d)) {
    plan.pool = nodes[1];
    return plan;
  }
  const Value* chain = plan.producer->output();
  for (size_t k = 1; k < nodes.size(); ++k) {
    const Node& s = *nodes[k];
    if (!s.op().isElementwise())
      return makeUnsupported("fused kind '{}' has no {} kernel", n.attrs().getString("kind"), backend);
    EpilogueStep step{*parseScalarExpr(s.op().scalar()->expr), {}};
    for (const Value* v : s.inputs())
      step.args.push_back(v == chain ? -1 : static_cast<int>(bufferOf.at(v)));
    plan.epilogue.push_back(std::move(step));
    chain = s.output();
  }
  return plan;
}

} // namespace sinter

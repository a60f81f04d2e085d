// autodiff: the training step's backward half. Output 0 is the loss (a float scalar; add-loss
// makes one for a classifier); the pass appends the gradient of the loss with respect to every
// float parameter the graph does not already update, built from the op table's gradient rules (OpDef::grad) in reverse node
// order, and adds those gradients to the graph's outputs.
#include "passes/Autodiff.h"

#include "ir/GradBuilder.h"
#include "ir/ops/Ops.h"
#include "passes/Passes.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace sinter {

namespace {

class Differentiator final : public GradBuilder {
public:
  Differentiator(Graph& g) : g_(g) {}

  // The node being differentiated and which of its operands want gradients.
  void begin(const Node& n) {
    node_ = &n;
    given_.assign(n.numInputs(), false);
  }
  /// After the rule: every operand that wants a gradient got one (no silent zeros).
  Error checkAllGiven() const {
    for (size_t i = 0; i < node_->numInputs(); ++i)
      if (wants(i) && !given_[i]) {
        std::string_view name = i < node_->op().numListedInputs() ? node_->op().inputs[i] : "operand";
        return makeUnsupported("{}: no gradient with respect to operand {} '{}' (not implemented)",
                               g_.describe(node_), i, name);
      }
    return Error::success();
  }

  Value* dy(size_t r) override {
    auto it = grad_.find(node_->output(r));
    return it == grad_.end() ? nullptr : it->second;
  }
  bool wants(size_t i) const override { return i < node_->numInputs() && depends_.count(node_->input(i)) > 0; }
  void give(size_t i, Value* g) override {
    if (!g || !wants(i) || err_)
      return;
    const Value* x = node_->input(i);
    if (g->type() != x->type()) {
      err_ = makeError("{}: the gradient rule gave operand {} the type {}, expected {}", g_.describe(node_), i,
                       g->type().str(), x->type().str());
      return;
    }
    given_[i] = true;
    accumulate(x, g);
  }
  Value* emit(const OpDef& op, std::vector<Value*> inputs, Attrs attrs, size_t r) override {
    if (err_)
      return nullptr;
    for (Value* v : inputs)
      if (!v) {
        err_ = makeError("{}: the gradient rule used a missing value", node_ ? g_.describe(node_) : "autodiff");
        return nullptr;
      }
    auto n = g_.addNode(op, std::move(inputs), std::move(attrs));
    if (!n) {
      err_ = n.error().context(fmt::format("gradient of {}", node_ ? g_.describe(node_) : "the loss"));
      return nullptr;
    }
    return (*n)->output(r);
  }
  Error error() const override { return err_; }

  void accumulate(const Value* x, Value* g) {
    auto [it, fresh] = grad_.emplace(x, g);
    if (!fresh)
      it->second = emit(ops::Add, {it->second, g}, {}, 0);
  }
  void markDepends(const Value* v) { depends_.insert(v); }
  bool dependsOn(const Value* v) const { return depends_.count(v) > 0; }
  Value* gradOf(const Value* v) const {
    auto it = grad_.find(v);
    return it == grad_.end() ? nullptr : it->second;
  }

private:
  Graph& g_;
  const Node* node_ = nullptr;
  std::unordered_map<const Value*, Value*> grad_;
  std::unordered_set<const Value*> depends_;
  std::vector<bool> given_;
  Error err_;
};

} // namespace

Expected<std::vector<Value*>> differentiate(Graph& g, Value* loss, std::span<Value* const> wrt) {
  if (!loss || !isFloat(loss->type().dtype) || loss->type().numel() != 1)
    return makeError("autodiff needs a float scalar loss, got {}", loss ? loss->type().str() : "nothing");
  Differentiator d(g);
  for (Value* v : wrt) {
    if (!isFloat(v->type().dtype))
      return makeError("cannot differentiate with respect to {} ({}): not a float", g.displayName(v), v->type().str());
    d.markDepends(v);
  }
  // Forward: which results depend on a wrt value (through float values).
  std::vector<Node*> order;
  for (const auto& n : g.nodes()) {
    order.push_back(n.get());
    bool dep = false;
    for (const Value* v : n->inputs())
      dep = dep || d.dependsOn(v);
    if (dep)
      for (const Value* r : n->outputs())
        if (isFloat(r->type().dtype))
          d.markDepends(r);
  }
  if (!d.dependsOn(loss))
    return makeError("the loss {} does not depend on any differentiated value", g.displayName(loss));
  // Backward, in reverse node order (the nodes added meanwhile come after `order`).
  d.begin(*order.front());
  const double one[] = {1.0};
  d.accumulate(loss, d.constant(Tensor::fromDoubles(loss->type(), one)));
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const Node& n = **it;
    bool reached = false, wanted = false;
    for (const Value* r : n.outputs())
      reached = reached || d.gradOf(r);
    for (const Value* v : n.inputs())
      wanted = wanted || d.dependsOn(v);
    if (!reached || !wanted)
      continue;
    if (!n.op().grad)
      return makeUnsupported("autodiff: {} has no gradient rule", g.describe(&n));
    d.begin(n);
    SINTER_CHECK(n.op().grad(d, n));
    SINTER_CHECK(d.error());
    SINTER_CHECK(d.checkAllGiven());
  }
  std::vector<Value*> grads;
  for (Value* v : wrt) {
    Value* gv = d.gradOf(v);
    if (!gv) { // the loss does not depend on v: zeros
      const Shape& s = v->type().shape;
      gv = d.emit(ops::Expand, {d.scalar(0.0, v->type().dtype)}, {{"shape", std::vector<int64_t>(s.begin(), s.end())}}, 0);
      SINTER_CHECK(d.error());
    }
    // Every gradient is its own value named "<v>.grad" (an alias when the value is shared or
    // already named), so later passes find them by name.
    std::string base = (v->name().empty() ? std::string("v") : v->name()) + ".grad";
    if (!gv->name().empty() || gv->producer() == nullptr || gv->producer()->is(ops::Constant) ||
        std::find(grads.begin(), grads.end(), gv) != grads.end()) {
      gv = d.emit(ops::Identity, {gv}, {}, 0);
      SINTER_CHECK(d.error());
    }
    g.rename(gv, g.uniqueName(base));
    grads.push_back(gv);
  }
  return grads;
}

// The pass: differentiate output 0 with respect to every float parameter that is a weight; the
// gradients become outputs after the existing ones. A parameter the graph already updates
// (batch norm's running statistics, from add-loss) is state, not a weight: it gets no gradient.
Expected<bool> autodiff(Graph& g, const PassContext&) {
  if (g.outputs().empty())
    return makeError("autodiff: the graph has no outputs");
  std::vector<Value*> params;
  for (Value* p : g.params())
    if (isFloat(p->type().dtype) &&
        std::none_of(g.updates().begin(), g.updates().end(), [&](const auto& u) { return u.first == p; }))
      params.push_back(p);
  if (params.empty())
    return makeError("autodiff: the graph has no float parameters to train");
  auto grads = differentiate(g, g.outputs()[0], params);
  if (!grads)
    return grads.error();
  std::vector<Value*> outs = g.outputs();
  outs.insert(outs.end(), grads->begin(), grads->end());
  g.setOutputs(std::move(outs));
  return true;
}

} // namespace sinter

// Reference interpreter: walks the nodes in order and dispatches on the op's lowering kind.
#include "runtime/reference/Interpreter.h"

#include "ir/ScalarExpr.h"
#include "runtime/reference/RefKernels.h"

#include <cmath>
#include <map>
#include <mutex>
#include <unordered_map>

namespace sinter {

namespace {

using ref::RefTensor;

// Rounds values to what `dtype` can hold, so later ops see stored values.
void roundTo(DType dtype, std::vector<double>& v) {
  if (dtype == DType::F64)
    return;
  if (dtype == DType::F32) {
    for (double& x : v)
      x = static_cast<float>(x);
    return;
  }
  Tensor t = Tensor::fromDoubles({dtype, {static_cast<int64_t>(v.size())}}, v);
  v = t.toDoubles();
}

const ScalarExpr& exprFor(const OpDef& op) {
  static std::mutex mu;
  static std::map<const OpDef*, ScalarExpr> cache;
  std::lock_guard lock(mu);
  auto it = cache.find(&op);
  if (it == cache.end()) {
    auto e = parseScalarExpr(op.scalar()->expr);
    assert(e && "op table expressions are checked by the op-table test");
    it = cache.emplace(&op, std::move(*e)).first;
  }
  return it->second;
}

// Broadcasting elementwise evaluation of a scalar expression.
void evalScalar(const ScalarExpr& e, std::span<const RefTensor* const> in, RefTensor& out) {
  const Shape& os = out.type.shape;
  size_t r = os.size();
  std::vector<std::vector<int64_t>> strides; // per operand, per output dim (0 = broadcast)
  for (const RefTensor* t : in) {
    std::vector<int64_t> st(r, 0);
    auto full = ref::stridesOf(t->type.shape);
    size_t off = r - t->type.shape.size();
    for (size_t d = 0; d < t->type.shape.size(); ++d)
      st[d + off] = t->type.shape[d] == 1 ? 0 : full[d];
    strides.push_back(std::move(st));
  }
  std::vector<int64_t> idx(r, 0), pos(in.size(), 0);
  std::vector<double> args(in.size());
  int64_t n = static_cast<int64_t>(out.data.size());
  for (int64_t flat = 0; flat < n; ++flat) {
    for (size_t k = 0; k < in.size(); ++k)
      args[k] = in[k]->data[pos[k]];
    out.data[flat] = e.eval(args);
    for (size_t d = r; d-- > 0;) {
      for (size_t k = 0; k < in.size(); ++k)
        pos[k] += strides[k][d];
      if (++idx[d] < os[d])
        break;
      for (size_t k = 0; k < in.size(); ++k)
        pos[k] -= strides[k][d] * os[d];
      idx[d] = 0;
    }
  }
}

Error runNode(const Node& n, std::span<const RefTensor* const> in, std::vector<RefTensor>& out, bool float64 = false) {
  out.clear();
  for (const Value* v : n.outputs())
    out.push_back({v->type(), std::vector<double>(static_cast<size_t>(v->type().numel()))});
  const OpDef& op = n.op();
  if (op.isAlias()) {
    out[0].data = in[0]->data;
  } else if (op.isElementwise()) {
    evalScalar(exprFor(op), in, out[0]);
  } else {
    const ref::RefKernel* k = ref::findRefKernel(op.kernel()->name);
    assert(k && "every kernel template has a reference kernel (op-table test)");
    ref::RefArgs args{in, n.attrs(), out};
    SINTER_CHECK(k->fn(args));
  }
  for (RefTensor& t : out)
    if (!float64 || !isFloat(t.type.dtype))
      roundTo(t.type.dtype, t.data);
  return Error::success();
}

RefTensor toRef(const Tensor& t) { return {t.type(), t.toDoubles()}; }
Tensor fromRef(const RefTensor& t, bool float64 = false) {
  if (float64 && isFloat(t.type.dtype))
    return Tensor::fromDoubles({DType::F64, t.type.shape}, t.data);
  return Tensor::fromDoubles(t.type, t.data);
}
// An f64 tensor standing for a value of another float dtype (float64 mode).
bool widenedMatch(const Tensor& t, const TensorType& want, bool float64) {
  return t.type() == want || (float64 && isFloat(want.dtype) && t.dtype() == DType::F64 && t.shape() == want.shape);
}

} // namespace

Expected<std::vector<Tensor>> runReference(const Graph& g, const std::vector<Tensor>& inputs,
                                           const ReferenceOptions& options) {
  if (inputs.size() != g.inputs().size())
    return makeError("graph @{} takes {} inputs, got {}", g.name(), g.inputs().size(), inputs.size());
  std::unordered_map<const Value*, RefTensor> env;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value* v = g.inputs()[i];
    if (!widenedMatch(inputs[i], v->type(), options.float64))
      return makeError("input {} expects {}, got {}", g.displayName(v), v->type().str(),
                       inputs[i].type().str());
    env[v] = {v->type(), inputs[i].toDoubles()};
  }
  for (const auto& [v, t] : options.overrides) {
    if (!widenedMatch(t, v->type(), options.float64))
      return makeError("override of {} must be {}, got {}", g.displayName(v), v->type().str(), t.type().str());
    env[v] = {v->type(), t.toDoubles()};
  }
  for (const Value* p : g.params()) {
    const Tensor* t = g.weights().find(p->name());
    if (!t)
      return makeError("parameter {} has no data", g.displayName(p));
    if (t->type() != p->type())
      return makeError("parameter {} is {} but its data is {}", g.displayName(p), p->type().str(),
                       t->type().str());
  }
  // Release each value after its last use to keep peak memory near the largest live set.
  std::unordered_map<const Value*, size_t> lastUse;
  size_t index = 0;
  for (const auto& n : g.nodes()) {
    for (const Value* v : n->inputs())
      lastUse[v] = index;
    ++index;
  }
  for (const Value* v : g.outputs())
    lastUse[v] = SIZE_MAX;
  for (const auto& u : g.updates())
    lastUse[u.second] = SIZE_MAX;

  index = 0;
  std::vector<RefTensor> out;
  for (const auto& n : g.nodes()) {
    std::vector<const RefTensor*> in;
    for (const Value* v : n->inputs()) {
      auto it = env.find(v);
      if (it == env.end()) // parameters are widened on first use
        it = env.emplace(v, toRef(*g.weights().find(v->name()))).first;
      in.push_back(&it->second);
    }
    if (Error e = runNode(*n, in, out, options.float64))
      return e.context(g.describe(n.get()));
    for (size_t i = 0; i < out.size(); ++i)
      env[n->output(i)] = std::move(out[i]);
    if (options.afterNode) {
      std::vector<Tensor> results;
      for (const Value* v : n->outputs())
        results.push_back(fromRef(env.at(v), options.float64));
      options.afterNode(index, *n, results);
    }
    for (const Value* v : n->inputs())
      if (lastUse[v] == index)
        env.erase(v);
    ++index;
  }
  std::vector<Tensor> results;
  for (const Value* v : g.outputs()) {
    auto it = env.find(v);
    if (it == env.end() && v->isParam())
      it = env.emplace(v, toRef(*g.weights().find(v->name()))).first;
    results.push_back(fromRef(it->second, options.float64));
  }
  if (options.updates) {
    options.updates->clear();
    for (const auto& [param, value] : g.updates()) {
      auto it = env.find(value);
      if (it == env.end())
        return makeError("update of {}: {} was not computed", g.displayName(param), g.displayName(value));
      options.updates->push_back(fromRef(it->second, options.float64));
    }
  }
  return results;
}

Expected<std::vector<Tensor>> evaluateNode(const Node& n, const std::vector<Tensor>& operands) {
  std::vector<RefTensor> ins;
  for (const Tensor& t : operands)
    ins.push_back(toRef(t));
  std::vector<const RefTensor*> ptrs;
  for (const RefTensor& t : ins)
    ptrs.push_back(&t);
  std::vector<RefTensor> out;
  SINTER_CHECK(runNode(n, ptrs, out));
  std::vector<Tensor> results;
  for (const RefTensor& t : out)
    results.push_back(fromRef(t));
  return results;
}

} // namespace sinter

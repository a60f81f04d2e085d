// Graph construction and mutation, with use lists kept consistent.
#include "ir/Graph.h"

#include <algorithm>

namespace sinter {

std::string_view familyName(OpFamily f) {
  constexpr std::string_view names[] = {"elementwise", "conv",  "pool", "norm", "linear",
                                        "reduce",      "shape", "loss", "misc"};
  return names[static_cast<size_t>(f)];
}

size_t OpDef::numListedInputs() const {
  size_t n = 0;
  while (n < inputs.size() && !inputs[n].empty())
    ++n;
  return n;
}

size_t OpDef::numOutputs() const {
  size_t n = 0;
  while (n < outputs.size() && !outputs[n].empty())
    ++n;
  return n;
}

std::span<const AttrDef> OpDef::attrSchema() const {
  size_t n = 0;
  while (n < attrs.size() && attrs[n].kind != AttrKind::None)
    ++n;
  return {attrs.data(), n};
}

const AttrDef* OpDef::findAttr(std::string_view n) const {
  for (const AttrDef& a : attrSchema())
    if (a.name == n)
      return &a;
  return nullptr;
}

Error normalizeAttrs(const OpDef& op, Attrs& attrs) {
  auto schema = op.attrSchema();
  for (const auto& [name, value] : attrs) {
    const AttrDef* def = op.findAttr(name);
    if (!def) {
      std::vector<std::string_view> known;
      for (const AttrDef& a : schema)
        known.push_back(a.name);
      return makeError("unknown attribute '{}' ({} takes {})", name, op.name,
                       known.empty() ? std::string("no attributes") : fmt::format("{}", fmt::join(known, ", ")));
    }
    if (kindOf(value) != def->kind)
      return makeError("attribute '{}' must be {}, got {}", name, attrKindName(def->kind),
                       attrKindName(kindOf(value)));
  }
  Attrs ordered;
  for (const AttrDef& def : schema) {
    if (const AttrValue* v = attrs.find(def.name))
      ordered.set(def.name, *v);
    else if (def.required())
      return makeError("missing required attribute '{}' ({})", def.name, attrKindName(def.kind));
    else
      ordered.set(def.name, def.def.materialize());
  }
  attrs = std::move(ordered);
  return Error::success();
}

Expected<std::vector<TensorType>> inferResultTypes(const OpDef& op, std::span<const TensorType> in,
                                                   const Attrs& attrs) {
  size_t lo = op.requiredInputs(), hi = op.maxInputs();
  if (in.size() < lo || in.size() > hi) {
    std::vector<std::string_view> names(op.inputs.begin(), op.inputs.begin() + op.numListedInputs());
    std::string count = lo == hi                ? fmt::format("{}", lo)
                        : hi == SIZE_MAX        ? fmt::format("at least {}", lo)
                                                : fmt::format("{} to {}", lo, hi);
    return makeError("expects {} operand{} ({}{}), got {}", count, hi == 1 ? "" : "s",
                     fmt::join(names, ", "), op.variadic ? ", ..." : "", in.size());
  }
  for (size_t i = 0; i < in.size(); ++i)
    if (in[i].numel() < 0)
      return makeError("operand {} has an invalid shape {}", i, in[i].str());
  ShapeCtx ctx(in, attrs);
  assert(op.shape && "every op has a shape rule");
  SINTER_CHECK(op.shape(ctx));
  assert((op.variadicOutputs || ctx.outputs.size() == op.numOutputs()) && "shape rule must produce every result");
  for (const TensorType& t : ctx.outputs)
    if (t.numel() < 0)
      return makeError("result shape {} is invalid (negative or overflowing)", shapeString(t.shape));
  return std::move(ctx.outputs);
}

void Node::setInput(size_t i, Value* v) {
  Value* old = inputs_[i];
  auto& u = old->uses_;
  for (auto it = u.begin(); it != u.end(); ++it)
    if (it->node == this && it->operand == i) {
      u.erase(it);
      break;
    }
  inputs_[i] = v;
  v->uses_.push_back({this, i});
}

const Tensor* WeightStore::find(std::string_view name) const {
  auto it = data_.find(name);
  return it == data_.end() ? nullptr : &it->second;
}

Value* Graph::findValue(std::string_view name) const {
  auto it = byName_.find(std::string(name));
  return it == byName_.end() ? nullptr : it->second;
}

std::string Graph::uniqueName(std::string_view base) const {
  std::string b(base);
  if (!byName_.count(b))
    return b;
  for (int i = 1;; ++i) {
    std::string n = fmt::format("{}.{}", b, i);
    if (!byName_.count(n))
      return n;
  }
}

Value* Graph::newValue(Value::Kind kind, const std::string& name, TensorType type) {
  auto v = std::make_unique<Value>();
  v->kind_ = kind;
  v->type_ = std::move(type);
  v->id_ = values_.size();
  if (!name.empty()) {
    assert(!byName_.count(name) && "value names are unique");
    v->name_ = name;
    byName_[name] = v.get();
  }
  values_.push_back(std::move(v));
  return values_.back().get();
}

Value* Graph::addInput(const std::string& name, TensorType type) {
  Value* v = newValue(Value::Kind::Input, name, std::move(type));
  inputs_.push_back(v);
  return v;
}

Value* Graph::addParam(const std::string& name, TensorType type, std::optional<Tensor> data) {
  assert(!name.empty() && "params are named: weights are stored by name");
  assert((!data || data->type() == type) && "param data must match its type");
  Value* v = newValue(Value::Kind::Param, name, std::move(type));
  params_.push_back(v);
  if (data)
    weights_.set(name, std::move(*data));
  return v;
}

Node* Graph::addNodeUnchecked(const OpDef& op, std::vector<Value*> inputs, Attrs attrs,
                              std::vector<std::pair<std::string, TensorType>> results) {
  auto n = std::make_unique<Node>();
  n->op_ = &op;
  n->attrs_ = std::move(attrs);
  n->inputs_ = std::move(inputs);
  for (size_t i = 0; i < n->inputs_.size(); ++i)
    n->inputs_[i]->uses_.push_back({n.get(), i});
  for (size_t i = 0; i < results.size(); ++i) {
    Value* v = newValue(Value::Kind::Result, results[i].first, std::move(results[i].second));
    v->producer_ = n.get();
    v->resultIndex_ = i;
    n->outputs_.push_back(v);
  }
  Node* raw = n.get();
  nodes_.push_back(std::move(n));
  raw->self_ = std::prev(nodes_.end());
  return raw;
}

Expected<Node*> Graph::addNode(const OpDef& op, std::vector<Value*> inputs, Attrs attrs,
                               std::vector<std::string> outputNames, Node* before) {
  if (Error e = normalizeAttrs(op, attrs))
    return e.context(op.name);
  std::vector<TensorType> in;
  for (Value* v : inputs)
    in.push_back(v->type());
  auto types = inferResultTypes(op, in, attrs);
  if (!types)
    return types.error().context(op.name);
  std::vector<std::pair<std::string, TensorType>> results;
  for (size_t i = 0; i < types->size(); ++i) {
    std::string name = i < outputNames.size() ? outputNames[i] : std::string();
    if (!name.empty())
      name = uniqueName(name);
    results.emplace_back(name, (*types)[i]);
  }
  Node* n = addNodeUnchecked(op, std::move(inputs), std::move(attrs), std::move(results));
  if (before)
    nodes_.splice(before->self_, nodes_, n->self_);
  return n;
}

void Graph::eraseNode(Node* n) {
  for (Value* v : n->outputs_) {
    assert(!v->hasUses() && "erasing a node whose results are still used");
    assert(std::find(outputs_.begin(), outputs_.end(), v) == outputs_.end());
    if (!v->name_.empty())
      byName_.erase(v->name_);
  }
  for (size_t i = 0; i < n->inputs_.size(); ++i) {
    auto& u = n->inputs_[i]->uses_;
    std::erase_if(u, [&](const Value::Use& x) { return x.node == n && x.operand == i; });
  }
  // Values stay owned by values_ (ids remain stable); the node goes.
  nodes_.erase(n->self_);
}

void Graph::eraseParam(Value* p) {
  assert(p->isParam() && !p->hasUses() && "erasing a used parameter");
  std::erase(params_, p);
  weights_.erase(p->name_);
  byName_.erase(p->name_);
  p->name_.clear();
}

void Graph::replaceAllUses(Value* from, Value* to) {
  std::vector<Value::Use> uses = from->uses_;
  for (const Value::Use& u : uses)
    u.node->setInput(u.operand, to);
  for (Value*& o : outputs_)
    if (o == from)
      o = to;
  for (auto& [param, value] : updates_)
    if (value == from)
      value = to;
}

std::unordered_map<const Value*, Value*> Graph::inPlaceUpdates() const {
  std::unordered_map<const Value*, Value*> result;
  auto storage = [](const Value* v) {
    while (v->producer() && v->producer()->op().isAlias())
      v = v->producer()->input(0);
    return v;
  };
  std::unordered_map<const Value*, size_t> updatesOf;
  for (const auto& [param, value] : updates_)
    ++updatesOf[param];
  for (const auto& [param, value] : updates_) {
    const Node* p = value->producer();
    if (!p || !p->op().elementwiseOutputs || param->type() != value->type() || updatesOf[param] != 1 ||
        std::count(p->inputs().begin(), p->inputs().end(), param) != 1)
      continue;
    bool after = false, readLater = false;
    for (const auto& n : nodes_) {
      if (n.get() == p) {
        after = true;
        continue;
      }
      if (after)
        for (const Value* v : n->inputs())
          readLater |= storage(v) == param;
    }
    if (!readLater && std::find(outputs_.begin(), outputs_.end(), param) == outputs_.end())
      result[value] = param;
  }
  return result;
}

bool Graph::isLiveOut(const Value* v) const {
  if (std::find(outputs_.begin(), outputs_.end(), v) != outputs_.end())
    return true;
  for (const auto& [param, value] : updates_)
    if (value == v || param == v)
      return true;
  return false;
}

void Graph::rename(Value* v, const std::string& name) {
  if (!v->name_.empty())
    byName_.erase(v->name_);
  v->name_ = name;
  if (!name.empty()) {
    assert(!byName_.count(name));
    byName_[name] = v;
  }
}

int64_t Graph::parameterCount() const {
  int64_t n = 0;
  for (const Value* p : params_)
    n += p->type().numel();
  return n;
}

std::string Graph::displayName(const Value* v) const {
  if (!v->name().empty())
    return "%" + v->name();
  // Same numbering as the printer: anonymous values in definition order.
  size_t k = 0;
  auto visit = [&](const Value* x) -> bool {
    if (x == v)
      return true;
    if (x->name().empty())
      ++k;
    return false;
  };
  for (const Value* x : inputs_)
    if (visit(x))
      return fmt::format("%{}", k);
  for (const auto& n : nodes_)
    for (const Value* x : n->outputs())
      if (visit(x))
        return fmt::format("%{}", k);
  return "%?";
}

std::string Graph::describe(const Node* n) const {
  return fmt::format("node {} ({})", displayName(n->output(0)), n->op().name);
}

std::unique_ptr<Graph> Graph::clone() const {
  auto g = std::make_unique<Graph>(name_);
  std::unordered_map<const Value*, Value*> map;
  for (const Value* v : inputs_)
    map[v] = g->addInput(v->name(), v->type());
  for (const Value* v : params_)
    map[v] = g->addParam(v->name(), v->type());
  for (const auto& n : nodes_) {
    std::vector<Value*> ins;
    for (Value* v : n->inputs())
      ins.push_back(map.at(v));
    std::vector<std::pair<std::string, TensorType>> res;
    for (Value* v : n->outputs())
      res.emplace_back(v->name(), v->type());
    Node* c = g->addNodeUnchecked(n->op(), std::move(ins), n->attrs(), std::move(res));
    for (size_t i = 0; i < n->outputs().size(); ++i) {
      map[n->output(i)] = c->output(i);
      c->output(i)->setOffset(n->output(i)->offset());
    }
  }
  std::vector<Value*> outs;
  for (const Value* v : outputs_)
    outs.push_back(map.at(v));
  g->setOutputs(std::move(outs));
  for (const auto& [param, value] : updates_)
    g->addUpdate(map.at(param), map.at(value));
  for (const auto& [name, t] : weights_)
    g->weights_.set(name, t);
  return g;
}

} // namespace sinter

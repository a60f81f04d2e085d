// Graph, Value, Node: Sinter's SSA IR over statically shaped tensors, and its weight store.
#pragma once

#include "ir/Attr.h"
#include "ir/OpDef.h"
#include "ir/Tensor.h"
#include "ir/Types.h"

#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace sinter {

class Node;
class Graph;

/// An SSA value: a graph input, a parameter (weight), or a node result.
class Value {
public:
  enum class Kind : uint8_t { Input, Param, Result };
  struct Use {
    Node* node;
    size_t operand;
  };

  Kind kind() const { return kind_; }
  bool isInput() const { return kind_ == Kind::Input; }
  bool isParam() const { return kind_ == Kind::Param; }
  /// Name without the '%'; empty for anonymous values (printed as %N).
  const std::string& name() const { return name_; }
  const TensorType& type() const { return type_; }
  void setType(TensorType t) { type_ = std::move(t); }
  /// Producing node, or null for inputs and params.
  Node* producer() const { return producer_; }
  /// Result index in the producer.
  size_t resultIndex() const { return resultIndex_; }
  const std::vector<Use>& uses() const { return uses_; }
  bool hasUses() const { return !uses_.empty(); }
  /// Creation order; stable and unique within the graph.
  size_t id() const { return id_; }
  /// Byte offset of this value in the planned arena (plan-memory), or -1 when not planned.
  int64_t offset() const { return offset_; }
  void setOffset(int64_t o) { offset_ = o; }

private:
  friend class Graph;
  friend class Node;
  Kind kind_ = Kind::Result;
  std::string name_;
  TensorType type_;
  Node* producer_ = nullptr;
  size_t resultIndex_ = 0;
  size_t id_ = 0;
  int64_t offset_ = -1;
  std::vector<Use> uses_;
};

/// One op application: op entry, operands, results, attributes.
class Node {
public:
  const OpDef& op() const { return *op_; }
  bool is(const OpDef& d) const { return op_ == &d; }
  const std::vector<Value*>& inputs() const { return inputs_; }
  Value* input(size_t i) const { return inputs_[i]; }
  size_t numInputs() const { return inputs_.size(); }
  const std::vector<Value*>& outputs() const { return outputs_; }
  Value* output(size_t i = 0) const { return outputs_[i]; }
  const Attrs& attrs() const { return attrs_; }
  Attrs& mutableAttrs() { return attrs_; }
  /// Replaces operand i, keeping use lists right.
  void setInput(size_t i, Value* v);

private:
  friend class Graph;
  const OpDef* op_ = nullptr;
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  Attrs attrs_;
  std::list<std::unique_ptr<Node>>::iterator self_;
};

/// Parameter data by parameter name. A graph parsed from text may have params without data.
class WeightStore {
public:
  const Tensor* find(std::string_view name) const;
  void set(const std::string& name, Tensor t) { data_[name] = std::move(t); }
  void erase(const std::string& name) { data_.erase(name); }
  size_t size() const { return data_.size(); }
  auto begin() const { return data_.begin(); }
  auto end() const { return data_.end(); }

private:
  std::map<std::string, Tensor, std::less<>> data_;
};

/// A function over tensors: inputs, params, nodes in topological order, outputs.
class Graph {
public:
  explicit Graph(std::string name = "main") : name_(std::move(name)) {}
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  const std::string& name() const { return name_; }
  void setName(std::string n) { name_ = std::move(n); }

  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& params() const { return params_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  const std::list<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  size_t numNodes() const { return nodes_.size(); }

  /// Finds a named value (input, param or result).
  Value* findValue(std::string_view name) const;
  /// `base` if free, else base.1, base.2, ...
  std::string uniqueName(std::string_view base) const;

  Value* addInput(const std::string& name, TensorType type);
  /// Adds a parameter; `data`, when given, must match `type`.
  Value* addParam(const std::string& name, TensorType type, std::optional<Tensor> data = {});
  void setOutputs(std::vector<Value*> outs) { outputs_ = std::move(outs); }

  /// State updates of a training step: after each run, parameter `first` takes the contents of
  /// value `second` (the optimizer's new weights and state). Printed as `update %p <- %v`.
  const std::vector<std::pair<Value*, Value*>>& updates() const { return updates_; }
  void addUpdate(Value* param, Value* value) { updates_.emplace_back(param, value); }
  void clearUpdates() { updates_.clear(); }
  /// Whether `v` is read after the run: a graph output or the value of an update.
  bool isLiveOut(const Value* v) const;
  /// The updates whose value the producing kernel writes straight into the parameter (value ->
  /// parameter): the producer's op computes each element of its outputs from the same element
  /// of its operands (OpDef::elementwiseOutputs: optimizer steps), reads the parameter as an
  /// operand of the same type, and no later node reads the parameter. plan-memory gives such
  /// values no arena space; executors bind them to the parameter and copy nothing after a run.
  std::unordered_map<const Value*, Value*> inPlaceUpdates() const;

  /// Appends (or inserts before `before`) a node whose result types come from the op's shape
  /// rule. Missing schema attributes get their defaults. Errors name the op and the rule.
  Expected<Node*> addNode(const OpDef& op, std::vector<Value*> inputs, Attrs attrs = {},
                          std::vector<std::string> outputNames = {}, Node* before = nullptr);
  /// Appends a node with given result types, checked later by the verifier (the parser's path).
  Node* addNodeUnchecked(const OpDef& op, std::vector<Value*> inputs, Attrs attrs,
                         std::vector<std::pair<std::string, TensorType>> results);
  /// Removes an unused parameter and its data.
  void eraseParam(Value* p);
  /// Removes a node whose results have no uses.
  void eraseNode(Node* n);
  /// Points every use of `from` (and graph outputs) at `to`.
  void replaceAllUses(Value* from, Value* to);
  /// Renames a value; the name must be free (or empty for anonymous).
  void rename(Value* v, const std::string& name);

  WeightStore& weights() { return weights_; }
  const WeightStore& weights() const { return weights_; }
  /// Sum of parameter element counts.
  int64_t parameterCount() const;

  /// Name used in messages and dumps: "%conv1" or "%12" for anonymous values (dump numbering).
  std::string displayName(const Value* v) const;
  /// "node %conv1 (conv2d)"
  std::string describe(const Node* n) const;

  /// Deep copy (weights share their buffers).
  std::unique_ptr<Graph> clone() const;

private:
  Value* newValue(Value::Kind kind, const std::string& name, TensorType type);

  std::string name_;
  std::vector<std::unique_ptr<Value>> values_;
  std::unordered_map<std::string, Value*> byName_;
  std::vector<Value*> inputs_, params_, outputs_;
  std::vector<std::pair<Value*, Value*>> updates_;
  std::list<std::unique_ptr<Node>> nodes_;
  WeightStore weights_;
};

/// Evaluates one node on constant operands. The reference interpreter provides it
/// (runtime/reference's evaluateNode); ir/, frontend/ and passes/ receive it as a callback so
/// folded values match the reference bit for bit without depending on runtime/.
using NodeEvaluator = std::function<Expected<std::vector<Tensor>>(const Node&, const std::vector<Tensor>&)>;

/// Fills schema defaults and checks attribute names/kinds against the op's schema.
Error normalizeAttrs(const OpDef& op, Attrs& attrs);
/// Runs the op's shape rule on operand types (after arity and attribute checks).
Expected<std::vector<TensorType>> inferResultTypes(const OpDef& op, std::span<const TensorType> in,
                                                   const Attrs& attrs);

} // namespace sinter

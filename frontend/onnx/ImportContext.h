// What an ONNX conversion rule sees: the node, its operands and attributes, and an emitter
// that folds constant sub-expressions as it goes.
#pragma once

#include "frontend/onnx/OnnxImport.h"
#include "ir/OpTable.h"

#include <onnx/onnx_pb.h>

#include <span>
#include <unordered_map>

namespace sinter::onnxio {

class Importer;

/// Converts one ONNX node. Rules live in frontend/onnx/rules/<Family>.cpp.
class NodeCtx {
public:
  NodeCtx(Importer& imp, const onnx::NodeProto& node, int64_t opset) : imp_(imp), node_(node), opset_(opset) {}

  const onnx::NodeProto& node() const { return node_; }
  int64_t opset() const { return opset_; }

  // Operands. Missing optional inputs have empty names.
  size_t numInputs() const;
  bool has(size_t i) const;
  Expected<Value*> in(size_t i);
  /// Every input, in order; errors on a missing one before a present one, or an undefined name.
  Expected<std::vector<Value*>> inputs();
  /// Data of input i when it is a constant (folded or literal), else null.
  const Tensor* constant(size_t i) const;
  /// Input i as a list of ints; errors when it is not a constant 1-D int tensor.
  Expected<std::vector<int64_t>> constInts(size_t i, std::string_view what);
  /// Input i as a scalar (any numeric dtype) constant.
  Expected<double> constScalar(size_t i, std::string_view what);
  const TensorType& typeOf(Value* v) const { return v->type(); }
  /// Checks the number of operands against [lo, hi].
  Error checkInputs(size_t lo, size_t hi) const;

  // Attributes, typed; a wrong type is an error naming both types.
  const onnx::AttributeProto* attr(std::string_view name) const;
  Expected<int64_t> attrInt(std::string_view name, int64_t def) const;
  Expected<double> attrFloat(std::string_view name, double def) const;
  Expected<std::string> attrString(std::string_view name, std::string def) const;
  Expected<std::vector<int64_t>> attrInts(std::string_view name, std::vector<int64_t> def) const;
  /// Errors on any attribute not in `known` (so a rule never silently ignores semantics).
  Error onlyAttrs(std::initializer_list<std::string_view> known) const;

  // Results.
  size_t numOutputs() const { return static_cast<size_t>(node_.output_size()); }
  bool wantsOutput(size_t i) const { return i < numOutputs() && !node_.output(static_cast<int>(i)).empty(); }
  /// Adds an IR node (named after ONNX output 0) and folds it when every operand is constant.
  Expected<Value*> emit(const OpDef& op, std::vector<Value*> inputs, Attrs attrs = {});
  /// A constant node holding `t`.
  Value* constantValue(Tensor t);
  /// Binds ONNX output i to `v`.
  Error bind(size_t i, Value* v);

  /// Maps every operand and every attribute (same names and kinds as the table's schema).
  Error generic(const OpDef& op);

  Importer& importer() { return imp_; }

private:
  Importer& imp_;
  const onnx::NodeProto& node_;
  int64_t opset_;
};

using RuleFn = Error (*)(NodeCtx&);
struct OnnxRule {
  std::string_view onnxType;
  RuleFn fn;
};

// Rule families, one file each under frontend/onnx/rules/.
std::span<const OnnxRule> elementwiseRules();
std::span<const OnnxRule> convPoolRules();
std::span<const OnnxRule> normRules();
std::span<const OnnxRule> linearRules();
std::span<const OnnxRule> shapeRules();
std::span<const OnnxRule> lossRules();
std::span<const OnnxRule> controlRules();

const OnnxRule* findOnnxRule(std::string_view onnxType);

/// Import state shared by every rule: ONNX names -> values, the graph, options.
class Importer {
public:
  Importer(const OnnxImportOptions& options, std::string baseDir)
      : options_(options), baseDir_(std::move(baseDir)), graph_(std::make_unique<Graph>()) {}

  Expected<std::unique_ptr<Graph>> run(const onnx::ModelProto& model);
  /// Converts the nodes of the main graph into the current graph.
  Error importNodes(const onnx::GraphProto& g);
  /// Converts an If branch (its initializers and nodes) into the current graph.
  Error importSubgraph(const onnx::GraphProto& g);

  Graph& graph() { return *graph_; }
  const OnnxImportOptions& options() const { return options_; }
  const std::string& baseDir() const { return baseDir_; }
  Value* lookup(const std::string& name) const;
  void bind(const std::string& name, Value* v) { env_[name] = v; }
  /// Why a name is not bound: a node's output its rule does not produce (an error only for the
  /// nodes and graph outputs that read it), or an undefined name (`fallback`).
  Error unbound(const std::string& name, std::string fallback) const;
  /// Data of a value produced by a constant node, else null.
  static const Tensor* constantData(const Value* v);
  int64_t opset() const { return opset_; }

private:
  Error importInputs(const onnx::GraphProto& g);
  Error importInitializers(const onnx::GraphProto& g);
  Error importOutputs(const onnx::GraphProto& g);
  void removeDeadCode();

  const OnnxImportOptions& options_;
  std::string baseDir_;
  std::unique_ptr<Graph> graph_;
  std::unordered_map<std::string, Value*> env_;
  std::unordered_map<std::string, std::string> unsupportedOutputs_; // output name -> message
  int64_t opset_ = 0;
  int depth_ = 0; // nesting of If branches
};

/// "node \"conv1\" (Conv)"
std::string describeNode(const onnx::NodeProto& n);

} // namespace sinter::onnxio

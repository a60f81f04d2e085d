// Export rules: how each IR op is written as ONNX nodes.
#pragma once

#include "ir/Graph.h"

#include <onnx/onnx_pb.h>

#include <span>
#include <unordered_map>
#include <unordered_set>

namespace sinter::onnxio {

/// What an export rule sees: names for values, node and initializer builders, the opset.
class ExportCtx {
public:
  ExportCtx(onnx::GraphProto& graph, int64_t opset) : graph_(graph), opset_(opset) {}

  int64_t opset() const { return opset_; }
  /// The ONNX tensor name of a value (its IR name, or v<ID> when anonymous), unique in the model.
  std::string name(const Value* v);
  /// Gives a value a fixed name (a fused body's inputs and outputs take the outer names).
  void alias(const Value* v, const std::string& name) { names_[v] = name; }
  /// A new unique tensor name.
  std::string fresh(std::string_view hint);
  onnx::NodeProto& add(std::string_view opType, std::vector<std::string> inputs, std::vector<std::string> outputs);
  /// Adds an initializer and returns its name.
  std::string initializer(const Tensor& t, std::string_view hint);
  /// Adds a 1-D int64 initializer (shapes, pads, axes).
  std::string ints(const std::vector<int64_t>& v, std::string_view hint);

private:
  onnx::GraphProto& graph_;
  int64_t opset_;
  std::unordered_map<const Value*, std::string> names_;
  std::unordered_set<std::string> used_;
  int counter_ = 0;
};

void setAttr(onnx::NodeProto& n, std::string_view name, int64_t v);
void setAttr(onnx::NodeProto& n, std::string_view name, double v);
void setAttr(onnx::NodeProto& n, std::string_view name, const std::string& v);
void setAttr(onnx::NodeProto& n, std::string_view name, const std::vector<int64_t>& v);

using ExportFn = Error (*)(ExportCtx&, const Node&);
struct ExportRule {
  const OpDef* op;
  ExportFn fn;
};

/// The export rule of an IR op, or null (the exporter test fails when an op has none).
const ExportRule* findExportRule(const OpDef& op);

} // namespace sinter::onnxio

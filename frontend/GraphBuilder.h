// GraphBuilder: builds IR from C++ (models/, tests) with named helpers and a sticky error.
#pragma once

#include "ir/Graph.h"
#include "ir/OpTable.h"

#include <array>
#include <memory>

namespace sinter {

/// Builds a graph node by node. The first failure (a shape rule, a bad attribute) is kept and
/// every later call becomes a no-op returning null; finish() reports it. So model code reads as
/// a straight list of layers.
class GraphBuilder {
public:
  explicit GraphBuilder(std::string graphName) : g_(std::make_unique<Graph>(std::move(graphName))) {}

  Value* input(const std::string& name, TensorType type);
  /// A parameter with data (or without, when `data` is empty: type-only graphs).
  Value* param(const std::string& name, TensorType type, std::optional<Tensor> data);
  /// Any op from the table; `name` names its (first) result.
  Value* op(const OpDef& op, std::vector<Value*> inputs, Attrs attrs = {}, const std::string& name = "");

  Value* conv2d(Value* x, Value* w, Value* b, std::array<int64_t, 2> stride,
                std::array<int64_t, 4> pad, int64_t group, const std::string& name);
  Value* relu(Value* x, const std::string& name) { return op(ops::Relu, {x}, {}, name); }
  Value* lrn(Value* x, int64_t size, double alpha, double beta, double bias, const std::string& name);
  Value* maxPool2d(Value* x, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                   const std::string& name);
  Value* avgPool2d(Value* x, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                   const std::string& name);
  Value* flatten(Value* x, int64_t axis, const std::string& name);
  /// x @ w^T + b with w [out, in], as ONNX exporters write fully connected layers.
  Value* linear(Value* x, Value* w, Value* b, const std::string& name);
  Value* dropout(Value* x, double ratio, const std::string& name);
  Value* softmax(Value* x, int64_t axis, const std::string& name);

  bool failed() const { return static_cast<bool>(err_); }
  Graph& graph() { return *g_; }
  /// Sets the outputs, verifies, and hands the graph over (or the first error).
  Expected<std::unique_ptr<Graph>> finish(std::vector<Value*> outputs);

private:
  std::unique_ptr<Graph> g_;
  Error err_;
};

} // namespace sinter

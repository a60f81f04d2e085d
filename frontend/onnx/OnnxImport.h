// ONNX importer: ModelProto -> IR, folding the shape arithmetic exporters emit.
#pragma once

#include "ir/Error.h"
#include "ir/Graph.h"

#include <functional>
#include <map>
#include <memory>
#include <string>

namespace sinter {

struct OnnxImportOptions {
  /// Shapes for graph inputs by name: bind symbolic dims (e.g. a named batch).
  std::map<std::string, Shape> inputShapes;
  /// Folds nodes whose operands are all constants. Without it, shape arithmetic on constants
  /// stays in the graph and ops that need constant operands (Reshape's shape...) may fail.
  NodeEvaluator fold;
  /// Values of graph inputs that a rule needs as constants (Reshape's shape, Pad's pads, ...):
  /// such an input stays in the signature, and the rule sees the value given here. For test
  /// models that feed shapes as inputs; a static compiler cannot take them at run time.
  std::map<std::string, Tensor> inputValues;
  /// The model is imported to be trained (`sinter train`, `--train`):
  /// - training-mode BatchNormalization nodes (a PyTorch export of a model in train mode) import
  ///   as batch-norm layers, like inference ones (the training step gives every batch_norm batch
  ///   statistics); otherwise they are refused;
  /// - an Identity of an initializer becomes a parameter of its own (a copy): PyTorch's eval-mode
  ///   export merges initializers with equal values (zero biases, a batch norm's statistics and
  ///   its bias) into one read through Identity nodes, which training would otherwise tie.
  ///   Genuinely shared weights are one initializer read directly, and stay shared.
  bool training = false;
  /// Receives warnings (e.g. a newer opset than this build knows).
  std::function<void(const std::string&)> warn;
};

/// Imports an .onnx file; external data is read from beside it. Errors read
/// `node "conv2" (Conv): ...` and are prefixed with the path by the caller.
Expected<std::unique_ptr<Graph>> importOnnxFile(const std::string& path, const OnnxImportOptions& options);

/// Imports serialized ModelProto bytes; `baseDir` locates external data.
Expected<std::unique_ptr<Graph>> importOnnxBytes(std::string_view bytes, const OnnxImportOptions& options,
                                                 const std::string& baseDir);

/// Names of a model's graph inputs that are not initializers, in order (cheap: no weights read).
Expected<std::vector<std::string>> onnxInputNames(const std::string& path);

/// Reads a serialized TensorProto file (the ONNX test data's input_N.pb / output_N.pb).
Expected<Tensor> readOnnxTensorFile(const std::string& path);

/// The newest default-domain opset whose semantics this importer knows.
constexpr int64_t kMaxKnownOpset = 17;

/// ONNX op types the importer converts (for messages and docs).
std::vector<std::string_view> supportedOnnxOps();

} // namespace sinter

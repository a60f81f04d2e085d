// ONNX exporter: IR (with weights) -> ModelProto, checked by onnx::checker.
#pragma once

#include "ir/Error.h"
#include "ir/Graph.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace sinter {

struct OnnxExportOptions {
  int64_t opset = 13; ///< 11..17
  /// ModelProto.metadata_props (key, value), e.g. a checkpoint's epoch and learning rate.
  std::vector<std::pair<std::string, std::string>> metadata;
  /// Tensors beside the model that inference ignores: a checkpoint's optimizer state. Stored as
  /// the initializers of ModelProto.training_info[0].algorithm (a graph named
  /// "sinter_training_state" with no nodes), which ONNX tools carry along and runtimes skip.
  std::vector<std::pair<std::string, Tensor>> trainingState;
};

/// What readOnnxTrainingState finds in a checkpoint.
struct OnnxTrainingState {
  std::map<std::string, std::string> metadata;
  std::map<std::string, Tensor> tensors;
};

/// Reads the metadata and training-state tensors of a model written with the options above.
Expected<OnnxTrainingState> readOnnxTrainingState(const std::string& path);

constexpr int64_t kMinExportOpset = 11;
constexpr int64_t kMaxExportOpset = 17;

/// Serialized ModelProto of `g`; parameters become initializers (they must have data).
/// The model passes onnx::checker (a failure is reported as an error, not written).
Expected<std::string> exportOnnx(const Graph& g, const OnnxExportOptions& options);

/// Writes the model to `path` atomically (a temporary file beside it, then rename).
Error exportOnnxFile(const Graph& g, const std::string& path, const OnnxExportOptions& options);

} // namespace sinter

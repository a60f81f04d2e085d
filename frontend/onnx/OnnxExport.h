// ONNX exporter: IR (with weights) -> ModelProto, checked by onnx::checker.
#pragma once

#include "ir/Error.h"
#include "ir/Graph.h"

#include <string>

namespace sinter {

struct OnnxExportOptions {
  int64_t opset = 13; ///< 11..17
};

constexpr int64_t kMinExportOpset = 11;
constexpr int64_t kMaxExportOpset = 17;

/// Serialized ModelProto of `g`; parameters become initializers (they must have data).
/// The model passes onnx::checker (a failure is reported as an error, not written).
Expected<std::string> exportOnnx(const Graph& g, const OnnxExportOptions& options);

/// Writes the model to `path` atomically (a temporary file beside it, then rename).
Error exportOnnxFile(const Graph& g, const std::string& path, const OnnxExportOptions& options);

} // namespace sinter

// The op table: the list of every op entry, and lookups by IR name and ONNX name.
#pragma once

#include "ir/OpDef.h"
#include "ir/ops/Ops.h"

#include <span>

namespace sinter {

/// Every op, in table order (grouped by family).
std::span<const OpDef* const> allOps();
/// Op by IR name ("conv2d"), or null.
const OpDef* findOp(std::string_view name);
/// Op by ONNX op type ("Conv"), or null.
const OpDef* findOnnxOp(std::string_view onnxType);

} // namespace sinter

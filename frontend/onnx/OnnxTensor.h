// ONNX TensorProto <-> Tensor and ONNX element types <-> DType.
#pragma once

#include "ir/Error.h"
#include "ir/Tensor.h"

#include <onnx/onnx_pb.h>

#include <string>

namespace sinter::onnxio {

/// DType of an ONNX TensorProto.DataType, or an "unsupported" error naming the ONNX type.
Expected<DType> dtypeFromOnnx(int32_t elemType);
int32_t dtypeToOnnx(DType t);
std::string onnxTypeName(int32_t elemType);

/// Reads a TensorProto (typed fields, raw_data, or external data beside the model in `baseDir`).
/// Every size is checked against the dims; errors name the tensor.
Expected<Tensor> tensorFromOnnx(const onnx::TensorProto& t, const std::string& baseDir);

/// Fills a TensorProto (dims, type, raw_data) from a tensor.
void tensorToOnnx(const Tensor& t, const std::string& name, onnx::TensorProto& out);

} // namespace sinter::onnxio

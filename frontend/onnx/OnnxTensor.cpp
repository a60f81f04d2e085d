// TensorProto decoding with strict size checks, and encoding as raw_data.
#include "frontend/onnx/OnnxTensor.h"

#include <cstring>
#include <filesystem>
#include <fstream>

namespace sinter::onnxio {

namespace {
struct TypeMap {
  int32_t onnx;
  DType dtype;
};
constexpr TypeMap kTypes[] = {
    {onnx::TensorProto::FLOAT, DType::F32},   {onnx::TensorProto::DOUBLE, DType::F64},
    {onnx::TensorProto::FLOAT16, DType::F16}, {onnx::TensorProto::BFLOAT16, DType::BF16},
    {onnx::TensorProto::INT64, DType::I64},   {onnx::TensorProto::INT32, DType::I32},
    {onnx::TensorProto::INT16, DType::I16},   {onnx::TensorProto::INT8, DType::I8},
    {onnx::TensorProto::UINT8, DType::U8},    {onnx::TensorProto::UINT16, DType::U16},
    {onnx::TensorProto::UINT32, DType::U32},  {onnx::TensorProto::UINT64, DType::U64},
    {onnx::TensorProto::BOOL, DType::Bool},
};

// Copies `count` typed values from a repeated field into the tensor, converting as ONNX stores
// them (int32_data holds every narrow int type, bool and float16 bits).
template <class Field> Error fillFrom(const Field& f, Tensor& t, std::string_view field) {
  if (static_cast<int64_t>(f.size()) != t.numel())
    return makeError("{} has {} values, dims need {}", field, f.size(), t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (t.dtype() == DType::F16 || t.dtype() == DType::BF16) {
      uint16_t bits = static_cast<uint16_t>(f.Get(static_cast<int>(i)));
      std::memcpy(t.raw() + 2 * i, &bits, 2);
    } else if (t.dtype() == DType::I64) {
      t.as<int64_t>()[i] = static_cast<int64_t>(f.Get(static_cast<int>(i)));
    } else if (t.dtype() == DType::U64) {
      t.as<uint64_t>()[i] = static_cast<uint64_t>(f.Get(static_cast<int>(i)));
    } else {
      t.set(i, static_cast<double>(f.Get(static_cast<int>(i))));
    }
  }
  return Error::success();
}

Error readExternal(const onnx::TensorProto& t, const std::string& baseDir, Tensor& out) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : t.external_data()) {
    try {
      if (kv.key() == "location")
        location = kv.value();
      else if (kv.key() == "offset")
        offset = std::stoll(kv.value());
      else if (kv.key() == "length")
        length = std::stoll(kv.value());
    } catch (const std::exception&) {
      return makeError("external data {} '{}' is not a number", kv.key(), kv.value());
    }
  }
  if (location.empty())
    return makeError("external data has no location");
  std::filesystem::path rel(location);
  if (rel.is_absolute() || location.find("..") != std::string::npos)
    return makeError("external data location '{}' must be a relative path beside the model", location);
  std::filesystem::path full = std::filesystem::path(baseDir.empty() ? "." : baseDir) / rel;
  int64_t want = static_cast<int64_t>(out.bytes());
  if (length >= 0 && length != want)
    return makeError("external data length {} does not match dims ({} bytes)", length, want);
  std::error_code ec;
  auto size = std::filesystem::file_size(full, ec);
  if (ec)
    return makeError("external data file {}: {}", full.string(), ec.message());
  if (offset < 0 || static_cast<uint64_t>(offset) + static_cast<uint64_t>(want) > size)
    return makeError("external data file {} has {} bytes, tensor needs {} at offset {}", full.string(), size,
                     want, offset);
  std::ifstream f(full, std::ios::binary);
  f.seekg(offset);
  f.read(reinterpret_cast<char*>(out.raw()), want);
  if (!f)
    return makeError("external data file {}: read failed", full.string());
  return Error::success();
}
} // namespace

Expected<DType> dtypeFromOnnx(int32_t elemType) {
  for (const TypeMap& m : kTypes)
    if (m.onnx == elemType)
      return m.dtype;
  return makeUnsupported("element type {} is not supported", onnxTypeName(elemType));
}

int32_t dtypeToOnnx(DType t) {
  for (const TypeMap& m : kTypes)
    if (m.dtype == t)
      return m.onnx;
  SINTER_UNREACHABLE("every dtype has an ONNX type");
}

std::string onnxTypeName(int32_t elemType) {
  if (onnx::TensorProto_DataType_IsValid(elemType))
    return onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(elemType));
  return fmt::format("#{}", elemType);
}

Expected<Tensor> tensorFromOnnx(const onnx::TensorProto& t, const std::string& baseDir) {
  std::string name = t.name().empty() ? "(unnamed tensor)" : "'" + t.name() + "'";
  auto dtype = dtypeFromOnnx(t.data_type());
  if (!dtype)
    return dtype.error().context(fmt::format("tensor {}", name));
  Shape shape(t.dims().begin(), t.dims().end());
  TensorType type{*dtype, shape};
  if (type.numel() < 0)
    return makeError("tensor {}: dims {} are negative or too large", name, shapeString(shape));
  if (t.has_segment())
    return makeUnsupported("tensor {}: segmented tensors are not supported", name);
  size_t bytes = static_cast<size_t>(type.numel()) * dtypeSize(*dtype);
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    if (bytes > (size_t(1) << 36))
      return makeError("tensor {}: {} is too large", name, type.str());
    Tensor out(type);
    if (Error e = readExternal(t, baseDir, out))
      return e.context(fmt::format("tensor {}", name));
    return out;
  }
  if (t.has_raw_data()) {
    if (t.raw_data().size() != bytes)
      return makeError("tensor {}: raw_data has {} bytes, {} needs {}", name, t.raw_data().size(), type.str(), bytes);
    Tensor out(type);
    if (bytes)
      std::memcpy(out.raw(), t.raw_data().data(), bytes);
    return out;
  }
  // Typed fields hold at most a few GB only if the file did: the size check below bounds them.
  if (type.numel() > (int64_t(1) << 32))
    return makeError("tensor {}: {} has no data", name, type.str());
  Tensor out(type);
  Error e;
  switch (*dtype) {
  case DType::F32: e = fillFrom(t.float_data(), out, "float_data"); break;
  case DType::F64: e = fillFrom(t.double_data(), out, "double_data"); break;
  case DType::I64: e = fillFrom(t.int64_data(), out, "int64_data"); break;
  case DType::U32:
  case DType::U64: e = fillFrom(t.uint64_data(), out, "uint64_data"); break;
  default: e = fillFrom(t.int32_data(), out, "int32_data"); break;
  }
  if (e)
    return e.context(fmt::format("tensor {}", name));
  return out;
}

void tensorToOnnx(const Tensor& t, const std::string& name, onnx::TensorProto& out) {
  out.set_name(name);
  out.set_data_type(dtypeToOnnx(t.dtype()));
  for (int64_t d : t.shape())
    out.add_dims(d);
  out.set_raw_data(t.bytes() ? std::string(reinterpret_cast<const char*>(t.raw()), t.bytes()) : std::string());
}

} // namespace sinter::onnxio

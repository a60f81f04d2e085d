// Tensor storage and element conversion.
#include "ir/Tensor.h"

#include "ir/Error.h"

#include <cmath>

namespace sinter {

Tensor::Tensor(TensorType type) : type_(std::move(type)) {
  int64_t n = type_.numel();
  assert(n >= 0 && "tensor size overflow must be rejected by the caller");
  data_ = std::make_shared<std::vector<std::byte>>(static_cast<size_t>(n) * dtypeSize(type_.dtype));
}

namespace {
template <class T> T load(const std::byte* p, int64_t i) {
  T v;
  std::memcpy(&v, p + i * sizeof(T), sizeof(T));
  return v;
}
template <class T> void store(std::byte* p, int64_t i, T v) {
  std::memcpy(p + i * sizeof(T), &v, sizeof(T));
}
// Float-to-int conversion that never hits UB on NaN/inf/out-of-range values.
template <class T> T saturate(double v) {
  if (std::isnan(v))
    return 0;
  if (v <= static_cast<double>(std::numeric_limits<T>::min()))
    return std::numeric_limits<T>::min();
  if (v >= static_cast<double>(std::numeric_limits<T>::max()))
    return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}
} // namespace

double Tensor::get(int64_t i) const {
  const std::byte* p = raw();
  switch (type_.dtype) {
  case DType::F32: return load<float>(p, i);
  case DType::F64: return load<double>(p, i);
  case DType::I64: return static_cast<double>(load<int64_t>(p, i));
  case DType::I32: return load<int32_t>(p, i);
  case DType::I8: return load<int8_t>(p, i);
  case DType::U8: return load<uint8_t>(p, i);
  case DType::Bool: return load<uint8_t>(p, i) ? 1.0 : 0.0;
  case DType::I16: return load<int16_t>(p, i);
  case DType::U16: return load<uint16_t>(p, i);
  case DType::U32: return load<uint32_t>(p, i);
  case DType::U64: return static_cast<double>(load<uint64_t>(p, i));
  case DType::F16: return halfToFloat(load<uint16_t>(p, i));
  case DType::BF16: return bfloat16ToFloat(load<uint16_t>(p, i));
  }
  SINTER_UNREACHABLE("unknown dtype");
}

void Tensor::set(int64_t i, double v) {
  std::byte* p = raw();
  switch (type_.dtype) {
  case DType::F32: return store<float>(p, i, static_cast<float>(v));
  case DType::F64: return store<double>(p, i, v);
  case DType::I64: return store<int64_t>(p, i, saturate<int64_t>(v));
  case DType::I32: return store<int32_t>(p, i, saturate<int32_t>(v));
  case DType::I8: return store<int8_t>(p, i, saturate<int8_t>(v));
  case DType::U8: return store<uint8_t>(p, i, saturate<uint8_t>(v));
  case DType::Bool: return store<uint8_t>(p, i, v != 0.0 ? 1 : 0);
  case DType::I16: return store<int16_t>(p, i, saturate<int16_t>(v));
  case DType::U16: return store<uint16_t>(p, i, saturate<uint16_t>(v));
  case DType::U32: return store<uint32_t>(p, i, saturate<uint32_t>(v));
  case DType::U64: return store<uint64_t>(p, i, saturate<uint64_t>(v));
  case DType::F16: return store<uint16_t>(p, i, floatToHalf(static_cast<float>(v)));
  case DType::BF16: return store<uint16_t>(p, i, floatToBfloat16(static_cast<float>(v)));
  }
  SINTER_UNREACHABLE("unknown dtype");
}

std::vector<double> Tensor::toDoubles() const {
  std::vector<double> out(static_cast<size_t>(numel()));
  if (type_.dtype == DType::F32) {
    auto src = as<float>();
    for (size_t i = 0; i < out.size(); ++i)
      out[i] = src[i];
    return out;
  }
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = get(static_cast<int64_t>(i));
  return out;
}

Tensor Tensor::fromDoubles(const TensorType& type, std::span<const double> values) {
  Tensor t(type);
  assert(static_cast<int64_t>(values.size()) == t.numel());
  if (type.dtype == DType::F32) {
    auto dst = t.as<float>();
    for (size_t i = 0; i < values.size(); ++i)
      dst[i] = static_cast<float>(values[i]);
    return t;
  }
  for (size_t i = 0; i < values.size(); ++i)
    t.set(static_cast<int64_t>(i), values[i]);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t;
  t.type_ = type_;
  if (data_)
    t.data_ = std::make_shared<std::vector<std::byte>>(*data_);
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  assert(numElements(shape) == numel());
  Tensor t = *this;
  t.type_.shape = std::move(shape);
  return t;
}

bool Tensor::identical(const Tensor& other) const {
  if (type_ != other.type_ || bytes() != other.bytes())
    return false;
  return bytes() == 0 || std::memcmp(raw(), other.raw(), bytes()) == 0;
}

} // namespace sinter

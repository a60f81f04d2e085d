// Element types and tensor types.
#include "ir/Types.h"

#include "ir/Error.h"

#include <array>

namespace sinter {

namespace {
struct DTypeInfo {
  DType type;
  std::string_view name;
  size_t size;
};
constexpr std::array<DTypeInfo, 9> kDTypes{{{DType::F32, "f32", 4},
                                            {DType::F64, "f64", 8},
                                            {DType::F16, "f16", 2},
                                            {DType::BF16, "bf16", 2},
                                            {DType::I64, "i64", 8},
                                            {DType::I32, "i32", 4},
                                            {DType::I8, "i8", 1},
                                            {DType::U8, "u8", 1},
                                            {DType::Bool, "bool", 1}}};
} // namespace

std::string_view dtypeName(DType t) { return kDTypes[static_cast<size_t>(t)].name; }
size_t dtypeSize(DType t) { return kDTypes[static_cast<size_t>(t)].size; }

std::optional<DType> parseDType(std::string_view s) {
  for (const DTypeInfo& d : kDTypes)
    if (d.name == s)
      return d.type;
  return std::nullopt;
}

bool isFloat(DType t) {
  return t == DType::F32 || t == DType::F64 || t == DType::F16 || t == DType::BF16;
}
bool isInteger(DType t) {
  return t == DType::I64 || t == DType::I32 || t == DType::I8 || t == DType::U8;
}

int64_t numElements(std::span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || d > kMaxDim)
      return -1;
    if (d != 0 && n > INT64_MAX / d)
      return -1;
    n *= d;
  }
  return n;
}

std::string shapeString(std::span<const int64_t> shape) {
  return fmt::format("[{}]", fmt::join(shape, ","));
}

std::string TensorType::str() const {
  return fmt::format("{}{}", dtypeName(dtype), shapeString(shape));
}

[[noreturn]] void unreachableInternal(const char* msg, const char* file, int line) {
  fmt::print(stderr, "internal error: {} at {}:{}\n", msg, file, line);
  std::abort();
}

} // namespace sinter

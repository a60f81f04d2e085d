// Element types and tensor types.
#include "ir/Types.h"

#include "ir/Error.h"

#include <array>
#include <cmath>
#include <cstring>

namespace sinter {

namespace {
struct DTypeInfo {
  DType type;
  std::string_view name;
  size_t size;
};
constexpr std::array<DTypeInfo, 13> kDTypes{{{DType::F32, "f32", 4},
                                            {DType::F64, "f64", 8},
                                            {DType::F16, "f16", 2},
                                            {DType::BF16, "bf16", 2},
                                            {DType::I64, "i64", 8},
                                            {DType::I32, "i32", 4},
                                            {DType::I8, "i8", 1},
                                            {DType::U8, "u8", 1},
                                            {DType::Bool, "bool", 1},
                                            {DType::I16, "i16", 2},
                                            {DType::U16, "u16", 2},
                                            {DType::U32, "u32", 4},
                                            {DType::U64, "u64", 8}}};
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
  return t == DType::I64 || t == DType::I32 || t == DType::I8 || t == DType::U8 || t == DType::I16 ||
         t == DType::U16 || t == DType::U32 || t == DType::U64;
}

float halfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000 | (man << 13); // inf / nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else { // subnormal half: normalise
    int e = -1;
    do {
      ++e;
      man <<= 1;
    } while (!(man & 0x400));
    bits = sign | (static_cast<uint32_t>(112 - e) << 23) | ((man & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  uint32_t absx = x & 0x7fffffff;
  if (absx > 0x7f800000) // nan: keep it quiet
    return sign | 0x7e00;
  if (absx >= 0x47800000) // >= 65536 rounds to inf (65504..65536 is handled by rounding below)
    return sign | 0x7c00;
  if (absx < 0x38800000) { // half subnormal or zero: scale so the result is an integer mantissa
    float a;
    std::memcpy(&a, &absx, 4);
    float scaled = a * 16777216.0f; // 2^24: one half-subnormal ulp becomes 1
    uint32_t m = static_cast<uint32_t>(std::nearbyint(scaled));
    return sign | static_cast<uint16_t>(m);
  }
  uint32_t mant = absx & 0x7fffff;
  uint32_t exp = (absx >> 23) - 112;
  uint32_t half = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
    ++half; // round to nearest even; a carry into the exponent is still correct
  return sign | static_cast<uint16_t>(half);
}

float bfloat16ToFloat(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToBfloat16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffff) > 0x7f800000)
    return static_cast<uint16_t>((x >> 16) | 0x40);
  x += 0x7fff + ((x >> 16) & 1);
  return static_cast<uint16_t>(x >> 16);
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

// Element types and tensor types (dtype + static shape) of IR values.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sinter {

/// Element type. f16/bf16 are stored as IEEE half / bfloat16 bits (the reference widens them).
enum class DType : uint8_t { F32, F64, F16, BF16, I64, I32, I8, U8, Bool, I16, U16, U32, U64 };

/// Short IR spelling: "f32", "i64", "bool", ...
std::string_view dtypeName(DType t);
/// Parses the IR spelling; nullopt when unknown.
std::optional<DType> parseDType(std::string_view s);
/// Bytes per element.
size_t dtypeSize(DType t);
bool isFloat(DType t);
bool isInteger(DType t);

/// IEEE binary16 and bfloat16 conversions (round to nearest even).
float halfToFloat(uint16_t h);
uint16_t floatToHalf(float f);
float bfloat16ToFloat(uint16_t b);
uint16_t floatToBfloat16(float f);

using Shape = std::vector<int64_t>;

/// Largest dimension Sinter accepts (2^40): keeps sums and products of a few dims in int64 even
/// when another dim is 0.
constexpr int64_t kMaxDim = int64_t(1) << 40;

/// Number of elements, or -1 for a negative dim, a dim above kMaxDim, or an int64 overflow.
int64_t numElements(std::span<const int64_t> shape);

/// "[1,3,227,227]"
std::string shapeString(std::span<const int64_t> shape);

/// dtype + static shape. Rank 0 is a scalar.
struct TensorType {
  DType dtype = DType::F32;
  Shape shape;

  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  int64_t numel() const { return numElements(shape); }
  /// Bytes for the whole tensor (assumes numel() did not overflow).
  int64_t bytes() const { return numel() * static_cast<int64_t>(dtypeSize(dtype)); }
  /// "f32[1,3,227,227]"
  std::string str() const;
  bool operator==(const TensorType&) const = default;
};

} // namespace sinter

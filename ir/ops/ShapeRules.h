// Helpers shared by the shape rules of the op table entries.
#pragma once

#include "ir/OpDef.h"

namespace sinter::rules {

/// Numpy broadcasting of two shapes; error names both shapes.
Expected<Shape> broadcast(const Shape& a, const Shape& b);

/// Operand i must be a floating-point tensor.
Error requireFloat(const ShapeCtx& c, size_t i);
/// Operand i must have exactly `rank` dims.
Error requireRank(const ShapeCtx& c, size_t i, int64_t rank);
/// All operands share operand 0's dtype.
Error requireSameDType(const ShapeCtx& c);
/// Normalises an axis in [-rank, rank) (or [-rank, rank] when `inclusive`) to [0, rank).
Expected<int64_t> normalizeAxis(int64_t axis, int64_t rank, std::string_view what,
                                bool inclusive = false);
/// The attribute must hold exactly n values.
Error requireLength(const ShapeCtx& c, std::string_view attr, size_t n);

/// Output extent of a sliding window (conv / pool), ONNX rules incl. ceil_mode.
Expected<int64_t> windowExtent(int64_t in, int64_t kernel, int64_t stride, int64_t padBegin,
                               int64_t padEnd, int64_t dilation, bool ceilMode, std::string_view dim);

/// One dim of a slice after ONNX normalisation: element k of the result reads start + k * step.
struct SliceDim {
  int64_t start = 0, step = 1, len = 0;
};
/// Normalised slice over every dim of `x` (unsliced dims are whole), shared by the shape rule and
/// every backend so they agree on clamping.
Expected<std::vector<SliceDim>> sliceDims(const Shape& x, std::span<const int64_t> starts,
                                          std::span<const int64_t> ends,
                                          std::span<const int64_t> axes,
                                          std::span<const int64_t> steps);

/// Result of an elementwise op: broadcast of all operand shapes, dtype of operand 0.
Error elementwise(ShapeCtx& c);
/// As elementwise(), with float operands required.
Error elementwiseFloat(ShapeCtx& c);

} // namespace sinter::rules

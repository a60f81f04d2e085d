// Shared shape-rule helpers: broadcasting, rank/dtype checks, sliding-window extents.
#include "ir/ops/ShapeRules.h"

#include <algorithm>

namespace sinter::rules {

Expected<Shape> broadcast(const Shape& a, const Shape& b) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      return makeError("shapes {} and {} do not broadcast (dim {}: {} vs {})", shapeString(a),
                       shapeString(b), i, da, db);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Error requireFloat(const ShapeCtx& c, size_t i) {
  if (!isFloat(c.in(i).dtype))
    return makeError("operand {} must be a float tensor (f32, f64, f16, bf16), got {}", i,
                     dtypeName(c.in(i).dtype));
  return Error::success();
}

Error requireRank(const ShapeCtx& c, size_t i, int64_t rank) {
  if (c.in(i).rank() != rank)
    return makeError("operand {} must have rank {}, got {}", i, rank, c.in(i).str());
  return Error::success();
}

Error requireSameDType(const ShapeCtx& c) {
  for (size_t i = 1; i < c.numInputs(); ++i)
    if (c.in(i).dtype != c.in(0).dtype)
      return makeError("operand {} has dtype {}, operand 0 has {}", i, dtypeName(c.in(i).dtype),
                       dtypeName(c.in(0).dtype));
  return Error::success();
}

Expected<int64_t> normalizeAxis(int64_t axis, int64_t rank, std::string_view what, bool inclusive) {
  int64_t hi = inclusive ? rank : rank - 1;
  if (axis < -rank || axis > hi)
    return makeError("{} {} is out of range for rank {}", what, axis, rank);
  return axis < 0 ? axis + rank : axis;
}

Error requireLength(const ShapeCtx& c, std::string_view attr, size_t n) {
  size_t got = c.ints(attr).size();
  if (got != n)
    return makeError("attribute '{}' needs {} values, got {}", attr, n, got);
  return Error::success();
}

Expected<int64_t> windowExtent(int64_t in, int64_t kernel, int64_t stride, int64_t padBegin,
                               int64_t padEnd, int64_t dilation, bool ceilMode, std::string_view dim) {
  if (kernel < 1 || stride < 1 || dilation < 1)
    return makeError("{}: kernel {}, stride {} and dilation {} must be positive", dim, kernel, stride,
                     dilation);
  if (padBegin < 0 || padEnd < 0)
    return makeError("{}: pads must be non-negative, got {} and {}", dim, padBegin, padEnd);
  constexpr int64_t kMaxWindow = int64_t(1) << 20; // keeps dilation * (kernel - 1) in range
  if (kernel > kMaxWindow || dilation > kMaxWindow || stride > kMaxDim || padBegin > kMaxDim ||
      padEnd > kMaxDim)
    return makeError("{}: kernel, stride, dilation or pad is absurdly large", dim);
  int64_t span = dilation * (kernel - 1) + 1;
  int64_t room = in + padBegin + padEnd - span;
  if (room < 0)
    return makeError("{}: window {} (kernel {}, dilation {}) is larger than the padded input {}", dim,
                     span, kernel, dilation, in + padBegin + padEnd);
  int64_t out = (ceilMode ? (room + stride - 1) / stride : room / stride) + 1;
  // With ceil_mode the last window must start inside the input or its begin padding.
  if (ceilMode && (out - 1) * stride >= in + padBegin)
    --out;
  return out;
}

Expected<std::vector<SliceDim>> sliceDims(const Shape& x, std::span<const int64_t> starts,
                                          std::span<const int64_t> ends,
                                          std::span<const int64_t> axes,
                                          std::span<const int64_t> steps) {
  if (ends.size() != starts.size() || (!axes.empty() && axes.size() != starts.size()) ||
      (!steps.empty() && steps.size() != starts.size()))
    return makeError("starts, ends, axes and steps must have the same length");
  std::vector<SliceDim> out(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    out[i] = {0, 1, x[i]};
  std::vector<bool> seen(x.size());
  int64_t r = static_cast<int64_t>(x.size());
  for (size_t i = 0; i < starts.size(); ++i) {
    auto a = normalizeAxis(axes.empty() ? static_cast<int64_t>(i) : axes[i], r, "axis");
    if (!a)
      return a.error();
    if (seen[*a])
      return makeError("axis {} is sliced twice", *a);
    seen[*a] = true;
    int64_t step = steps.empty() ? 1 : steps[i];
    if (step == 0)
      return makeError("slice step must not be 0");
    if (step > kMaxDim || step < -kMaxDim)
      return makeError("slice step {} is absurdly large", step);
    int64_t d = x[*a];
    if (d == 0) {
      out[*a] = {0, step, 0};
      continue;
    }
    auto norm = [&](int64_t v, int64_t lo, int64_t hi) {
      if (v < 0)
        v = std::max<int64_t>(v + d, -1);
      return std::clamp(v, lo, hi);
    };
    int64_t s = norm(starts[i], 0, step > 0 ? d : d - 1);
    int64_t e = norm(ends[i], step > 0 ? 0 : -1, step > 0 ? d : d - 1);
    int64_t len = step > 0 ? (e - s + step - 1) / step : (s - e - step - 1) / -step;
    out[*a] = {s, step, std::max<int64_t>(0, len)};
  }
  return out;
}

Error elementwise(ShapeCtx& c) {
  SINTER_CHECK(requireSameDType(c));
  Shape s = c.in(0).shape;
  for (size_t i = 1; i < c.numInputs(); ++i) {
    auto b = broadcast(s, c.in(i).shape);
    if (!b)
      return b.error();
    s = std::move(*b);
  }
  return c.result({c.in(0).dtype, std::move(s)});
}

Error elementwiseFloat(ShapeCtx& c) {
  for (size_t i = 0; i < c.numInputs(); ++i)
    SINTER_CHECK(requireFloat(c, i));
  return elementwise(c);
}

} // namespace sinter::rules

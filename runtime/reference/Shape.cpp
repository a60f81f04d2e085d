// Reference kernels: data movement (transpose, concat, slice, pad), constants and dropout.
#include "runtime/reference/RefKernels.h"

#include "ir/Philox.h"
#include "ir/Tensor.h"
#include "ir/ops/ShapeRules.h"

#include <algorithm>

namespace sinter::ref {

namespace {

// Visits every index of `shape` in row-major order, calling f(flatIndex, index).
template <class F> void forEachIndex(const Shape& shape, F f) {
  int64_t n = numElements(shape);
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t flat = 0; flat < n; ++flat) {
    f(flat, idx);
    for (size_t d = shape.size(); d-- > 0;) {
      if (++idx[d] < shape[d])
        break;
      idx[d] = 0;
    }
  }
}

Error transpose(RefArgs& a) {
  const RefTensor& x = *a.in[0];
  const auto& perm = a.attrs.getInts("perm");
  auto xs = stridesOf(x.type.shape);
  forEachIndex(a.out[0].type.shape, [&](int64_t flat, const std::vector<int64_t>& idx) {
    int64_t src = 0;
    for (size_t d = 0; d < idx.size(); ++d)
      src += idx[d] * xs[perm[d]];
    a.out[0].data[flat] = x.data[src];
  });
  return Error::success();
}

Error concat(RefArgs& a) {
  const Shape& out = a.out[0].type.shape;
  int64_t axis = a.attrs.getInt("axis");
  if (axis < 0)
    axis += static_cast<int64_t>(out.size());
  int64_t outer = numElements(std::span(out).first(axis));
  int64_t inner = numElements(std::span(out).subspan(axis + 1));
  int64_t offset = 0;
  for (const RefTensor* t : a.in) {
    int64_t len = t->type.shape[axis];
    for (int64_t o = 0; o < outer; ++o)
      std::copy_n(t->data.begin() + o * len * inner, len * inner,
                  a.out[0].data.begin() + (o * out[axis] + offset) * inner);
    offset += len;
  }
  return Error::success();
}

Error slice(RefArgs& a) {
  const RefTensor& x = *a.in[0];
  auto dims = rules::sliceDims(x.type.shape, a.attrs.getInts("starts"), a.attrs.getInts("ends"),
                               a.attrs.getInts("axes"), a.attrs.getInts("steps"));
  if (!dims)
    return dims.error();
  auto xs = stridesOf(x.type.shape);
  forEachIndex(a.out[0].type.shape, [&](int64_t flat, const std::vector<int64_t>& idx) {
    int64_t src = 0;
    for (size_t d = 0; d < idx.size(); ++d)
      src += ((*dims)[d].start + idx[d] * (*dims)[d].step) * xs[d];
    a.out[0].data[flat] = x.data[src];
  });
  return Error::success();
}

Error pad(RefArgs& a) {
  const RefTensor& x = *a.in[0];
  const auto& pads = a.attrs.getInts("pads");
  const std::string& mode = a.attrs.getString("mode");
  double value = a.attrs.getFloat("value");
  const Shape& xs = x.type.shape;
  auto st = stridesOf(xs);
  size_t r = xs.size();
  forEachIndex(a.out[0].type.shape, [&](int64_t flat, const std::vector<int64_t>& idx) {
    int64_t src = 0;
    for (size_t d = 0; d < r; ++d) {
      int64_t i = idx[d] - pads[d];
      if (i < 0 || i >= xs[d]) {
        if (mode == "constant") {
          a.out[0].data[flat] = value;
          return;
        }
        if (mode == "edge")
          i = std::clamp<int64_t>(i, 0, xs[d] - 1);
        else // reflect (shape rule keeps pads < dim)
          i = i < 0 ? -i : 2 * (xs[d] - 1) - i;
      }
      src += i * st[d];
    }
    a.out[0].data[flat] = x.data[src];
  });
  return Error::success();
}

// Reads index k of an index tensor, wrapping negatives; errors when out of [-dim, dim).
Expected<int64_t> indexAt(const RefTensor& idx, int64_t k, int64_t dim) {
  int64_t v = static_cast<int64_t>(idx.data[k]);
  if (v < -dim || v >= dim)
    return makeError("index {} is out of range for a dim of {}", v, dim);
  return v < 0 ? v + dim : v;
}

Error gather(RefArgs& a) {
  const RefTensor& x = *a.in[0];
  const RefTensor& idx = *a.in[1];
  int64_t axis = a.attrs.getInt("axis");
  if (axis < 0)
    axis += x.type.rank();
  int64_t outer = numElements(std::span(x.type.shape).first(axis));
  int64_t dim = x.type.shape[axis];
  int64_t inner = numElements(std::span(x.type.shape).subspan(axis + 1));
  int64_t count = static_cast<int64_t>(idx.data.size());
  for (int64_t k = 0; k < count; ++k) {
    auto i = indexAt(idx, k, dim);
    if (!i)
      return i.error();
    for (int64_t o = 0; o < outer; ++o)
      std::copy_n(x.data.begin() + (o * dim + *i) * inner, inner,
                  a.out[0].data.begin() + (o * count + k) * inner);
  }
  return Error::success();
}

Error gatherElements(RefArgs& a) {
  const RefTensor& x = *a.in[0];
  const RefTensor& idx = *a.in[1];
  int64_t axis = a.attrs.getInt("axis");
  if (axis < 0)
    axis += x.type.rank();
  auto xs = stridesOf(x.type.shape);
  Error err;
  forEachIndex(idx.type.shape, [&](int64_t flat, const std::vector<int64_t>& at) {
    if (err)
      return;
    auto i = indexAt(idx, flat, x.type.shape[axis]);
    if (!i) {
      err = i.error();
      return;
    }
    int64_t src = 0;
    for (size_t d = 0; d < at.size(); ++d)
      src += (static_cast<int64_t>(d) == axis ? *i : at[d]) * xs[d];
    a.out[0].data[flat] = x.data[src];
  });
  return err;
}

Error constant(RefArgs& a) {
  a.out[0].data = a.attrs.getTensor("value").toDoubles();
  return Error::success();
}

Error dropout(RefArgs& a) {
  const RefTensor& x = *a.in[0];
  if (a.attrs.getInt("training") == 0) {
    a.out[0].data = x.data;
    return Error::success();
  }
  double ratio = a.attrs.getFloat("ratio");
  uint64_t seed = static_cast<uint64_t>(a.attrs.getInt("seed"));
  uint64_t step = a.in.size() > 1 ? static_cast<uint64_t>(static_cast<int64_t>(a.in[1]->data[0])) : 0;
  double scale = 1.0 / (1.0 - ratio);
  for (size_t i = 0; i < x.data.size(); ++i)
    a.out[0].data[i] = philoxUniform(seed, i, step) >= static_cast<float>(ratio) ? x.data[i] * scale : 0.0;
  return Error::success();
}

constexpr RefKernel kKernels[] = {
    {"transpose", transpose}, {"concat", concat},     {"slice", slice},
    {"pad", pad},             {"constant", constant}, {"dropout", dropout},
    {"gather", gather},       {"gather_elements", gatherElements},
};

} // namespace

std::span<const RefKernel> shapeKernels() { return kKernels; }

} // namespace sinter::ref

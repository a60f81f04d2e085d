// Shape and data-movement op entries: flatten, reshape, transpose, concat, slice, pad, constant.
#include "ir/GradBuilder.h"
#include "ir/ops/Ops.h"
#include "ir/ops/ShapeRules.h"

#include <algorithm>

namespace sinter::ops {

using namespace rules;

// [d0..dn) -> [prod(d[:axis]), prod(d[axis:])]
constexpr OpDef Flatten{
    .name = "flatten", .family = OpFamily::Shape, .onnx = {"Flatten"}, .inputs = {"x"},
    .attrs = {attr::Int("axis", 1)},
    .shape = [](ShapeCtx& c) -> Error {
      auto a = normalizeAxis(c.i("axis"), c.in(0).rank(), "axis", true);
      if (!a)
        return a.error();
      const Shape& x = c.in(0).shape;
      int64_t outer = numElements(std::span(x).first(*a));
      int64_t inner = numElements(std::span(x).subspan(*a));
      return c.result({c.in(0).dtype, {outer, inner}});
    },
    .lower = Alias{}, .grad = [](GradBuilder& gb, const Node& n) -> Error {
      if (gb.wants(0))
        gb.give(0, gb.reshape(gb.dy(), n.input(0)->type().shape));
      return gb.error();
    },
    .differentiable = true, .summary = "collapse to 2-D at an axis"};

// shape: the new dims; at most one -1 (inferred). Element count must be preserved.
constexpr OpDef Reshape{
    .name = "reshape", .family = OpFamily::Shape, .onnx = {"Reshape"}, .inputs = {"x"},
    .attrs = {attr::Required("shape", AttrKind::Ints, "new dims; one -1 is inferred")},
    .shape = [](ShapeCtx& c) -> Error {
      Shape s = c.ints("shape");
      int64_t infer = -1, known = 1;
      for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == -1) {
          if (infer >= 0)
            return makeError("shape {} has more than one -1", shapeString(s));
          infer = static_cast<int64_t>(i);
        } else if (s[i] < 0) {
          return makeError("shape {} has a negative dim", shapeString(s));
        } else {
          known = numElements(std::vector<int64_t>{known, s[i]});
          if (known < 0)
            return makeError("shape {} overflows", shapeString(s));
        }
      }
      int64_t n = c.in(0).numel();
      if (infer >= 0) {
        if (known == 0 || n % known != 0)
          return makeError("cannot infer -1 in {} from {} elements", shapeString(s), n);
        s[infer] = n / known;
      } else if (known != n) {
        return makeError("shape {} has {} elements, input {} has {}", shapeString(s), known,
                         c.in(0).str(), n);
      }
      return c.result({c.in(0).dtype, s});
    },
    .lower = Alias{}, .grad = [](GradBuilder& gb, const Node& n) -> Error {
      if (gb.wants(0))
        gb.give(0, gb.reshape(gb.dy(), n.input(0)->type().shape));
      return gb.error();
    },
    .differentiable = true, .summary = "same data, new dims"};

constexpr OpDef Transpose{
    .name = "transpose", .family = OpFamily::Shape, .onnx = {"Transpose"}, .inputs = {"x"},
    .attrs = {attr::Required("perm", AttrKind::Ints, "result dim i = input dim perm[i]")},
    .shape = [](ShapeCtx& c) -> Error {
      const auto& p = c.ints("perm");
      const Shape& x = c.in(0).shape;
      if (p.size() != x.size())
        return makeError("perm {} must list {} axes", shapeString(p), x.size());
      std::vector<bool> seen(x.size());
      Shape out;
      for (int64_t a : p) {
        if (a < 0 || a >= static_cast<int64_t>(x.size()) || seen[a])
          return makeError("perm {} is not a permutation of 0..{}", shapeString(p), x.size() - 1);
        seen[a] = true;
        out.push_back(x[a]);
      }
      return c.result({c.in(0).dtype, out});
    },
    .lower = Kernel{"transpose"}, .grad = [](GradBuilder& gb, const Node& n) -> Error {
      const auto& perm = n.attrs().getInts("perm");
      std::vector<int64_t> inverse(perm.size());
      for (size_t i = 0; i < perm.size(); ++i)
        inverse[static_cast<size_t>(perm[i])] = static_cast<int64_t>(i);
      if (gb.wants(0))
        gb.give(0, gb.emit(Transpose, {gb.dy()}, {{"perm", inverse}}));
      return gb.error();
    },
    .differentiable = true, .summary = "permute dims"};

constexpr OpDef Concat{
    .name = "concat", .family = OpFamily::Shape, .onnx = {"Concat"}, .inputs = {"x"},
    .variadic = true, .attrs = {attr::Required("axis", AttrKind::Int)},
    .shape = [](ShapeCtx& c) -> Error {
      SINTER_CHECK(requireSameDType(c));
      auto a = normalizeAxis(c.i("axis"), c.in(0).rank(), "axis");
      if (!a)
        return a.error();
      Shape out = c.in(0).shape;
      for (size_t i = 1; i < c.numInputs(); ++i) {
        const Shape& s = c.in(i).shape;
        bool ok = s.size() == out.size();
        for (size_t d = 0; ok && d < s.size(); ++d)
          ok = static_cast<int64_t>(d) == *a || s[d] == out[d];
        if (!ok)
          return makeError("operand {} {} does not match operand 0 {} outside axis {}", i,
                           shapeString(s), shapeString(c.in(0).shape), *a);
        out[*a] += s[*a];
      }
      return c.result({c.in(0).dtype, out});
    },
    .lower = Kernel{"concat"}, .grad = [](GradBuilder& gb, const Node& n) -> Error {
      int64_t rank = n.output()->type().rank();
      int64_t axis = n.attrs().getInt("axis");
      if (axis < 0)
        axis += rank;
      int64_t at = 0;
      for (size_t i = 0; i < n.numInputs(); ++i) {
        int64_t len = n.input(i)->type().shape[static_cast<size_t>(axis)];
        if (gb.wants(i))
          gb.give(i, gb.emit(Slice, {gb.dy()},
                             {{"starts", std::vector<int64_t>{at}}, {"ends", std::vector<int64_t>{at + len}},
                              {"axes", std::vector<int64_t>{axis}}}));
        at += len;
      }
      return gb.error();
    },
    .differentiable = true, .summary = "join along an axis"};

// ONNX Slice semantics: negative indices count from the end; starts/ends are clamped.
constexpr OpDef Slice{
    .name = "slice", .family = OpFamily::Shape, .onnx = {"Slice"}, .inputs = {"x"},
    .attrs = {attr::Required("starts", AttrKind::Ints), attr::Required("ends", AttrKind::Ints),
              attr::Ints("axes", {}, "[] = 0, 1, ..."), attr::Ints("steps", {}, "[] = all 1")},
    .shape = [](ShapeCtx& c) -> Error {
      auto dims = sliceDims(c.in(0).shape, c.ints("starts"), c.ints("ends"), c.ints("axes"),
                            c.ints("steps"));
      if (!dims)
        return dims.error();
      Shape out;
      for (const SliceDim& d : *dims)
        out.push_back(d.len);
      return c.result({c.in(0).dtype, out});
    },
    .lower = Kernel{"slice"}, .grad = [](GradBuilder& gb, const Node& n) -> Error {
      const Shape& x = n.input(0)->type().shape;
      const Attrs& a = n.attrs();
      auto dims = sliceDims(x, a.getInts("starts"), a.getInts("ends"), a.getInts("axes"), a.getInts("steps"));
      if (!dims)
        return dims.error();
      std::vector<int64_t> pads(2 * x.size());
      for (size_t d = 0; d < x.size(); ++d) {
        const SliceDim& sd = (*dims)[d];
        if (sd.step != 1 && sd.len > 1)
          return makeUnsupported("the gradient of slice is implemented for step 1, not {}", sd.step);
        pads[d] = sd.start;
        pads[d + x.size()] = x[d] - sd.start - sd.len;
      }
      if (gb.wants(0)) // zeros around the slice: pad dy back to x's shape
        gb.give(0, gb.emit(Pad, {gb.dy()}, {{"pads", pads}}));
      return gb.error();
    },
    .differentiable = true, .summary = "strided sub-tensor"};

// pads = [begin_0..begin_{r-1}, end_0..end_{r-1}]; negative pads crop.
constexpr OpDef Pad{
    .name = "pad", .family = OpFamily::Shape, .onnx = {"Pad"}, .inputs = {"x"},
    .attrs = {attr::Required("pads", AttrKind::Ints, "begins then ends, per dim"),
              attr::Str("mode", "constant", "constant, reflect or edge"),
              attr::Float("value", 0.0, "fill for mode=constant")},
    .shape = [](ShapeCtx& c) -> Error {
      const auto& p = c.ints("pads");
      const Shape& x = c.in(0).shape;
      const std::string& mode = c.s("mode");
      if (mode != "constant" && mode != "reflect" && mode != "edge")
        return makeError("mode '{}' is not one of constant, reflect, edge", mode);
      if (p.size() != 2 * x.size())
        return makeError("pads {} must have {} values (begins then ends)", shapeString(p), 2 * x.size());
      Shape out = x;
      for (int64_t v : p)
        if (v > kMaxDim || v < -kMaxDim)
          return makeError("pads {} are absurdly large", shapeString(p));
      for (size_t i = 0; i < x.size(); ++i) {
        out[i] = x[i] + p[i] + p[i + x.size()];
        if (out[i] < 0)
          return makeError("pads {} crop dim {} ({}) below zero", shapeString(p), i, x[i]);
        if (mode != "constant" && x[i] == 0 && out[i] > 0)
          return makeError("mode '{}' cannot pad the empty dim {}", mode, i);
        if (mode == "reflect" && std::max(p[i], p[i + x.size()]) >= x[i])
          return makeError("mode 'reflect' needs pads smaller than dim {} ({})", i, x[i]);
      }
      return c.result({c.in(0).dtype, out});
    },
    .lower = Kernel{"pad"}, .grad = [](GradBuilder& gb, const Node& n) -> Error {
      if (n.attrs().getString("mode") != "constant")
        return makeUnsupported("the gradient of pad is implemented for mode=constant, not '{}'",
                               n.attrs().getString("mode"));
      std::vector<int64_t> crop = n.attrs().getInts("pads");
      for (int64_t& v : crop)
        v = -v; // negative pads crop: exactly the padded border removed (or the cropped one restored)
      if (gb.wants(0))
        gb.give(0, gb.emit(Pad, {gb.dy()}, {{"pads", crop}}));
      return gb.error();
    },
    .differentiable = true, .summary = "constant, reflect or edge padding"};

// y = data indexed along `axis` by every index in `indices` (negative indices count from the end):
// shape data[:axis] + indices + data[axis+1:].
constexpr OpDef Gather{
    .name = "gather", .family = OpFamily::Shape, .onnx = {"Gather"}, .inputs = {"data", "indices"},
    .attrs = {attr::Int("axis", 0)},
    .shape = [](ShapeCtx& c) -> Error {
      if (c.in(1).dtype != DType::I64 && c.in(1).dtype != DType::I32)
        return makeError("indices must be i64 or i32, got {}", dtypeName(c.in(1).dtype));
      auto a = normalizeAxis(c.i("axis"), c.in(0).rank(), "axis");
      if (!a)
        return a.error();
      const Shape& d = c.in(0).shape;
      Shape out(d.begin(), d.begin() + *a);
      out.insert(out.end(), c.in(1).shape.begin(), c.in(1).shape.end());
      out.insert(out.end(), d.begin() + *a + 1, d.end());
      return c.result({c.in(0).dtype, out});
    },
    .lower = Kernel{"gather"}, .summary = "take entries along an axis"};

// y[i0..i_{r-1}] = data[...] with coordinate `axis` replaced by indices[i0..]; shape of indices.
constexpr OpDef GatherElements{
    .name = "gather_elements", .family = OpFamily::Shape, .onnx = {"GatherElements"},
    .inputs = {"data", "indices"}, .attrs = {attr::Int("axis", 0)},
    .shape = [](ShapeCtx& c) -> Error {
      if (c.in(1).dtype != DType::I64 && c.in(1).dtype != DType::I32)
        return makeError("indices must be i64 or i32, got {}", dtypeName(c.in(1).dtype));
      if (c.in(0).rank() != c.in(1).rank() || c.in(0).rank() == 0)
        return makeError("data {} and indices {} must have the same rank >= 1", c.in(0).str(), c.in(1).str());
      auto a = normalizeAxis(c.i("axis"), c.in(0).rank(), "axis");
      if (!a)
        return a.error();
      for (int64_t i = 0; i < c.in(0).rank(); ++i)
        if (i != *a && c.in(1).shape[i] > c.in(0).shape[i])
          return makeError("indices {} exceed data {} in dim {}", c.in(1).str(), c.in(0).str(), i);
      return c.result({c.in(0).dtype, c.in(1).shape});
    },
    .lower = Kernel{"gather_elements"},
    .summary = "take one entry per index along an axis"};

constexpr OpDef Constant{
    .name = "constant", .family = OpFamily::Shape, .onnx = {"Constant"}, .minInputs = 0,
    .attrs = {attr::Required("value", AttrKind::Tensor)},
    .shape = [](ShapeCtx& c) -> Error {
      const Tensor& t = c.attrs().getTensor("value");
      return c.result(t.type());
    },
    .lower = Kernel{"constant"}, .differentiable = false, .summary = "a literal tensor"};

// numpy broadcast of x to `shape` (the gradient of a reduction spreads back with it). A Scalar
// op: every backend's elementwise kernel broadcasts its operands to the result.
constexpr OpDef Expand{
    .name = "expand", .family = OpFamily::Shape, .inputs = {"x"},
    .attrs = {attr::Required("shape", AttrKind::Ints, "the result's dims; x broadcasts to them")},
    .shape = [](ShapeCtx& c) -> Error {
      const Shape& want = c.ints("shape");
      for (int64_t d : want)
        if (d < 0 || d > kMaxDim)
          return makeError("shape {} has an invalid dim", shapeString(want));
      auto b = broadcast(c.in(0).shape, want);
      if (!b || *b != want)
        return makeError("{} does not broadcast to {}", c.in(0).str(), shapeString(want));
      return c.result({c.in(0).dtype, want});
    },
    .lower = Scalar{"$0"},
    .grad = [](GradBuilder& gb, const Node& n) -> Error {
      gb.giveUnbroadcast(0, n, gb.dy());
      return gb.error();
    },
    .differentiable = true, .summary = "broadcast to a shape"};

} // namespace sinter::ops

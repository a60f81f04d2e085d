// Reduction op entries.
#include "ir/GradBuilder.h"
#include "ir/ops/Ops.h"
#include "ir/ops/ShapeRules.h"

#include <algorithm>

namespace sinter::ops {

using namespace rules;

namespace {
// axes = [] reduces every axis; keepdims keeps reduced axes as 1.
Error reduceShape(ShapeCtx& c) {
  const Shape& x = c.in(0).shape;
  int64_t r = c.in(0).rank();
  std::vector<bool> reduced(x.size(), c.ints("axes").empty());
  for (int64_t a : c.ints("axes")) {
    auto n = normalizeAxis(a, r, "axis");
    if (!n)
      return n.error();
    if (reduced[*n])
      return makeError("axis {} is listed twice in {}", a, shapeString(c.ints("axes")));
    reduced[*n] = true;
  }
  int64_t keep = c.i("keepdims");
  if (keep != 0 && keep != 1)
    return makeError("keepdims must be 0 or 1, got {}", keep);
  Shape out;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!reduced[i])
      out.push_back(x[i]);
    else if (keep)
      out.push_back(1);
  }
  return c.result({c.in(0).dtype, out});
}
// dy spread back over the reduced axes: reshaped with the reduced dims kept as 1, then expanded.
Value* spread(GradBuilder& gb, const Node& n, Value* dy) {
  const Shape& x = n.input(0)->type().shape;
  const auto& axes = n.attrs().getInts("axes");
  Shape kept = x;
  for (size_t i = 0; i < x.size(); ++i) {
    bool reduced = axes.empty();
    for (int64_t a : axes)
      reduced = reduced || (a < 0 ? a + static_cast<int64_t>(x.size()) : a) == static_cast<int64_t>(i);
    if (reduced)
      kept[i] = 1;
  }
  return gb.emit(Expand, {gb.reshape(dy, kept)}, {{"shape", std::vector<int64_t>(x.begin(), x.end())}});
}
} // namespace

constexpr OpDef ReduceSum{.name = "reduce_sum", .family = OpFamily::Reduce, .onnx = {"ReduceSum"},
                          .inputs = {"x"},
                          .attrs = {attr::Ints("axes", {}, "[] = all"), attr::Int("keepdims", 1)},
                          .shape = reduceShape, .lower = Kernel{"reduce_sum"},
                          .grad = [](GradBuilder& gb, const Node& n) -> Error {
                            if (gb.wants(0))
                              gb.give(0, spread(gb, n, gb.dy()));
                            return gb.error();
                          },
                          .differentiable = true, .summary = "sum over axes"};

constexpr OpDef ReduceMean{.name = "reduce_mean", .family = OpFamily::Reduce,
                           .onnx = {"ReduceMean"}, .inputs = {"x"},
                           .attrs = {attr::Ints("axes", {}, "[] = all"), attr::Int("keepdims", 1)},
                           .shape = reduceShape, .lower = Kernel{"reduce_mean"},
                           .grad = [](GradBuilder& gb, const Node& n) -> Error {
                             double count = static_cast<double>(n.input(0)->type().numel()) /
                                            static_cast<double>(std::max<int64_t>(1, n.output()->type().numel()));
                             if (gb.wants(0))
                               gb.give(0, spread(gb, n, gb.mul(gb.dy(), gb.scalar(1.0 / count, n.output()->type().dtype))));
                             return gb.error();
                           },
                           .differentiable = true, .summary = "mean over axes"};

constexpr OpDef ReduceMax{.name = "reduce_max", .family = OpFamily::Reduce, .onnx = {"ReduceMax"},
                          .inputs = {"x"},
                          .attrs = {attr::Ints("axes", {}, "[] = all"), attr::Int("keepdims", 1)},
                          .shape = reduceShape, .lower = Kernel{"reduce_max"},
                          .differentiable = false, .summary = "maximum over axes"};

} // namespace sinter::ops

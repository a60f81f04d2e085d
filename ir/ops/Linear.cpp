// Matrix product op entries: gemm (2-D, transposes, bias) and matmul (numpy batched).
#include "ir/Graph.h"
#include "ir/ops/Ops.h"
#include "ir/ops/ShapeRules.h"

namespace sinter::ops {

using namespace rules;

// y = alpha * op(a) @ op(b) + beta * c, op = transpose when trans_* = 1; c broadcasts to [M, N].
constexpr OpDef Gemm{
    .name = "gemm", .family = OpFamily::Linear, .onnx = {"Gemm"}, .inputs = {"a", "b", "c"},
    .minInputs = 2,
    .attrs = {attr::Int("trans_a", 0), attr::Int("trans_b", 0), attr::Float("alpha", 1.0),
              attr::Float("beta", 1.0)},
    .shape = [](ShapeCtx& c) -> Error {
      SINTER_CHECK(requireFloat(c, 0));
      SINTER_CHECK(requireSameDType(c));
      SINTER_CHECK(requireRank(c, 0, 2));
      SINTER_CHECK(requireRank(c, 1, 2));
      const Shape& a = c.in(0).shape;
      const Shape& b = c.in(1).shape;
      bool ta = c.i("trans_a") != 0, tb = c.i("trans_b") != 0;
      int64_t m = ta ? a[1] : a[0], ka = ta ? a[0] : a[1];
      int64_t kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
      if (ka != kb)
        return makeError("inner dims differ: a {}{} has K={}, b {}{} has K={}", shapeString(a),
                         ta ? "^T" : "", ka, shapeString(b), tb ? "^T" : "", kb);
      if (c.has(2)) {
        auto bc = broadcast(c.in(2).shape, {m, n});
        if (!bc || *bc != Shape{m, n})
          return makeError("bias {} does not broadcast to [{},{}]", shapeString(c.in(2).shape), m, n);
      }
      return c.result({c.in(0).dtype, {m, n}});
    },
    .lower = Kernel{"gemm"},
    .cost = [](const Node& n) -> int64_t {
      const Shape& a = n.input(0)->type().shape;
      int64_t k = n.attrs().getInt("trans_a") ? a[0] : a[1];
      int64_t out = n.output()->type().numel();
      return 2 * out * k + (n.numInputs() > 2 ? 2 * out : 0);
    }, .differentiable = true,
    .summary = "alpha * a @ b + beta * c with optional transposes"};

// Numpy matmul: 1-D operands are promoted then squeezed; batch dims broadcast.
constexpr OpDef MatMul{
    .name = "matmul", .family = OpFamily::Linear, .onnx = {"MatMul"}, .inputs = {"a", "b"},
    .shape = [](ShapeCtx& c) -> Error {
      SINTER_CHECK(requireFloat(c, 0));
      SINTER_CHECK(requireSameDType(c));
      Shape a = c.in(0).shape, b = c.in(1).shape;
      if (a.empty() || b.empty())
        return makeError("operands must have rank >= 1, got {} and {}", c.in(0).str(), c.in(1).str());
      bool va = a.size() == 1, vb = b.size() == 1;
      if (va)
        a.insert(a.begin(), 1);
      if (vb)
        b.push_back(1);
      int64_t m = a[a.size() - 2], k = a.back(), kb = b[b.size() - 2], n = b.back();
      if (k != kb)
        return makeError("inner dims differ: {} @ {}", shapeString(c.in(0).shape),
                         shapeString(c.in(1).shape));
      auto batch = broadcast(Shape(a.begin(), a.end() - 2), Shape(b.begin(), b.end() - 2));
      if (!batch)
        return batch.error();
      Shape out = *batch;
      if (!va)
        out.push_back(m);
      if (!vb)
        out.push_back(n);
      return c.result({c.in(0).dtype, out});
    },
    .lower = Kernel{"matmul"},
    .cost = [](const Node& n) -> int64_t {
      return 2 * n.output()->type().numel() * n.input(0)->type().shape.back();
    }, .differentiable = true,
    .summary = "numpy-style batched matrix product"};

} // namespace sinter::ops

// Matrix product op entries: gemm (2-D, transposes, bias) and matmul (numpy batched).
#include "ir/Graph.h"
#include "ir/GradBuilder.h"
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
    },
    .grad = [](GradBuilder& gb, const Node& n) -> Error {
      // y = alpha op(a) op(b) + beta c
      Value* dy = gb.dy();
      Value* a = n.input(0);
      Value* b = n.input(1);
      const Attrs& at = n.attrs();
      int64_t ta = at.getInt("trans_a"), tb = at.getInt("trans_b");
      double alpha = at.getFloat("alpha");
      auto gemm = [&](Value* p, Value* q, int64_t tp, int64_t tq) {
        return gb.emit(Gemm, {p, q}, {{"trans_a", tp}, {"trans_b", tq}, {"alpha", alpha}});
      };
      if (gb.wants(0)) // da = alpha dy op(b)^T, or its transpose when a is stored transposed
        gb.give(0, ta ? gemm(b, dy, tb, 1) : gemm(dy, b, 0, 1 - tb));
      if (gb.wants(1)) // db = alpha op(a)^T dy, or its transpose
        gb.give(1, tb ? gemm(dy, a, 1, ta) : gemm(a, dy, 1 - ta, 0));
      if (n.numInputs() > 2 && gb.wants(2)) {
        double beta = at.getFloat("beta");
        Value* g = beta == 1.0 ? dy : gb.mul(dy, gb.scalar(beta, dy->type().dtype));
        gb.giveUnbroadcast(2, n, g);
      }
      return gb.error();
    },
    .differentiable = true,
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
    },
    .grad = [](GradBuilder& gb, const Node& n) -> Error {
      // On the promoted operands (1-D a as [1, K], 1-D b as [K, 1]): da = dy b^T, db = a^T dy,
      // summed over broadcast batch dims, then back to the operands' shapes.
      Shape as = n.input(0)->type().shape, bs = n.input(1)->type().shape;
      bool va = as.size() == 1, vb = bs.size() == 1;
      if (va)
        as.insert(as.begin(), 1);
      if (vb)
        bs.push_back(1);
      Shape ys = n.output()->type().shape;
      if (va)
        ys.insert(ys.end() - (vb ? 0 : 1), 1);
      if (vb)
        ys.push_back(1);
      Value* dy = gb.reshape(gb.dy(), ys);
      Value* a = gb.reshape(n.input(0), as);
      Value* b = gb.reshape(n.input(1), bs);
      auto swapLast = [&](Value* v) {
        std::vector<int64_t> perm(v->type().rank());
        for (size_t i = 0; i < perm.size(); ++i)
          perm[i] = static_cast<int64_t>(i);
        std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
        return gb.emit(Transpose, {v}, {{"perm", perm}});
      };
      if (gb.wants(0))
        gb.give(0, gb.reshape(gb.unbroadcast(gb.emit(MatMul, {dy, swapLast(b)}), as), n.input(0)->type().shape));
      if (gb.wants(1))
        gb.give(1, gb.reshape(gb.unbroadcast(gb.emit(MatMul, {swapLast(a), dy}), bs), n.input(1)->type().shape));
      return gb.error();
    },
    .differentiable = true,
    .summary = "numpy-style batched matrix product"};

} // namespace sinter::ops

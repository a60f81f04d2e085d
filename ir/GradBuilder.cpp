// GradBuilder helpers (the interface is implemented by the autodiff pass).
#include "ir/GradBuilder.h"

#include "ir/ops/Ops.h"

namespace sinter {

Value* GradBuilder::constant(const Tensor& t) { return emit(ops::Constant, {}, {{"value", t}}); }

Value* GradBuilder::scalar(double v, DType t) {
  const double one[] = {v};
  return constant(Tensor::fromDoubles({t, {}}, one));
}

Value* GradBuilder::reshape(Value* v, const Shape& s) {
  if (!v || v->type().shape == s)
    return v;
  return emit(ops::Reshape, {v}, {{"shape", std::vector<int64_t>(s.begin(), s.end())}});
}

Value* GradBuilder::unbroadcast(Value* g, const Shape& shape) {
  if (!g || g->type().shape == shape)
    return g;
  const Shape& gs = g->type().shape;
  size_t off = gs.size() - shape.size();
  std::vector<int64_t> axes;
  for (size_t d = 0; d < gs.size(); ++d)
    if (d < off || (shape[d - off] == 1 && gs[d] != 1))
      axes.push_back(static_cast<int64_t>(d));
  Value* s = axes.empty() ? g : emit(ops::ReduceSum, {g}, {{"axes", axes}, {"keepdims", int64_t{1}}});
  return reshape(s, shape);
}

Value* GradBuilder::mul(Value* a, Value* b) { return emit(ops::Mul, {a, b}); }
Value* GradBuilder::div(Value* a, Value* b) { return emit(ops::Div, {a, b}); }
Value* GradBuilder::sub(Value* a, Value* b) { return emit(ops::Sub, {a, b}); }
Value* GradBuilder::neg(Value* a) { return emit(ops::Neg, {a}); }

void GradBuilder::giveUnbroadcast(size_t i, const Node& n, Value* g) {
  if (wants(i))
    give(i, unbroadcast(g, n.input(i)->type().shape));
}

} // namespace sinter

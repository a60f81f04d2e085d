// GradBuilder: what an op's gradient rule (OpDef::grad, in its table entry) sees while the
// autodiff pass (passes/Autodiff.cpp) differentiates one node. A rule reads the incoming gradient
// of the node's results, builds backward nodes from other table ops, and gives each operand that
// wants one its gradient (same type as the operand; the pass sums several contributions).
#pragma once

#include "ir/Graph.h"

namespace sinter {

class GradBuilder {
public:
  virtual ~GradBuilder() = default;

  /// The gradient flowing into result `r` of the node (null when none does).
  virtual Value* dy(size_t r = 0) = 0;
  /// Whether operand `i` wants a gradient (it depends on something differentiated).
  virtual bool wants(size_t i) const = 0;
  /// Contributes `g` to operand `i`'s gradient (ignored unless wanted).
  virtual void give(size_t i, Value* g) = 0;
  /// Adds op(inputs){attrs} to the backward graph and returns its result `r`. The first error
  /// sticks: later calls return null and error() reports it.
  virtual Value* emit(const OpDef& op, std::vector<Value*> inputs, Attrs attrs = {}, size_t r = 0) = 0;
  virtual Error error() const = 0;

  // Helpers built from emit().
  /// A constant node holding `t`.
  Value* constant(const Tensor& t);
  /// A rank-0 constant of dtype `t`.
  Value* scalar(double v, DType t);
  /// `g` summed over the dims that numpy broadcasting added or stretched to reach g's shape
  /// from `shape` (the reverse of broadcasting), reshaped to `shape`.
  Value* unbroadcast(Value* g, const Shape& shape);
  Value* reshape(Value* v, const Shape& s);
  Value* mul(Value* a, Value* b);
  Value* div(Value* a, Value* b);
  Value* sub(Value* a, Value* b);
  Value* neg(Value* a);
  /// unbroadcast(g, operand i's shape), then give() it to operand i.
  void giveUnbroadcast(size_t i, const Node& n, Value* g);
};

} // namespace sinter

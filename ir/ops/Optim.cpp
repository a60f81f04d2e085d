// Optimizer op entries: one update step of a parameter and its state, elementwise. The
// optimizer pass emits them after autodiff; the graph's updates write their results back.
#include "ir/Graph.h"
#include "ir/ops/Ops.h"
#include "ir/ops/ShapeRules.h"

namespace sinter::ops {

using namespace rules;

namespace {
// Operands 0.. (count of them) share the parameter's type; the rest are float scalars (rates).
Error optimShape(ShapeCtx& c, size_t tensors, size_t outputs) {
  SINTER_CHECK(requireFloat(c, 0));
  for (size_t i = 1; i < tensors; ++i)
    if (c.in(i) != c.in(0))
      return makeError("operand {} is {}, the parameter is {}", i, c.in(i).str(), c.in(0).str());
  for (size_t i = tensors; i < c.numInputs(); ++i)
    if (c.in(i).numel() != 1 || !isFloat(c.in(i).dtype))
      return makeError("operand {} must be a float scalar (a rate), got {}", i, c.in(i).str());
  for (size_t i = 0; i < outputs; ++i)
    c.outputs.push_back(c.in(0));
  return Error::success();
}
} // namespace

// SGD with momentum and weight decay as in Krizhevsky et al. 2012:
//   v' = momentum * v - weight_decay * lr * w - lr * g;   w' = w + v'
// (with a constant lr this is PyTorch's SGD with v = -lr * its momentum buffer).
constexpr OpDef SgdUpdate{
    .name = "sgd_update", .family = OpFamily::Misc, .inputs = {"w", "g", "v", "lr"},
    .outputs = {"w_next", "v_next"},
    .attrs = {attr::Float("momentum", 0.9), attr::Float("weight_decay", 0.0005)},
    .shape = [](ShapeCtx& c) { return optimShape(c, 3, 2); }, .lower = Kernel{"sgd_update"},
    .cost = [](const Node& n) -> int64_t { return 5 * n.input(0)->type().numel(); },
    .elementwiseOutputs = true,
    .summary = "SGD step with momentum and weight decay (the paper's rule)"};

// Adam (Kingma & Ba) with L2 weight decay added to the gradient, as PyTorch's Adam:
//   g' = g + weight_decay * w;  m' = b1 m + (1 - b1) g';  v' = b2 v + (1 - b2) g'^2
//   w' = w - lr_t * m' / (sqrt(v') * c2 + eps)
// with the bias corrections folded into the scalar operands: lr_t = lr / (1 - b1^t),
// c2 = 1 / sqrt(1 - b2^t) (the training loop computes them per step).
constexpr OpDef AdamUpdate{
    .name = "adam_update", .family = OpFamily::Misc, .inputs = {"w", "g", "m", "v", "lr_t", "c2"},
    .outputs = {"w_next", "m_next", "v_next"},
    .attrs = {attr::Float("beta1", 0.9), attr::Float("beta2", 0.999), attr::Float("eps", 1e-8),
              attr::Float("weight_decay", 0.0)},
    .shape = [](ShapeCtx& c) { return optimShape(c, 4, 3); }, .lower = Kernel{"adam_update"},
    .cost = [](const Node& n) -> int64_t { return 12 * n.input(0)->type().numel(); },
    .elementwiseOutputs = true,
    .summary = "Adam step (bias corrections passed in as lr_t and c2)"};

} // namespace sinter::ops

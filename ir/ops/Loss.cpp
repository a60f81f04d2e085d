// Loss op entries.
#include "ir/GradBuilder.h"
#include "ir/ops/Ops.h"
#include "ir/ops/ShapeRules.h"

namespace sinter::ops {

using namespace rules;

namespace {
// Shared by the two losses: scores [N, C, d...], labels [N, d...] ints, optional weights [C].
Error classLossShape(ShapeCtx& c) {
  SINTER_CHECK(requireFloat(c, 0));
  const TensorType& s = c.in(0);
  const TensorType& l = c.in(1);
  if (s.rank() < 2)
    return makeError("scores must be [N, C, ...], got {}", s.str());
  if (l.dtype != DType::I64 && l.dtype != DType::I32)
    return makeError("labels must be i64 or i32, got {}", dtypeName(l.dtype));
  Shape want = s.shape;
  want.erase(want.begin() + 1);
  if (l.shape != want)
    return makeError("labels {} must be scores {} without the class axis: {}", shapeString(l.shape),
                     shapeString(s.shape), shapeString(want));
  if (c.has(2) && (c.in(2).dtype != s.dtype || c.in(2).shape != Shape{s.shape[1]}))
    return makeError("weights must be {}[{}], got {}", dtypeName(s.dtype), s.shape[1], c.in(2).str());
  const std::string& red = c.s("reduction");
  if (red == "none")
    return c.result({s.dtype, want});
  if (red != "mean" && red != "sum")
    return makeError("reduction '{}' is not one of mean, sum, none", red);
  return c.result({s.dtype, {}});
}
// A loss gradient: (scores, labels, dloss[, weights]) -> dscores; dloss has the loss's type.
Error classLossGradShape(ShapeCtx& c) {
  std::vector<TensorType> fwd{c.in(0), c.in(1)};
  if (c.has(3))
    fwd.push_back(c.in(3));
  ShapeCtx sub(fwd, c.attrs());
  SINTER_CHECK(classLossShape(sub));
  if (c.in(2) != sub.outputs[0])
    return makeError("loss gradient {} does not match the loss {}", c.in(2).str(), sub.outputs[0].str());
  return c.result(c.in(0));
}

template <const OpDef& GradOp> Error classLossGrad(GradBuilder& gb, const Node& n) {
  if (!gb.wants(0))
    return gb.error();
  std::vector<Value*> in{n.input(0), n.input(1), gb.dy()};
  if (n.numInputs() > 2)
    in.push_back(n.input(2));
  gb.give(0, gb.emit(GradOp, in, n.attrs()));
  return gb.error();
}
} // namespace

// loss[i] = -w[label_i] * log_softmax(scores[i])[label_i], over axis 1 (ONNX
// SoftmaxCrossEntropyLoss). reduction: mean (divided by the sum of weights of counted items),
// sum, or none. Items whose label equals ignore_index count zero.
constexpr OpDef SoftmaxCrossEntropy{
    .name = "softmax_cross_entropy", .family = OpFamily::Loss, .onnx = {"SoftmaxCrossEntropyLoss"},
    .inputs = {"scores", "labels", "weights"}, .minInputs = 2, .outputs = {"loss"},
    .attrs = {attr::Str("reduction", "mean", "mean, sum or none"),
              attr::Int("ignore_index", -100, "label value that contributes nothing")},
    .shape = classLossShape,
    .lower = Kernel{"softmax_cross_entropy"}, .grad = classLossGrad<SoftmaxCrossEntropyGrad>,
    .differentiable = true,
    .summary = "softmax + negative log-likelihood of integer labels"};

// loss[i] = -w[label_i] * scores[i][label_i] (ONNX NegativeLogLikelihoodLoss: scores are
// log-probabilities), reduced like softmax_cross_entropy.
constexpr OpDef NllLoss{
    .name = "nll_loss", .family = OpFamily::Loss, .onnx = {"NegativeLogLikelihoodLoss"},
    .inputs = {"log_probs", "labels", "weights"}, .minInputs = 2, .outputs = {"loss"},
    .attrs = {attr::Str("reduction", "mean", "mean, sum or none"),
              attr::Int("ignore_index", -100, "label value that contributes nothing")},
    .shape = classLossShape, .lower = Kernel{"nll_loss"}, .grad = classLossGrad<NllLossGrad>,
    .differentiable = true,
    .summary = "negative log-likelihood of integer labels"};

// dscores of softmax_cross_entropy: (softmax(scores) - onehot(label)) * w[label] * dloss / norm,
// norm = the sum of counted weights for reduction=mean (else 1); ignored items get 0.
constexpr OpDef SoftmaxCrossEntropyGrad{
    .name = "softmax_cross_entropy_grad", .family = OpFamily::Loss,
    .inputs = {"scores", "labels", "dloss", "weights"}, .minInputs = 3, .outputs = {"dscores"},
    .attrs = {attr::Str("reduction", "mean", "mean, sum or none"),
              attr::Int("ignore_index", -100, "label value that contributes nothing")},
    .shape = classLossGradShape, .lower = Kernel{"softmax_cross_entropy_grad"},
    .summary = "gradient of softmax_cross_entropy with respect to the scores"};

// dlog_probs of nll_loss: -w[label] * dloss / norm at the label, 0 elsewhere.
constexpr OpDef NllLossGrad{
    .name = "nll_loss_grad", .family = OpFamily::Loss, .inputs = {"log_probs", "labels", "dloss", "weights"},
    .minInputs = 3, .outputs = {"dlog_probs"},
    .attrs = {attr::Str("reduction", "mean", "mean, sum or none"),
              attr::Int("ignore_index", -100, "label value that contributes nothing")},
    .shape = classLossGradShape, .lower = Kernel{"nll_loss_grad"},
    .summary = "gradient of nll_loss with respect to the log-probabilities"};

} // namespace sinter::ops

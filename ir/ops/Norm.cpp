// Normalisation op entries: LRN, batch norm (inference), softmax, log-softmax.
#include "ir/Graph.h"
#include "ir/GradBuilder.h"
#include "ir/ops/Ops.h"
#include "ir/ops/ShapeRules.h"

namespace sinter::ops {

using namespace rules;

// Cross-channel LRN as in ONNX/Caffe/PyTorch:
//   y = x / (bias + alpha / size * sum_{c' in window(c)} x[c']^2) ^ beta
// window(c) = [c - floor((size-1)/2), c + ceil((size-1)/2)] clipped to the channels.
// (The AlexNet paper writes alpha without the 1/size; its alpha=1e-4 is used here as ONNX does.)
constexpr OpDef Lrn{
    .name = "lrn", .family = OpFamily::Norm, .onnx = {"LRN"}, .inputs = {"x"},
    .attrs = {attr::Required("size", AttrKind::Int), attr::Float("alpha", 1e-4),
              attr::Float("beta", 0.75), attr::Float("bias", 1.0)},
    .shape = [](ShapeCtx& c) -> Error {
      SINTER_CHECK(requireFloat(c, 0));
      if (c.in(0).rank() < 3)
        return makeError("operand 0 must have rank >= 3 (N, C, spatial...), got {}", c.in(0).str());
      if (c.i("size") < 1)
        return makeError("size {} must be positive", c.i("size"));
      return c.result(c.in(0));
    },
    .lower = Kernel{"lrn"},
    .cost = [](const Node& n) -> int64_t {
      return n.output()->type().numel() * (2 * n.attrs().getInt("size") + 4);
    },
    .grad = [](GradBuilder& gb, const Node& n) -> Error {
      if (gb.wants(0))
        gb.give(0, gb.emit(LrnGrad, {n.input(0), gb.dy()}, n.attrs()));
      return gb.error();
    },
    .differentiable = true,
    .summary = "local response normalisation across channels"};

// dx of lrn. With d_c = bias + alpha/size * sum of x^2 over c's window and y_c = x_c d_c^-beta:
// dx_j = dy_j d_j^-beta - 2 alpha beta / size * x_j * sum over windows c holding j of dy_c x_c d_c^(-beta-1).
constexpr OpDef LrnGrad{
    .name = "lrn_grad", .family = OpFamily::Norm, .inputs = {"x", "dy"}, .outputs = {"dx"},
    .attrs = {attr::Required("size", AttrKind::Int), attr::Float("alpha", 1e-4),
              attr::Float("beta", 0.75), attr::Float("bias", 1.0)},
    .shape = [](ShapeCtx& c) -> Error {
      SINTER_CHECK(requireFloat(c, 0));
      if (c.in(0).rank() < 3)
        return makeError("operand 0 must have rank >= 3 (N, C, spatial...), got {}", c.in(0).str());
      if (c.in(1) != c.in(0))
        return makeError("output gradient {} does not match the input {}", c.in(1).str(), c.in(0).str());
      if (c.i("size") < 1)
        return makeError("size {} must be positive", c.i("size"));
      return c.result(c.in(0));
    },
    .lower = Kernel{"lrn_grad"},
    .cost = [](const Node& n) -> int64_t {
      return n.output()->type().numel() * (4 * n.attrs().getInt("size") + 8);
    },
    .summary = "gradient of lrn"};

// y = scale * (x - mean) / sqrt(var + epsilon) + bias, per channel (axis 1). This is the layer
// in inference; add-loss rewrites it for training into batch statistics (over every axis but 1)
// plus graph updates of the running statistics: mean' = momentum * mean + (1 - momentum) *
// batch mean, likewise var with the unbiased batch variance (PyTorch's rule, which `momentum`
// follows as ONNX spells it: 0.9 for PyTorch's 0.1).
constexpr OpDef BatchNorm{
    .name = "batch_norm", .family = OpFamily::Norm, .onnx = {"BatchNormalization"},
    .inputs = {"x", "scale", "bias", "mean", "var"},
    .attrs = {attr::Float("epsilon", 1e-5), attr::Float("momentum", 0.9)},
    .shape = [](ShapeCtx& c) -> Error {
      SINTER_CHECK(requireFloat(c, 0));
      SINTER_CHECK(requireSameDType(c));
      if (c.in(0).rank() < 2)
        return makeError("operand 0 must have rank >= 2 (N, C, ...), got {}", c.in(0).str());
      int64_t ch = c.in(0).shape[1];
      for (size_t i = 1; i < 5; ++i)
        if (c.in(i).shape != Shape{ch})
          return makeError("operand {} must be [{}] (one value per channel), got {}", i, ch,
                           shapeString(c.in(i).shape));
      return c.result(c.in(0));
    },
    .lower = Kernel{"batch_norm"}, .differentiable = false,
    .summary = "batch normalisation with running statistics (inference)"};

namespace {
// batch_norm_train's operands: x [N, C, ...] and per-channel [C] operands from `first` on.
Error perChannelShape(ShapeCtx& c, size_t first) {
  SINTER_CHECK(requireFloat(c, 0));
  SINTER_CHECK(requireSameDType(c));
  if (c.in(0).rank() < 2)
    return makeError("operand 0 must have rank >= 2 (N, C, ...), got {}", c.in(0).str());
  const int64_t ch = c.in(0).shape[1];
  for (size_t i = first; i < c.numInputs(); ++i)
    if (c.in(i).shape != Shape{ch})
      return makeError("operand {} must be [{}] (one value per channel), got {}", i, ch, shapeString(c.in(i).shape));
  if (c.in(0).numel() / std::max<int64_t>(1, ch) < 2)
    return makeError("batch statistics need more than one value per channel, got {}", c.in(0).str());
  return Error::success();
}
} // namespace

// Batch norm in training: the statistics of this batch over every axis but 1, in one op.
//   mean = E[x], var = E[(x - mean)^2] (biased), y = scale * (x - mean) / sqrt(var + eps) + bias
// `mean` and `var` feed the running-statistic updates that add-loss makes. (One op instead of
// fifteen table ops: two passes over x instead of about eight.)
constexpr OpDef BatchNormTrain{
    .name = "batch_norm_train", .family = OpFamily::Norm, .inputs = {"x", "scale", "bias"},
    .outputs = {"y", "mean", "var"}, .attrs = {attr::Float("epsilon", 1e-5)},
    .shape = [](ShapeCtx& c) -> Error {
      SINTER_CHECK(perChannelShape(c, 1));
      const TensorType stat{c.in(0).dtype, {c.in(0).shape[1]}};
      c.outputs = {c.in(0), stat, stat};
      return Error::success();
    },
    .lower = Kernel{"batch_norm_train"},
    .cost = [](const Node& n) -> int64_t { return 7 * n.input(0)->type().numel(); },
    .grad = [](GradBuilder& gb, const Node& n) -> Error {
      // The statistics are not differentiated (they only update the running statistics).
      if (!gb.dy(0) || !(gb.wants(0) || gb.wants(1) || gb.wants(2)))
        return gb.error();
      Value* dx = gb.emit(BatchNormTrainGrad, {n.input(0), gb.dy(0), n.input(1), n.output(1), n.output(2)}, n.attrs());
      if (!dx)
        return gb.error();
      Node* g = dx->producer();
      gb.give(0, g->output(0));
      gb.give(1, g->output(1));
      gb.give(2, g->output(2));
      return gb.error();
    },
    .differentiable = true,
    .summary = "batch normalisation with this batch's statistics (training), which it also returns"};

// Gradients of batch_norm_train, with xhat = (x - mean) / sqrt(var + eps) and M values per
// channel: dbias = sum(dy), dscale = sum(dy * xhat),
// dx = scale / sqrt(var + eps) * (dy - dbias / M - xhat * dscale / M).
constexpr OpDef BatchNormTrainGrad{
    .name = "batch_norm_train_grad", .family = OpFamily::Norm, .inputs = {"x", "dy", "scale", "mean", "var"},
    .outputs = {"dx", "dscale", "dbias"}, .attrs = {attr::Float("epsilon", 1e-5)},
    .shape = [](ShapeCtx& c) -> Error {
      SINTER_CHECK(perChannelShape(c, 2));
      if (c.in(1) != c.in(0))
        return makeError("output gradient {} does not match the input {}", c.in(1).str(), c.in(0).str());
      const TensorType stat{c.in(0).dtype, {c.in(0).shape[1]}};
      c.outputs = {c.in(0), stat, stat};
      return Error::success();
    },
    .lower = Kernel{"batch_norm_train_grad"},
    .cost = [](const Node& n) -> int64_t { return 9 * n.input(0)->type().numel(); },
    .summary = "gradients of batch_norm_train (dx, dscale, dbias)"};

namespace {
Error softmaxShape(ShapeCtx& c) {
  SINTER_CHECK(requireFloat(c, 0));
  auto a = normalizeAxis(c.i("axis"), c.in(0).rank(), "axis");
  if (!a)
    return a.error();
  return c.result(c.in(0));
}
} // namespace

constexpr OpDef Softmax{.name = "softmax", .family = OpFamily::Norm, .onnx = {"Softmax"},
                        .inputs = {"x"}, .attrs = {attr::Int("axis", -1)}, .shape = softmaxShape,
                        .lower = Kernel{"softmax"},
                        .cost = [](const Node& n) -> int64_t { return 4 * n.output()->type().numel(); },
                        .grad = [](GradBuilder& gb, const Node& n) -> Error {
                          // dx = y * (dy - sum(dy * y)) along the axis
                          Value* y = n.output();
                          int64_t axis = n.attrs().getInt("axis");
                          Value* s = gb.emit(ReduceSum, {gb.mul(gb.dy(), y)},
                                             {{"axes", std::vector<int64_t>{axis}}, {"keepdims", int64_t{1}}});
                          if (gb.wants(0))
                            gb.give(0, gb.mul(y, gb.sub(gb.dy(), s)));
                          return gb.error();
                        },
                        .differentiable = true,
                        .summary = "exp(x) / sum(exp(x)) along one axis"};

constexpr OpDef LogSoftmax{.name = "log_softmax", .family = OpFamily::Norm,
                           .onnx = {"LogSoftmax"}, .inputs = {"x"},
                           .attrs = {attr::Int("axis", -1)}, .shape = softmaxShape,
                           .lower = Kernel{"log_softmax"},
                           .cost = [](const Node& n) -> int64_t { return 4 * n.output()->type().numel(); },
                           .grad = [](GradBuilder& gb, const Node& n) -> Error {
                             // dx = dy - exp(y) * sum(dy) along the axis
                             int64_t axis = n.attrs().getInt("axis");
                             Value* s = gb.emit(ReduceSum, {gb.dy()},
                                                {{"axes", std::vector<int64_t>{axis}}, {"keepdims", int64_t{1}}});
                             if (gb.wants(0))
                               gb.give(0, gb.sub(gb.dy(), gb.mul(gb.emit(Exp, {n.output()}), s)));
                             return gb.error();
                           },
                           .differentiable = true,
                           .summary = "x - log(sum(exp(x))) along one axis"};

} // namespace sinter::ops

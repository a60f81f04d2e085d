// ONNX rules: LRN, BatchNormalization (inference), Softmax and LogSoftmax across opsets.
#include "frontend/onnx/ImportContext.h"

namespace sinter::onnxio {

namespace {

Error lrn(NodeCtx& c) { return c.generic(ops::Lrn); }

Error batchNorm(NodeCtx& c) {
  SINTER_CHECK(c.checkInputs(5, 5));
  SINTER_CHECK(c.onlyAttrs({"epsilon", "momentum", "spatial", "training_mode", "is_test", "consumed_inputs"}));
  auto training = c.attrInt("training_mode", 0);
  auto spatial = c.attrInt("spatial", 1);
  auto eps = c.attrFloat("epsilon", 1e-5);
  auto momentum = c.attrFloat("momentum", 0.9);
  if (!training || !spatial || !eps || !momentum)
    return !training ? training.error() : !spatial ? spatial.error() : !eps ? eps.error() : momentum.error();
  // A training-mode node (training_mode = 1, or the running-statistics outputs of a PyTorch
  // training export) describes the same layer: sinter train takes it as one (batch statistics
  // while training, running statistics for evaluation and in checkpoints); inference refuses it,
  // since its result would depend on the batch. Its extra outputs are left unbound.
  bool trainingNode = *training != 0;
  for (size_t i = 1; i < c.numOutputs(); ++i)
    trainingNode = trainingNode || c.wantsOutput(i);
  if (trainingNode && !c.importer().options().training)
    return makeUnsupported("training-mode BatchNormalization (batch statistics) is not supported for inference: export "
                           "the model in eval mode (model.eval()), or train it with `sinter train`, which takes the node "
                           "as a batch-norm layer");
  if (*spatial != 1)
    return makeUnsupported("BatchNormalization with spatial=0 is not supported");
  if (c.importer().options().training && !(*momentum >= 0 && *momentum <= 1)) // inference never reads it
    return makeError("momentum {} is outside [0, 1]", *momentum);
  auto ins = c.inputs();
  if (!ins)
    return ins.error();
  std::vector<Value*>& in = *ins;
  auto y = c.emit(ops::BatchNorm, in, {{"epsilon", *eps}, {"momentum", *momentum}});
  if (!y)
    return y.error();
  return c.bind(0, *y);
}

// Before opset 13 (Log)Softmax flattens the input to 2-D at `axis` (default 1) and normalises
// over the second dim; from 13 it normalises over `axis` alone (default -1).
template <const OpDef& Op> Error softmax(NodeCtx& c) {
  SINTER_CHECK(c.checkInputs(1, 1));
  SINTER_CHECK(c.onlyAttrs({"axis"}));
  auto x = c.in(0);
  if (!x)
    return x.error();
  int64_t rank = (*x)->type().rank();
  auto axis = c.attrInt("axis", c.opset() < 13 ? 1 : -1);
  if (!axis)
    return axis.error();
  if (*axis < -rank || *axis >= std::max<int64_t>(rank, 1))
    return makeError("axis {} is out of range for rank {}", *axis, rank);
  int64_t a = *axis < 0 ? *axis + rank : *axis;
  auto y = [&]() -> Expected<Value*> {
    if (c.opset() >= 13 || a == rank - 1)
      return c.emit(Op, {*x}, {{"axis", a}});
    auto flat = c.emit(ops::Flatten, {*x}, {{"axis", a}});
    if (flat)
      flat = c.emit(Op, {*flat}, {{"axis", int64_t{1}}});
    if (flat)
      flat = c.emit(ops::Reshape, {*flat}, {{"shape", (*x)->type().shape}});
    return flat;
  }();
  if (!y)
    return y.error();
  return c.bind(0, *y);
}

constexpr OnnxRule kRules[] = {
    {"LRN", lrn},
    {"BatchNormalization", batchNorm},
    {"Softmax", softmax<ops::Softmax>},
    {"LogSoftmax", softmax<ops::LogSoftmax>},
};

} // namespace

std::span<const OnnxRule> normRules() { return kRules; }

} // namespace sinter::onnxio

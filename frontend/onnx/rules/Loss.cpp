// ONNX rules: SoftmaxCrossEntropyLoss (with its optional log_prob output) and NLLLoss.
#include "frontend/onnx/ImportContext.h"

namespace sinter::onnxio {

namespace {

template <const OpDef& Op> Error classLoss(NodeCtx& c) {
  SINTER_CHECK(c.checkInputs(2, 3));
  SINTER_CHECK(c.onlyAttrs({"reduction", "ignore_index"}));
  auto reduction = c.attrString("reduction", "mean");
  auto ignore = c.attrInt("ignore_index", -100);
  if (!reduction || !ignore)
    return reduction ? ignore.error() : reduction.error();
  auto ins = c.inputs();
  if (!ins)
    return ins.error();
  std::vector<Value*>& in = *ins;
  auto loss = c.emit(Op, in, {{"reduction", *reduction}, {"ignore_index", *ignore}});
  if (!loss)
    return loss.error();
  SINTER_CHECK(c.bind(0, *loss));
  if (c.wantsOutput(1)) { // SoftmaxCrossEntropyLoss's log_prob
    auto lp = c.emit(ops::LogSoftmax, {in[0]}, {{"axis", int64_t{1}}});
    if (!lp)
      return lp.error();
    SINTER_CHECK(c.bind(1, *lp));
  }
  return Error::success();
}

constexpr OnnxRule kRules[] = {
    {"SoftmaxCrossEntropyLoss", classLoss<ops::SoftmaxCrossEntropy>},
    {"NegativeLogLikelihoodLoss", classLoss<ops::NllLoss>},
};

} // namespace

std::span<const OnnxRule> lossRules() { return kRules; }

} // namespace sinter::onnxio

// The list of all op entries. Adding an op: define it in ir/ops/<Family>.cpp, list it here.
#include "ir/OpTable.h"

#include <array>

namespace sinter {

namespace {
using namespace ops;
const std::array kOps = std::to_array<const OpDef*>({
    // Elementwise
    &Relu, &Neg, &Abs, &Sqrt, &Exp, &Log, &Sigmoid, &Tanh, &Add, &Sub, &Mul, &Div, &Pow, &Max,
    &Min, &Cast, &Equal, &Where, &Identity, &Dropout,
    // Conv, Pool, Norm
    &Conv2d, &MaxPool2d, &AvgPool2d, &GlobalAvgPool, &Lrn, &BatchNorm, &BatchNormTrain, &Softmax, &LogSoftmax,
    // Linear, Reduce
    &Gemm, &MatMul, &ReduceSum, &ReduceMean, &ReduceMax,
    // Shape
    &Flatten, &Reshape, &Transpose, &Concat, &Slice, &Pad, &Gather, &GatherElements, &Constant,
    &Expand,
    // Loss
    &SoftmaxCrossEntropy, &NllLoss,
    // Gradients (emitted by the autodiff pass from the rules above)
    &ReluGrad, &AbsGrad, &MaxGrad, &MinGrad, &Conv2dGradInput, &Conv2dGradWeight, &MaxPool2dGrad, &AvgPool2dGrad,
    &LrnGrad, &BatchNormTrainGrad, &SoftmaxCrossEntropyGrad, &NllLossGrad,
    // Winograd convolution (made by the winograd pass)
    &WinogradFilter, &WinogradInput, &WinogradOutput,
    // Optimizers
    &SgdUpdate, &AdamUpdate,
    // Misc
    &Fused,
});
} // namespace

std::span<const OpDef* const> allOps() { return kOps; }

const OpDef* findOp(std::string_view name) {
  for (const OpDef* op : kOps)
    if (op->name == name)
      return op;
  return nullptr;
}

const OpDef* findOnnxOp(std::string_view onnxType) {
  for (const OpDef* op : kOps)
    for (std::string_view n : op->onnx)
      if (!n.empty() && n == onnxType)
        return op;
  return nullptr;
}

} // namespace sinter

// The op table entries, by family. Each is defined (all its facts) in ir/ops/<Family>.cpp.
#pragma once

#include "ir/OpDef.h"

namespace sinter {
class Node;
/// FLOPs of one node: the op's cost rule, or for Scalar ops (expression size x elements),
/// Alias ops (0) and others (one per result element) a default.
int64_t opFlops(const Node& n);
} // namespace sinter

namespace sinter::ops {

// Elementwise (ir/ops/Elementwise.cpp)
extern const OpDef Relu, Neg, Sqrt, Exp, Log, Abs, Sigmoid, Tanh;
extern const OpDef Add, Sub, Mul, Div, Pow, Max, Min;
extern const OpDef Cast, Equal, Where, Identity, Dropout;
extern const OpDef ReluGrad, AbsGrad, MaxGrad, MinGrad;
// Conv (ir/ops/Conv.cpp)
extern const OpDef Conv2d, Conv2dGradInput, Conv2dGradWeight, WinogradFilter, WinogradInput, WinogradOutput;
// Pool (ir/ops/Pool.cpp)
extern const OpDef MaxPool2d, AvgPool2d, GlobalAvgPool, MaxPool2dGrad, AvgPool2dGrad;
// Norm (ir/ops/Norm.cpp)
extern const OpDef Lrn, BatchNorm, Softmax, LogSoftmax, LrnGrad, BatchNormTrain, BatchNormTrainGrad;
// Linear (ir/ops/Linear.cpp)
extern const OpDef Gemm, MatMul;
// Reduce (ir/ops/Reduce.cpp)
extern const OpDef ReduceSum, ReduceMean, ReduceMax;
// Shape (ir/ops/Shape.cpp)
extern const OpDef Flatten, Reshape, Transpose, Concat, Slice, Pad, Gather, GatherElements, Constant, Expand;
// Misc (ir/ops/Fused.cpp, ir/ops/Optim.cpp)
extern const OpDef Fused, SgdUpdate, AdamUpdate;
// Loss (ir/ops/Loss.cpp)
extern const OpDef SoftmaxCrossEntropy, NllLoss, SoftmaxCrossEntropyGrad, NllLossGrad;

} // namespace sinter::ops

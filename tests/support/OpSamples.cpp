// Sample invocations per op. Adding an op to the table without a sample here fails OpTableTest.
#include "tests/support/OpSamples.h"

#include "ir/OpTable.h"
#include "tests/support/Numerics.h"

namespace sinter {
void PrintTo(const OpDef* op, std::ostream* os) { *os << op->name; }
} // namespace sinter

namespace sinter::test {

namespace {

struct InputSpec {
  TensorType type;
  double lo = -1.0, hi = 1.0;
};
struct Case {
  const OpDef* op;
  std::vector<InputSpec> inputs;
  Attrs attrs;
};

TensorType f32(Shape s) { return {DType::F32, std::move(s)}; }
TensorType i64(Shape s) { return {DType::I64, std::move(s)}; }

std::vector<Case> cases() {
  using namespace ops;
  Tensor constant = makeTensor(f32({2, 2}), {1.5, -2.0, 0.25, 3.0});
  std::vector<Case> c = {
      {&Relu, {{f32({2, 3})}}, {}},
      {&Neg, {{f32({2, 3})}}, {}},
      {&Abs, {{f32({2, 3})}}, {}},
      {&Sqrt, {{f32({2, 3}), 0.1, 2.0}}, {}},
      {&Exp, {{f32({2, 3})}}, {}},
      {&Log, {{f32({2, 3}), 0.1, 2.0}}, {}},
      {&Sigmoid, {{f32({2, 3})}}, {}},
      {&Tanh, {{f32({2, 3})}}, {}},
      {&Add, {{f32({2, 3})}, {f32({3})}}, {}},
      {&Sub, {{f32({2, 1})}, {f32({1, 3})}}, {}},
      {&Mul, {{f32({2, 3})}, {f32({2, 3})}}, {}},
      {&Div, {{f32({2, 3})}, {f32({3}), 0.5, 2.0}}, {}},
      {&Pow, {{f32({2, 3}), 0.1, 2.0}, {f32({3})}}, {}},
      {&Max, {{f32({2, 3})}, {f32({})}}, {}},
      {&Min, {{f32({2, 3})}, {f32({2, 1})}}, {}},
      {&Cast, {{f32({2, 3}), -3.0, 3.0}}, {{"to", std::string("i32")}}},
      {&Equal, {{i64({2, 3}), 0.0, 3.0}, {i64({3}), 0.0, 3.0}}, {}},
      {&Where, {{{DType::Bool, {2, 3}}, 0.0, 2.0}, {f32({2, 3})}, {f32({3})}}, {}},
      {&Identity, {{f32({4})}}, {}},
      {&Dropout, {{f32({2, 8})}}, {{"ratio", 0.25}, {"training", int64_t{1}}, {"seed", int64_t{7}}}},
      {&Conv2d, {{f32({1, 4, 6, 5})}, {f32({4, 2, 3, 3})}, {f32({4})}},
       {{"stride", std::vector<int64_t>{2, 1}}, {"pad", std::vector<int64_t>{1, 0, 1, 2}}, {"group", int64_t{2}}}},
      {&MaxPool2d, {{f32({1, 2, 5, 5})}},
       {{"kernel", std::vector<int64_t>{3, 3}}, {"stride", std::vector<int64_t>{2, 2}}, {"ceil_mode", int64_t{1}}}},
      {&WinogradFilter, {{f32({4, 2, 3, 3})}}, {{"tile", int64_t{4}}}},
      // Output 4x5 (pads 1 top, 1 right): 2x3 tiles of 2x2, the last column overhanging.
      {&WinogradInput, {{f32({2, 3, 5, 6})}}, {{"pad", std::vector<int64_t>{1, 0, 0, 1}}}},
      // F(4x4): 2 images of 2x2 tiles for a 7x5 output: both extents overhang (by 1 and 3).
      {&WinogradOutput, {{f32({1, 72, 1, 8})}, {f32({2})}}, {{"output_hw", std::vector<int64_t>{7, 5}}, {"tile", int64_t{4}}}},
      {&AvgPool2d, {{f32({1, 2, 5, 5})}},
       {{"kernel", std::vector<int64_t>{2, 2}}, {"pad", std::vector<int64_t>{1, 1, 0, 0}}}},
      {&GlobalAvgPool, {{f32({2, 3, 2, 2})}}, {}},
      {&Lrn, {{f32({1, 6, 2, 2})}}, {{"size", int64_t{5}}, {"bias", 2.0}}},
      {&BatchNorm, {{f32({2, 3, 2})}, {f32({3})}, {f32({3})}, {f32({3})}, {f32({3}), 0.5, 2.0}}, {}},
      {&BatchNormTrain, {{f32({2, 3, 2, 3})}, {f32({3})}, {f32({3})}}, {}},
      {&BatchNormTrainGrad, {{f32({2, 3, 2, 3})}, {f32({2, 3, 2, 3})}, {f32({3})}, {f32({3})}, {f32({3}), 0.5, 2.0}},
       {{"epsilon", 1e-3}}},
      {&Softmax, {{f32({2, 5})}}, {}},
      {&LogSoftmax, {{f32({2, 5})}}, {{"axis", int64_t{0}}}},
      {&Gemm, {{f32({3, 4})}, {f32({5, 4})}, {f32({5})}}, {{"trans_b", int64_t{1}}}},
      {&MatMul, {{f32({2, 3, 4})}, {f32({4, 2})}}, {}},
      {&ReduceSum, {{f32({2, 3, 4})}}, {{"axes", std::vector<int64_t>{1}}}},
      {&ReduceMean, {{f32({2, 3, 4})}}, {{"axes", std::vector<int64_t>{0, 2}}, {"keepdims", int64_t{0}}}},
      {&ReduceMax, {{f32({2, 3, 4})}}, {{"axes", std::vector<int64_t>{-1}}}},
      {&Flatten, {{f32({2, 3, 4})}}, {}},
      {&Reshape, {{f32({2, 3, 4})}}, {{"shape", std::vector<int64_t>{4, -1}}}},
      {&Transpose, {{f32({2, 3, 4})}}, {{"perm", std::vector<int64_t>{2, 0, 1}}}},
      {&Concat, {{f32({2, 1})}, {f32({2, 3})}}, {{"axis", int64_t{1}}}},
      {&Slice, {{f32({4, 5})}}, {{"starts", std::vector<int64_t>{1}}, {"ends", std::vector<int64_t>{-1}}, {"axes", std::vector<int64_t>{1}}}},
      {&Pad, {{f32({2, 3})}}, {{"pads", std::vector<int64_t>{1, 0, 0, 2}}, {"mode", std::string("edge")}}},
      {&Gather, {{f32({4, 3})}, {i64({2, 2}), -4.0, 4.0}}, {}},
      {&GatherElements, {{f32({4, 3})}, {i64({2, 3}), 0.0, 4.0}}, {}},
      {&Constant, {}, {{"value", constant}}},
      {&SoftmaxCrossEntropy, {{f32({4, 3})}, {i64({4}), 0.0, 3.0}}, {}},
      {&NllLoss, {{f32({4, 3, 2}), -3.0, 0.0}, {i64({4, 2}), 0.0, 3.0}, {f32({3}), 0.5, 1.5}}, {}},
      {&Expand, {{f32({3, 1})}}, {{"shape", std::vector<int64_t>{2, 3, 4}}}},
      // Gradient ops (shapes as the autodiff pass would make them for the samples above)
      {&ReluGrad, {{f32({2, 3})}, {f32({2, 3})}}, {}},
      {&AbsGrad, {{f32({2, 3})}, {f32({2, 3})}}, {}},
      {&MaxGrad, {{f32({2, 3})}, {f32({3})}, {f32({2, 3})}}, {}},
      {&MinGrad, {{f32({2, 3})}, {f32({2, 1})}, {f32({2, 3})}}, {}},
      {&Conv2dGradInput, {{f32({1, 4, 3, 5})}, {f32({4, 2, 3, 3})}},
       {{"stride", std::vector<int64_t>{2, 1}}, {"pad", std::vector<int64_t>{1, 0, 1, 2}}, {"group", int64_t{2}},
        {"input_hw", std::vector<int64_t>{6, 5}}}},
      {&Conv2dGradWeight, {{f32({1, 4, 6, 5})}, {f32({1, 4, 3, 5})}},
       {{"stride", std::vector<int64_t>{2, 1}}, {"pad", std::vector<int64_t>{1, 0, 1, 2}}, {"group", int64_t{2}},
        {"kernel_hw", std::vector<int64_t>{3, 3}}}},
      {&MaxPool2dGrad, {{f32({1, 2, 5, 5})}, {f32({1, 2, 2, 2})}},
       {{"kernel", std::vector<int64_t>{3, 3}}, {"stride", std::vector<int64_t>{2, 2}}, {"ceil_mode", int64_t{1}}}},
      {&AvgPool2dGrad, {{f32({1, 2, 5, 5})}},
       {{"kernel", std::vector<int64_t>{2, 2}}, {"pad", std::vector<int64_t>{1, 1, 0, 0}},
        {"input_hw", std::vector<int64_t>{5, 5}}}},
      {&LrnGrad, {{f32({1, 6, 2, 2})}, {f32({1, 6, 2, 2})}}, {{"size", int64_t{5}}, {"bias", 2.0}}},
      {&SoftmaxCrossEntropyGrad, {{f32({4, 3})}, {i64({4}), 0.0, 3.0}, {f32({})}}, {}},
      {&SgdUpdate, {{f32({2, 5})}, {f32({2, 5})}, {f32({2, 5})}, {f32({}), 0.01, 0.1}},
       {{"momentum", 0.9}, {"weight_decay", 0.0005}}},
      {&AdamUpdate, {{f32({2, 5})}, {f32({2, 5})}, {f32({2, 5})}, {f32({2, 5}), 0.0, 1.0}, {f32({}), 0.001, 0.01},
                     {f32({}), 1.0, 3.0}},
       {{"weight_decay", 0.01}}},
      {&NllLossGrad, {{f32({4, 3, 2}), -3.0, 0.0}, {i64({4, 2}), 0.0, 3.0}, {f32({})}, {f32({3}), 0.5, 1.5}}, {}},
  };
  return c;
}

} // namespace

// A fused node computing relu(x0 + x1), as the fuse pass would make it.
OpSample fusedSample() {
  auto body = std::make_shared<Graph>("add_relu");
  Value* a = body->addInput("a", f32({2, 3}));
  Value* b = body->addInput("b", f32({3}));
  auto sum = body->addNode(ops::Add, {a, b});
  auto r = body->addNode(ops::Relu, {(*sum)->output()}, {}, {"r"});
  body->setOutputs({(*r)->output()});
  OpSample s;
  s.graph = std::make_unique<Graph>("fused");
  Value* x0 = s.graph->addInput("x0", f32({2, 3}));
  Value* x1 = s.graph->addInput("x1", f32({3}));
  auto n = s.graph->addNode(ops::Fused, {x0, x1},
                            {{"kind", std::string("add+relu")}, {"body", std::shared_ptr<const Graph>(body)}}, {"y"});
  if (!n) {
    ADD_FAILURE() << n.error().message();
    return {};
  }
  s.graph->setOutputs((*n)->outputs());
  s.inputs = {randomTensor(f32({2, 3}), 100), randomTensor(f32({3}), 101)};
  return s;
}

OpSample sampleFor(const OpDef& op) {
  if (&op == &ops::Fused)
    return fusedSample();
  for (Case& c : cases()) {
    if (c.op != &op)
      continue;
    OpSample s;
    s.graph = std::make_unique<Graph>(std::string(op.name));
    std::vector<Value*> in;
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      const InputSpec& spec = c.inputs[i];
      in.push_back(s.graph->addInput("x" + std::to_string(i), spec.type));
      Tensor t = randomTensor(spec.type, 100 + i, spec.lo, spec.hi);
      s.inputs.push_back(std::move(t));
    }
    auto n = s.graph->addNode(op, in, c.attrs, {"y"});
    if (!n) {
      ADD_FAILURE() << "sample for " << op.name << " is invalid: " << n.error().message();
      return {};
    }
    s.graph->setOutputs((*n)->outputs());
    return s;
  }
  return {};
}

} // namespace sinter::test

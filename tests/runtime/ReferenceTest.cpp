// Reference interpreter: hand-computed cases per kernel family, errors, and interpreter rules.
#include "ir/OpTable.h"
#include "runtime/reference/Interpreter.h"
#include "tests/support/Numerics.h"

#include <gtest/gtest.h>

#include <cmath>

namespace sinter {
namespace {

using test::makeTensor;

TensorType f32(Shape s) { return {DType::F32, std::move(s)}; }

// Runs one op on the given operands and returns its first result.
Tensor runOp(const OpDef& op, std::vector<Tensor> in, Attrs attrs = {}) {
  Graph g(std::string(op.name));
  std::vector<Value*> vals;
  for (size_t i = 0; i < in.size(); ++i)
    vals.push_back(g.addInput("x" + std::to_string(i), in[i].type()));
  auto n = g.addNode(op, vals, std::move(attrs), {"y"});
  EXPECT_TRUE(n) << n.error().message();
  if (!n)
    return {};
  g.setOutputs({(*n)->output()});
  auto out = runReference(g, in);
  EXPECT_TRUE(out) << out.error().message();
  return out ? (*out)[0] : Tensor();
}

TEST(Reference, Conv2dByHand) {
  Tensor x = makeTensor(f32({1, 1, 3, 3}), {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor w = makeTensor(f32({1, 1, 2, 2}), {1, 0, 0, -1});
  Tensor b = makeTensor(f32({1}), {0.5});
  EXPECT_ALL_CLOSE(runOp(ops::Conv2d, {x, w, b}), std::vector<double>{-3.5, -3.5, -3.5, -3.5});
  // Top/left padding of 1, stride 2: windows start at -1 and 1.
  EXPECT_ALL_CLOSE(runOp(ops::Conv2d, {x, w}, {{"stride", std::vector<int64_t>{2, 2}}, {"pad", std::vector<int64_t>{1, 1, 0, 0}}}),
                   std::vector<double>{-1, -3, -7, -4});
  // Two groups of one channel each: 1x1 kernels scale each channel separately.
  Tensor x2 = makeTensor(f32({1, 2, 1, 2}), {1, 2, 3, 4});
  Tensor w2 = makeTensor(f32({2, 1, 1, 1}), {2, 3});
  EXPECT_ALL_CLOSE(runOp(ops::Conv2d, {x2, w2}, {{"group", int64_t{2}}}), std::vector<double>{2, 4, 9, 12});
}

TEST(Reference, PoolingByHand) {
  std::vector<double> v(16);
  for (int i = 0; i < 16; ++i)
    v[i] = i;
  Tensor x = makeTensor(f32({1, 1, 4, 4}), v);
  Attrs k2s2{{"kernel", std::vector<int64_t>{2, 2}}, {"stride", std::vector<int64_t>{2, 2}}};
  EXPECT_ALL_CLOSE(runOp(ops::MaxPool2d, {x}, k2s2), std::vector<double>{5, 7, 13, 15});
  Attrs padded = k2s2;
  padded.set("pad", std::vector<int64_t>{1, 1, 1, 1});
  EXPECT_ALL_CLOSE(runOp(ops::MaxPool2d, {x}, padded), std::vector<double>{0, 2, 3, 8, 10, 11, 12, 14, 15});
  EXPECT_ALL_CLOSE(runOp(ops::AvgPool2d, {x}, padded),
                   std::vector<double>{0, 1.5, 3, 6, 7.5, 9, 12, 13.5, 15});
  padded.set("count_include_pad", int64_t{1});
  EXPECT_ALL_CLOSE(runOp(ops::AvgPool2d, {x}, padded),
                   std::vector<double>{0, 0.75, 0.75, 3, 7.5, 4.5, 3, 6.75, 3.75});
  EXPECT_ALL_CLOSE(runOp(ops::GlobalAvgPool, {x}), std::vector<double>{7.5});
}

TEST(Reference, LrnByHand) {
  Tensor x = makeTensor(f32({1, 3, 1, 1}), {1, 2, 3});
  // alpha / size = 1, beta = 1: y = x / (bias + sum of squares in the window).
  EXPECT_ALL_CLOSE(runOp(ops::Lrn, {x}, {{"size", int64_t{3}}, {"alpha", 3.0}, {"beta", 1.0}, {"bias", 1.0}}),
                   std::vector<double>{1.0 / 6, 2.0 / 15, 3.0 / 14});
  // Even size: the window reaches floor((size-1)/2) = 0 back and ceil((size-1)/2) = 1 forward (ONNX).
  EXPECT_ALL_CLOSE(runOp(ops::Lrn, {x}, {{"size", int64_t{2}}, {"alpha", 2.0}, {"beta", 1.0}, {"bias", 0.0}}),
                   std::vector<double>{1.0 / 5, 2.0 / 13, 3.0 / 9});
}

TEST(Reference, SoftmaxAndCrossEntropyByHand) {
  Tensor x = makeTensor(f32({1, 3}), {0, std::log(2.0), std::log(3.0)});
  EXPECT_ALL_CLOSE(runOp(ops::Softmax, {x}), std::vector<double>{1.0 / 6, 2.0 / 6, 3.0 / 6});
  EXPECT_ALL_CLOSE(runOp(ops::LogSoftmax, {x}),
                   std::vector<double>{std::log(1.0 / 6), std::log(2.0 / 6), std::log(3.0 / 6)});
  Tensor labels = makeTensor({DType::I64, {1}}, {2});
  EXPECT_ALL_CLOSE(runOp(ops::SoftmaxCrossEntropy, {x, labels}), std::vector<double>{std::log(2.0)});
}

TEST(Reference, GemmByHand) {
  Tensor a = makeTensor(f32({2, 2}), {1, 2, 3, 4});
  Tensor b = makeTensor(f32({2, 2}), {5, 6, 7, 8});
  Tensor c = makeTensor(f32({2}), {1, -1});
  EXPECT_ALL_CLOSE(runOp(ops::Gemm, {a, b, c}, {{"beta", 2.0}}), std::vector<double>{21, 20, 45, 48});
  EXPECT_ALL_CLOSE(runOp(ops::Gemm, {a, b}, {{"trans_a", int64_t{1}}}), std::vector<double>{26, 30, 38, 44});
}

TEST(Reference, DropoutTrainingIsSeededAndRescaled) {
  Tensor ones = makeTensor(f32({10000}), std::vector<double>(10000, 1.0));
  Attrs train{{"ratio", 0.3}, {"training", int64_t{1}}, {"seed", int64_t{9}}};
  Tensor y = runOp(ops::Dropout, {ones}, train);
  int kept = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    double v = y.get(i);
    ASSERT_TRUE(v == 0.0 || std::fabs(v - 1.0 / 0.7) < 1e-6) << v;
    kept += v != 0.0;
  }
  EXPECT_NEAR(kept / 10000.0, 0.7, 0.02);
  EXPECT_TRUE(runOp(ops::Dropout, {ones}, train).identical(y));
  train.set("seed", int64_t{10});
  EXPECT_FALSE(runOp(ops::Dropout, {ones}, train).identical(y));
  EXPECT_TRUE(runOp(ops::Dropout, {ones}, {{"ratio", 0.3}}).identical(ones));
}

TEST(Reference, StoresEachResultInItsDType) {
  // 1 + 1e-9 is exact in float64 but rounds to 1 in f32: the f32 result must read back as 1.
  Tensor a = makeTensor(f32({1}), {1.0});
  Tensor b = makeTensor(f32({1}), {1e-9});
  Tensor s = runOp(ops::Add, {a, b});
  EXPECT_EQ(s.get(0), 1.0);
  Tensor i = runOp(ops::Div, {makeTensor({DType::I64, {2}}, {7, -7}), makeTensor({DType::I64, {1}}, {2})});
  EXPECT_EQ(i.get(0), 3.0);
  EXPECT_EQ(i.get(1), -3.0); // truncation, as ONNX integer Div
}

TEST(Reference, EvaluateNodeMatchesRunReference) {
  Graph g;
  Value* x = g.addInput("x", f32({2, 3}));
  auto n = g.addNode(ops::Softmax, {x}, {}, {"y"});
  ASSERT_TRUE(n);
  g.setOutputs({(*n)->output()});
  Tensor in = test::randomTensor(f32({2, 3}), 3);
  auto whole = runReference(g, {in});
  auto one = evaluateNode(**n, {in});
  ASSERT_TRUE(whole && one);
  EXPECT_TRUE((*whole)[0].identical((*one)[0]));
}

TEST(Reference, Errors) {
  Graph g;
  Value* x = g.addInput("x", f32({1, 3}));
  Value* w = g.addParam("w", f32({3}));
  auto n = g.addNode(ops::Add, {x, w}, {}, {"y"});
  ASSERT_TRUE(n);
  g.setOutputs({(*n)->output()});
  Tensor in = test::randomTensor(f32({1, 3}), 1);
  EXPECT_EQ(runReference(g, {in}).error().message(), "parameter %w has no data");
  EXPECT_EQ(runReference(g, {}).error().message(), "graph @main takes 1 inputs, got 0");
  EXPECT_EQ(runReference(g, {test::randomTensor(f32({3}), 1)}).error().message(),
            "input %x expects f32[1,3], got f32[3]");

  Graph l;
  Value* s = l.addInput("s", f32({2, 3}));
  Value* lab = l.addInput("labels", {DType::I64, {2}});
  auto sce = l.addNode(ops::SoftmaxCrossEntropy, {s, lab}, {}, {"loss"});
  ASSERT_TRUE(sce);
  l.setOutputs({(*sce)->output()});
  auto r = runReference(l, {test::randomTensor(f32({2, 3}), 1), makeTensor({DType::I64, {2}}, {1, 3})});
  EXPECT_EQ(r.error().message(), "node %loss (softmax_cross_entropy): label 3 of item 1 is out of range [0, 3)");
}

} // namespace
} // namespace sinter

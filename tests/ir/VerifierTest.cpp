// Verifier: a wrong graph gets an error naming the node and the rule it breaks.
#include "ir/OpTable.h"
#include "ir/Verifier.h"

#include <gtest/gtest.h>

namespace sinter {
namespace {

TEST(Verifier, AcceptsAWellFormedGraph) {
  Graph g;
  Value* x = g.addInput("x", {DType::F32, {2, 3}});
  auto r = g.addNode(ops::Relu, {x}, {}, {"r"});
  ASSERT_TRUE(r);
  g.setOutputs({(*r)->output()});
  EXPECT_FALSE(verifyGraph(g));
}

TEST(Verifier, WrongResultType) {
  Graph g;
  Value* x = g.addInput("x", {DType::F32, {2, 3}});
  Node* n = g.addNodeUnchecked(ops::Relu, {x}, {}, {{"r", {DType::F32, {3}}}});
  g.setOutputs({n->output()});
  EXPECT_EQ(verifyGraph(g).message(), "node %r (relu): result 0 is f32[3] but the shape rule gives f32[2,3]");
}

TEST(Verifier, ShapeRuleViolation) {
  Graph g;
  Value* a = g.addInput("a", {DType::F32, {3, 4}});
  Value* b = g.addInput("b", {DType::F32, {5, 6}});
  Attrs attrs{{"trans_a", int64_t{0}}, {"trans_b", int64_t{0}}, {"alpha", 1.0}, {"beta", 1.0}};
  Node* n = g.addNodeUnchecked(ops::Gemm, {a, b}, attrs, {{"", {DType::F32, {3, 6}}}});
  g.setOutputs({n->output()});
  EXPECT_EQ(verifyGraph(g).message(),
            "node %0 (gemm): inner dims differ: a [3,4] has K=4, b [5,6] has K=5");
}

TEST(Verifier, UseBeforeDefinition) {
  Graph g;
  Value* x = g.addInput("x", {DType::F32, {2}});
  auto a = g.addNode(ops::Relu, {x}, {}, {"a"});
  auto b = g.addNode(ops::Neg, {(*a)->output()}, {}, {"b"});
  ASSERT_TRUE(a && b);
  (*a)->setInput(0, (*b)->output());
  g.setOutputs({(*b)->output()});
  EXPECT_EQ(verifyGraph(g).message(), "node %a (relu): operand 0 (%b) is used before it is defined");
}

TEST(Verifier, BadAttributes) {
  Graph g;
  Value* x = g.addInput("x", {DType::F32, {1, 2, 3, 3}});
  Node* n = g.addNodeUnchecked(ops::Lrn, {x}, {{"size", 2.0}}, {{"y", {DType::F32, {1, 2, 3, 3}}}});
  g.setOutputs({n->output()});
  EXPECT_EQ(verifyGraph(g).message(), "node %y (lrn): attribute 'size' must be int, got float");
}

TEST(Verifier, ParameterDataOfTheWrongType) {
  Graph g;
  Value* w = g.addParam("w", {DType::F32, {2}});
  g.weights().set("w", Tensor({DType::F32, {3}}));
  g.setOutputs({w});
  EXPECT_EQ(verifyGraph(g).message(), "parameter %w is f32[2] but its data is f32[3]");
}

TEST(Verifier, NoOutputs) {
  Graph g("empty");
  g.addInput("x", {DType::F32, {2}});
  EXPECT_EQ(verifyGraph(g).message(), "graph @empty has no outputs");
}

TEST(Graph, AddNodeRejectsBadOperandsWithTheRule) {
  Graph g;
  Value* x = g.addInput("x", {DType::F32, {1, 3, 8, 8}});
  Value* w = g.addInput("w", {DType::F32, {4, 3, 3, 3}});
  auto n = g.addNode(ops::Conv2d, {x, w}, {{"stride", std::vector<int64_t>{0, 1}}});
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().message(), "conv2d: height: kernel 3, stride 0 and dilation 1 must be positive");
  auto p = g.addNode(ops::MaxPool2d, {x}, {{"kernel", std::vector<int64_t>{9, 9}}});
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message(),
            "max_pool2d: height: window 9 (kernel 9, dilation 1) is larger than the padded input 8");
}

TEST(Graph, ReplaceAndEraseKeepUseListsRight) {
  Graph g;
  Value* x = g.addInput("x", {DType::F32, {2}});
  auto a = g.addNode(ops::Relu, {x}, {}, {"a"});
  auto b = g.addNode(ops::Neg, {(*a)->output()}, {}, {"b"});
  g.setOutputs({(*b)->output()});
  g.replaceAllUses((*a)->output(), x);
  EXPECT_FALSE((*a)->output()->hasUses());
  g.eraseNode(*a);
  EXPECT_EQ(g.numNodes(), 1u);
  EXPECT_EQ(x->uses().size(), 1u);
  EXPECT_FALSE(verifyGraph(g));
  auto c = g.clone();
  EXPECT_FALSE(verifyGraph(*c));
  EXPECT_EQ(c->numNodes(), 1u);
}

} // namespace
} // namespace sinter

// Built-in AlexNets: structure, parameter counts, the paper's initialisation, bad options.
#include "ir/OpTable.h"
#include "ir/Verifier.h"
#include "models/AlexNet.h"

#include <gtest/gtest.h>

#include <cmath>

namespace sinter {
namespace {

std::unique_ptr<Graph> build(std::string_view name, AlexNetOptions o = {}) {
  auto g = buildBuiltinModel(name, o);
  EXPECT_TRUE(g) << g.error().message();
  return g ? std::move(*g) : nullptr;
}

int countOps(const Graph& g, const OpDef& op) {
  int n = 0;
  for (const auto& node : g.nodes())
    n += node->is(op);
  return n;
}

TEST(AlexNet, PaperStructureAndParameterCount) {
  AlexNetOptions o;
  o.weights = false;
  auto g = build("alexnet", o);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->parameterCount(), 60965224);
  EXPECT_EQ(g->inputs()[0]->type().str(), "f32[1,3,227,227]");
  EXPECT_EQ(g->outputs()[0]->type().str(), "f32[1,1000]");
  EXPECT_EQ(countOps(*g, ops::Conv2d), 5);
  EXPECT_EQ(countOps(*g, ops::Lrn), 2);
  EXPECT_EQ(countOps(*g, ops::MaxPool2d), 3);
  EXPECT_EQ(countOps(*g, ops::Gemm), 3);
  EXPECT_EQ(countOps(*g, ops::Dropout), 2);
  EXPECT_EQ(countOps(*g, ops::Softmax), 1);
  EXPECT_EQ(g->findValue("conv2")->producer()->attrs().getInt("group"), 2);
  EXPECT_EQ(g->findValue("conv3")->producer()->attrs().getInt("group"), 1);
  EXPECT_EQ(g->findValue("norm1")->producer()->attrs().getFloat("bias"), 2.0);
  EXPECT_EQ(g->findValue("pool5")->type().str(), "f32[1,256,6,6]");
  EXPECT_EQ(g->weights().size(), 0u);
}

TEST(AlexNet, TorchvisionAndNarrowVariants) {
  AlexNetOptions o;
  o.weights = false;
  auto tv = build("alexnet-torchvision", o);
  ASSERT_TRUE(tv);
  EXPECT_EQ(tv->parameterCount(), 61100840); // torchvision.models.alexnet()
  EXPECT_EQ(countOps(*tv, ops::Lrn), 0);
  EXPECT_EQ(tv->outputs()[0]->type().str(), "f32[1,1000]");
  auto narrow = build("alexnet-narrow", o);
  ASSERT_TRUE(narrow);
  EXPECT_EQ(narrow->inputs()[0]->type().str(), "f32[1,3,67,67]");
  EXPECT_EQ(narrow->outputs()[0]->type().str(), "f32[1,10]");
  o.batch = 4;
  o.channels = 1;
  o.classes = 7;
  o.inputSize = 131;
  auto custom = build("alexnet-narrow", o);
  ASSERT_TRUE(custom);
  EXPECT_EQ(custom->inputs()[0]->type().str(), "f32[4,1,131,131]");
  EXPECT_EQ(custom->outputs()[0]->type().str(), "f32[4,7]");
  EXPECT_FALSE(verifyGraph(*custom));
}

TEST(AlexNet, PaperInitialisation) {
  auto g = build("alexnet");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->weights().size(), 16u);
  for (const Value* p : g->params()) {
    const Tensor& t = *g->weights().find(p->name());
    auto v = t.as<float>();
    bool isBias = p->name().ends_with(".b");
    if (isBias) {
      bool one = p->name() == "conv2.b" || p->name() == "conv4.b" || p->name() == "conv5.b" ||
                 p->name() == "fc6.b" || p->name() == "fc7.b";
      for (float x : v)
        ASSERT_EQ(x, one ? 1.0f : 0.0f) << p->name();
      continue;
    }
    double sum = 0, sq = 0;
    for (float x : v) {
      sum += x;
      sq += double(x) * x;
    }
    double n = static_cast<double>(v.size());
    EXPECT_NEAR(sum / n, 0.0, 5e-4) << p->name();
    EXPECT_NEAR(std::sqrt(sq / n), 0.01, 3e-4) << p->name();
  }
  // Same seed, same weights; another seed, other weights.
  auto again = build("alexnet-narrow");
  auto same = build("alexnet-narrow");
  AlexNetOptions other;
  other.seed = 1;
  auto different = build("alexnet-narrow", other);
  EXPECT_TRUE(again->weights().find("fc6.w")->identical(*same->weights().find("fc6.w")));
  EXPECT_FALSE(again->weights().find("fc6.w")->identical(*different->weights().find("fc6.w")));
}

TEST(AlexNet, ImpossibleOptionsAreReported) {
  AlexNetOptions o;
  o.inputSize = 40;
  o.weights = false;
  auto g = buildBuiltinModel("alexnet-narrow", o);
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().message(),
            "alexnet-narrow at input 40x40: %pool5: max_pool2d: height: window 3 (kernel 3, dilation 1) is "
            "larger than the padded input 1");
  o.inputSize = 200;
  auto tv = buildBuiltinModel("alexnet-torchvision", o);
  ASSERT_FALSE(tv);
  EXPECT_EQ(tv.error().message(), "alexnet-torchvision: input 200x200 gives a 5x5 feature map; adaptive pooling "
                                  "to 6x6 needs a multiple of 6 (use input size 224)");
  EXPECT_EQ(buildBuiltinModel("vgg16", o).error().message(),
            "unknown built-in model 'vgg16' (built-ins: alexnet, alexnet-torchvision, alexnet-narrow)");
}

} // namespace
} // namespace sinter

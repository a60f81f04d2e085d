// The default pipeline on whole networks: kernel counts, numbers before and after, memory plans.
#include "frontend/onnx/OnnxImport.h"
#include "ir/OpTable.h"
#include "ir/Printer.h"
#include "models/AlexNet.h"
#include "passes/MemoryPlan.h"
#include "passes/PassManager.h"
#include "runtime/reference/Interpreter.h"
#include "tests/support/Numerics.h"

#include <gtest/gtest.h>

namespace sinter {
namespace {

int kernels(const Graph& g) {
  int k = 0;
  for (const auto& n : g.nodes())
    k += !(n->op().isAlias() || n->is(ops::Constant));
  return k;
}

Expected<std::vector<PassTiming>> optimize(Graph& g, PipelineOptions o = {}, bool train = false) {
  PassContext ctx;
  ctx.evaluate = evaluateNode;
  o.verifyEach = true;
  return runPipeline(g, defaultPipeline(train), ctx, o);
}

std::vector<std::string> fusedKinds(const Graph& g) {
  std::vector<std::string> kinds;
  for (const auto& n : g.nodes())
    if (!(n->op().isAlias() || n->is(ops::Constant)))
      kinds.push_back(n->is(ops::Fused) ? n->attrs().getString("kind") : std::string(n->op().name));
  return kinds;
}

TEST(Pipeline, PaperAlexNetBecomesTwelveKernelsWithTheSameNumbers) {
  AlexNetOptions o;
  o.variant = AlexNetVariant::Narrow; // same structure as the paper network, fast on the reference
  o.batch = 2;
  auto g = buildAlexNet(o);
  ASSERT_TRUE(g);
  Tensor x = test::randomTensor((*g)->inputs()[0]->type(), 3);
  auto before = runReference(**g, {x});
  ASSERT_TRUE(before);
  auto r = optimize(**g);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(fusedKinds(**g), (std::vector<std::string>{"conv2d+relu", "lrn+max_pool2d", "conv2d+relu", "lrn+max_pool2d",
                                                       "conv2d+relu", "conv2d+relu", "conv2d+relu", "max_pool2d",
                                                       "gemm+relu", "gemm+relu", "gemm", "softmax"}));
  EXPECT_EQ(printGraph(**g).find("dropout"), std::string::npos);
  auto after = runReference(**g, {x});
  ASSERT_TRUE(after);
  EXPECT_ALL_CLOSE((*after)[0], (*before)[0], {1e-7, 1e-5});
}

TEST(Pipeline, MemoryPlanOfPaperAlexNetAtBatch128IsNearTheLowerBound) {
  AlexNetOptions o;
  o.batch = 128;
  o.weights = false;
  auto g = buildAlexNet(o);
  ASSERT_TRUE(g);
  auto r = optimize(**g);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(kernels(**g), 12);
  MemoryStats m = memoryStats(**g);
  ASSERT_GT(m.lowerBound, 0);
  EXPECT_LE(static_cast<double>(m.arenaBytes), 1.10 * static_cast<double>(m.lowerBound))
      << "arena " << m.arenaBytes << " lower bound " << m.lowerBound;
  EXPECT_GE(m.arenaBytes, m.lowerBound);
  EXPECT_LT(m.arenaBytes, m.naiveBytes);
}

// No two buffers live at the same node overlap, unless one overwrites the other in place.
TEST(Pipeline, PlannedBuffersNeverOverlapWhileLive) {
  for (const char* name : {"alexnet", "alexnet-torchvision", "alexnet-narrow"}) {
    AlexNetOptions o;
    o.weights = false;
    o.batch = 4;
    auto g = buildBuiltinModel(name, o);
    ASSERT_TRUE(g);
    ASSERT_TRUE(optimize(**g));
    std::vector<Buffer> bufs = analyzeBuffers(**g);
    for (const Buffer& a : bufs)
      for (const Buffer& b : bufs) {
        if (&a == &b || a.reuses == &b || b.reuses == &a)
          continue;
        bool timeOverlap = a.first <= b.last && b.first <= a.last;
        int64_t ao = a.value->offset(), bo = b.value->offset();
        bool spaceOverlap = ao < bo + b.bytes && bo < ao + a.bytes;
        EXPECT_FALSE(timeOverlap && spaceOverlap) << name << ": " << (*g)->displayName(a.value) << " and "
                                                  << (*g)->displayName(b.value);
      }
  }
}

// Optimizer steps write the new parameter and state straight into the parameters (no arena
// space, no copy after the step), unless a later node still reads the parameter.
TEST(Pipeline, OptimizerUpdatesWriteParametersInPlace) {
  AlexNetOptions o;
  o.variant = AlexNetVariant::Narrow;
  o.weights = false;
  auto g = buildAlexNet(o);
  ASSERT_TRUE(g);
  auto r = optimize(**g, {}, /*train=*/true);
  ASSERT_TRUE(r) << r.error().message();
  const auto inPlace = (*g)->inPlaceUpdates();
  ASSERT_EQ((*g)->updates().size(), 32u); // 16 parameters and their velocities
  EXPECT_EQ(inPlace.size(), 32u);
  for (const auto& [param, value] : (*g)->updates()) {
    EXPECT_EQ(inPlace.count(value) ? inPlace.at(value) : nullptr, param) << (*g)->displayName(value);
    EXPECT_LT(value->offset(), 0) << (*g)->displayName(value) << " should take no arena space";
  }
  EXPECT_NE(printGraph(**g).find("update %conv1.w = %conv1.w.next  // in place"), std::string::npos);

  // A node after the step that reads the old weights keeps w's update a copy (v's stays in place).
  Graph h("late");
  Value* w = h.addParam("w", TensorType{DType::F32, {3, 4}});
  Value* v = h.addParam("v", TensorType{DType::F32, {3, 4}});
  Value* grad = h.addInput("g", TensorType{DType::F32, {3, 4}});
  Value* lr = h.addInput("lr", TensorType{DType::F32, {}});
  auto step = h.addNode(ops::SgdUpdate, {w, grad, v, lr}, {}, {"w.next", "v.next"});
  ASSERT_TRUE(step) << step.error().message();
  h.addUpdate(w, (*step)->output(0));
  h.addUpdate(v, (*step)->output(1));
  auto late = h.addNode(ops::Relu, {w}, {}, {"late"});
  ASSERT_TRUE(late);
  h.setOutputs({(*late)->output()});
  auto hp = h.inPlaceUpdates();
  EXPECT_EQ(hp.size(), 1u);
  EXPECT_EQ(hp.count((*step)->output(0)), 0u);
  EXPECT_EQ(hp.count((*step)->output(1)), 1u);
}

// In a training step the ReLU gradients after a convolution's input gradient or an LRN gradient
// run in their epilogues (AlexNet: relu3 and relu4 after conv4's and conv5's input gradients,
// relu1 and relu2 after the LRN gradients; relu5 follows the max-pool gradient and stays apart).
TEST(Pipeline, ReluGradientsJoinTheGradientBeforeThem) {
  AlexNetOptions o;
  o.variant = AlexNetVariant::Narrow;
  o.weights = false;
  auto g = buildAlexNet(o);
  ASSERT_TRUE(g);
  auto r = optimize(**g, {}, /*train=*/true);
  ASSERT_TRUE(r) << r.error().message();
  std::vector<std::string> kinds = fusedKinds(**g);
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "conv2d_grad_input+relu_grad"), 2) << fmt::format("{}", fmt::join(kinds, " "));
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "lrn_grad+relu_grad"), 2) << fmt::format("{}", fmt::join(kinds, " "));
}

TEST(Pipeline, FlagsStopPrintAndRejectUnknownPasses) {
  AlexNetOptions o;
  o.variant = AlexNetVariant::Narrow;
  o.weights = false;
  auto g = buildAlexNet(o);
  ASSERT_TRUE(g);
  PipelineOptions opts;
  std::string out;
  opts.out = [&](const std::string& s) { out += s; };
  opts.printChanged = true;
  opts.stopAfter = "remove-dropout";
  auto r = optimize(**g, opts);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->back().name, "remove-dropout");
  EXPECT_NE(out.find("// ----- IR after remove-dropout -----"), std::string::npos);
  EXPECT_EQ(out.find("IR after verify"), std::string::npos); // verify changes nothing
  EXPECT_EQ(out.find("fused("), std::string::npos);          // stopped before fuse
  PipelineOptions bad;
  bad.stopAfter = "fuse-everything";
  EXPECT_EQ(checkPipeline(defaultPipeline(false), bad).message(),
            "--stop-after: unknown pass 'fuse-everything' (passes: verify, infer-shapes, fold-constants, "
            "canonicalize, dce, cse, remove-dropout, fold-batch-norm, fold-params, winograd, fuse, plan-memory, add-loss, autodiff, optimizer)");
  bad.stopAfter = "remove-dropout";
  EXPECT_EQ(checkPipeline(defaultPipeline(true), bad).message(),
            "--stop-after: pass 'remove-dropout' is not in the pipeline (verify,infer-shapes,fold-constants,"
            "canonicalize,dce,cse,add-loss,autodiff,optimizer,cse,fuse,dce,plan-memory)");
}

} // namespace
} // namespace sinter

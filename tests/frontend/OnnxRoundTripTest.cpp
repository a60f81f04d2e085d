// ONNX export then import, for every op of the table at the oldest, default and newest opset:
// the re-imported graph verifies and computes what the original computes.
#include "frontend/onnx/OnnxExport.h"
#include "frontend/onnx/OnnxImport.h"
#include "ir/OpTable.h"
#include "models/AlexNet.h"
#include "passes/PassManager.h"
#include "runtime/reference/Interpreter.h"
#include "tests/support/Numerics.h"
#include "tests/support/OpSamples.h"

#include <gtest/gtest.h>

namespace sinter {

namespace {

Expected<std::unique_ptr<Graph>> roundTrip(const Graph& g, int64_t opset) {
  OnnxExportOptions eo;
  eo.opset = opset;
  auto bytes = exportOnnx(g, eo);
  if (!bytes)
    return bytes.error();
  OnnxImportOptions io;
  io.fold = evaluateNode;
  return importOnnxBytes(*bytes, io, ".");
}

class EveryOpOnnx : public testing::TestWithParam<const OpDef*> {};

TEST_P(EveryOpOnnx, ExportsAndImportsToTheSameNumbers) {
  const OpDef& op = *GetParam();
  test::OpSample s = test::sampleFor(op);
  ASSERT_TRUE(s.graph);
  auto want = runReference(*s.graph, s.inputs);
  ASSERT_TRUE(want) << want.error().message();
  if (op.onnx[0].empty() && &op != &ops::Fused) {
    // Ops with no ONNX counterpart (the gradient ops autodiff emits, expand): export refuses
    // them by name; training checkpoints export the forward graph only.
    auto g = roundTrip(*s.graph, 13);
    ASSERT_FALSE(g) << op.name << " exported although it has no ONNX form";
    EXPECT_NE(g.error().message().find(fmt::format("({}): no ONNX export rule", op.name)), std::string::npos)
        << g.error().message();
    return;
  }
  for (int64_t opset : {kMinExportOpset, int64_t{13}, kMaxExportOpset}) {
    auto g = roundTrip(*s.graph, opset);
    if (!g && opset < 12 && (op.name == "softmax_cross_entropy" || op.name == "nll_loss" || op.name == "dropout")) {
      EXPECT_NE(g.error().message().find("needs opset 12"), std::string::npos) << g.error().message();
      continue;
    }
    ASSERT_TRUE(g) << op.name << " at opset " << opset << ": " << g.error().message();
    auto got = runReference(**g, s.inputs);
    ASSERT_TRUE(got) << got.error().message();
    ASSERT_EQ(got->size(), want->size());
    for (size_t i = 0; i < got->size(); ++i)
      EXPECT_ALL_CLOSE((*got)[i], (*want)[i], {1e-7, 1e-6}) << op.name << " at opset " << opset;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, EveryOpOnnx, testing::ValuesIn(allOps().begin(), allOps().end()),
                         [](const testing::TestParamInfo<const OpDef*>& p) { return std::string(p.param->name); });

TEST(OnnxExport, BuiltinAlexNetRoundTrips) {
  AlexNetOptions o;
  o.batch = 2;
  auto g = buildBuiltinModel("alexnet-narrow", o);
  ASSERT_TRUE(g);
  Tensor x = test::randomTensor((*g)->inputs()[0]->type(), 4);
  auto want = runReference(**g, {x});
  auto back = roundTrip(**g, 13);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ((*back)->parameterCount(), (*g)->parameterCount());
  auto got = runReference(**back, {x});
  ASSERT_TRUE(want && got);
  EXPECT_ALL_CLOSE((*got)[0], (*want)[0], {0, 0});
}

TEST(OnnxExport, FusedNodesExportAsTheirOriginalOps) {
  AlexNetOptions o;
  o.batch = 2;
  auto g = buildBuiltinModel("alexnet-narrow", o);
  ASSERT_TRUE(g);
  Tensor x = test::randomTensor((*g)->inputs()[0]->type(), 5);
  auto want = runReference(**g, {x});
  PassContext ctx;
  ctx.evaluate = evaluateNode;
  ASSERT_TRUE(runPipeline(**g, defaultPipeline(false), ctx, {}));
  auto back = roundTrip(**g, 13);
  ASSERT_TRUE(back) << back.error().message();
  for (const auto& n : (*back)->nodes())
    EXPECT_FALSE(n->is(ops::Fused));
  auto got = runReference(**back, {x});
  ASSERT_TRUE(want && got);
  EXPECT_ALL_CLOSE((*got)[0], (*want)[0], {0, 0});
}

TEST(OnnxExport, Errors) {
  AlexNetOptions o;
  o.weights = false;
  auto g = buildBuiltinModel("alexnet-narrow", o);
  ASSERT_TRUE(g);
  EXPECT_EQ(exportOnnx(**g, {}).error().message(),
            "parameter %conv1.w has no data; export needs the weights (load them with --weights)");
  OnnxExportOptions old;
  old.opset = 9;
  EXPECT_EQ(exportOnnx(**g, old).error().message(), "opset 9 is outside 11..17");
}

} // namespace
} // namespace sinter

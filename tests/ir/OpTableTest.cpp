// Table-wide checks: no op escapes schema, lowering, shape, print/parse and reference checks.
#include "ir/OpTable.h"
#include "ir/Printer.h"
#include "ir/ScalarExpr.h"
#include "ir/Verifier.h"
#include "passes/PassManager.h"
#include "runtime/cpu/CpuBackend.h"
#include "runtime/reference/Interpreter.h"
#include "tests/support/Numerics.h"
#include "runtime/reference/RefKernels.h"
#include "tests/support/OpSamples.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace sinter {

namespace {

class EveryOp : public testing::TestWithParam<const OpDef*> {};

TEST_P(EveryOp, SchemaIsWellFormed) {
  const OpDef& op = *GetParam();
  for (char c : op.name)
    EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') << op.name << " is not lower_snake";
  EXPECT_NE(op.shape, nullptr);
  EXPECT_FALSE(op.summary.empty()) << op.name << " needs a one-line summary";
  EXPECT_GE(op.numOutputs(), 1u);
  std::set<std::string_view> names;
  for (const AttrDef& a : op.attrSchema()) {
    EXPECT_TRUE(names.insert(a.name).second) << op.name << ": attribute " << a.name << " listed twice";
    if (!a.required()) {
      EXPECT_EQ(kindOf(a.def.materialize()), a.kind) << op.name << "." << a.name << " default kind";
    }
  }
  EXPECT_LE(op.requiredInputs(), op.numListedInputs());
}

TEST_P(EveryOp, LoweringIsImplementedByTheReference) {
  const OpDef& op = *GetParam();
  if (const Scalar* s = op.scalar()) {
    auto e = parseScalarExpr(s->expr);
    ASSERT_TRUE(e) << op.name << ": " << e.error().message();
    EXPECT_EQ(static_cast<size_t>(e->arity()), op.numListedInputs()) << op.name << " uses every operand";
  } else if (const Kernel* k = op.kernel()) {
    EXPECT_NE(ref::findRefKernel(k->name), nullptr) << op.name << ": no reference kernel '" << k->name << "'";
  } else {
    EXPECT_TRUE(op.isAlias());
    EXPECT_EQ(op.numOutputs(), 1u);
  }
}

TEST_P(EveryOp, SampleVerifiesPrintsParsesAndRuns) {
  const OpDef& op = *GetParam();
  test::OpSample s = test::sampleFor(op);
  ASSERT_TRUE(s.graph) << "no sample for " << op.name << " in tests/support/OpSamples.cpp";
  ASSERT_FALSE(verifyGraph(*s.graph)) << verifyGraph(*s.graph).message();

  std::string text = printGraph(*s.graph);
  auto parsed = parseGraph(text);
  ASSERT_TRUE(parsed) << parsed.error().message() << "\n" << text;
  EXPECT_EQ(printGraph(**parsed), text);
  EXPECT_FALSE(verifyGraph(**parsed));

  auto out = runReference(*s.graph, s.inputs);
  ASSERT_TRUE(out) << out.error().message();
  ASSERT_EQ(out->size(), op.numOutputs());
  for (const Tensor& t : *out)
    for (int64_t i = 0; i < t.numel(); ++i)
      ASSERT_TRUE(std::isfinite(t.get(i))) << op.name << " result " << i << " is not finite";
  // The parsed graph computes exactly the same.
  auto again = runReference(**parsed, s.inputs);
  ASSERT_TRUE(again);
  for (size_t i = 0; i < out->size(); ++i)
    EXPECT_TRUE((*out)[i].identical((*again)[i]));
}

// Every op on the CPU backend against the reference (f32 atol 1e-5, rtol 1e-4).
TEST_P(EveryOp, CpuMatchesReference) {
  const OpDef& op = *GetParam();
  test::OpSample s = test::sampleFor(op);
  ASSERT_TRUE(s.graph);
  auto want = runReference(*s.graph, s.inputs);
  ASSERT_TRUE(want) << want.error().message();
  std::shared_ptr<Graph> g = s.graph->clone();
  ASSERT_TRUE(runPipeline(*g, {"plan-memory"}, {}, {}));
  CpuOptions o;
  o.threads = 2;
  auto exe = CpuExecutable::compile(g, o);
  ASSERT_TRUE(exe) << exe.error().message();
  auto got = (*exe)->run(s.inputs);
  ASSERT_TRUE(got) << got.error().message();
  ASSERT_EQ(got->size(), want->size());
  for (size_t i = 0; i < got->size(); ++i)
    EXPECT_ALL_CLOSE((*got)[i], (*want)[i], {1e-5, 1e-4}) << op.name;
}

TEST_P(EveryOp, ShapeRuleRejectsWrongArity) {
  const OpDef& op = *GetParam();
  if (op.requiredInputs() == 0)
    return;
  Attrs attrs;
  test::OpSample s = test::sampleFor(op);
  ASSERT_TRUE(s.graph);
  const Node& n = *s.graph->nodes().front();
  std::vector<TensorType> tooFew;
  for (size_t i = 0; i + 1 < op.requiredInputs(); ++i)
    tooFew.push_back(n.input(i)->type());
  auto r = inferResultTypes(op, tooFew, n.attrs());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("expects"), std::string::npos) << r.error().message();
}

INSTANTIATE_TEST_SUITE_P(Table, EveryOp, testing::ValuesIn(allOps().begin(), allOps().end()),
                         [](const testing::TestParamInfo<const OpDef*>& p) { return std::string(p.param->name); });

TEST(OpTable, NamesAndOnnxNamesAreUnique) {
  std::set<std::string_view> names, onnx;
  for (const OpDef* op : allOps()) {
    EXPECT_TRUE(names.insert(op->name).second) << op->name;
    for (std::string_view n : op->onnx) {
      if (!n.empty()) {
        EXPECT_TRUE(onnx.insert(n).second) << n;
      }
    }
  }
  EXPECT_EQ(findOp("conv2d"), &ops::Conv2d);
  EXPECT_EQ(findOnnxOp("LRN"), &ops::Lrn);
  EXPECT_EQ(findOp("conv3d"), nullptr);
}

TEST(OpTable, EveryReferenceKernelBelongsToAnOp) {
  for (const ref::RefKernel& k : ref::allRefKernels()) {
    bool used = false;
    for (const OpDef* op : allOps())
      used = used || (op->kernel() && op->kernel()->name == k.name);
    EXPECT_TRUE(used) << "reference kernel " << k.name << " is not named by any op";
  }
}

TEST(OpTable, CoversWhatAlexNetAndItsTrainingNeed) {
  for (const char* name : {"conv2d", "relu", "lrn", "max_pool2d", "avg_pool2d", "global_avg_pool", "gemm",
                           "matmul", "add", "sub", "mul", "div", "pow", "sqrt", "exp", "log", "neg", "max",
                           "min", "flatten", "reshape", "transpose", "concat", "slice", "pad", "softmax",
                           "log_softmax", "dropout", "batch_norm", "identity", "constant", "reduce_sum",
                           "reduce_mean", "softmax_cross_entropy"})
    EXPECT_NE(findOp(name), nullptr) << name;
}

} // namespace
} // namespace sinter

// Importing a model to train it (OnnxImportOptions::training, set by `sinter train` and --train):
// PyTorch's training-mode BatchNormalization and its eval-mode export's merged initializers.
#include "frontend/onnx/OnnxExport.h"
#include "frontend/onnx/OnnxImport.h"
#include "ir/ops/Ops.h"
#include "runtime/reference/Interpreter.h"

#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

namespace sinter {
namespace {

void addInfo(onnx::ValueInfoProto* vi, const std::string& name, std::vector<int64_t> dims) {
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims)
    tt->mutable_shape()->add_dim()->set_dim_value(d);
}

void addInitializer(onnx::GraphProto* g, const std::string& name, std::vector<float> values) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(static_cast<int64_t>(values.size()));
  for (float v : values)
    t->add_float_data(v);
}

onnx::NodeProto* addNode(onnx::GraphProto* g, const std::string& type, std::vector<std::string> in,
                         std::vector<std::string> out) {
  auto* n = g->add_node();
  n->set_name(out[0]);
  n->set_op_type(type);
  for (const auto& i : in)
    n->add_input(i);
  for (const auto& o : out)
    n->add_output(o);
  return n;
}

// x [4, 2, 3, 3] -> BatchNormalization -> y, as PyTorch exports it at opset 13: in train mode the
// node has five outputs (the last four unused); in eval mode, bias and running mean are equal
// zeros and scale and running variance equal ones, so the exporter keeps one of each and reads
// the other through an Identity.
onnx::ModelProto batchNormModel(bool trainMode, bool useStatistic = false) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("bn");
  addInfo(g->add_input(), "x", {4, 2, 3, 3});
  addInfo(g->add_output(), "y", {4, 2, 3, 3});
  addInitializer(g, "bn.weight", {1, 1});
  addInitializer(g, "bn.bias", {0, 0});
  if (trainMode) {
    addInitializer(g, "bn.running_mean", {0, 0});
    addInitializer(g, "bn.running_var", {1, 1});
  } else {
    addNode(g, "Identity", {"bn.weight"}, {"bn.running_var"});
    addNode(g, "Identity", {"bn.bias"}, {"bn.running_mean"});
  }
  std::vector<std::string> outs{"y"};
  if (trainMode)
    outs = {"y", "mean_out", "var_out", "saved_mean", "saved_var"};
  auto* bn = addNode(g, "BatchNormalization", {"x", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"}, outs);
  bn->set_name("bn");
  auto* a = bn->add_attribute();
  a->set_name("momentum");
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(0.8f);
  if (useStatistic) { // a node that reads the running mean the node computes
    g->mutable_output(0)->set_name("z");
    addNode(g, "Add", {"y", "mean_out"}, {"z"});
  }
  return m;
}

Expected<std::unique_ptr<Graph>> import(const onnx::ModelProto& m, bool training) {
  OnnxImportOptions io;
  io.fold = evaluateNode;
  io.training = training;
  std::string bytes;
  m.SerializeToString(&bytes);
  return importOnnxBytes(bytes, io, ".");
}

TEST(OnnxTrainingImport, TrainingModeBatchNormIsALayerForTrainingOnly) {
  auto refused = import(batchNormModel(true), false);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message(),
            "node \"bn\" (BatchNormalization): training-mode BatchNormalization (batch statistics) is not supported "
            "for inference: export the model in eval mode (model.eval()), or train it with `sinter train`, which takes "
            "the node as a batch-norm layer");
  auto g = import(batchNormModel(true), true);
  ASSERT_TRUE(g) << g.error().message();
  const Node* bn = (*g)->outputs()[0]->producer();
  ASSERT_TRUE(bn && bn->is(ops::BatchNorm));
  EXPECT_FLOAT_EQ(static_cast<float>(bn->attrs().getFloat("momentum")), 0.8f);
  EXPECT_EQ(bn->input(3)->name(), "bn.running_mean");
  // The statistics outputs are fine unused, and an error where something reads them.
  auto reads = import(batchNormModel(true, true), true);
  ASSERT_FALSE(reads);
  EXPECT_EQ(reads.error().message(), "node \"z\" (Add): node \"bn\" (BatchNormalization): output 1 ('mean_out') is not "
                                     "supported");
}

TEST(OnnxTrainingImport, MergedInitializersSplitForTraining) {
  // Inference: the merged initializers stay one parameter each.
  auto inference = import(batchNormModel(false), false);
  ASSERT_TRUE(inference) << inference.error().message();
  EXPECT_EQ((*inference)->params().size(), 2u);
  // Training: the running statistics are parameters of their own, with the same values.
  auto g = import(batchNormModel(false), true);
  ASSERT_TRUE(g) << g.error().message();
  ASSERT_EQ((*g)->params().size(), 4u);
  const Node* bn = (*g)->outputs()[0]->producer();
  ASSERT_TRUE(bn && bn->is(ops::BatchNorm));
  for (size_t i = 1; i < 5; ++i)
    for (size_t j = i + 1; j < 5; ++j)
      EXPECT_NE(bn->input(i), bn->input(j)) << "operands " << i << " and " << j << " share a parameter";
  EXPECT_EQ(bn->input(3)->name(), "bn.running_mean");
  EXPECT_EQ(bn->input(4)->name(), "bn.running_var");
  EXPECT_EQ((*g)->weights().find("bn.running_var")->toDoubles(), (std::vector<double>{1, 1}));
  // The momentum survives an export (a checkpoint) and a re-import.
  auto bytes = exportOnnx(**g, {});
  ASSERT_TRUE(bytes) << bytes.error().message();
  OnnxImportOptions io;
  io.fold = evaluateNode;
  auto back = importOnnxBytes(*bytes, io, ".");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_FLOAT_EQ(static_cast<float>((*back)->outputs()[0]->producer()->attrs().getFloat("momentum")), 0.8f);
  EXPECT_EQ((*back)->params().size(), 4u);
}

} // namespace
} // namespace sinter

// Bad ONNX input: each kind gets one exact error, never a crash.
#include "frontend/onnx/OnnxImport.h"
#include "runtime/reference/Interpreter.h"

#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

#include <random>

namespace sinter {
namespace {

// A valid model: y = Relu(x @ W) with x [2,3] input and W [3,4] initializer, opset 13.
onnx::ModelProto validModel() {
  onnx::ModelProto m;
  m.set_ir_version(7);
  auto* op = m.add_opset_import();
  op->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("tiny");
  auto addInfo = [](onnx::ValueInfoProto* vi, const std::string& name, std::vector<int64_t> dims) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims)
      tt->mutable_shape()->add_dim()->set_dim_value(d);
  };
  addInfo(g->add_input(), "x", {2, 3});
  addInfo(g->add_output(), "y", {2, 4});
  auto* w = g->add_initializer();
  w->set_name("W");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(3);
  w->add_dims(4);
  for (int i = 0; i < 12; ++i)
    w->add_float_data(0.1f * i);
  auto* mm = g->add_node();
  mm->set_name("mm");
  mm->set_op_type("MatMul");
  mm->add_input("x");
  mm->add_input("W");
  mm->add_output("h");
  auto* r = g->add_node();
  r->set_name("act");
  r->set_op_type("Relu");
  r->add_input("h");
  r->add_output("y");
  return m;
}

std::string importError(const onnx::ModelProto& m, OnnxImportOptions io = {}) {
  io.fold = evaluateNode;
  std::string bytes;
  m.SerializeToString(&bytes);
  auto g = importOnnxBytes(bytes, io, ".");
  return g ? "imported" : g.error().message();
}

TEST(OnnxErrors, TheValidModelImports) { EXPECT_EQ(importError(validModel()), "imported"); }

TEST(OnnxErrors, EmptyTruncatedAndForeignFiles) {
  EXPECT_EQ(importOnnxBytes("", {}, ".").error().message(), "the file is empty");
  std::string bytes;
  validModel().SerializeToString(&bytes);
  for (size_t cut : {bytes.size() / 3, bytes.size() - 5}) {
    auto g = importOnnxBytes(std::string_view(bytes).substr(0, cut), {}, ".");
    ASSERT_FALSE(g);
    EXPECT_FALSE(g.error().message().empty());
  }
  EXPECT_EQ(importOnnxBytes("\x0a\xff\xff\xff\xff\x0f garbage", {}, ".").error().message(),
            "not an ONNX model (the protobuf does not parse)");
  onnx::TensorProto wrongProto; // a TensorProto's dims read as a ModelProto's ir_version: no graph
  wrongProto.add_dims(3);
  wrongProto.SerializeToString(&bytes);
  EXPECT_EQ(importOnnxBytes(bytes, {}, ".").error().message(), "the model has no graph");
}

TEST(OnnxErrors, RandomBytesNeverCrash) {
  std::mt19937 rng(7);
  std::string valid;
  validModel().SerializeToString(&valid);
  for (int i = 0; i < 2000; ++i) {
    std::string b = valid;
    for (int k = 0; k < 1 + i % 8; ++k)
      b[rng() % b.size()] = static_cast<char>(rng());
    OnnxImportOptions io;
    io.fold = evaluateNode;
    auto g = importOnnxBytes(b, io, "."); // any outcome but a crash
    (void)g;
  }
}

TEST(OnnxErrors, UnknownOpNamesOpNodeDomainOpsetAndTheSupportedOps) {
  auto m = validModel();
  m.mutable_graph()->mutable_node(1)->set_op_type("Swish");
  std::string e = importError(m);
  EXPECT_EQ(e.rfind("node \"act\" (Swish): Swish (domain \"ai.onnx\", opset 13) is not supported; supported ops: Abs, "
                    "Add, AveragePool,", 0), 0u) << e;
  m = validModel();
  m.mutable_graph()->mutable_node(1)->set_domain("com.example");
  EXPECT_EQ(importError(m).rfind("node \"act\" (Relu): Relu (domain \"com.example\", opset 13) is not supported", 0), 0u);
}

TEST(OnnxErrors, MissingInitializerAndCycles) {
  auto m = validModel();
  m.mutable_graph()->clear_initializer();
  EXPECT_EQ(importError(m), "node \"mm\" (MatMul): input 'W' is not defined by any earlier node, graph input or "
                            "initializer (the graph is not topologically sorted, or has a cycle)");
  m = validModel();
  m.mutable_graph()->mutable_node(0)->set_input(0, "y"); // mm reads the output of act, which reads mm
  EXPECT_EQ(importError(m), "node \"mm\" (MatMul): input 'y' is not defined by any earlier node, graph input or "
                            "initializer (the graph is not topologically sorted, or has a cycle)");
}

TEST(OnnxErrors, InconsistentShapes) {
  auto m = validModel();
  m.mutable_graph()->mutable_initializer(0)->set_dims(0, 5);
  EXPECT_EQ(importError(m), "tensor 'W': float_data has 12 values, dims need 20");
  m = validModel();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->set_dims(0, 4);
  w->set_dims(1, 3);
  EXPECT_EQ(importError(m), "node \"mm\" (MatMul): matmul: inner dims differ: [2,3] @ [4,3]");
  m = validModel();
  m.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_value(5);
  EXPECT_EQ(importError(m), "output 'y' is declared [2,5] but computes f32[2,4]");
}

TEST(OnnxErrors, AbsurdDims) {
  auto m = validModel();
  auto* dims = m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  dims->mutable_dim(0)->set_dim_value(int64_t(1) << 40);
  dims->mutable_dim(1)->set_dim_value(int64_t(1) << 40);
  EXPECT_EQ(importError(m), "input 'x' has an absurd shape [1099511627776,1099511627776]");
  m = validModel();
  m.mutable_graph()->mutable_initializer(0)->set_dims(0, -3);
  EXPECT_EQ(importError(m), "tensor 'W': dims [-3,4] are negative or too large");
  m = validModel();
  m.mutable_graph()->mutable_initializer(0)->set_dims(0, INT64_MAX);
  EXPECT_EQ(importError(m), "tensor 'W': dims [9223372036854775807,4] are negative or too large");
}

TEST(OnnxErrors, SymbolicDimsNeedABinding) {
  auto m = validModel();
  m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("batch");
  EXPECT_EQ(importError(m), "input 'x' has symbolic dims [batch,3]; bind them with --input-shape x=D0,D1,...");
  OnnxImportOptions io;
  io.inputShapes["x"] = {8, 3};
  m.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("batch");
  EXPECT_EQ(importError(m, io), "imported");
  io.inputShapes["x"] = {8, 4};
  EXPECT_EQ(importError(m, io), "--input-shape x=[8,4] contradicts the model's [batch,3] in dim 1");
  io.inputShapes = {{"data", {1}}};
  EXPECT_EQ(importError(validModel(), io), "--input-shape names 'data', which is not an input of the model");
}

TEST(OnnxErrors, AttributesOfTheWrongType) {
  auto m = validModel();
  auto* n = m.mutable_graph()->mutable_node(1);
  n->set_op_type("Softmax");
  auto* a = n->add_attribute();
  a->set_name("axis");
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(1.0f);
  EXPECT_EQ(importError(m), "node \"act\" (Softmax): attribute 'axis' must be INT, got FLOAT");
  a->set_name("axes");
  a->set_type(onnx::AttributeProto::INT);
  EXPECT_EQ(importError(m), "node \"act\" (Softmax): attribute 'axes' is not supported");
}

TEST(OnnxErrors, NewerOpsetWarnsAndImports) {
  auto m = validModel();
  m.mutable_opset_import(0)->set_version(19);
  std::string warning;
  OnnxImportOptions io;
  io.warn = [&](const std::string& w) { warning = w; };
  EXPECT_EQ(importError(m, io), "imported");
  EXPECT_EQ(warning, "the model declares opset 19, newer than the 17 this build knows; importing ops whose semantics "
                     "did not change");
}

} // namespace
} // namespace sinter

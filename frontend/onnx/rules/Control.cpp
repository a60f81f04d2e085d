// ONNX rules: Constant and If (with a constant condition, inlined).
#include "frontend/onnx/ImportContext.h"
#include "frontend/onnx/OnnxTensor.h"

namespace sinter::onnxio {

namespace {

Error constant(NodeCtx& c) {
  SINTER_CHECK(c.checkInputs(0, 0));
  if (c.node().attribute_size() != 1)
    return makeError("Constant takes exactly one value attribute");
  const onnx::AttributeProto& a = c.node().attribute(0);
  Tensor t;
  if (a.name() == "value" && a.type() == onnx::AttributeProto::TENSOR) {
    auto r = tensorFromOnnx(a.t(), c.importer().baseDir());
    if (!r)
      return r.error();
    t = std::move(*r);
  } else if (a.name() == "value_float" && a.type() == onnx::AttributeProto::FLOAT) {
    t = Tensor({DType::F32, {}});
    t.set(0, a.f());
  } else if (a.name() == "value_int" && a.type() == onnx::AttributeProto::INT) {
    t = Tensor({DType::I64, {}});
    t.as<int64_t>()[0] = a.i();
  } else if (a.name() == "value_floats" && a.type() == onnx::AttributeProto::FLOATS) {
    t = Tensor({DType::F32, {a.floats_size()}});
    for (int i = 0; i < a.floats_size(); ++i)
      t.set(i, a.floats(i));
  } else if (a.name() == "value_ints" && a.type() == onnx::AttributeProto::INTS) {
    t = Tensor({DType::I64, {a.ints_size()}});
    for (int i = 0; i < a.ints_size(); ++i)
      t.as<int64_t>()[i] = a.ints(i);
  } else {
    return makeUnsupported("Constant attribute '{}' is not supported (value, value_float(s), value_int(s) are)",
                           a.name());
  }
  // Large float constants are weights in disguise: keep them out of the printed IR.
  if (isFloat(t.dtype()) && t.numel() > 256 && c.wantsOutput(0)) {
    Graph& g = c.importer().graph();
    Value* p = g.addParam(g.uniqueName(c.node().output(0)), t.type(), t);
    return c.bind(0, p);
  }
  return c.bind(0, c.constantValue(std::move(t)));
}

// If with a condition known at import time: the taken branch is inlined.
Error ifOp(NodeCtx& c) {
  SINTER_CHECK(c.checkInputs(1, 1));
  SINTER_CHECK(c.onlyAttrs({"then_branch", "else_branch"}));
  auto cond = c.constScalar(0, "cond");
  if (!cond)
    return cond.error();
  const onnx::AttributeProto* branch = c.attr(*cond != 0 ? "then_branch" : "else_branch");
  if (!branch || branch->type() != onnx::AttributeProto::GRAPH)
    return makeError("the taken branch ({}) is missing or not a graph", *cond != 0 ? "then_branch" : "else_branch");
  const onnx::GraphProto& g = branch->g();
  if (static_cast<size_t>(g.output_size()) != c.numOutputs())
    return makeError("the branch has {} outputs, the node {}", g.output_size(), c.numOutputs());
  SINTER_CHECK(c.importer().importSubgraph(g));
  for (int i = 0; i < g.output_size(); ++i) {
    Value* v = c.importer().lookup(g.output(i).name());
    if (!v)
      return c.importer().unbound(g.output(i).name(), fmt::format("branch output '{}' is not defined", g.output(i).name()));
    SINTER_CHECK(c.bind(static_cast<size_t>(i), v));
  }
  return Error::success();
}

constexpr OnnxRule kRules[] = {
    {"Constant", constant},
    {"If", ifOp},
};

} // namespace

std::span<const OnnxRule> controlRules() { return kRules; }

} // namespace sinter::onnxio

// One export rule per IR op: the inverse of frontend/onnx/rules/*, at opsets 11..17.
#include "frontend/onnx/ExportRules.h"
#include "frontend/onnx/OnnxTensor.h"
#include "ir/OpTable.h"

namespace sinter::onnxio {

namespace {

std::vector<std::string> inputNames(ExportCtx& c, const Node& n) {
  std::vector<std::string> v;
  for (const Value* x : n.inputs())
    v.push_back(c.name(x));
  return v;
}

onnx::NodeProto& same(ExportCtx& c, const Node& n, std::string_view opType) {
  return c.add(opType, inputNames(c, n), {c.name(n.output())});
}

// Ops whose ONNX form has the same operands and attribute names and kinds.
Error generic(ExportCtx& c, const Node& n) {
  onnx::NodeProto& p = same(c, n, n.op().onnx[0]);
  for (const auto& [name, v] : n.attrs()) {
    if (const int64_t* i = std::get_if<int64_t>(&v))
      setAttr(p, name, *i);
    else if (const double* f = std::get_if<double>(&v))
      setAttr(p, name, *f);
    else if (const std::string* s = std::get_if<std::string>(&v))
      setAttr(p, name, *s);
    else if (const auto* ints = std::get_if<std::vector<int64_t>>(&v))
      setAttr(p, name, *ints);
    else
      return makeError("attribute '{}' has no generic ONNX form", name);
  }
  return Error::success();
}

Error cast(ExportCtx& c, const Node& n) {
  onnx::NodeProto& p = same(c, n, "Cast");
  setAttr(p, "to", static_cast<int64_t>(dtypeToOnnx(n.output()->type().dtype)));
  return Error::success();
}

Error identity(ExportCtx& c, const Node& n) {
  same(c, n, "Identity");
  return Error::success();
}

Error dropout(ExportCtx& c, const Node& n) {
  double ratio = n.attrs().getFloat("ratio");
  bool training = n.attrs().getInt("training") != 0;
  if (!training) { // inference dropout is the identity
    c.add("Identity", {c.name(n.input(0))}, {c.name(n.output())});
    return Error::success();
  }
  if (n.numInputs() > 1)
    return makeError("a dropout drawing new masks each training step (a step operand) has no ONNX form: export "
                     "the forward graph");
  if (c.opset() < 12)
    return makeError("training-mode Dropout needs opset 12 or newer (export with --opset 12..17)");
  Tensor r({n.input(0)->type().dtype, {}});
  r.set(0, ratio);
  Tensor t({DType::Bool, {}});
  t.set(0, 1);
  onnx::NodeProto& p = c.add("Dropout", {c.name(n.input(0)), c.initializer(r, "ratio"), c.initializer(t, "training")},
                             {c.name(n.output())});
  setAttr(p, "seed", n.attrs().getInt("seed"));
  return Error::success();
}

Error conv(ExportCtx& c, const Node& n) {
  onnx::NodeProto& p = same(c, n, "Conv");
  const Shape& w = n.input(1)->type().shape;
  setAttr(p, "kernel_shape", std::vector<int64_t>{w[2], w[3]});
  setAttr(p, "strides", n.attrs().getInts("stride"));
  setAttr(p, "pads", n.attrs().getInts("pad"));
  setAttr(p, "dilations", n.attrs().getInts("dilation"));
  setAttr(p, "group", n.attrs().getInt("group"));
  return Error::success();
}

template <bool Max> Error pool(ExportCtx& c, const Node& n) {
  onnx::NodeProto& p = same(c, n, Max ? "MaxPool" : "AveragePool");
  setAttr(p, "kernel_shape", n.attrs().getInts("kernel"));
  setAttr(p, "strides", n.attrs().getInts("stride"));
  setAttr(p, "pads", n.attrs().getInts("pad"));
  setAttr(p, "ceil_mode", n.attrs().getInt("ceil_mode"));
  if constexpr (Max)
    setAttr(p, "dilations", n.attrs().getInts("dilation"));
  else
    setAttr(p, "count_include_pad", n.attrs().getInt("count_include_pad"));
  return Error::success();
}

Error batchNorm(ExportCtx& c, const Node& n) {
  onnx::NodeProto& p = same(c, n, "BatchNormalization");
  setAttr(p, "epsilon", n.attrs().getFloat("epsilon"));
  setAttr(p, "momentum", n.attrs().getFloat("momentum"));
  return Error::success();
}

// Before opset 13 (Log)Softmax normalises over the flattened trailing dims; a softmax over a
// non-last axis is exported as transpose -> softmax(last) -> transpose.
Error softmax(ExportCtx& c, const Node& n) {
  std::string_view type = n.op().onnx[0];
  int64_t rank = n.input(0)->type().rank();
  int64_t axis = n.attrs().getInt("axis");
  if (axis < 0)
    axis += rank;
  if (c.opset() >= 13 || axis == rank - 1) {
    setAttr(same(c, n, type), "axis", axis);
    return Error::success();
  }
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < rank; ++i)
    if (i != axis)
      perm.push_back(i);
  perm.push_back(axis);
  std::vector<int64_t> inverse(static_cast<size_t>(rank));
  for (int64_t i = 0; i < rank; ++i)
    inverse[perm[i]] = i;
  std::string t1 = c.fresh("softmax_in"), t2 = c.fresh("softmax_out");
  setAttr(c.add("Transpose", {c.name(n.input(0))}, {t1}), "perm", perm);
  setAttr(c.add(type, {t1}, {t2}), "axis", rank - 1);
  setAttr(c.add("Transpose", {t2}, {c.name(n.output())}), "perm", inverse);
  return Error::success();
}

Error gemm(ExportCtx& c, const Node& n) {
  onnx::NodeProto& p = same(c, n, "Gemm");
  setAttr(p, "transA", n.attrs().getInt("trans_a"));
  setAttr(p, "transB", n.attrs().getInt("trans_b"));
  setAttr(p, "alpha", n.attrs().getFloat("alpha"));
  setAttr(p, "beta", n.attrs().getFloat("beta"));
  return Error::success();
}

// ReduceSum takes axes as an input from opset 13; the others until opset 18 as an attribute.
template <bool AxesInput> Error reduce(ExportCtx& c, const Node& n) {
  const auto& axes = n.attrs().getInts("axes");
  std::vector<std::string> in{c.name(n.input(0))};
  bool asInput = AxesInput && c.opset() >= 13;
  if (asInput && !axes.empty())
    in.push_back(c.ints(axes, "axes"));
  onnx::NodeProto& p = c.add(n.op().onnx[0], in, {c.name(n.output())});
  if (!asInput && !axes.empty())
    setAttr(p, "axes", axes);
  setAttr(p, "keepdims", n.attrs().getInt("keepdims"));
  return Error::success();
}

// Reshape, and the Alias ops that are reshapes of their input (flatten is kept as Flatten).
Error reshape(ExportCtx& c, const Node& n) {
  c.add("Reshape", {c.name(n.input(0)), c.ints(n.output()->type().shape, "shape")}, {c.name(n.output())});
  return Error::success();
}

Error slice(ExportCtx& c, const Node& n) {
  std::vector<std::string> in{c.name(n.input(0)), c.ints(n.attrs().getInts("starts"), "starts"),
                              c.ints(n.attrs().getInts("ends"), "ends")};
  const auto& axes = n.attrs().getInts("axes");
  const auto& steps = n.attrs().getInts("steps");
  if (!axes.empty() || !steps.empty()) {
    std::vector<int64_t> all;
    for (size_t i = 0; i < n.attrs().getInts("starts").size(); ++i)
      all.push_back(static_cast<int64_t>(i));
    in.push_back(c.ints(axes.empty() ? all : axes, "axes"));
  }
  if (!steps.empty())
    in.push_back(c.ints(steps, "steps"));
  c.add("Slice", in, {c.name(n.output())});
  return Error::success();
}

Error pad(ExportCtx& c, const Node& n) {
  const std::string& mode = n.attrs().getString("mode");
  std::vector<std::string> in{c.name(n.input(0)), c.ints(n.attrs().getInts("pads"), "pads")};
  if (mode == "constant") {
    Tensor v({n.input(0)->type().dtype, {}});
    v.set(0, n.attrs().getFloat("value"));
    in.push_back(c.initializer(v, "pad_value"));
  }
  setAttr(c.add("Pad", in, {c.name(n.output())}), "mode", mode);
  return Error::success();
}

Error constant(ExportCtx& c, const Node& n) {
  auto* a = c.add("Constant", {}, {c.name(n.output())}).add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  tensorToOnnx(n.attrs().getTensor("value"), "", *a->mutable_t());
  return Error::success();
}

Error classLoss(ExportCtx& c, const Node& n) {
  if (c.opset() < 12)
    return makeError("{} needs opset 12 or newer (export with --opset 12..17)", n.op().onnx[0]);
  return generic(c, n);
}

// A fused node exports as the original ops of its body, wired to the outer names.
Error fused(ExportCtx& c, const Node& n) {
  const Graph& body = n.attrs().getGraph("body");
  for (size_t i = 0; i < body.inputs().size(); ++i)
    c.alias(body.inputs()[i], c.name(n.input(i)));
  for (size_t i = 0; i < body.outputs().size(); ++i)
    c.alias(body.outputs()[i], c.name(n.output(i)));
  for (const auto& inner : body.nodes()) {
    const ExportRule* rule = findExportRule(inner->op());
    if (!rule)
      return makeError("{}: no ONNX export rule", body.describe(inner.get()));
    SINTER_CHECK(rule->fn(c, *inner));
  }
  return Error::success();
}

const ExportRule kRules[] = {
    {&ops::Relu, generic},      {&ops::Neg, generic},       {&ops::Abs, generic},
    {&ops::Sqrt, generic},      {&ops::Exp, generic},       {&ops::Log, generic},
    {&ops::Sigmoid, generic},   {&ops::Tanh, generic},      {&ops::Add, generic},
    {&ops::Sub, generic},       {&ops::Mul, generic},       {&ops::Div, generic},
    {&ops::Pow, generic},       {&ops::Max, generic},       {&ops::Min, generic},
    {&ops::Equal, generic},     {&ops::Where, generic},     {&ops::Cast, cast},
    {&ops::Identity, identity}, {&ops::Dropout, dropout},   {&ops::Conv2d, conv},
    {&ops::MaxPool2d, pool<true>}, {&ops::AvgPool2d, pool<false>}, {&ops::GlobalAvgPool, generic},
    {&ops::Lrn, generic},       {&ops::BatchNorm, batchNorm}, {&ops::Softmax, softmax},
    {&ops::LogSoftmax, softmax}, {&ops::Gemm, gemm},        {&ops::MatMul, generic},
    {&ops::ReduceSum, reduce<true>}, {&ops::ReduceMean, reduce<false>}, {&ops::ReduceMax, reduce<false>},
    {&ops::Flatten, generic},   {&ops::Reshape, reshape},   {&ops::Transpose, generic},
    {&ops::Concat, generic},    {&ops::Slice, slice},       {&ops::Pad, pad},
    {&ops::Gather, generic},    {&ops::GatherElements, generic}, {&ops::Constant, constant},
    {&ops::SoftmaxCrossEntropy, classLoss}, {&ops::NllLoss, classLoss}, {&ops::Fused, fused},
};

} // namespace

const ExportRule* findExportRule(const OpDef& op) {
  for (const ExportRule& r : kRules)
    if (r.op == &op)
      return &r;
  return nullptr;
}

} // namespace sinter::onnxio

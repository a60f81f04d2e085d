// GraphBuilder helpers: thin wrappers over Graph::addNode with table attribute names.
#include "frontend/GraphBuilder.h"

#include "ir/Verifier.h"

namespace sinter {

Value* GraphBuilder::input(const std::string& name, TensorType type) {
  if (err_)
    return nullptr;
  if (type.numel() < 0) {
    err_ = makeError("input %{}: shape {} is invalid", name, shapeString(type.shape));
    return nullptr;
  }
  return g_->addInput(name, std::move(type));
}

Value* GraphBuilder::param(const std::string& name, TensorType type, std::optional<Tensor> data) {
  if (err_)
    return nullptr;
  if (type.numel() < 0) {
    err_ = makeError("parameter %{}: shape {} is invalid", name, shapeString(type.shape));
    return nullptr;
  }
  return g_->addParam(name, std::move(type), std::move(data));
}

Value* GraphBuilder::op(const OpDef& op, std::vector<Value*> inputs, Attrs attrs,
                        const std::string& name) {
  if (err_)
    return nullptr;
  auto n = g_->addNode(op, std::move(inputs), std::move(attrs), {name});
  if (!n) {
    err_ = name.empty() ? n.error() : n.error().context("%" + name);
    return nullptr;
  }
  return (*n)->output(0);
}

Value* GraphBuilder::conv2d(Value* x, Value* w, Value* b, std::array<int64_t, 2> stride,
                            std::array<int64_t, 4> pad, int64_t group, const std::string& name) {
  std::vector<Value*> in{x, w};
  if (b)
    in.push_back(b);
  return op(ops::Conv2d, in,
            {{"stride", std::vector<int64_t>(stride.begin(), stride.end())},
             {"pad", std::vector<int64_t>(pad.begin(), pad.end())},
             {"group", group}},
            name);
}

Value* GraphBuilder::lrn(Value* x, int64_t size, double alpha, double beta, double bias,
                         const std::string& name) {
  return op(ops::Lrn, {x}, {{"size", size}, {"alpha", alpha}, {"beta", beta}, {"bias", bias}}, name);
}

Value* GraphBuilder::maxPool2d(Value* x, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                               const std::string& name) {
  return op(ops::MaxPool2d, {x},
            {{"kernel", std::vector<int64_t>(kernel.begin(), kernel.end())},
             {"stride", std::vector<int64_t>(stride.begin(), stride.end())}},
            name);
}

Value* GraphBuilder::avgPool2d(Value* x, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                               const std::string& name) {
  return op(ops::AvgPool2d, {x},
            {{"kernel", std::vector<int64_t>(kernel.begin(), kernel.end())},
             {"stride", std::vector<int64_t>(stride.begin(), stride.end())}},
            name);
}

Value* GraphBuilder::flatten(Value* x, int64_t axis, const std::string& name) {
  return op(ops::Flatten, {x}, {{"axis", axis}}, name);
}

Value* GraphBuilder::linear(Value* x, Value* w, Value* b, const std::string& name) {
  std::vector<Value*> in{x, w};
  if (b)
    in.push_back(b);
  return op(ops::Gemm, in, {{"trans_b", int64_t{1}}}, name);
}

Value* GraphBuilder::dropout(Value* x, double ratio, const std::string& name) {
  return op(ops::Dropout, {x}, {{"ratio", ratio}}, name);
}

Value* GraphBuilder::softmax(Value* x, int64_t axis, const std::string& name) {
  return op(ops::Softmax, {x}, {{"axis", axis}}, name);
}

Expected<std::unique_ptr<Graph>> GraphBuilder::finish(std::vector<Value*> outputs) {
  if (err_)
    return err_;
  g_->setOutputs(std::move(outputs));
  if (Error e = verifyGraph(*g_))
    return e;
  return std::move(g_);
}

} // namespace sinter

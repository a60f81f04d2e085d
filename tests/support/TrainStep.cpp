// Training-step case for backend tests (see TrainStep.h).
#include "tests/support/TrainStep.h"

#include "frontend/GraphBuilder.h"
#include "ir/ops/Ops.h"
#include "models/AlexNet.h"
#include "passes/PassManager.h"
#include "runtime/reference/Interpreter.h"
#include "tests/support/Numerics.h"

#include <gtest/gtest.h>

namespace sinter::test {

namespace {

Expected<std::unique_ptr<Graph>> batchNormNet(int64_t batch) {
  GraphBuilder b("bn");
  Value* x = b.input("data", {DType::F32, {batch, 1, 12, 12}});
  auto p = [&](const std::string& name, Shape s, uint64_t seed, double lo, double hi) {
    return b.param(name, {DType::F32, s}, randomTensor({DType::F32, s}, seed, lo, hi));
  };
  auto norm = [&](Value* v, const std::string& name, int64_t c, uint64_t seed) {
    return b.op(ops::BatchNorm, {v, p(name + ".weight", {c}, seed, 0.5, 1.5), p(name + ".bias", {c}, seed + 1, -0.2, 0.2),
                                 p(name + ".running_mean", {c}, seed + 2, -0.1, 0.1),
                                 p(name + ".running_var", {c}, seed + 3, 0.5, 1.5)},
                {}, name);
  };
  Value* c = b.conv2d(x, p("c.weight", {6, 1, 3, 3}, 1, -0.5, 0.5), p("c.bias", {6}, 2, -0.1, 0.1), {1, 1}, {1, 1, 1, 1}, 1, "c");
  Value* r = b.relu(norm(c, "bn1", 6, 10), "r1");
  Value* m = b.op(ops::MaxPool2d, {r}, {{"kernel", std::vector<int64_t>{2, 2}}, {"stride", std::vector<int64_t>{2, 2}}}, "m");
  Value* f = b.op(ops::Flatten, {m}, {{"axis", int64_t{1}}}, "f");
  Value* h = b.op(ops::Gemm, {f, p("fc.weight", {16, 216}, 3, -0.1, 0.1), p("fc.bias", {16}, 4, -0.1, 0.1)},
                  {{"trans_b", int64_t{1}}}, "h");
  Value* r2 = b.relu(norm(h, "bn2", 16, 20), "r2");
  Value* logits = b.op(ops::Gemm, {r2, p("out.weight", {10, 16}, 5, -0.3, 0.3), p("out.bias", {10}, 6, -0.1, 0.1)},
                       {{"trans_b", int64_t{1}}}, "logits");
  return b.finish({logits});
}

} // namespace

TrainStepCase makeTrainStepCase(int64_t batch, const std::string& optimizer, TrainModel model) {
  TrainStepCase c;
  AlexNetOptions o;
  o.variant = AlexNetVariant::Narrow;
  o.batch = batch;
  auto g = model == TrainModel::BatchNorm ? batchNormNet(batch) : buildAlexNet(o);
  if (!g) {
    ADD_FAILURE() << g.error().message();
    return c;
  }
  PassContext ctx;
  ctx.evaluate = evaluateNode;
  ctx.training = true;
  ctx.optimizer.kind = optimizer;
  auto r = runPipeline(**g, defaultPipeline(true), ctx, {});
  if (!r) {
    ADD_FAILURE() << r.error().message();
    return c;
  }
  c.graph = std::shared_ptr<Graph>(std::move(*g));
  Graph& graph = *c.graph;
  // The reference runs on a copy whose weights take each step's updates.
  std::unique_ptr<Graph> ref = graph.clone();
  for (int step = 0; step < 2; ++step) {
    std::vector<Tensor> in;
    for (const Value* v : graph.inputs()) {
      if (v->name() == "data") {
        in.push_back(randomTensor(v->type(), 40 + static_cast<uint64_t>(step)));
      } else if (v->name() == "labels") {
        std::vector<double> labels;
        for (int64_t i = 0; i < v->type().numel(); ++i)
          labels.push_back(static_cast<double>((i * 3 + step) % 10));
        in.push_back(makeTensor(v->type(), labels));
      } else if (v->name() == "step") {
        in.push_back(makeTensor(v->type(), {static_cast<double>(step + 5)}));
      } else if (v->name() == "lr") {
        in.push_back(makeTensor(v->type(), {0.05}));
      } else if (v->name() == "adam_c2") {
        in.push_back(makeTensor(v->type(), {1.2}));
      } else {
        ADD_FAILURE() << "unexpected training input " << v->name();
        return c;
      }
    }
    std::vector<Tensor> updates;
    ReferenceOptions ro;
    ro.updates = &updates;
    auto out = runReference(*ref, in, ro);
    if (!out) {
      ADD_FAILURE() << out.error().message();
      return c;
    }
    for (size_t i = 0; i < ref->updates().size(); ++i)
      ref->weights().set(ref->updates()[i].first->name(), updates[i]);
    c.inputs.push_back(std::move(in));
    c.outputs.push_back(std::move(*out));
    c.params.push_back(std::move(updates));
  }
  return c;
}

} // namespace sinter::test

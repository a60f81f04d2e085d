// Training-step case for backend tests (see TrainStep.h).
#include "tests/support/TrainStep.h"

#include "models/AlexNet.h"
#include "passes/PassManager.h"
#include "runtime/reference/Interpreter.h"
#include "tests/support/Numerics.h"

#include <gtest/gtest.h>

namespace sinter::test {

TrainStepCase makeTrainStepCase(int64_t batch, const std::string& optimizer) {
  TrainStepCase c;
  AlexNetOptions o;
  o.variant = AlexNetVariant::Narrow;
  o.batch = batch;
  auto g = buildAlexNet(o);
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

// A training step for tests: the narrow AlexNet (or a small batch-norm network) through the
// training pipeline, its inputs, and
// the reference's results for two consecutive steps (the second after applying the first's
// updates), so a backend can be compared step by step.
#pragma once

#include "ir/Graph.h"
#include "ir/Tensor.h"

#include <memory>
#include <string>
#include <vector>

namespace sinter::test {

struct TrainStepCase {
  std::shared_ptr<Graph> graph;               ///< planned training graph (inputs: data, step, labels, lr)
  std::vector<std::vector<Tensor>> inputs;    ///< per step
  std::vector<std::vector<Tensor>> outputs;   ///< reference outputs per step (loss, logits)
  std::vector<std::vector<Tensor>> params;    ///< reference values of every updated parameter after each step
};

enum class TrainModel {
  NarrowAlexNet,
  /// conv -> batch_norm -> relu -> max-pool -> gemm -> batch_norm (over [N, C]) -> relu -> gemm:
  /// batch statistics, their gradients and the running statistics' updates.
  BatchNorm,
};

/// Builds the case: the model at batch `batch`, the default training pipeline (SGD momentum or
/// Adam), two steps on the reference interpreter.
TrainStepCase makeTrainStepCase(int64_t batch, const std::string& optimizer = "sgd",
                                TrainModel model = TrainModel::NarrowAlexNet);

} // namespace sinter::test

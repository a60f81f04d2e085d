// The reference interpreter: runs any graph straight from the op table in float64. It is the
// oracle every other backend and every pass is tested against, never a backend for speed.
#pragma once

#include "ir/Graph.h"
#include "ir/Tensor.h"

#include <functional>
#include <span>
#include <vector>

namespace sinter {

struct ReferenceOptions {
  /// Called after each node with its index, the node and its results (for progress and tests).
  std::function<void(size_t, const Node&, std::span<const Tensor>)> afterNode;
  /// Keep every float value in float64 (no rounding to the IR dtype between nodes): inputs and
  /// overrides may then be f64 tensors of the declared shape, and float results come back as
  /// f64. For gradient checks by central differences.
  bool float64 = false;
  /// Values to use for parameters instead of their weights (same shape; f64 when float64).
  std::vector<std::pair<const Value*, Tensor>> overrides;
  /// When set, receives the values of the graph's updates (in order): a training step's new
  /// parameters and optimizer state, for the caller to store.
  std::vector<Tensor>* updates = nullptr;
};

/// Runs `g` on `inputs` (one per graph input, in order, each of the input's exact type).
/// Values are computed in float64 and stored in their IR dtype after every node (so f32 values
/// are rounded once per op, as a f32 backend would store them).
/// Errors: wrong input count/type, a parameter without data, data-dependent kernel errors.
Expected<std::vector<Tensor>> runReference(const Graph& g, const std::vector<Tensor>& inputs,
                                           const ReferenceOptions& options = {});

/// Evaluates one op on constant operands (for constant folding; same numbers as runReference).
Expected<std::vector<Tensor>> evaluateNode(const Node& n, const std::vector<Tensor>& operands);

} // namespace sinter

// One small sample invocation per op of the table, so table-wide tests cover every op.
#pragma once

#include "ir/Graph.h"

#include <memory>
#include <ostream>
#include <vector>

namespace sinter {
/// Test names and failure messages show an op's name, not its address.
void PrintTo(const OpDef* op, std::ostream* os);
} // namespace sinter

namespace sinter::test {

struct OpSample {
  std::unique_ptr<Graph> graph; ///< inputs x0..xn, the op's node, its results as outputs
  std::vector<Tensor> inputs;   ///< seeded values valid for the op (labels in range, logs positive)
};

/// The sample for `op`, or null graph when the table grew an op without a sample (a test fails).
OpSample sampleFor(const OpDef& op);

} // namespace sinter::test

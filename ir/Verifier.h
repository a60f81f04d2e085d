// Verifier: structural and type checks of a graph against the op table.
#pragma once

#include "ir/Graph.h"

namespace sinter {

/// Checks SSA order, use lists, operand counts, attributes against each op's schema, result types
/// against each op's shape rule, outputs, and parameter data. The error names the node and the
/// rule it breaks: `node %conv2 (conv2d): input channels 96 do not match ...`.
Error verifyGraph(const Graph& g);

} // namespace sinter

// Reverse-mode differentiation over the IR (the autodiff pass and its C++ entry point).
#pragma once

#include "ir/Graph.h"

#include <span>
#include <vector>

namespace sinter {

/// Appends to `g` the backward nodes that compute d`loss`/d`v` for every v in `wrt` (inputs,
/// parameters or results; float), from the op table's gradient rules, and returns those
/// gradient values in the order of `wrt` (named "<v>.grad"). `loss` must be a float scalar.
/// A value used several times gets the sum of its gradients; a wrt value the loss does not
/// depend on gets zeros. Errors name the node whose op has no rule.
Expected<std::vector<Value*>> differentiate(Graph& g, Value* loss, std::span<Value* const> wrt);

} // namespace sinter

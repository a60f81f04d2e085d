// Declarations of every pass (one file each in passes/); the list with names is Passes.def.
#pragma once

#include "passes/PassManager.h"

namespace sinter {

#define SINTER_PASS(name, fn, summary) Expected<bool> fn(Graph& g, const PassContext& ctx);
#include "passes/Passes.def"
#undef SINTER_PASS

} // namespace sinter

// verify: the verifier as a pass (the pipeline starts with it).
#include "ir/Verifier.h"
#include "passes/Passes.h"

namespace sinter {

Expected<bool> verifyPass(Graph& g, const PassContext&) {
  if (Error e = verifyGraph(g))
    return e;
  return false;
}

} // namespace sinter

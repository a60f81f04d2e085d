// Reference kernel of fused nodes: the body runs on the interpreter, so a fused graph computes
// exactly what the unfused one did (same per-op rounding).
#include "ir/Graph.h"
#include "runtime/reference/Interpreter.h"
#include "runtime/reference/RefKernels.h"

namespace sinter::ref {

namespace {
Error fused(RefArgs& a) {
  const Graph& body = a.attrs.getGraph("body");
  std::vector<Tensor> in;
  for (const RefTensor* t : a.in)
    in.push_back(Tensor::fromDoubles(t->type, t->data));
  auto out = runReference(body, in);
  if (!out)
    return out.error().context("fused body");
  for (size_t i = 0; i < out->size(); ++i)
    a.out[i].data = (*out)[i].toDoubles();
  return Error::success();
}

constexpr RefKernel kKernels[] = {{"fused", fused}};
} // namespace

std::span<const RefKernel> fusedKernels() { return kKernels; }

} // namespace sinter::ref

// CUDA codegen driver: a kernel per node; fused nodes as a producer plus an elementwise epilogue.
#include "codegen/KernelPlan.h"
#include "codegen/cuda/CudaProgram.h"
#include "codegen/cuda/KernelSource.h"
#include "ir/OpTable.h"

namespace sinter {

using namespace cuda;

namespace cuda {
const CudaEmitter* findCudaEmitter(std::string_view kernel) {
  for (auto family : {elementwiseEmitters(), convEmitters(), linearEmitters(), poolEmitters(), normEmitters(),
                      shapeEmitters(), optimEmitters()})
    for (const CudaEmitter& e : family)
      if (e.kernel == kernel)
        return &e;
  return nullptr;
}
} // namespace cuda

namespace {

// One node's kernel: its plan's producer, bound to the kernel buffers, with the epilogue.
Error emitNode(KernelSource& ks, const Node& n) {
  auto plan = planKernel(n, "CUDA");
  if (!plan)
    return plan.error();
  Binding bind{plan->operands, ks.result(0)};
  if (plan->pool)
    return emitLrnMaxPool(ks, *plan->producer, *plan->pool, bind, Binding{{}, ks.result(0)});
  const CudaEmitter* e = findCudaEmitter(emitterKey(plan->producer->op()));
  if (!e)
    return makeUnsupported("no CUDA kernel for {}", plan->producer->op().name);
  return e->emit(ks, *plan->producer, bind, Epilogue{plan->epilogue});
}

} // namespace

Expected<CudaProgram> emitCudaProgram(const Graph& g, const CudaTarget& target) {
  CudaProgram prog;
  size_t index = 0;
  for (const auto& node : g.nodes()) {
    const Node& n = *node;
    if (!isKernelNode(n))
      continue;
    CudaKernel k;
    k.name = kernelSymbol(index++, g, n);
    k.node = &n;
    for (const sinter::Value* v : n.inputs())
      k.buffers.push_back(v);
    for (const sinter::Value* v : n.outputs())
      k.buffers.push_back(v);
    prog.kernels.push_back(std::move(k));
    KernelSource ks(prog.kernels.back(), prog, target);
    if (Error e = emitNode(ks, n))
      return e.context(g.describe(&n));
  }
  return prog;
}

} // namespace sinter

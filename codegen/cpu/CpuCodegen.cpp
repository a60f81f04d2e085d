// CPU codegen driver: kernel per node, fused nodes as a producer plus an elementwise epilogue.
#include "codegen/cpu/CpuCodegen.h"

#include "codegen/KernelPlan.h"
#include "codegen/cpu/Emitters.h"
#include "ir/OpTable.h"


namespace sinter {

using namespace cpu;

namespace cpu {

const CpuEmitter* findCpuEmitter(std::string_view kernel) {
  for (auto family : {elementwiseEmitters(), convEmitters(), linearEmitters(), poolEmitters(), normEmitters(),
                      shapeEmitters(), optimEmitters()})
    for (const CpuEmitter& e : family)
      if (e.kernel == kernel)
        return &e;
  return nullptr;
}

} // namespace cpu

namespace {

// One node's kernel: its plan's producer, bound to the kernel buffers, with the epilogue.
Error emitNode(KernelBuilder& kb, const Node& n) {
  auto plan = planKernel(n, "CPU");
  if (!plan)
    return plan.error();
  Binding bind{plan->operands, kb.result(0)};
  if (plan->pool)
    return emitLrnMaxPool(kb, *plan->producer, *plan->pool, bind, Binding{{}, kb.result(0)});
  const CpuEmitter* e = findCpuEmitter(emitterKey(plan->producer->op()));
  if (!e)
    return makeUnsupported("no CPU kernel for {}", plan->producer->op().name);
  return e->emit(kb, *plan->producer, bind, Epilogue{plan->epilogue});
}

} // namespace

Expected<CpuModule> emitCpuModule(const Graph& g, const CpuTarget& target) {
  CpuModule out;
  out.context = std::make_unique<llvm::LLVMContext>();
  out.module = std::make_unique<llvm::Module>("sinter_" + g.name(), *out.context);
  size_t index = 0;
  for (const auto& node : g.nodes()) {
    const Node& n = *node;
    if (!isKernelNode(n))
      continue;
    CpuKernel k;
    k.symbol = kernelSymbol(index++, g, n);
    k.node = &n;
    for (const Value* v : n.inputs())
      k.buffers.push_back(v);
    for (const Value* v : n.outputs())
      k.buffers.push_back(v);
    out.program.kernels.push_back(std::move(k));
    CpuKernel& kernel = out.program.kernels.back();
    KernelBuilder kb(*out.module, kernel, out.program, target);
    if (Error e = emitNode(kb, n))
      return e.context(g.describe(&n));
    kb.finish();
  }
  return out;
}

} // namespace sinter

// CUDA codegen driver: a kernel per node; fused nodes as a producer plus an elementwise epilogue.
#include "codegen/cuda/CudaProgram.h"
#include "codegen/cuda/KernelSource.h"
#include "ir/OpTable.h"

#include <cctype>
#include <map>

namespace sinter {

using namespace cuda;

namespace cuda {
const CudaEmitter* findCudaEmitter(std::string_view kernel) {
  for (auto family : {elementwiseEmitters(), convEmitters(), linearEmitters(), poolEmitters(), normEmitters(),
                      shapeEmitters()})
    for (const CudaEmitter& e : family)
      if (e.kernel == kernel)
        return &e;
  return nullptr;
}
} // namespace cuda

namespace {

std::string_view kernelName(const OpDef& op) { return op.isElementwise() ? "elementwise" : op.kernel()->name; }

Error emitFused(KernelSource& ks, const Node& fused) {
  const Graph& body = fused.attrs().getGraph("body");
  std::map<const sinter::Value*, size_t> bufferOf;
  for (size_t i = 0; i < body.inputs().size(); ++i)
    bufferOf[body.inputs()[i]] = i;
  std::vector<const Node*> nodes;
  for (const auto& n : body.nodes())
    nodes.push_back(n.get());
  const Node& first = *nodes.front();
  Binding bind;
  for (const sinter::Value* v : first.inputs())
    bind.in.push_back(bufferOf.at(v));
  bind.out = ks.result(0);
  if (nodes.size() == 2 && first.is(ops::Lrn) && nodes[1]->is(ops::MaxPool2d))
    return emitLrnMaxPool(ks, first, *nodes[1], bind, Binding{{}, ks.result(0)});
  Epilogue epi;
  const sinter::Value* chain = first.output();
  for (size_t k = 1; k < nodes.size(); ++k) {
    const Node& n = *nodes[k];
    if (!n.op().isElementwise())
      return makeUnsupported("fused kind '{}' has no CUDA kernel", fused.attrs().getString("kind"));
    Epilogue::Step step{*parseScalarExpr(n.op().scalar()->expr), {}};
    for (const sinter::Value* v : n.inputs())
      step.args.push_back(v == chain ? -1 : static_cast<int>(bufferOf.at(v)));
    epi.steps.push_back(std::move(step));
    chain = n.output();
  }
  const CudaEmitter* e = findCudaEmitter(kernelName(first.op()));
  if (!e)
    return makeUnsupported("no CUDA kernel for {}", first.op().name);
  return e->emit(ks, first, bind, epi);
}

} // namespace

Expected<CudaProgram> emitCudaProgram(const Graph& g, const CudaTarget& target) {
  CudaProgram prog;
  size_t index = 0;
  for (const auto& node : g.nodes()) {
    const Node& n = *node;
    if (n.op().isAlias() || n.is(ops::Constant))
      continue;
    CudaKernel k;
    std::string name = g.displayName(n.output()).substr(1);
    for (char& c : name)
      if (!std::isalnum(static_cast<unsigned char>(c)))
        c = '_';
    k.name = fmt::format("sinter_k{}_{}", index++, name);
    k.node = &n;
    for (const sinter::Value* v : n.inputs())
      k.buffers.push_back(v);
    for (const sinter::Value* v : n.outputs())
      k.buffers.push_back(v);
    prog.kernels.push_back(std::move(k));
    KernelSource ks(prog.kernels.back(), prog, target);
    Error e;
    if (n.is(ops::Fused)) {
      e = emitFused(ks, n);
    } else {
      const CudaEmitter* em = findCudaEmitter(kernelName(n.op()));
      if (!em)
        return makeUnsupported("{}: no CUDA kernel for {}", g.describe(&n), n.op().name);
      Binding bind;
      for (size_t i = 0; i < n.numInputs(); ++i)
        bind.in.push_back(i);
      bind.out = ks.result(0);
      e = em->emit(ks, n, bind, Epilogue{});
    }
    if (e)
      return e.context(g.describe(&n));
  }
  return prog;
}

} // namespace sinter

// CPU codegen driver: kernel per node, fused nodes as a producer plus an elementwise epilogue.
#include "codegen/cpu/CpuCodegen.h"

#include "codegen/cpu/Emitters.h"
#include "ir/OpTable.h"

#include <map>

namespace sinter {

using namespace cpu;

namespace cpu {

const CpuEmitter* findCpuEmitter(std::string_view kernel) {
  for (auto family : {elementwiseEmitters(), convEmitters(), linearEmitters(), poolEmitters(), normEmitters(),
                      shapeEmitters()})
    for (const CpuEmitter& e : family)
      if (e.kernel == kernel)
        return &e;
  return nullptr;
}

} // namespace cpu

namespace {

std::string_view kernelName(const OpDef& op) { return op.isElementwise() ? "elementwise" : op.kernel()->name; }

std::string symbolFor(size_t index, const Graph& g, const Node& n) {
  std::string name = g.displayName(n.output()).substr(1);
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)))
      c = '_';
  return fmt::format("sinter_k{}_{}", index, name);
}

// A fused node: its body's first node produces, the rest (elementwise) form the epilogue.
Error emitFused(KernelBuilder& kb, const Node& fused) {
  const Graph& body = fused.attrs().getGraph("body");
  std::map<const Value*, size_t> bufferOf; // body value -> kernel buffer
  for (size_t i = 0; i < body.inputs().size(); ++i)
    bufferOf[body.inputs()[i]] = i;
  std::vector<const Node*> nodes;
  for (const auto& n : body.nodes())
    nodes.push_back(n.get());
  const Node& first = *nodes.front();
  Binding bind;
  for (const Value* v : first.inputs())
    bind.in.push_back(bufferOf.at(v));
  bind.out = kb.result(0);
  if (nodes.size() == 2 && first.is(ops::Lrn) && nodes[1]->is(ops::MaxPool2d)) {
    Binding poolBind{{}, kb.result(0)};
    return emitLrnMaxPool(kb, first, *nodes[1], bind, poolBind);
  }
  Epilogue epi;
  const Value* chain = first.output();
  for (size_t k = 1; k < nodes.size(); ++k) {
    const Node& n = *nodes[k];
    if (!n.op().isElementwise())
      return makeUnsupported("fused kind '{}' has no CPU kernel", fused.attrs().getString("kind"));
    Epilogue::Step step{*parseScalarExpr(n.op().scalar()->expr), {}};
    for (const Value* v : n.inputs())
      step.args.push_back(v == chain ? -1 : static_cast<int>(bufferOf.at(v)));
    epi.steps.push_back(std::move(step));
    chain = n.output();
  }
  const CpuEmitter* e = findCpuEmitter(kernelName(first.op()));
  if (!e)
    return makeUnsupported("no CPU kernel for {}", first.op().name);
  return e->emit(kb, first, bind, epi);
}

} // namespace

Expected<CpuModule> emitCpuModule(const Graph& g, const CpuTarget& target) {
  CpuModule out;
  out.context = std::make_unique<llvm::LLVMContext>();
  out.module = std::make_unique<llvm::Module>("sinter_" + g.name(), *out.context);
  size_t index = 0;
  for (const auto& node : g.nodes()) {
    const Node& n = *node;
    if (n.op().isAlias() || n.is(ops::Constant))
      continue;
    CpuKernel k;
    k.symbol = symbolFor(index++, g, n);
    k.node = &n;
    for (const Value* v : n.inputs())
      k.buffers.push_back(v);
    for (const Value* v : n.outputs())
      k.buffers.push_back(v);
    out.program.kernels.push_back(std::move(k));
    CpuKernel& kernel = out.program.kernels.back();
    KernelBuilder kb(*out.module, kernel, out.program, target);
    Error e;
    if (n.is(ops::Fused)) {
      e = emitFused(kb, n);
    } else {
      const CpuEmitter* em = findCpuEmitter(kernelName(n.op()));
      if (!em)
        return makeUnsupported("{}: no CPU kernel for {}", g.describe(&n), n.op().name);
      Binding bind;
      for (size_t i = 0; i < n.numInputs(); ++i)
        bind.in.push_back(i);
      bind.out = kb.result(0);
      e = em->emit(kb, n, bind, Epilogue{});
    }
    if (e)
      return e.context(g.describe(&n));
    kb.finish();
  }
  return out;
}

} // namespace sinter

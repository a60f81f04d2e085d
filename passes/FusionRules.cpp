// The fusion rules. Each decides from op-table facts (lowering kind, shapes), never from a
// list of special cases elsewhere.
#include "passes/FusionRules.h"

#include "ir/OpTable.h"

namespace sinter {

namespace {

// An elementwise op that keeps the chain's shape: it can run in the producer's epilogue, one
// output element per chain element (its other operands broadcast into it).
bool isEpilogue(const std::vector<const Node*>& chain, const Node& next) {
  const Value* cur = chain.back()->output();
  return next.op().isElementwise() && next.outputs().size() == 1 && next.output()->type() == cur->type();
}

// Kernels with a loop nest over their output that an elementwise epilogue can join:
// convolution and the matrix products (conv+bias+ReLU, gemm+bias+ReLU, ...), and in a training
// step the input gradient of a convolution and of LRN, which a ReLU's gradient follows
// (conv2d_grad_input+relu_grad, lrn_grad+relu_grad), and Winograd's output transform (the
// convolution's bias+ReLU). Every backend's emitter for these applies the epilogue at its one
// store per output element.
bool startsEpilogue(const Node& n) {
  return (n.is(ops::Conv2d) || n.is(ops::Gemm) || n.is(ops::MatMul) || n.is(ops::Conv2dGradInput) || n.is(ops::LrnGrad) ||
          n.is(ops::WinogradOutput)) &&
         n.outputs().size() == 1;
}

// LRN then max-pool: the pool computes the LRN values of its window on the fly, so the LRN
// output never goes to memory.
bool startsLrn(const Node& n) { return n.is(ops::Lrn); }
bool appendPoolToLrn(const std::vector<const Node*>& chain, const Node& next) {
  return chain.size() == 1 && next.is(ops::MaxPool2d);
}

// Chains of elementwise ops become one elementwise kernel.
bool startsElementwise(const Node& n) { return n.op().isElementwise() && n.outputs().size() == 1; }

constexpr FusionRule kRules[] = {
    {"epilogue", startsEpilogue, isEpilogue},
    {"lrn+max_pool2d", startsLrn, appendPoolToLrn},
    {"elementwise", startsElementwise, isEpilogue},
};

} // namespace

std::span<const FusionRule> fusionRules() { return kRules; }

} // namespace sinter

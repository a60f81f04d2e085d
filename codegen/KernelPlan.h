// How a node of a planned graph becomes one kernel, the same for every backend: the op whose
// emitter runs, which kernel buffer each of its operands is, and for a fused node the elementwise
// epilogue applied to its value before the store (or the max-pool that follows an LRN).
// Kernel buffers are numbered as the node's operands, then its results.
#pragma once

#include "ir/Graph.h"
#include "ir/ScalarExpr.h"

#include <string>
#include <vector>

namespace sinter {

/// One elementwise step of a fused chain.
struct EpilogueStep {
  ScalarExpr expr;
  std::vector<int> args; ///< -1: the chain value; else a kernel buffer index
};

struct KernelPlan {
  const Node* producer = nullptr; ///< the node whose emitter runs (the fused body's first)
  std::vector<size_t> operands;   ///< kernel buffer of each of the producer's operands
  const Node* pool = nullptr;     ///< LRN fused with the max-pool that follows it
  std::vector<EpilogueStep> epilogue;
};

/// Every size of a conv2d node, read once (x: N C H W; w: M Cg KH KW; y: OH OW; stride, top and
/// left pads, dilation).
struct ConvShape {
  int64_t N, C, H, W, M, Cg, KH, KW, G, OH, OW, SH, SW, PT, PL, DH, DW;
  int64_t Mg() const { return M / G; } ///< output channels per group
  static ConvShape of(const Node& conv);
  /// The forward convolution's sizes, read from one of its gradients (conv2d_grad_input:
  /// dy, w -> dx; conv2d_grad_weight: x, dy -> dw).
  static ConvShape ofGradient(const Node& grad);
};

/// Every size of a pooling node (max_pool2d, avg_pool2d and their gradients' forward): planes
/// (N*C), input and output sides, window, stride, pads (top, left, bottom, right), dilation.
struct PoolShape {
  int64_t NC, H, W, OH, OW, KH, KW, SH, SW, PT, PL, PB, PR, DH, DW;
  static PoolShape of(const Node& pool);
};

/// Whether `n` runs as a kernel (aliases and constants do not).
bool isKernelNode(const Node& n);
/// The plan of node `n`; an error for a fused body no backend can render (`backend` names it).
Expected<KernelPlan> planKernel(const Node& n, std::string_view backend);
/// The emitter table key of an op: its Kernel{name}, or "elementwise" for Scalar ops.
std::string_view emitterKey(const OpDef& op);
/// The kernel's symbol: sinter_k<index>_<result name, C-safe>.
std::string kernelSymbol(size_t index, const Graph& g, const Node& n);

} // namespace sinter

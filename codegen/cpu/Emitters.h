// The CPU rendering table: one emitter per kernel template named in the op table, plus the
// epilogue that fused elementwise chains add to a producer kernel.
#pragma once

#include "codegen/KernelPlan.h"
#include "codegen/cpu/KernelBuilder.h"

#include <span>

namespace sinter::cpu {

/// Which kernel buffer each operand of the op being emitted is in, and where its result goes.
/// (For a fused node the op is a node of the body; its operands are the fused node's operands.)
struct Binding {
  std::vector<size_t> in;
  size_t out = 0;
};

/// Elementwise steps applied to a producer's result before it is stored (a fused chain).
class Epilogue {
public:
  using Step = EpilogueStep;
  std::vector<Step> steps;

  bool empty() const { return steps.empty(); }
  /// The chain applied to `v` for output element `flat` of the result (shape `out`).
  llvm::Value* apply(KernelBuilder& kb, llvm::Value* v, llvm::Value* flat, const Shape& out) const;
};

using EmitFn = Error (*)(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi);

struct CpuEmitter {
  std::string_view kernel; ///< Kernel{name} of the op table; "elementwise" for Scalar ops
  EmitFn emit;
};

// Families, one file each under codegen/cpu/kernels/.
std::span<const CpuEmitter> elementwiseEmitters();
std::span<const CpuEmitter> convEmitters();
std::span<const CpuEmitter> linearEmitters();
std::span<const CpuEmitter> poolEmitters();
std::span<const CpuEmitter> normEmitters();
std::span<const CpuEmitter> shapeEmitters();
std::span<const CpuEmitter> optimEmitters();

const CpuEmitter* findCpuEmitter(std::string_view kernel);

/// Splits work: `items` work items, each a chunk of at most `chunk` of `total` elements.
inline int64_t chunks(int64_t total, int64_t chunk) { return total == 0 ? 0 : (total + chunk - 1) / chunk; }

/// The fused LRN + max-pool kernel (the pool reads LRN values computed per plane in scratch).
Error emitLrnMaxPool(KernelBuilder& kb, const Node& lrn, const Node& pool, const Binding& lrnBind,
                     const Binding& poolBind);

} // namespace sinter::cpu

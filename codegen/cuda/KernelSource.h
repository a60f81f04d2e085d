// KernelSource: writes one CUDA C kernel: its parameters, typed loads/stores that convert to a
// compute type as the reference does, broadcast indexing, scalar expressions, error reports.
#pragma once

#include "codegen/KernelPlan.h"
#include "codegen/cuda/CudaProgram.h"
#include "ir/ScalarExpr.h"

#include <span>
#include <string>

namespace sinter::cuda {

/// Storage type in C of one element of a dtype.
std::string cType(DType t);
/// A C literal of `v` in type `t` ("float": 1.0f, 0.75f; "double": 0.75; inf/nan as bit casts).
std::string literal(double v, const std::string& t);
/// "float" for f32/f16/bf16, "double" otherwise (the reference's float64 for ints and f64).
std::string computeType(DType t);

class KernelSource {
public:
  KernelSource(CudaKernel& kernel, CudaProgram& program, const CudaTarget& target)
      : kernel_(kernel), program_(program), target_(target) {}

  CudaKernel& kernel() { return kernel_; }
  const CudaTarget& target() const { return target_; }
  const Node& node() const { return *kernel_.node; }
  size_t numOperands() const { return kernel_.node->numInputs(); }
  size_t result(size_t r = 0) const { return numOperands() + r; }
  const TensorType& type(size_t buffer) const { return kernel_.buffers[buffer]->type(); }

  /// Parameter name of buffer i ("b3").
  static std::string buf(size_t i) { return "b" + std::to_string(i); }
  /// Expression: element `index` of buffer i converted to `as` ("float" or "double").
  std::string load(size_t i, const std::string& index, const std::string& as) const;
  /// Statement: stores `value` (a compute-type expression) into element `index` of buffer i.
  std::string store(size_t i, const std::string& index, const std::string& value) const;
  /// Expression: the element of an operand of shape `operand` broadcast to `out` for output
  /// element `flat` (numpy rules; constants folded in).
  static std::string broadcastIndex(const std::string& flat, const Shape& out, const Shape& operand);
  /// Expression of a scalar expression over argument expressions, in type `t`.
  static std::string scalar(const ScalarExpr& e, const std::vector<std::string>& args, const std::string& t);
  /// Statement reporting `message` (first error wins) through the status word, then `then`
  /// ("return", or "continue" where the block must stay together for a reduction).
  std::string fail(const std::string& message, const std::string& then = "return");

  /// __launch_bounds__'s second argument (0: none).
  unsigned minBlocksPerSM = 0;
  /// The kernel body, written by the emitters.
  std::string body;
  /// Adds helper functions/constants before the kernel (each distinct text once).
  void helper(const std::string& text);
  /// Completes the translation unit (prelude, helpers, signature, body) and the launch shape.
  void finish(std::array<unsigned, 3> grid, unsigned block, unsigned sharedBytes, std::string rule);

private:
  CudaKernel& kernel_;
  CudaProgram& program_;
  CudaTarget target_;
  std::vector<std::string> helpers_;
};

/// Grid size for a grid-stride loop over `n` items with `block` threads.
unsigned gridFor(int64_t n, unsigned block, const CudaTarget& t);
/// The opening line of a grid-stride loop over `o` in [0, n) (one thread per item); close with "  }\n".
std::string gridLoop(int64_t n);

/// Which kernel buffer holds each operand of the op being emitted, and its result's.
struct Binding {
  std::vector<size_t> in;
  size_t out = 0;
};

/// Elementwise steps a fused chain applies to a producer's value before the store.
struct Epilogue {
  using Step = EpilogueStep;
  std::vector<Step> steps;
  bool empty() const { return steps.empty(); }
  /// Expression: the chain applied to `v` for output element `flat` of a result shaped `out`.
  std::string apply(const KernelSource& ks, const std::string& v, const std::string& flat, const Shape& out,
                    const std::string& t) const;
};

using EmitFn = Error (*)(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi);
struct CudaEmitter {
  std::string_view kernel; ///< Kernel{name}, or "elementwise"
  EmitFn emit;
};

std::span<const CudaEmitter> elementwiseEmitters();
std::span<const CudaEmitter> convEmitters();
std::span<const CudaEmitter> linearEmitters();
std::span<const CudaEmitter> poolEmitters();
std::span<const CudaEmitter> normEmitters();
std::span<const CudaEmitter> shapeEmitters();
std::span<const CudaEmitter> optimEmitters();
const CudaEmitter* findCudaEmitter(std::string_view kernel);

/// LRN's d^-beta (or d^(-beta-1) with `plusOne`) as an expression in type `t`.
std::string lrnPowNeg(const std::string& d, double beta, const std::string& t, bool plusOne);
/// LRN fused with the max-pool that follows it.
Error emitLrnMaxPool(KernelSource& ks, const Node& lrn, const Node& pool, const Binding& lrnBind, const Binding& poolBind);

} // namespace sinter::cuda

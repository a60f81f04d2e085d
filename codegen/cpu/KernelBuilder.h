// KernelBuilder: the LLVM IR vocabulary every CPU kernel is written in: the kernel function and
// its buffers, counted loops, typed loads/stores that convert to a compute type, scalar
// expressions, error returns.
#pragma once

#include "codegen/cpu/CpuProgram.h"
#include "ir/ScalarExpr.h"

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include <functional>

namespace sinter::cpu {

/// Compute type of values of a dtype: float for f32/f16/bf16, double for f64 and integers
/// (the reference's float64 semantics for integer arithmetic).
llvm::Type* computeType(llvm::LLVMContext& c, DType t);
/// Storage type of one element.
llvm::Type* storageType(llvm::LLVMContext& c, DType t);

class KernelBuilder {
public:
  /// Starts `i32 symbol(ptr bufs, i64 begin, i64 end, ptr scratch, ptr persistent)` for `kernel`
  /// in `m` (or, with `prepare`, the kernel's prepare function `symbol_prep`).
  KernelBuilder(llvm::Module& m, CpuKernel& kernel, CpuProgram& program, const CpuTarget& target,
                bool prepare = false);
  const CpuTarget& target() const { return target_; }

  llvm::IRBuilder<>& b() { return b_; }
  llvm::LLVMContext& ctx() { return m_.getContext(); }
  llvm::Module& module() { return m_; }
  CpuKernel& kernel() { return kernel_; }
  CpuProgram& program() { return program_; }
  const Node& node() const { return *kernel_.node; }

  llvm::Value* begin() const { return begin_; }
  llvm::Value* end() const { return end_; }
  llvm::Value* scratch() const { return scratch_; }
  llvm::Value* persistent() const { return persistent_; }
  /// Base pointer of buffer i (operands first, then results).
  llvm::Value* buffer(size_t i) const { return ptrs_[i]; }
  const TensorType& type(size_t i) const { return kernel_.buffers[i]->type(); }
  size_t numOperands() const { return kernel_.node->numInputs(); }
  /// Buffer index of result r.
  size_t result(size_t r = 0) const { return numOperands() + r; }

  llvm::Type* f32() { return b_.getFloatTy(); }
  llvm::Type* f64() { return b_.getDoubleTy(); }
  llvm::Type* i64() { return b_.getInt64Ty(); }
  llvm::Value* c64(int64_t v) { return b_.getInt64(static_cast<uint64_t>(v)); }
  llvm::Value* cf(double v, llvm::Type* t) { return llvm::ConstantFP::get(t, v); }

  /// for (iv = lo; iv < hi; ++iv) body(iv). Bounds are i64 values.
  void loop(llvm::Value* lo, llvm::Value* hi, const std::function<void(llvm::Value*)>& body, const char* name = "i");
  void loop(int64_t lo, int64_t hi, const std::function<void(llvm::Value*)>& body, const char* name = "i") {
    loop(c64(lo), c64(hi), body, name);
  }
  /// A loop whose iterations touch disjoint elements, or the same element of an operand the
  /// result overwrites in place (elementwise kernels): its memory accesses are marked parallel
  /// (llvm.loop.parallel_accesses), so the vectoriser needs no runtime overlap check, which an
  /// in-place result (output buffer == operand buffer) would always fail, leaving the loop scalar.
  void parallelLoop(llvm::Value* lo, llvm::Value* hi, const std::function<void(llvm::Value*)>& body,
                    const char* name = "i");
  /// Loop whose body carries values (accumulators) from one iteration to the next.
  std::vector<llvm::Value*> loopCarry(llvm::Value* lo, llvm::Value* hi, std::vector<llvm::Value*> init,
                                      const std::function<std::vector<llvm::Value*>(llvm::Value*,
                                                                                   const std::vector<llvm::Value*>&)>& body,
                                      const char* name = "k");
  /// if (cond) then().
  void ifThen(llvm::Value* cond, const std::function<void()>& then);

  /// Address of element `index` of a buffer of dtype t.
  llvm::Value* addr(DType t, llvm::Value* base, llvm::Value* index);
  /// Loads element `index` converted to `as` (a float type).
  llvm::Value* load(DType t, llvm::Value* base, llvm::Value* index, llvm::Type* as);
  /// Stores `v` (a float type) into element `index`, converting as Tensor::set does
  /// (rounding to nearest, float->int truncation with saturation and NaN -> 0).
  void store(DType t, llvm::Value* base, llvm::Value* index, llvm::Value* v);
  /// Copies one element of size `bytes` between addresses (data movement kernels).
  void copyElement(size_t bytes, llvm::Value* dst, llvm::Value* src);

  /// Renders a scalar expression over operand values of type `t` (float or double).
  llvm::Value* scalar(const ScalarExpr& e, const std::vector<llvm::Value*>& args, llvm::Type* t);
  /// A call to a libm/LLVM math function of one or two arguments, by the table's name.
  llvm::Value* math(std::string_view fn, std::vector<llvm::Value*> args);
  /// exp of an f32 value as straight-line arithmetic (no libm call), so loops over it vectorise.
  llvm::Value* expF32(llvm::Value* x);

  /// Returns error `message` from the kernel when `cond` holds.
  void failIf(llvm::Value* cond, const std::string& message);
  /// Finishes the function (returns 0).
  void finish();

private:
  llvm::Module& m_;
  CpuKernel& kernel_;
  CpuProgram& program_;
  CpuTarget target_;
  llvm::IRBuilder<> b_;
  llvm::Function* fn_;
  llvm::Instruction* lastBackedge_ = nullptr; ///< the latch branch of the last loop built
  llvm::Value *begin_, *end_, *scratch_, *persistent_;
  std::vector<llvm::Value*> ptrs_;
};

/// Splits a flat index over `shape` (row-major) and re-linearises it for an operand of shape
/// `operand` broadcast to `shape` (numpy rules): the operand's element for output element i.
llvm::Value* broadcastIndex(KernelBuilder& kb, llvm::Value* flat, const Shape& shape, const Shape& operand);

} // namespace sinter::cpu

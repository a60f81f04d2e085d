// The CPU code generator: one LLVM function per kernel of a planned graph.
#pragma once

#include "codegen/cpu/CpuProgram.h"
#include "ir/Error.h"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <memory>

namespace sinter {

struct CpuModule {
  std::unique_ptr<llvm::LLVMContext> context;
  std::unique_ptr<llvm::Module> module;
  CpuProgram program;
};

/// Emits every kernel of `g` (after the pass pipeline): Scalar ops and fused nodes through the
/// rendering table in codegen/cpu/kernels/, Alias and constant nodes as no code at all.
/// Errors name the node whose kernel could not be generated.
Expected<CpuModule> emitCpuModule(const Graph& g, const CpuTarget& target);

} // namespace sinter

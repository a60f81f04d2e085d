// What the CPU code generator hands the runtime: one entry per kernel of the planned graph.
// (No LLVM types here: runtime/ and tools/ include this.)
#pragma once

#include "ir/Graph.h"

#include <string>
#include <vector>

namespace sinter {

/// One generated kernel:
///   int32_t symbol(char** buffers, int64_t begin, int64_t end, char* scratch, char* persistent)
/// computes work items [begin, end) (the runtime splits them over threads) and returns 0, or the
/// 1-based index of a message in CpuProgram::errors (a data-dependent failure, e.g. a label out
/// of range). buffers[i] is the base of operand i, then of each result. A kernel may also have a
/// prepare function (same signature, one item) that fills `persistent` from constant operands
/// (weights repacked for the kernel's loops); the runtime runs it once, before the first step.
struct CpuKernel {
  std::string symbol;
  const Node* node = nullptr;      ///< the IR node it implements
  std::vector<const Value*> buffers; ///< operands, then results
  int64_t items = 1;               ///< parallel work items
  int64_t scratchBytes = 0;        ///< per-thread scratch the kernel needs
  std::string prepSymbol;          ///< the prepare function, or empty
  int64_t persistentBytes = 0;     ///< what the prepare function fills
  std::vector<size_t> prepReads;   ///< buffers the prepare function reads (must be constant)
};

struct CpuProgram {
  std::vector<CpuKernel> kernels;
  std::vector<std::string> errors; ///< messages by code - 1
};

/// Where generated code is tuned for: the host's vector width and caches.
struct CpuTarget {
  int vectorFloats = 16; ///< floats per vector register (16 with AVX-512, 8 with AVX2)
};

} // namespace sinter

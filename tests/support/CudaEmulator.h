// Runs the CUDA C that codegen/cuda generates for a planned graph on the host (tests/support/
// CudaEmu.h), with the same buffer layout as runtime/cuda: one arena from the memory plan,
// parameters, constants and inputs outside it, a status word for data errors. The arena is
// filled with NaN bytes before every run, so a kernel that reads an element nobody wrote, or
// leaves one of its results unwritten, shows up against the reference.
#pragma once

#include "codegen/cuda/CudaProgram.h"
#include "ir/Tensor.h"

#include <memory>

namespace sinter::test {

class EmulatedCuda {
public:
  /// Generates the kernels of `planned` (after plan-memory) for `target` and compiles them with
  /// the host compiler into a shared object (cached under $SINTER_CACHE_DIR/emu).
  static Expected<std::unique_ptr<EmulatedCuda>> create(std::shared_ptr<const Graph> planned, const CudaTarget& target);
  ~EmulatedCuda();
  /// One run; then the graph's updates are applied to the parameters it holds.
  Expected<std::vector<Tensor>> run(const std::vector<Tensor>& inputs);
  /// A parameter's current value.
  Expected<Tensor> param(std::string_view name) const;
  const CudaProgram& program() const;

private:
  struct Impl;
  explicit EmulatedCuda(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Runs one kernel on the host with its grid: `params[i]` points at argument i (cuLaunchKernel's
/// convention).
Error emulateKernel(const CudaKernel& kernel, const std::vector<void*>& params);

/// Whether emulation can run here (a host compiler was recorded at build time), else why not.
bool cudaEmulationAvailable(std::string* why);

} // namespace sinter::test

// The host C++ compiler recorded at build time, turning generated CUDA C (after the emulator's
// header, CudaEmu.h) into a shared object: used by the emulator (CudaEmulator.cpp) and by the
// host CUDA driver (hostcuda/HostDriver.cpp). Standard library only: the host driver is a shared
// library of its own and links nothing of Sinter's.
#pragma once

#include <string>
#include <vector>

namespace sinter::test {

/// `#include` of the emulator's header: the first line of every translation unit given below.
std::string emulatorInclude();

/// Compiles `tu` into a shared object cached under $SINTER_CACHE_DIR/emu (else the temporary
/// folder), keyed by the compiler, its flags, the emulator header and `tu`. Returns its path, or
/// an empty string with the compiler's complaint in `error`.
std::string buildHostObject(const std::string& tu, std::string& error);

/// A `__global__` function of a source: its name and __launch_bounds__ (1024 without one).
struct KernelDecl {
  std::string name;
  unsigned launchBounds = 1024;
};
/// The `__global__` functions in `source` (Sinter writes a kernel's qualifiers and name on one
/// line).
std::vector<KernelDecl> kernelDecls(const std::string& source);

/// The translation unit the host driver runs kernel `name` of `source` from: the emulator's
/// header, the source, and two C entry points: `sinter_host_entry` launches the kernel over a
/// grid (arguments as cuLaunchKernel takes them), `sinter_host_param_sizes` lists the sizes of
/// its parameters.
std::string hostKernelUnit(const std::string& source, const std::string& name);

/// Whether a host compiler and the emulator header were recorded at build time, else why not.
bool hostCompilerAvailable(std::string* why);

} // namespace sinter::test

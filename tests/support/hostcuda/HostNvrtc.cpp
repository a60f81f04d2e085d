// The host NVRTC: the program functions of NVRTC that runtime/cuda calls, defined here so that
// they take the place of libnvrtc's in a binary that links or preloads this file (the test binary
// links it; for the `sinter` CLI it comes with the host driver through LD_PRELOAD). "Compiling"
// checks the options, compiles each kernel of the source with the host C++ compiler (as the host
// driver will ask for it), and wraps the source as a host image (HostImage.h) for the driver. NVRTC's other
// functions (version, architectures, error strings) stay libnvrtc's.
#include "tests/support/HostCompile.h"
#include "tests/support/hostcuda/HostImage.h"

#include <nvrtc.h>

#include <cstring>
#include <string>

struct _nvrtcProgram { // (nvrtc.h declares the handle type without a body)
  std::string source, image, log;
};

extern "C" {

nvrtcResult nvrtcCreateProgram(nvrtcProgram* prog, const char* src, const char* /*name*/, int numHeaders,
                               const char* const* /*headers*/, const char* const* /*includeNames*/) {
  if (!prog || !src || numHeaders != 0) // (Sinter's kernels include nothing)
    return NVRTC_ERROR_INVALID_INPUT;
  *prog = new _nvrtcProgram{src, {}, {}};
  return NVRTC_SUCCESS;
}

nvrtcResult nvrtcCompileProgram(nvrtcProgram prog, int numOptions, const char* const* options) {
  if (!prog)
    return NVRTC_ERROR_INVALID_PROGRAM;
  bool arch = false;
  for (int i = 0; i < numOptions; ++i)
    arch |= std::strncmp(options[i], "--gpu-architecture=sm_", 22) == 0;
  if (!arch) { // runtime/cuda always names the architecture (real device code is per sm)
    prog->log = "host NVRTC: no --gpu-architecture=sm_XY option";
    return NVRTC_ERROR_INVALID_OPTION;
  }
  // The host objects are built here, in runtime/cuda's parallel compile threads, so that the
  // driver finds them in the cache when it loads the functions.
  for (const sinter::test::KernelDecl& k : sinter::test::kernelDecls(prog->source)) {
    std::string error;
    if (sinter::test::buildHostObject(sinter::test::hostKernelUnit(prog->source, k.name), error).empty()) {
      prog->log = error;
      return NVRTC_ERROR_COMPILATION;
    }
  }
  prog->image = sinter::hostcuda::imageOf(prog->source);
  return NVRTC_SUCCESS;
}

nvrtcResult nvrtcGetProgramLogSize(nvrtcProgram prog, size_t* size) {
  if (!prog || !size)
    return NVRTC_ERROR_INVALID_INPUT;
  *size = prog->log.size() + 1;
  return NVRTC_SUCCESS;
}

nvrtcResult nvrtcGetProgramLog(nvrtcProgram prog, char* log) {
  if (!prog || !log)
    return NVRTC_ERROR_INVALID_INPUT;
  std::memcpy(log, prog->log.c_str(), prog->log.size() + 1);
  return NVRTC_SUCCESS;
}

nvrtcResult nvrtcGetCUBINSize(nvrtcProgram prog, size_t* size) {
  if (!prog || !size || prog->image.empty())
    return NVRTC_ERROR_INVALID_INPUT;
  *size = prog->image.size();
  return NVRTC_SUCCESS;
}

nvrtcResult nvrtcGetCUBIN(nvrtcProgram prog, char* cubin) {
  if (!prog || !cubin || prog->image.empty())
    return NVRTC_ERROR_INVALID_INPUT;
  std::memcpy(cubin, prog->image.data(), prog->image.size());
  return NVRTC_SUCCESS;
}

nvrtcResult nvrtcDestroyProgram(nvrtcProgram* prog) {
  if (!prog)
    return NVRTC_ERROR_INVALID_INPUT;
  delete *prog;
  *prog = nullptr;
  return NVRTC_SUCCESS;
}

} // extern "C"

// Makes this test binary run runtime/cuda on the host CUDA driver: the driver (libcuda.so.1 built
// from HostDriver.cpp) is loaded by its full path before any test runs, so runtime/cuda's
// dlopen("libcuda.so.1") finds it already loaded (by its soname) and never looks for a real one.
// The binary links the host NVRTC (HostNvrtc.cpp) in place of libnvrtc's program functions.
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>

namespace {

const bool loaded = [] {
  if (!dlopen(SINTER_HOST_CUDA_LIBRARY, RTLD_NOW | RTLD_GLOBAL)) {
    std::fprintf(stderr, "cannot load the host CUDA driver %s: %s\n", SINTER_HOST_CUDA_LIBRARY, dlerror());
    std::abort();
  }
  return true;
}();

} // namespace

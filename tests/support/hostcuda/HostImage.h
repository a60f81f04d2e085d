// The "device code" that the host NVRTC (HostNvrtc.cpp) hands out in place of a CUBIN and the
// host driver (HostDriver.cpp) loads: a marker, then the CUDA C source, NUL-terminated. It starts
// like an ELF file, as a CUBIN does, so runtime/cuda's kernel cache stores and reloads it as it
// would a CUBIN.
#pragma once

#include <string>
#include <string_view>

namespace sinter::hostcuda {

inline constexpr std::string_view kImageMarker = "\x7f" "ELF sinter host module\n";

inline std::string imageOf(std::string_view source) {
  std::string image(kImageMarker);
  image += source;
  image += '\0';
  return image;
}

} // namespace sinter::hostcuda

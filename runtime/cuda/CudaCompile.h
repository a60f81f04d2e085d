// NVRTC compilation of a CUDA program (no GPU needed) with the on-disk kernel cache.
#pragma once

#include "codegen/cuda/CudaProgram.h"

#include <string>
#include <vector>

namespace sinter {

/// Whether this build has NVRTC (the CUDA toolkit was found at build time).
bool nvrtcAvailable();
/// "13.0"; empty without NVRTC.
std::string nvrtcVersionString();
/// The sm_XY numbers this NVRTC compiles for (75, 80, ...); empty without NVRTC.
std::vector<int> nvrtcArchitectures();

struct CudaCompileOptions {
  int sm = 90;              ///< target architecture: sm_XY
  bool useCache = true;
  std::string cacheDir;     ///< empty: $SINTER_CACHE_DIR or ~/.cache/sinter
  int threads = 0;          ///< parallel NVRTC compiles (0: every core)
  bool readCache = true;    ///< false: compile cold, still storing the results (timing cold compiles)
};

struct CompiledKernel {
  std::string cubin;        ///< device code for the sm
  std::string log;          ///< NVRTC's log (warnings); empty when clean
  bool cacheHit = false;
  std::string key;          ///< cache key: hash of source, arch, NVRTC version, options
};

/// NVRTC options used for every kernel (part of the cache key).
std::vector<std::string> nvrtcOptions(int sm);

/// Compiles every kernel (in parallel). Errors carry the NVRTC log and the numbered source.
Expected<std::vector<CompiledKernel>> compileCudaProgram(const CudaProgram& program, const CudaCompileOptions& options);

/// Registers, spills, shared memory and stack of a kernel, from ptxas's report in the NVRTC log
/// (kernels are compiled with --ptxas-options=-v).
std::string resourceReport(const CompiledKernel& k);
/// The NVRTC log without ptxas's informational lines: warnings (empty when clean).
std::string nvrtcWarnings(const CompiledKernel& k);

} // namespace sinter

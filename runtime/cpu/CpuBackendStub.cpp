// The CPU backend in a build without LLVM (cmake -DSINTER_WITH_LLVM=OFF, e.g. the GPU bundle,
// which must fit machines without Debian's LLVM): every entry point says the backend is absent.
#include "runtime/cpu/CpuBackend.h"

namespace sinter {

bool cpuBackendAvailable() { return false; }

struct CpuExecutable::Impl {
  CpuCompileStats stats;
};

CpuExecutable::CpuExecutable(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CpuExecutable::~CpuExecutable() = default;

Expected<std::unique_ptr<CpuExecutable>> CpuExecutable::compile(std::shared_ptr<const Graph>, const CpuOptions&) {
  return makeError("target 'cpu' is not available: this build has no LLVM (configured with SINTER_WITH_LLVM=OFF)");
}
std::vector<CpuExecutable::KernelTime> CpuExecutable::kernelTimes() const { return {}; }
Expected<std::vector<Tensor>> CpuExecutable::run(const std::vector<Tensor>&) {
  return makeError("target 'cpu' is not available in this build");
}
const CpuCompileStats& CpuExecutable::stats() const { return impl_->stats; }
Expected<Tensor> CpuExecutable::param(std::string_view) const { return makeError("no CPU backend in this build"); }
Error CpuExecutable::setParam(std::string_view, const Tensor&) { return makeError("no CPU backend in this build"); }
int CpuExecutable::threads() const { return 0; }

} // namespace sinter

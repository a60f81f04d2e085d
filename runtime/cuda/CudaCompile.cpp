// NVRTC: CUDA C -> CUBIN for one architecture, in parallel, through the kernel cache.
#include "runtime/cuda/CudaCompile.h"

#include "runtime/KernelCache.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <sstream>
#include <thread>

#ifdef SINTER_HAS_NVRTC
#include <nvrtc.h>
#endif

namespace sinter {

std::vector<std::string> nvrtcOptions(int sm) {
  return {fmt::format("--gpu-architecture=sm_{}", sm), "--std=c++17", "-default-device",
          "--ptxas-options=-v", "-lineinfo"};
}

std::string nvrtcWarnings(const CompiledKernel& k) {
  std::istringstream in(k.log);
  std::string line, out;
  while (std::getline(in, line))
    if (line.rfind("ptxas", 0) != 0 && line.find_first_not_of(" \t\r") != std::string::npos)
      out += line + "\n";
  return out;
}

std::string resourceReport(const CompiledKernel& k) {
  std::istringstream in(k.log);
  std::string line, out;
  while (std::getline(in, line))
    if (line.rfind("ptxas", 0) == 0 && line.find("Used") != std::string::npos)
      out += (out.empty() ? "" : "; ") + line.substr(line.find("Used"));
    else if (line.rfind("ptxas", 0) == 0 && line.find("stack frame") != std::string::npos)
      out += (out.empty() ? "" : "; ") + line.substr(line.find_first_of("0123456789"));
  return out;
}

#ifdef SINTER_HAS_NVRTC

bool nvrtcAvailable() { return true; }

std::string nvrtcVersionString() {
  int major = 0, minor = 0;
  nvrtcVersion(&major, &minor);
  return fmt::format("{}.{}", major, minor);
}

namespace {

std::string numbered(const std::string& src) {
  std::istringstream in(src);
  std::string line, out;
  for (int n = 1; std::getline(in, line); ++n)
    out += fmt::format("{:5} | {}\n", n, line);
  return out;
}

Expected<CompiledKernel> compileOne(const CudaKernel& k, int sm) {
  nvrtcProgram prog;
  if (nvrtcCreateProgram(&prog, k.source.c_str(), (k.name + ".cu").c_str(), 0, nullptr, nullptr) != NVRTC_SUCCESS)
    return makeError("NVRTC cannot create a program for {}", k.name);
  std::vector<std::string> opts = nvrtcOptions(sm);
  std::vector<const char*> argv;
  for (const std::string& o : opts)
    argv.push_back(o.c_str());
  nvrtcResult r = nvrtcCompileProgram(prog, static_cast<int>(argv.size()), argv.data());
  size_t logSize = 0;
  nvrtcGetProgramLogSize(prog, &logSize);
  std::string log(logSize, '\0');
  if (logSize)
    nvrtcGetProgramLog(prog, log.data());
  while (!log.empty() && (log.back() == '\0' || log.back() == '\n'))
    log.pop_back();
  if (r != NVRTC_SUCCESS) {
    nvrtcDestroyProgram(&prog);
    return makeError("NVRTC failed on kernel {} ({}):\n{}\n--- source ---\n{}", k.name, nvrtcGetErrorString(r), log,
                     numbered(k.source));
  }
  size_t size = 0;
  nvrtcGetCUBINSize(prog, &size);
  CompiledKernel out;
  out.cubin.resize(size);
  nvrtcGetCUBIN(prog, out.cubin.data());
  nvrtcDestroyProgram(&prog);
  out.log = log;
  return out;
}

} // namespace

std::vector<int> nvrtcArchitectures() {
  int n = 0;
  if (nvrtcGetNumSupportedArchs(&n) != NVRTC_SUCCESS || n <= 0)
    return {};
  std::vector<int> archs(static_cast<size_t>(n));
  if (nvrtcGetSupportedArchs(archs.data()) != NVRTC_SUCCESS)
    return {};
  return archs;
}

Expected<std::vector<CompiledKernel>> compileCudaProgram(const CudaProgram& program, const CudaCompileOptions& o) {
  // An architecture this NVRTC does not know fails every kernel with a bare "invalid value":
  // say so once, with the ones it does know.
  if (std::vector<int> archs = nvrtcArchitectures(); !archs.empty() && std::find(archs.begin(), archs.end(), o.sm) == archs.end()) {
    std::vector<std::string> names;
    for (int a : archs)
      names.push_back(fmt::format("sm_{}", a));
    return makeError("NVRTC {} cannot compile for sm_{}; it compiles for {}", nvrtcVersionString(), o.sm, fmt::join(names, ", "));
  }
  std::optional<KernelCache> cache;
  if (o.useCache)
    cache.emplace("cuda", o.cacheDir);
  std::string version = nvrtcVersionString();
  std::string opts = fmt::format("{}", fmt::join(nvrtcOptions(o.sm), " "));
  size_t n = program.kernels.size();
  std::vector<std::optional<Expected<CompiledKernel>>> results(n);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < n; i = next++) {
      const CudaKernel& k = program.kernels[i];
      std::string key = contentHash(fmt::format("sinter-cuda-1\nnvrtc {}\nsm_{}\n{}\n{}", version, o.sm, opts, k.source));
      if (cache && o.readCache) {
        if (auto hit = cache->load(key)) {
          // Payload: log length line, log, cubin.
          size_t eol = hit->find('\n'), logLen = 0;
          bool parsed = eol != std::string::npos &&
                        std::from_chars(hit->data(), hit->data() + eol, logLen).ptr == hit->data() + eol;
          // A CUBIN is an ELF file: anything else is not trusted.
          if (parsed && eol + 1 + logLen <= hit->size() && hit->compare(eol + 1 + logLen, 4, "\x7f" "ELF") == 0) {
            CompiledKernel c;
            c.log = hit->substr(eol + 1, logLen);
            c.cubin = hit->substr(eol + 1 + logLen);
            c.cacheHit = true;
            c.key = key;
            results[i] = std::move(c);
            continue;
          }
        }
      }
      auto c = compileOne(k, o.sm);
      if (c) {
        c->key = key;
        if (cache)
          (void)cache->store(key, fmt::format("{}\n{}{}", c->log.size(), c->log, c->cubin));
      }
      results[i] = std::move(c);
    }
  };
  unsigned threads = o.threads > 0 ? static_cast<unsigned>(o.threads) : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < std::min<size_t>(threads, n); ++t)
    pool.emplace_back(work);
  work();
  for (auto& t : pool)
    t.join();
  std::vector<CompiledKernel> out;
  for (size_t i = 0; i < n; ++i) {
    if (!*results[i])
      return results[i]->error();
    out.push_back(std::move(**results[i]));
  }
  return out;
}

#else

bool nvrtcAvailable() { return false; }
std::string nvrtcVersionString() { return {}; }
std::vector<int> nvrtcArchitectures() { return {}; }
Expected<std::vector<CompiledKernel>> compileCudaProgram(const CudaProgram&, const CudaCompileOptions&) {
  return makeError("this build has no CUDA toolkit (NVRTC): the CUDA target is not available");
}

#endif

} // namespace sinter

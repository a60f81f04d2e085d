// The host CUDA driver: a libcuda.so.1 that runs on the CPU, so that runtime/cuda (the executor,
// CUDA-graph capture and replay, autotune's timer and output check, in-place updates) is tested
// where there is no GPU. It exports the driver functions runtime/cuda looks up, under the same
// names, and runs them as a strict, in-order, one-stream device:
//   - memory is host memory (filled with 0xff bytes, NaN for floats, when allocated); copies and
//     memsets must lie inside one allocation;
//   - work on a stream runs when it is issued (so a stream is trivially in order); while a stream
//     captures, work is recorded instead, and what a real driver refuses during a thread-local
//     capture (synchronising, allocating, freeing, host copies) fails and invalidates the capture;
//   - kernel arguments are copied at launch or capture, as a real driver does, with the sizes of
//     the kernel's parameters;
//   - launches are checked as a GPU would check them: threads per block (at most 1,024 and at
//     most the kernel's __launch_bounds__), grid limits, dynamic shared memory above 48 KiB only
//     with the attribute set, at most 227 KiB; a kernel that fails makes later calls fail (the
//     error is sticky, as a failed launch is on a GPU);
//   - modules are host images (HostImage.h, from the host NVRTC): a function's source is compiled
//     with the host C++ compiler after the emulator's header (CudaEmu.h) when it is looked up.
// The device: "Sinter host driver (emulated sm_90)", 132 multiprocessors. Events time the host.
// Host images are not device code: when loaded, the driver moves $SINTER_CACHE_DIR (default
// ~/.cache/sinter) to its "hostcuda" sub-folder, so they never mix with real CUBINs in a cache.
// $SINTER_HOST_CUDA_DROP=TEXT: launches of kernels whose source contains TEXT do nothing (tests
// use it to make a wrong autotune candidate).
#include "tests/support/HostCompile.h"
#include "tests/support/hostcuda/HostImage.h"

#include <cuda.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

// The handle types cuda.h declares without a body.
struct CUctx_st {};
struct CUstream_st {
  bool capturing = false, invalidated = false;
  std::vector<std::function<CUresult()>> captured;
};
struct CUgraph_st {
  std::vector<std::function<CUresult()>> ops;
};
struct CUgraphExec_st {
  std::vector<std::function<CUresult()>> ops;
};
struct CUevent_st {
  bool recorded = false;
  std::chrono::steady_clock::time_point time;
};
struct CUmod_st {
  std::string source;
  std::vector<std::unique_ptr<struct CUfunc_st>> functions;
};
struct CUfunc_st {
  using Entry = const char* (*)(unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void**);
  std::string name;
  void* library = nullptr;
  Entry entry = nullptr;
  std::vector<unsigned> paramSizes;
  unsigned launchBounds = 1024;
  int maxDynamicShared = 48 * 1024;
  bool drop = false;
  ~CUfunc_st() {
    if (library)
      dlclose(library);
  }
};

namespace {

constexpr int kSm = 90, kMultiprocessors = 132, kClockKHz = 1980000;
constexpr int kSharedOptInLimit = 227 * 1024;

std::mutex mu;                         // one driver call at a time
CUresult sticky = CUDA_SUCCESS;        // a failed kernel poisons the context
std::map<uintptr_t, size_t>& allocations = *new std::map<uintptr_t, size_t>; // base -> bytes (see below)
CUstream_st defaultStream; // the legacy stream (0)
CUctx_st context;
bool initialised = false;

CUstream_st* streamOf(CUstream s) { return s ? s : &defaultStream; }

// Live streams and modules. (These containers and `allocations` are never destroyed, so what a
// process leaves allocated or loaded at exit is still reachable when LeakSanitizer looks.)
std::vector<CUstream_st*>& streams = *new std::vector<CUstream_st*>;
std::vector<CUmod_st*>& modules = *new std::vector<CUmod_st*>;

// What a thread-local capture forbids (allocating, freeing, synchronising, loading) fails and
// invalidates it.
bool refusedDuringCapture() {
  bool any = false;
  for (CUstream_st* s : streams)
    if (s->capturing) {
      s->invalidated = true;
      any = true;
    }
  return any;
}

bool inOneAllocation(uintptr_t p, size_t n) {
  auto it = allocations.upper_bound(p);
  if (it == allocations.begin())
    return false;
  --it;
  return p >= it->first && p + n <= it->first + it->second && p + n >= p;
}

// Work on a stream: run now, or record it while the stream captures (`hostCopy`: refused then).
CUresult issue(CUstream s, std::function<CUresult()> op, bool hostCopy = false) {
  if (sticky != CUDA_SUCCESS)
    return sticky;
  CUstream_st* st = streamOf(s);
  if (st->capturing) {
    if (hostCopy) {
      st->invalidated = true;
      return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    }
    st->captured.push_back(std::move(op));
    return CUDA_SUCCESS;
  }
  CUresult r = op();
  if (r != CUDA_SUCCESS && r != CUDA_ERROR_INVALID_VALUE)
    sticky = r;
  return r;
}

// Runs when the driver is loaded (see the top of this file).
__attribute__((constructor)) void separateCache() {
  const char* env = std::getenv("SINTER_CACHE_DIR");
  const char* home = std::getenv("HOME");
  std::string base = env && *env ? env : home && *home ? std::string(home) + "/.cache/sinter" : "/tmp/sinter";
  if (base.size() < 9 || base.compare(base.size() - 9, 9, "/hostcuda") != 0)
    setenv("SINTER_CACHE_DIR", (base + "/hostcuda").c_str(), 1);
}

} // namespace

extern "C" {

CUresult cuInit(unsigned flags) {
  std::lock_guard<std::mutex> lock(mu);
  if (flags != 0)
    return CUDA_ERROR_INVALID_VALUE;
  initialised = true;
  return CUDA_SUCCESS;
}

CUresult cuGetErrorString(CUresult r, const char** s) {
  if (!s)
    return CUDA_ERROR_INVALID_VALUE;
  switch (r) {
  case CUDA_SUCCESS: *s = "no error"; break;
  case CUDA_ERROR_INVALID_VALUE: *s = "invalid argument"; break;
  case CUDA_ERROR_NOT_INITIALIZED: *s = "initialization error"; break;
  case CUDA_ERROR_INVALID_IMAGE: *s = "device kernel image is invalid"; break;
  case CUDA_ERROR_INVALID_HANDLE: *s = "invalid resource handle"; break;
  case CUDA_ERROR_NOT_FOUND: *s = "named symbol not found"; break;
  case CUDA_ERROR_NOT_READY: *s = "device not ready"; break;
  case CUDA_ERROR_LAUNCH_FAILED: *s = "unspecified launch failure"; break;
  case CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES: *s = "too many resources requested for launch"; break;
  case CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED: *s = "operation not permitted when stream is capturing"; break;
  case CUDA_ERROR_STREAM_CAPTURE_INVALIDATED: *s = "operation failed due to a previous error during capture"; break;
  case CUDA_ERROR_NOT_SUPPORTED: *s = "operation not supported"; break;
  default: *s = "unknown error (host driver)"; return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int* n) {
  if (!initialised)
    return CUDA_ERROR_NOT_INITIALIZED;
  *n = 1;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice* d, int ordinal) {
  if (!initialised)
    return CUDA_ERROR_NOT_INITIALIZED;
  if (ordinal != 0)
    return CUDA_ERROR_INVALID_DEVICE;
  *d = 0;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char* name, int len, CUdevice d) {
  if (d != 0 || len <= 0)
    return CUDA_ERROR_INVALID_VALUE;
  std::snprintf(name, static_cast<size_t>(len), "Sinter host driver (emulated sm_%d)", kSm);
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int* v, CUdevice_attribute a, CUdevice d) {
  if (d != 0)
    return CUDA_ERROR_INVALID_DEVICE;
  switch (a) {
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = kSm / 10; break;
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = kSm % 10; break;
  case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *v = kMultiprocessors; break;
  case CU_DEVICE_ATTRIBUTE_CLOCK_RATE: *v = kClockKHz; break;
  case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: *v = kSharedOptInLimit; break;
  default: return CUDA_ERROR_INVALID_VALUE; // (not modelled: add it here when runtime/cuda asks)
  }
  return CUDA_SUCCESS;
}

CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice d) {
  if (d != 0)
    return CUDA_ERROR_INVALID_DEVICE;
  *bytes = size_t{16} << 30;
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(CUcontext* c, CUdevice d) {
  if (!initialised)
    return CUDA_ERROR_NOT_INITIALIZED;
  if (d != 0)
    return CUDA_ERROR_INVALID_DEVICE;
  *c = &context;
  return CUDA_SUCCESS;
}

CUresult cuCtxSetCurrent(CUcontext c) { return c == &context || !c ? sticky : CUDA_ERROR_INVALID_CONTEXT; }

CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) {
  std::lock_guard<std::mutex> lock(mu);
  if (sticky != CUDA_SUCCESS)
    return sticky;
  if (refusedDuringCapture())
    return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  if (bytes == 0)
    return CUDA_ERROR_INVALID_VALUE;
  void* mem = nullptr; // (exactly `bytes`: in the sanitizer build a kernel reading past the end is caught)
  if (posix_memalign(&mem, 256, bytes) != 0)
    return CUDA_ERROR_OUT_OF_MEMORY;
  std::memset(mem, 0xff, bytes); // device memory holds garbage: NaN here
  *p = reinterpret_cast<CUdeviceptr>(mem);
  allocations[*p] = bytes;
  return CUDA_SUCCESS;
}

CUresult cuMemFree_v2(CUdeviceptr p) {
  std::lock_guard<std::mutex> lock(mu);
  if (refusedDuringCapture())
    return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  auto it = allocations.find(p);
  if (it == allocations.end())
    return CUDA_ERROR_INVALID_VALUE;
  allocations.erase(it);
  std::free(reinterpret_cast<void*>(p));
  return CUDA_SUCCESS;
}

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, CUstream s) {
  std::lock_guard<std::mutex> lock(mu);
  if (!inOneAllocation(dst, n))
    return CUDA_ERROR_INVALID_VALUE;
  return issue(s, [=] { std::memcpy(reinterpret_cast<void*>(dst), src, n); return CUDA_SUCCESS; }, true);
}

CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, CUstream s) {
  std::lock_guard<std::mutex> lock(mu);
  if (!inOneAllocation(src, n))
    return CUDA_ERROR_INVALID_VALUE;
  return issue(s, [=] { std::memcpy(dst, reinterpret_cast<const void*>(src), n); return CUDA_SUCCESS; }, true);
}

CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
  std::lock_guard<std::mutex> lock(mu);
  if (!inOneAllocation(dst, n) || !inOneAllocation(src, n))
    return CUDA_ERROR_INVALID_VALUE;
  return issue(s, [=] {
    std::memmove(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), n);
    return CUDA_SUCCESS;
  });
}

CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char v, size_t n, CUstream s) {
  std::lock_guard<std::mutex> lock(mu);
  if (!inOneAllocation(dst, n))
    return CUDA_ERROR_INVALID_VALUE;
  return issue(s, [=] { std::memset(reinterpret_cast<void*>(dst), v, n); return CUDA_SUCCESS; });
}

CUresult cuStreamCreate(CUstream* s, unsigned /*flags*/) {
  std::lock_guard<std::mutex> lock(mu);
  streams.push_back(new CUstream_st);
  *s = streams.back();
  return CUDA_SUCCESS;
}

CUresult cuStreamDestroy_v2(CUstream s) {
  std::lock_guard<std::mutex> lock(mu);
  auto it = std::find(streams.begin(), streams.end(), s);
  if (it == streams.end())
    return CUDA_ERROR_INVALID_HANDLE;
  if (s->capturing)
    return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  streams.erase(it);
  delete s;
  return CUDA_SUCCESS;
}

CUresult cuStreamSynchronize(CUstream s) {
  std::lock_guard<std::mutex> lock(mu);
  if (streamOf(s)->capturing) {
    streamOf(s)->invalidated = true;
    return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  }
  return sticky;
}

CUresult cuStreamBeginCapture_v2(CUstream s, CUstreamCaptureMode mode) {
  std::lock_guard<std::mutex> lock(mu);
  if (mode != CU_STREAM_CAPTURE_MODE_THREAD_LOCAL && mode != CU_STREAM_CAPTURE_MODE_GLOBAL)
    return CUDA_ERROR_NOT_SUPPORTED; // (relaxed mode is not modelled)
  CUstream_st* st = streamOf(s);
  if (!s || st->capturing)
    return CUDA_ERROR_ILLEGAL_STATE; // the legacy stream cannot capture; nor can one capture twice
  st->capturing = true;
  st->invalidated = false;
  st->captured.clear();
  return sticky;
}

CUresult cuStreamEndCapture(CUstream s, CUgraph* g) {
  std::lock_guard<std::mutex> lock(mu);
  CUstream_st* st = streamOf(s);
  if (!st->capturing)
    return CUDA_ERROR_ILLEGAL_STATE;
  st->capturing = false;
  *g = nullptr;
  if (st->invalidated) {
    st->captured.clear();
    return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
  }
  *g = new CUgraph_st{std::move(st->captured)};
  st->captured.clear();
  return CUDA_SUCCESS;
}

CUresult cuGraphInstantiateWithFlags(CUgraphExec* e, CUgraph g, unsigned long long /*flags*/) {
  if (!g)
    return CUDA_ERROR_INVALID_VALUE;
  *e = new CUgraphExec_st{g->ops};
  return CUDA_SUCCESS;
}

CUresult cuGraphLaunch(CUgraphExec e, CUstream s) {
  std::lock_guard<std::mutex> lock(mu);
  if (!e)
    return CUDA_ERROR_INVALID_VALUE;
  return issue(s, [e] {
    for (auto& op : e->ops)
      if (CUresult r = op(); r != CUDA_SUCCESS)
        return r;
    return CUDA_SUCCESS;
  });
}

CUresult cuGraphExecDestroy(CUgraphExec e) {
  delete e;
  return CUDA_SUCCESS;
}

CUresult cuGraphDestroy(CUgraph g) {
  delete g;
  return CUDA_SUCCESS;
}

CUresult cuEventCreate(CUevent* e, unsigned /*flags*/) {
  *e = new CUevent_st;
  return CUDA_SUCCESS;
}

CUresult cuEventRecord(CUevent e, CUstream s) {
  std::lock_guard<std::mutex> lock(mu);
  if (!e)
    return CUDA_ERROR_INVALID_HANDLE;
  return issue(s, [e] {
    e->recorded = true;
    e->time = std::chrono::steady_clock::now();
    return CUDA_SUCCESS;
  });
}

CUresult cuEventSynchronize(CUevent e) {
  std::lock_guard<std::mutex> lock(mu);
  if (!e)
    return CUDA_ERROR_INVALID_HANDLE;
  if (refusedDuringCapture())
    return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  return sticky;
}

CUresult cuEventElapsedTime_v2(float* ms, CUevent a, CUevent b) {
  if (!a || !b || !ms)
    return CUDA_ERROR_INVALID_HANDLE;
  if (!a->recorded || !b->recorded)
    return CUDA_ERROR_INVALID_HANDLE;
  *ms = std::chrono::duration<float, std::milli>(b->time - a->time).count();
  return CUDA_SUCCESS;
}

CUresult cuEventDestroy_v2(CUevent e) {
  delete e;
  return CUDA_SUCCESS;
}

CUresult cuModuleLoadData(CUmodule* m, const void* image) {
  std::lock_guard<std::mutex> lock(mu);
  if (sticky != CUDA_SUCCESS)
    return sticky;
  if (refusedDuringCapture())
    return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  const char* text = static_cast<const char*>(image);
  const std::string_view marker = sinter::hostcuda::kImageMarker;
  if (!text || std::strncmp(text, marker.data(), marker.size()) != 0) {
    std::fprintf(stderr, "sinter host driver: cuModuleLoadData: not a host image (device code from the real NVRTC?)\n");
    return CUDA_ERROR_INVALID_IMAGE;
  }
  *m = new CUmod_st{text + marker.size(), {}};
  modules.push_back(*m);
  return CUDA_SUCCESS;
}

CUresult cuModuleUnload(CUmodule m) {
  std::lock_guard<std::mutex> lock(mu);
  auto it = std::find(modules.begin(), modules.end(), m);
  if (it == modules.end())
    return CUDA_ERROR_INVALID_HANDLE;
  modules.erase(it);
  delete m;
  return CUDA_SUCCESS;
}

// Compiles the function's source for the host (cached), with an entry that launches it over a
// grid and one that lists its parameters' sizes.
CUresult cuModuleGetFunction(CUfunction* f, CUmodule m, const char* name) {
  std::lock_guard<std::mutex> lock(mu);
  if (!m || !name)
    return CUDA_ERROR_INVALID_HANDLE;
  unsigned bounds = 0;
  for (const sinter::test::KernelDecl& k : sinter::test::kernelDecls(m->source))
    if (k.name == name)
      bounds = k.launchBounds;
  if (bounds == 0)
    return CUDA_ERROR_NOT_FOUND;
  std::string error;
  std::string so = sinter::test::buildHostObject(sinter::test::hostKernelUnit(m->source, name), error);
  if (so.empty()) {
    std::fprintf(stderr, "sinter host driver: %s\n", error.c_str());
    return CUDA_ERROR_INVALID_IMAGE;
  }
  auto fn = std::make_unique<CUfunc_st>();
  fn->name = name;
  fn->launchBounds = bounds;
  fn->library = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!fn->library) {
    std::fprintf(stderr, "sinter host driver: dlopen %s: %s\n", so.c_str(), dlerror());
    return CUDA_ERROR_INVALID_IMAGE;
  }
  fn->entry = reinterpret_cast<CUfunc_st::Entry>(dlsym(fn->library, "sinter_host_entry"));
  auto sizes = reinterpret_cast<unsigned (*)(unsigned*)>(dlsym(fn->library, "sinter_host_param_sizes"));
  if (!fn->entry || !sizes)
    return CUDA_ERROR_INVALID_IMAGE;
  fn->paramSizes.resize(256);
  fn->paramSizes.resize(sizes(fn->paramSizes.data()));
  const char* drop = std::getenv("SINTER_HOST_CUDA_DROP");
  fn->drop = drop && *drop && m->source.find(drop) != std::string::npos;
  m->functions.push_back(std::move(fn));
  *f = m->functions.back().get();
  return CUDA_SUCCESS;
}

CUresult cuFuncSetAttribute(CUfunction f, CUfunction_attribute a, int v) {
  std::lock_guard<std::mutex> lock(mu);
  if (!f)
    return CUDA_ERROR_INVALID_HANDLE;
  if (a != CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)
    return CUDA_ERROR_NOT_SUPPORTED; // (not modelled)
  if (v < 0 || v > kSharedOptInLimit)
    return CUDA_ERROR_INVALID_VALUE;
  f->maxDynamicShared = std::max(v, 48 * 1024);
  return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, CUstream s, void** params, void** extra) {
  std::lock_guard<std::mutex> lock(mu);
  if (!f)
    return CUDA_ERROR_INVALID_HANDLE;
  unsigned long long threads = 1ull * bx * by * bz;
  if (extra || (!params && !f->paramSizes.empty()) || gx == 0 || gy == 0 || gz == 0 || gy > 65535 || gz > 65535 ||
      threads == 0 || threads > 1024 || bz > 64)
    return CUDA_ERROR_INVALID_VALUE;
  if (threads > f->launchBounds || static_cast<int>(shared) > f->maxDynamicShared) {
    std::fprintf(stderr, "sinter host driver: %s: %llu threads (bounds %u), %u bytes of dynamic shared memory (limit %d)\n",
                 f->name.c_str(), threads, f->launchBounds, shared, f->maxDynamicShared);
    return threads > f->launchBounds ? CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES : CUDA_ERROR_INVALID_VALUE;
  }
  // The arguments' bytes, copied now (a captured launch keeps these values).
  std::vector<std::vector<unsigned char>> args;
  for (size_t i = 0; i < f->paramSizes.size(); ++i) {
    const unsigned char* p = static_cast<const unsigned char*>(params[i]);
    args.emplace_back(p, p + f->paramSizes[i]);
  }
  return issue(s, [f, gx, gy, gz, bx, by, bz, shared, args]() mutable {
    if (f->drop)
      return CUDA_SUCCESS;
    std::vector<void*> pointers;
    for (auto& a : args)
      pointers.push_back(a.data());
    if (const char* err = f->entry(gx, gy, gz, bx, by, bz, shared, pointers.data())) {
      std::fprintf(stderr, "sinter host driver: kernel %s: %s\n", f->name.c_str(), err);
      return CUDA_ERROR_LAUNCH_FAILED;
    }
    return CUDA_SUCCESS;
  });
}

} // extern "C"

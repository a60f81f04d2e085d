// CUDA driver API through dlopen, and the executor: device arena from the memory plan, modules
// from NVRTC (cached), a CUDA graph per step, every call checked.
#include "runtime/cuda/CudaDevice.h"

#include "codegen/cuda/CudaProgram.h"
#include "codegen/cuda/TuneCheck.h"
#include "ir/OpTable.h"
#include "runtime/cuda/Autotune.h"
#include "runtime/cuda/CudaCompile.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <dlfcn.h>
#include <map>
#include <mutex>
#include <unordered_map>

#ifdef SINTER_HAS_NVRTC
#include <cuda.h>
#endif

namespace sinter {

double CudaDeviceInfo::peakFlops(bool tf32) const {
  double perClock = tf32 ? (sm >= 90 ? 2048 : sm == 80 ? 1024 : 512) : (sm == 80 ? 128 : 256);
  return static_cast<double>(multiprocessors) * clockKHz * 1e3 * perClock;
}

#ifdef SINTER_HAS_NVRTC

namespace {

// Driver entry points by their exported (versioned) names; cuda.h's macros do not apply to these
// member names.
struct Driver {
  CUresult (*init)(unsigned) = nullptr;
  CUresult (*deviceGetCount)(int*) = nullptr;
  CUresult (*deviceGet)(CUdevice*, int) = nullptr;
  CUresult (*deviceGetName)(char*, int, CUdevice) = nullptr;
  CUresult (*deviceGetAttribute)(int*, CUdevice_attribute, CUdevice) = nullptr;
  CUresult (*deviceTotalMem)(size_t*, CUdevice) = nullptr;
  CUresult (*primaryCtxRetain)(CUcontext*, CUdevice) = nullptr;
  CUresult (*ctxSetCurrent)(CUcontext) = nullptr;
  CUresult (*moduleLoadData)(CUmodule*, const void*) = nullptr;
  CUresult (*moduleUnload)(CUmodule) = nullptr;
  CUresult (*moduleGetFunction)(CUfunction*, CUmodule, const char*) = nullptr;
  CUresult (*funcSetAttribute)(CUfunction, CUfunction_attribute, int) = nullptr;
  CUresult (*memAlloc)(CUdeviceptr*, size_t) = nullptr;
  CUresult (*memFree)(CUdeviceptr) = nullptr;
  CUresult (*memcpyHtoDAsync)(CUdeviceptr, const void*, size_t, CUstream) = nullptr;
  CUresult (*memcpyDtoHAsync)(void*, CUdeviceptr, size_t, CUstream) = nullptr;
  CUresult (*memcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream) = nullptr;
  CUresult (*memsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream) = nullptr;
  CUresult (*streamCreate)(CUstream*, unsigned) = nullptr;
  CUresult (*streamSynchronize)(CUstream) = nullptr;
  CUresult (*streamDestroy)(CUstream) = nullptr;
  CUresult (*launchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream,
                           void**, void**) = nullptr;
  CUresult (*streamBeginCapture)(CUstream, CUstreamCaptureMode) = nullptr;
  CUresult (*streamEndCapture)(CUstream, CUgraph*) = nullptr;
  CUresult (*graphInstantiate)(CUgraphExec*, CUgraph, unsigned long long) = nullptr;
  CUresult (*graphLaunch)(CUgraphExec, CUstream) = nullptr;
  CUresult (*graphExecDestroy)(CUgraphExec) = nullptr;
  CUresult (*graphDestroy)(CUgraph) = nullptr;
  CUresult (*eventCreate)(CUevent*, unsigned) = nullptr;
  CUresult (*eventRecord)(CUevent, CUstream) = nullptr;
  CUresult (*eventSynchronize)(CUevent) = nullptr;
  CUresult (*eventElapsedTime)(float*, CUevent, CUevent) = nullptr;
  CUresult (*eventDestroy)(CUevent) = nullptr;
  CUresult (*getErrorString)(CUresult, const char**) = nullptr;
  std::string problem; // why the driver is unusable, or empty
};

const Driver& driver() {
  static const Driver d = [] {
    Driver d;
    void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      d.problem = "no CUDA driver (libcuda.so.1 cannot be loaded)";
      return d;
    }
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      if (!fn && d.problem.empty())
        d.problem = fmt::format("the CUDA driver lacks {}", name);
    };
    sym(d.init, "cuInit");
    sym(d.deviceGetCount, "cuDeviceGetCount");
    sym(d.deviceGet, "cuDeviceGet");
    sym(d.deviceGetName, "cuDeviceGetName");
    sym(d.deviceGetAttribute, "cuDeviceGetAttribute");
    sym(d.deviceTotalMem, "cuDeviceTotalMem_v2");
    sym(d.primaryCtxRetain, "cuDevicePrimaryCtxRetain");
    sym(d.ctxSetCurrent, "cuCtxSetCurrent");
    sym(d.moduleLoadData, "cuModuleLoadData");
    sym(d.moduleUnload, "cuModuleUnload");
    sym(d.moduleGetFunction, "cuModuleGetFunction");
    sym(d.funcSetAttribute, "cuFuncSetAttribute");
    sym(d.memAlloc, "cuMemAlloc_v2");
    sym(d.memFree, "cuMemFree_v2");
    sym(d.memcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
    sym(d.memcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
    sym(d.memcpyDtoDAsync, "cuMemcpyDtoDAsync_v2");
    sym(d.memsetD8Async, "cuMemsetD8Async");
    sym(d.streamCreate, "cuStreamCreate");
    sym(d.streamSynchronize, "cuStreamSynchronize");
    sym(d.streamDestroy, "cuStreamDestroy_v2");
    sym(d.launchKernel, "cuLaunchKernel");
    sym(d.streamBeginCapture, "cuStreamBeginCapture_v2");
    sym(d.streamEndCapture, "cuStreamEndCapture");
    sym(d.graphInstantiate, "cuGraphInstantiateWithFlags");
    sym(d.graphLaunch, "cuGraphLaunch");
    sym(d.graphExecDestroy, "cuGraphExecDestroy");
    sym(d.graphDestroy, "cuGraphDestroy");
    sym(d.eventCreate, "cuEventCreate");
    sym(d.eventRecord, "cuEventRecord");
    sym(d.eventSynchronize, "cuEventSynchronize");
    // (_v2 from CUDA 12.8; older drivers have the plain name with the same signature.)
    if (dlsym(lib, "cuEventElapsedTime_v2"))
      sym(d.eventElapsedTime, "cuEventElapsedTime_v2");
    else
      sym(d.eventElapsedTime, "cuEventElapsedTime");
    sym(d.eventDestroy, "cuEventDestroy_v2");
    sym(d.getErrorString, "cuGetErrorString");
    if (d.problem.empty() && d.init(0) != CUDA_SUCCESS)
      d.problem = "the CUDA driver does not initialise (no GPU visible?)";
    int count = 0;
    if (d.problem.empty() && (d.deviceGetCount(&count) != CUDA_SUCCESS || count == 0))
      d.problem = "the CUDA driver sees no GPU";
    return d;
  }();
  return d;
}

Error check(CUresult r, const char* what) {
  if (r == CUDA_SUCCESS)
    return Error::success();
  const char* s = nullptr;
  if (driver().getErrorString)
    driver().getErrorString(r, &s);
  return makeError("CUDA {} failed: {} ({})", what, s ? s : "unknown error", static_cast<int>(r));
}

#define CU_CHECK(call, what) SINTER_CHECK(check(call, what))

} // namespace

std::optional<CudaDeviceInfo> cudaDeviceInfo(std::string* why) {
  const Driver& d = driver();
  if (!d.problem.empty()) {
    if (why)
      *why = d.problem;
    return std::nullopt;
  }
  CUdevice dev;
  if (d.deviceGet(&dev, 0) != CUDA_SUCCESS) {
    if (why)
      *why = "cuDeviceGet failed";
    return std::nullopt;
  }
  CudaDeviceInfo info;
  char name[256] = {};
  d.deviceGetName(name, sizeof name, dev);
  info.name = name;
  int major = 0, minor = 0;
  d.deviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
  d.deviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
  d.deviceGetAttribute(&info.multiprocessors, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev);
  size_t mem = 0;
  d.deviceTotalMem(&mem, dev);
  info.memoryBytes = static_cast<int64_t>(mem);
  info.sm = major * 10 + minor;
  d.deviceGetAttribute(&info.clockKHz, CU_DEVICE_ATTRIBUTE_CLOCK_RATE, dev);
  return info;
}

struct CudaExecutable::Impl {
  std::shared_ptr<const Graph> graph;
  CudaProgram program;
  CudaCompileStats stats;
  CUcontext ctx = nullptr;
  CUstream stream = nullptr;
  std::vector<CUmodule> modules;
  std::vector<CUfunction> functions;
  CUdeviceptr arena = 0, status = 0;
  std::unordered_map<const Value*, CUdeviceptr> external; // inputs, params, constants
  std::vector<CUdeviceptr> owned;
  CUgraphExec graphExec = nullptr;
  bool useGraph = true;
  std::vector<std::vector<CUdeviceptr>> args; // per kernel: buffer pointers, then status

  ~Impl() {
    const Driver& d = driver();
    if (graphExec)
      d.graphExecDestroy(graphExec);
    for (CUdeviceptr p : owned)
      d.memFree(p);
    for (CUmodule m : modules) // (a long-lived process makes many executables: training, tests)
      d.moduleUnload(m);
    if (stream)
      d.streamDestroy(stream);
  }

  // The value whose memory `v` is (alias ops such as reshape share their operand's).
  static const Value* storageOf(const Value* v) {
    while (v->producer() && v->producer()->op().isAlias())
      v = v->producer()->input(0);
    return v;
  }
  bool isExternal(const Value* v) const { return external.count(storageOf(v)) != 0 || inPlace.count(storageOf(v)) != 0; }
  std::unordered_map<const Value*, Value*> inPlace; // optimizer results written into their parameters
  CUdeviceptr pointerOf(const Value* v) {
    v = storageOf(v);
    if (auto it = inPlace.find(v); it != inPlace.end()) // an optimizer result: its parameter's memory
      v = it->second;
    if (auto it = external.find(v); it != external.end())
      return it->second;
    return arena + static_cast<CUdeviceptr>(v->offset());
  }

  Error alloc(CUdeviceptr* p, size_t bytes) {
    CU_CHECK(driver().memAlloc(p, std::max<size_t>(bytes, 256)), "cuMemAlloc");
    owned.push_back(*p);
    return Error::success();
  }

  // Loads a compiled kernel; dynamic shared memory past 48 KiB must be asked for.
  Error load(const CompiledKernel& bin, const CudaKernel& k, CUfunction* f) {
    CUmodule m;
    CU_CHECK(driver().moduleLoadData(&m, bin.cubin.data()), "cuModuleLoadData");
    modules.push_back(m);
    CU_CHECK(driver().moduleGetFunction(f, m, k.name.c_str()), "cuModuleGetFunction");
    if (k.sharedBytes > 48 * 1024)
      CU_CHECK(driver().funcSetAttribute(*f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, static_cast<int>(k.sharedBytes)),
               "cuFuncSetAttribute (dynamic shared memory)");
    return Error::success();
  }

  // A kernel's arguments: its buffers, split-K scratch (allocated here, counters zeroed), status.
  Expected<std::vector<CUdeviceptr>> argsFor(const CudaKernel& k) {
    std::vector<CUdeviceptr> a;
    for (const Value* v : k.buffers)
      a.push_back(pointerOf(v));
    if (k.workspaceBytes) { // split-K partial tiles and tile counters (zero; kernels leave them zero)
      CUdeviceptr ws, counters;
      SINTER_CHECK(alloc(&ws, static_cast<size_t>(k.workspaceBytes)));
      SINTER_CHECK(alloc(&counters, static_cast<size_t>(k.counters) * 4));
      CU_CHECK(driver().memsetD8Async(counters, 0, static_cast<size_t>(k.counters) * 4, stream), "cuMemsetD8");
      a.push_back(ws);
      a.push_back(counters);
    }
    a.push_back(status);
    return a;
  }

  Error launch(CUfunction f, const CudaKernel& kernel, std::vector<CUdeviceptr>& a) {
    std::vector<void*> params;
    for (CUdeviceptr& p : a)
      params.push_back(&p);
    for (size_t b : kernel.zeroBuffers) // split-K outputs accumulate from zero
      CU_CHECK(driver().memsetD8Async(a[b], 0, static_cast<size_t>(kernel.buffers[b]->type().bytes()), stream),
               "cuMemsetD8 (split-K output)");
    CU_CHECK(driver().launchKernel(f, kernel.grid[0], kernel.grid[1], kernel.grid[2], kernel.block[0], kernel.block[1],
                                   kernel.block[2], kernel.sharedBytes, stream, params.data(), nullptr),
             kernel.name.c_str());
    return Error::success();
  }

  Error launchOne(size_t k) { return launch(functions[k], program.kernels[k], args[k]); }

  // Autotune's checks (codegen/cuda/TuneCheck): the fill and compare kernels, a device word
  // triple for compare, and the rule kernels' outputs by kernel name (freed by endTuning).
  CUfunction tuneFill = nullptr, tuneCompare = nullptr;
  CudaKernel tuneFillKernel_, tuneCompareKernel_;
  CUdeviceptr tuneWords = 0;
  std::map<std::string, std::vector<CUdeviceptr>> tuneReference;
  std::vector<CUdeviceptr> tuneOwned;

  Error beginTuning(const CudaTarget& t, const CudaCompileOptions& co) {
    if (tuneFill)
      return Error::success();
    CudaProgram p;
    p.kernels = {cuda::tuneFillKernel(t), cuda::tuneCompareKernel(t)};
    auto bins = compileCudaProgram(p, co);
    if (!bins)
      return bins.error();
    SINTER_CHECK(load((*bins)[0], p.kernels[0], &tuneFill));
    SINTER_CHECK(load((*bins)[1], p.kernels[1], &tuneCompare));
    tuneFillKernel_ = p.kernels[0];
    tuneCompareKernel_ = p.kernels[1];
    CU_CHECK(driver().memAlloc(&tuneWords, 256), "cuMemAlloc");
    tuneOwned.push_back(tuneWords);
    return Error::success();
  }

  void endTuning() {
    for (CUdeviceptr p : tuneOwned)
      driver().memFree(p);
    tuneOwned.clear();
    tuneReference.clear();
    tuneWords = 0;
    tuneFill = tuneCompare = nullptr; // (their modules stay loaded until the executable goes)
  }

  Error launchCheck(CUfunction f, const CudaKernel& k, std::vector<void*> params) {
    CU_CHECK(driver().launchKernel(f, k.grid[0], k.grid[1], k.grid[2], k.block[0], k.block[1], k.block[2], 0, stream, params.data(),
                                   nullptr),
             k.name.c_str());
    return Error::success();
  }

  // The same pseudo-random values in a kernel's activation inputs (graph inputs and arena values,
  // not parameters or constants) before each of its candidates: kernels timed in between may
  // have written over them (the memory plan reuses the arena).
  Error fillInputs(const CudaKernel& k) {
    size_t operands = k.node ? k.node->numInputs() : 0;
    for (size_t b = 0; b < operands && b < k.buffers.size(); ++b) {
      const Value* v = storageOf(k.buffers[b]);
      bool graphInput = std::find(graph->inputs().begin(), graph->inputs().end(), v) != graph->inputs().end();
      if (v->type().dtype != DType::F32 || !v->type().bytes() || (isExternal(v) && !graphInput))
        continue;
      CUdeviceptr p = pointerOf(v);
      long long n = v->type().numel();
      unsigned seed = static_cast<unsigned>(std::hash<std::string>{}(k.name)) + static_cast<unsigned>(b) * 0x9e3779b9u;
      SINTER_CHECK(launchCheck(tuneFill, tuneFillKernel_, {&p, &n, &seed}));
    }
    return Error::success();
  }

  // NaN bytes in a kernel's outputs before its runs: a candidate that leaves an element unwritten
  // then differs from the rule (the rule's results would otherwise still be there to match).
  Error poisonOutputs(const CudaKernel& k) {
    size_t operands = k.node ? k.node->numInputs() : 0;
    for (size_t b = operands; b < k.buffers.size(); ++b)
      if (k.buffers[b]->type().bytes())
        CU_CHECK(driver().memsetD8Async(pointerOf(k.buffers[b]), 0xff, static_cast<size_t>(k.buffers[b]->type().bytes()), stream),
                 "cuMemsetD8 (autotune's output poisoning)");
    return Error::success();
  }

  // After a kernel's runs: the rule's outputs are kept; a candidate's are compared with them.
  Expected<double> checkOutputs(const CudaKernel& k, bool rule) {
    const Driver& d = driver();
    size_t operands = k.node ? k.node->numInputs() : 0;
    std::vector<CUdeviceptr>& ref = tuneReference[k.name];
    double difference = 0;
    size_t j = 0;
    for (size_t b = operands; b < k.buffers.size(); ++b) {
      const Value* v = k.buffers[b];
      if (v->type().dtype != DType::F32 || !v->type().bytes())
        continue;
      size_t bytes = static_cast<size_t>(v->type().bytes());
      CUdeviceptr out = pointerOf(v);
      if (rule) {
        CUdeviceptr keep;
        CU_CHECK(d.memAlloc(&keep, bytes), "cuMemAlloc (the rule's output, for autotune)");
        tuneOwned.push_back(keep);
        CU_CHECK(d.memcpyDtoDAsync(keep, out, bytes, stream), "cuMemcpyDtoDAsync");
        ref.push_back(keep);
        continue;
      }
      if (j >= ref.size())
        return makeError("autotune: no rule output {} for kernel {}", j, k.name);
      CUdeviceptr r = ref[j++];
      long long n = v->type().numel();
      CU_CHECK(d.memsetD8Async(tuneWords, 0, 12, stream), "cuMemsetD8");
      SINTER_CHECK(launchCheck(tuneCompare, tuneCompareKernel_, {&out, &r, &n, &tuneWords}));
      uint32_t words[3] = {};
      CU_CHECK(d.memcpyDtoHAsync(words, tuneWords, sizeof words, stream), "cuMemcpyDtoHAsync");
      CU_CHECK(d.streamSynchronize(stream), "autotune's output check (cuStreamSynchronize)");
      difference = std::max(difference, cuda::tuneDifference(words));
    }
    CU_CHECK(d.streamSynchronize(stream), "cuStreamSynchronize");
    return difference;
  }

  // Autotune's timer: each kernel compiled, loaded and launched alone on this executable's
  // buffers, its inputs filled and its outputs poisoned first (2 warm-up launches, then the median of 10, zeroing
  // included), its outputs then kept (the rule's) or checked against the rule's; its scratch
  // and module are freed after.
  Expected<std::vector<KernelTiming>> timeAlone(const std::vector<CudaKernel>& kernels, bool rule, const CudaTarget& t,
                                                const CudaCompileOptions& co) {
    const Driver& d = driver();
    SINTER_CHECK(beginTuning(t, co));
    CudaProgram p;
    p.kernels = kernels;
    auto bins = compileCudaProgram(p, co);
    if (!bins)
      return bins.error();
    CUevent e0, e1;
    CU_CHECK(d.eventCreate(&e0, 0), "cuEventCreate");
    CU_CHECK(d.eventCreate(&e1, 0), "cuEventCreate");
    std::vector<KernelTiming> out;
    for (size_t i = 0; i < kernels.size(); ++i) {
      size_t keepModules = modules.size(), keepOwned = owned.size();
      CUfunction f;
      SINTER_CHECK(load((*bins)[i], kernels[i], &f));
      auto a = argsFor(kernels[i]);
      if (!a)
        return a.error();
      SINTER_CHECK(fillInputs(kernels[i]));
      SINTER_CHECK(poisonOutputs(kernels[i]));
      std::vector<double> ms;
      for (int it = 0; it < 12; ++it) {
        CU_CHECK(d.eventRecord(e0, stream), "cuEventRecord");
        SINTER_CHECK(launch(f, kernels[i], *a));
        CU_CHECK(d.eventRecord(e1, stream), "cuEventRecord");
        CU_CHECK(d.eventSynchronize(e1), "kernel execution (cuEventSynchronize)");
        float time = 0;
        CU_CHECK(d.eventElapsedTime(&time, e0, e1), "cuEventElapsedTime");
        if (it >= 2)
          ms.push_back(time);
      }
      std::sort(ms.begin(), ms.end());
      auto diff = checkOutputs(kernels[i], rule);
      if (!diff)
        return diff.error();
      out.push_back({ms[ms.size() / 2], *diff});
      for (size_t j = keepOwned; j < owned.size(); ++j)
        d.memFree(owned[j]);
      owned.resize(keepOwned);
      for (size_t j = keepModules; j < modules.size(); ++j)
        d.moduleUnload(modules[j]);
      modules.resize(keepModules);
    }
    d.eventDestroy(e0);
    d.eventDestroy(e1);
    return out;
  }

  // Launches every kernel on the stream (captured into a graph once when enabled), then copies
  // the graph's updates (a training step's new parameters and state) into the parameters.
  Error launchAll() {
    for (size_t k = 0; k < program.kernels.size(); ++k)
      SINTER_CHECK(launchOne(k));
    for (const auto& [param, value] : graph->updates())
      if (param->type().bytes() && !inPlace.count(value)) // (in-place results are there already)
        CU_CHECK(driver().memcpyDtoDAsync(pointerOf(param), pointerOf(value), static_cast<size_t>(param->type().bytes()),
                                          stream),
                 "cuMemcpyDtoDAsync (parameter update)");
    return Error::success();
  }

  Error step() {
    const Driver& d = driver();
    if (!useGraph)
      return launchAll();
    if (!graphExec) {
      CU_CHECK(d.streamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
      Error e = launchAll();
      CUgraph g = nullptr;
      CUresult end = d.streamEndCapture(stream, &g);
      SINTER_CHECK(std::move(e));
      CU_CHECK(end, "cuStreamEndCapture");
      CUresult inst = d.graphInstantiate(&graphExec, g, 0);
      d.graphDestroy(g);
      CU_CHECK(inst, "cuGraphInstantiate");
    }
    CU_CHECK(d.graphLaunch(graphExec, stream), "cuGraphLaunch");
    return Error::success();
  }
};

CudaExecutable::CudaExecutable(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaExecutable::~CudaExecutable() = default;
const CudaCompileStats& CudaExecutable::stats() const { return impl_->stats; }

Expected<std::unique_ptr<CudaExecutable>> CudaExecutable::create(std::shared_ptr<const Graph> g, const CudaRunOptions& o) {
  auto start = std::chrono::steady_clock::now();
  std::string why;
  auto dev = cudaDeviceInfo(&why);
  if (!dev)
    return makeError("target 'cuda' needs a GPU: {}", why);
  const Driver& d = driver();
  auto impl = std::make_unique<Impl>();
  impl->graph = g;
  impl->useGraph = o.graph;
  impl->stats.device = *dev;
  CUdevice device;
  CU_CHECK(d.deviceGet(&device, 0), "cuDeviceGet");
  CU_CHECK(d.primaryCtxRetain(&impl->ctx, device), "cuDevicePrimaryCtxRetain");
  CU_CHECK(d.ctxSetCurrent(impl->ctx), "cuCtxSetCurrent");
  CU_CHECK(d.streamCreate(&impl->stream, 0), "cuStreamCreate");

  // Device memory: the arena (plain cuMemAlloc, never managed), inputs, weights, constants.
  int64_t arenaBytes = 0;
  impl->inPlace = g->inPlaceUpdates();
  for (const auto& n : g->nodes())
    if (!n->op().isAlias() && !n->is(ops::Constant))
      for (const Value* r : n->outputs()) {
        if (impl->inPlace.count(r))
          continue;
        if (r->offset() < 0)
          return makeError("{} has no arena offset: run the pass pipeline (plan-memory) first", g->displayName(r));
        arenaBytes = std::max(arenaBytes, r->offset() + r->type().bytes());
      }
  SINTER_CHECK(impl->alloc(&impl->arena, static_cast<size_t>(arenaBytes)));
  // NaN bytes everywhere at first: a kernel reading an element nobody wrote shows up in results.
  if (arenaBytes)
    CU_CHECK(d.memsetD8Async(impl->arena, 0xff, static_cast<size_t>(arenaBytes), impl->stream), "cuMemsetD8");
  SINTER_CHECK(impl->alloc(&impl->status, 4));
  auto upload = [&](const Value* v, const Tensor& t) -> Error {
    CUdeviceptr p;
    SINTER_CHECK(impl->alloc(&p, t.bytes()));
    if (t.bytes())
      CU_CHECK(d.memcpyHtoDAsync(p, t.raw(), t.bytes(), impl->stream), "cuMemcpyHtoD");
    impl->external[v] = p;
    return Error::success();
  };
  for (const Value* p : g->params()) {
    const Tensor* t = g->weights().find(p->name());
    if (!t)
      return makeError("parameter {} has no data", g->displayName(p));
    SINTER_CHECK(upload(p, *t));
  }
  for (const auto& n : g->nodes())
    if (n->is(ops::Constant))
      SINTER_CHECK(upload(n->output(), n->attrs().getTensor("value")));
  for (const Value* v : g->inputs()) {
    CUdeviceptr p;
    SINTER_CHECK(impl->alloc(&p, static_cast<size_t>(v->type().bytes())));
    impl->external[v] = p;
  }
  CU_CHECK(d.streamSynchronize(impl->stream), "cuStreamSynchronize");
  // Kernels: generated for this GPU (with autotune's tilings), compiled or from the cache.
  auto kernelStart = std::chrono::steady_clock::now();
  CudaTarget target;
  target.sm = dev->sm;
  target.multiprocessors = dev->multiprocessors;
  target.precision = o.tf32 ? CudaPrecision::TF32 : CudaPrecision::F32;
  target.tilings = o.tilings;
  CudaCompileOptions co;
  co.sm = dev->sm;
  co.useCache = o.useCache;
  co.cacheDir = o.cacheDir;
  if (o.autotune) {
    TuneStore store(fmt::format("{} sm_{} {} SMs NVRTC {}", dev->name, dev->sm, dev->multiprocessors, nvrtcVersionString()),
                    o.cacheDir);
    Impl* im = impl.get();
    auto tuned = autotune(
        *g, target, store, [&](const std::vector<CudaKernel>& ks, bool rule) { return im->timeAlone(ks, rule, target, co); },
        o.progress);
    impl->endTuning();
    if (!tuned)
      return tuned.error();
    target = tuned->target;
    impl->stats.tuning = tuned->lines;
    impl->stats.tuningTimes = tuned->timings;
    impl->stats.tuned = tuned->tunable;
    impl->stats.tuneRejected = tuned->rejected;
    impl->stats.tuneSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - kernelStart).count();
  }
  auto prog = emitCudaProgram(*g, target);
  if (!prog)
    return prog.error();
  impl->program = std::move(*prog);
  auto bins = compileCudaProgram(impl->program, co);
  if (!bins)
    return bins.error();
  for (size_t i = 0; i < bins->size(); ++i) {
    CUfunction f;
    SINTER_CHECK(impl->load((*bins)[i], impl->program.kernels[i], &f));
    impl->functions.push_back(f);
    impl->stats.cacheHits += (*bins)[i].cacheHit;
  }
  for (const CudaKernel& k : impl->program.kernels) {
    auto a = impl->argsFor(k);
    if (!a)
      return a.error();
    impl->args.push_back(std::move(*a));
  }
  CU_CHECK(d.streamSynchronize(impl->stream), "cuStreamSynchronize");
  impl->stats.kernelSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - kernelStart).count();
  impl->stats.kernels = impl->program.kernels.size();
  impl->stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return std::unique_ptr<CudaExecutable>(new CudaExecutable(std::move(impl)));
}

Expected<std::vector<Tensor>> CudaExecutable::run(const std::vector<Tensor>& inputs) {
  Impl& im = *impl_;
  const Driver& d = driver();
  const Graph& g = *im.graph;
  CU_CHECK(d.ctxSetCurrent(im.ctx), "cuCtxSetCurrent");
  if (inputs.size() != g.inputs().size())
    return makeError("graph @{} takes {} inputs, got {}", g.name(), g.inputs().size(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].type() != g.inputs()[i]->type())
      return makeError("input {} expects {}, got {}", g.displayName(g.inputs()[i]), g.inputs()[i]->type().str(),
                       inputs[i].type().str());
    if (inputs[i].bytes())
      CU_CHECK(d.memcpyHtoDAsync(im.external.at(g.inputs()[i]), inputs[i].raw(), inputs[i].bytes(), im.stream), "cuMemcpyHtoD");
  }
  // Poison the outputs (0xff bytes: NaN for floats) so an element no kernel writes shows; not
  // those that are (views of) inputs, parameters or constants, which no kernel writes.
  for (const Value* v : g.outputs())
    if (!im.isExternal(v) && v->type().bytes())
      CU_CHECK(d.memsetD8Async(im.pointerOf(v), 0xff, static_cast<size_t>(v->type().bytes()), im.stream), "cuMemsetD8");
  CU_CHECK(d.memsetD8Async(im.status, 0, 4, im.stream), "cuMemsetD8");
  SINTER_CHECK(im.step());
  std::vector<Tensor> out;
  for (const Value* v : g.outputs()) {
    Tensor t(v->type());
    if (t.bytes())
      CU_CHECK(d.memcpyDtoHAsync(t.raw(), im.pointerOf(v), t.bytes(), im.stream), "cuMemcpyDtoH");
    out.push_back(std::move(t));
  }
  int32_t status = 0;
  CU_CHECK(d.memcpyDtoHAsync(&status, im.status, 4, im.stream), "cuMemcpyDtoH");
  CU_CHECK(d.streamSynchronize(im.stream), "kernel execution (cuStreamSynchronize)");
  if (status > 0 && static_cast<size_t>(status) <= im.program.errors.size())
    return makeError("{}", im.program.errors[static_cast<size_t>(status - 1)]);
  return out;
}

Expected<Tensor> CudaExecutable::param(std::string_view name) const {
  Impl& im = *impl_;
  const Value* v = im.graph->findValue(name);
  if (!v || !v->isParam())
    return makeError("no parameter named '{}'", name);
  const Driver& d = driver();
  CU_CHECK(d.ctxSetCurrent(im.ctx), "cuCtxSetCurrent");
  Tensor t(v->type());
  if (t.bytes()) {
    CU_CHECK(d.memcpyDtoHAsync(t.raw(), im.external.at(v), t.bytes(), im.stream), "cuMemcpyDtoH");
    CU_CHECK(d.streamSynchronize(im.stream), "cuStreamSynchronize");
  }
  return t;
}

Error CudaExecutable::setParam(std::string_view name, const Tensor& value) {
  Impl& im = *impl_;
  const Value* v = im.graph->findValue(name);
  if (!v || !v->isParam())
    return makeError("no parameter named '{}'", name);
  if (value.type() != v->type())
    return makeError("parameter {} is {}, not {}", name, v->type().str(), value.type().str());
  const Driver& d = driver();
  CU_CHECK(d.ctxSetCurrent(im.ctx), "cuCtxSetCurrent");
  if (value.bytes()) {
    CU_CHECK(d.memcpyHtoDAsync(im.external.at(v), value.raw(), value.bytes(), im.stream), "cuMemcpyHtoD");
    CU_CHECK(d.streamSynchronize(im.stream), "cuStreamSynchronize");
  }
  return Error::success();
}

Expected<std::vector<double>> CudaExecutable::timeSteps(int iters) {
  Impl& im = *impl_;
  const Driver& d = driver();
  CU_CHECK(d.ctxSetCurrent(im.ctx), "cuCtxSetCurrent");
  CUevent a, b;
  CU_CHECK(d.eventCreate(&a, 0), "cuEventCreate");
  CU_CHECK(d.eventCreate(&b, 0), "cuEventCreate");
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    CU_CHECK(d.eventRecord(a, im.stream), "cuEventRecord");
    SINTER_CHECK(im.step());
    CU_CHECK(d.eventRecord(b, im.stream), "cuEventRecord");
    CU_CHECK(d.eventSynchronize(b), "kernel execution (cuEventSynchronize)");
    float t = 0;
    CU_CHECK(d.eventElapsedTime(&t, a, b), "cuEventElapsedTime");
    ms.push_back(t);
  }
  d.eventDestroy(a);
  d.eventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms;
}

Expected<std::vector<std::pair<std::string, double>>> CudaExecutable::profileKernels(int iters) {
  Impl& im = *impl_;
  const Driver& d = driver();
  CU_CHECK(d.ctxSetCurrent(im.ctx), "cuCtxSetCurrent");
  size_t n = im.program.kernels.size();
  std::vector<CUevent> ev(n + 1);
  for (CUevent& e : ev)
    CU_CHECK(d.eventCreate(&e, 0), "cuEventCreate");
  std::vector<double> total(n, 0.0);
  for (int it = 0; it < iters; ++it) {
    CU_CHECK(d.eventRecord(ev[0], im.stream), "cuEventRecord");
    for (size_t k = 0; k < n; ++k) {
      SINTER_CHECK(im.launchOne(k));
      CU_CHECK(d.eventRecord(ev[k + 1], im.stream), "cuEventRecord");
    }
    CU_CHECK(d.eventSynchronize(ev[n]), "kernel execution (cuEventSynchronize)");
    for (size_t k = 0; k < n; ++k) {
      float t = 0;
      CU_CHECK(d.eventElapsedTime(&t, ev[k], ev[k + 1]), "cuEventElapsedTime");
      total[k] += t;
    }
  }
  for (CUevent e : ev)
    d.eventDestroy(e);
  std::vector<std::pair<std::string, double>> out;
  for (size_t k = 0; k < n; ++k)
    out.emplace_back(im.program.kernels[k].name + "  " + im.program.kernels[k].rule, total[k] / std::max(1, iters));
  return out;
}

#else // no CUDA toolkit at build time

std::optional<CudaDeviceInfo> cudaDeviceInfo(std::string* why) {
  if (why)
    *why = "this build has no CUDA toolkit";
  return std::nullopt;
}

struct CudaExecutable::Impl {
  CudaCompileStats stats;
};
CudaExecutable::CudaExecutable(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaExecutable::~CudaExecutable() = default;
const CudaCompileStats& CudaExecutable::stats() const { return impl_->stats; }
Expected<std::unique_ptr<CudaExecutable>> CudaExecutable::create(std::shared_ptr<const Graph>, const CudaRunOptions&) {
  return makeError("target 'cuda' is not available: this build has no CUDA toolkit");
}
Expected<std::vector<Tensor>> CudaExecutable::run(const std::vector<Tensor>&) { return makeError("no CUDA"); }
Expected<std::vector<double>> CudaExecutable::timeSteps(int) { return makeError("no CUDA"); }
Expected<Tensor> CudaExecutable::param(std::string_view) const { return makeError("no CUDA"); }
Error CudaExecutable::setParam(std::string_view, const Tensor&) { return makeError("no CUDA"); }
Expected<std::vector<std::pair<std::string, double>>> CudaExecutable::profileKernels(int) { return makeError("no CUDA"); }

#endif

} // namespace sinter

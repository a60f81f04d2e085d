// Host execution of generated CUDA C (see CudaEmulator.h).
#include "tests/support/CudaEmulator.h"

#include "ir/OpTable.h"
#include "tests/support/HostCompile.h"

#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <unordered_map>

namespace sinter::test {

namespace {

using LaunchFn = const char* (*)(void**);

struct AlignedBuffer {
  std::byte* data = nullptr;
  explicit AlignedBuffer(size_t bytes) {
    data = static_cast<std::byte*>(std::aligned_alloc(256, std::max<size_t>(256, (bytes + 255) / 256 * 256)));
  }
  ~AlignedBuffer() { std::free(data); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
};

// One translation unit with every kernel in its own namespace and a C launcher per kernel.
std::string translationUnit(const CudaProgram& p) {
  std::string tu = emulatorInclude();
  for (size_t i = 0; i < p.kernels.size(); ++i) {
    const CudaKernel& k = p.kernels[i];
    tu += fmt::format("namespace sinter_ns{} {{\n{}}}\n", i, k.source);
    tu += fmt::format("extern \"C\" const char* sinter_launch_{}(void** a) {{\n"
                      "  return sinter_emu::launch(dim3{{{}, {}, {}}}, dim3{{{}, {}, {}}}, {}u, [](void* p) {{ "
                      "sinter_emu::invoke(&sinter_ns{}::{}, static_cast<void**>(p)); }}, a);\n}}\n",
                      i, k.grid[0], k.grid[1], k.grid[2], k.block[0], k.block[1], k.block[2], k.sharedBytes, i, k.name);
  }
  return tu;
}

Expected<std::string> buildSharedObject(const std::string& tu) {
  std::string error;
  std::string so = buildHostObject(tu, error);
  if (so.empty())
    return makeError("{}", error);
  return so;
}

} // namespace

bool cudaEmulationAvailable(std::string* why) { return hostCompilerAvailable(why); }

struct EmulatedCuda::Impl {
  std::shared_ptr<const Graph> graph;
  CudaProgram program;
  void* handle = nullptr;
  std::vector<LaunchFn> launch;
  std::unique_ptr<AlignedBuffer> arena;
  int64_t arenaBytes = 0;
  std::vector<std::unique_ptr<AlignedBuffer>> owned;
  std::unordered_map<const Value*, std::byte*> external;
  // Per kernel: split-K workspace and tile counters (zero at first; kernels leave them zero).
  std::vector<std::pair<std::unique_ptr<AlignedBuffer>, std::unique_ptr<AlignedBuffer>>> workspace;
  int32_t status = 0;

  std::unordered_map<const Value*, Value*> inPlace; // optimizer results written into their parameters
  std::byte* pointerOf(const Value* v) {
    while (v->producer() && v->producer()->op().isAlias())
      v = v->producer()->input(0);
    if (auto it = inPlace.find(v); it != inPlace.end())
      v = it->second;
    if (auto it = external.find(v); it != external.end())
      return it->second;
    return arena->data + v->offset();
  }
  std::byte* place(const Value* v, const Tensor* t) {
    owned.push_back(std::make_unique<AlignedBuffer>(static_cast<size_t>(v->type().bytes())));
    if (t && t->bytes())
      std::memcpy(owned.back()->data, t->raw(), t->bytes());
    return external[v] = owned.back()->data;
  }
  ~Impl() {
    if (handle)
      dlclose(handle);
  }
};

EmulatedCuda::EmulatedCuda(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EmulatedCuda::~EmulatedCuda() = default;
const CudaProgram& EmulatedCuda::program() const { return impl_->program; }

Expected<std::unique_ptr<EmulatedCuda>> EmulatedCuda::create(std::shared_ptr<const Graph> g, const CudaTarget& target) {
  auto impl = std::make_unique<Impl>();
  impl->graph = g;
  auto prog = emitCudaProgram(*g, target);
  if (!prog)
    return prog.error();
  impl->program = std::move(*prog);
  auto so = buildSharedObject(translationUnit(impl->program));
  if (!so)
    return so.error();
  impl->handle = dlopen(so->c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!impl->handle)
    return makeError("dlopen {}: {}", *so, dlerror());
  for (size_t i = 0; i < impl->program.kernels.size(); ++i) {
    auto fn = reinterpret_cast<LaunchFn>(dlsym(impl->handle, fmt::format("sinter_launch_{}", i).c_str()));
    if (!fn)
      return makeError("{} lacks sinter_launch_{}", *so, i);
    impl->launch.push_back(fn);
  }
  impl->inPlace = g->inPlaceUpdates();
  for (const auto& n : g->nodes())
    if (!n->op().isAlias() && !n->is(ops::Constant))
      for (const Value* r : n->outputs()) {
        if (impl->inPlace.count(r))
          continue;
        if (r->offset() < 0)
          return makeError("{} has no arena offset: run plan-memory first", g->displayName(r));
        impl->arenaBytes = std::max(impl->arenaBytes, r->offset() + r->type().bytes());
      }
  impl->arena = std::make_unique<AlignedBuffer>(static_cast<size_t>(impl->arenaBytes));
  for (const Value* p : g->params()) {
    const Tensor* t = g->weights().find(p->name());
    if (!t)
      return makeError("parameter {} has no data", g->displayName(p));
    impl->place(p, t);
  }
  for (const auto& n : g->nodes())
    if (n->is(ops::Constant))
      impl->place(n->output(), &n->attrs().getTensor("value"));
  for (const Value* v : g->inputs())
    impl->place(v, nullptr);
  for (const CudaKernel& k : impl->program.kernels) {
    auto ws = std::make_unique<AlignedBuffer>(static_cast<size_t>(k.workspaceBytes));
    auto counters = std::make_unique<AlignedBuffer>(static_cast<size_t>(k.counters) * 4);
    std::memset(counters->data, 0, static_cast<size_t>(std::max<int64_t>(k.counters, 1)) * 4);
    impl->workspace.emplace_back(std::move(ws), std::move(counters));
  }
  return std::unique_ptr<EmulatedCuda>(new EmulatedCuda(std::move(impl)));
}

Expected<std::vector<Tensor>> EmulatedCuda::run(const std::vector<Tensor>& inputs) {
  Impl& im = *impl_;
  const Graph& g = *im.graph;
  if (inputs.size() != g.inputs().size())
    return makeError("expected {} inputs, got {}", g.inputs().size(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].type() != g.inputs()[i]->type())
      return makeError("input {} expects {}", i, g.inputs()[i]->type().str());
    if (inputs[i].bytes())
      std::memcpy(im.external.at(g.inputs()[i]), inputs[i].raw(), inputs[i].bytes());
  }
  std::memset(im.arena->data, 0xff, static_cast<size_t>(im.arenaBytes));
  im.status = 0;
  for (size_t k = 0; k < im.program.kernels.size(); ++k) {
    const CudaKernel& kernel = im.program.kernels[k];
    std::vector<void*> args;
    for (const Value* v : kernel.buffers)
      args.push_back(im.pointerOf(v));
    if (kernel.workspaceBytes) {
      args.push_back(im.workspace[k].first->data);
      args.push_back(im.workspace[k].second->data);
    }
    args.push_back(&im.status);
    for (size_t b : kernel.zeroBuffers) // as the device executor does before a split-K launch
      std::memset(args[b], 0, static_cast<size_t>(kernel.buffers[b]->type().bytes()));
    std::vector<void*> params; // pointers to the arguments, as cuLaunchKernel takes them
    for (void*& a : args)
      params.push_back(&a);
    if (const char* err = im.launch[k](params.data()))
      return makeError("kernel {}: {}", kernel.name, err);
    if (im.status > 0 && static_cast<size_t>(im.status) <= im.program.errors.size())
      return makeError("{}", im.program.errors[static_cast<size_t>(im.status - 1)]);
  }
  std::vector<Tensor> out;
  for (const Value* v : g.outputs()) {
    Tensor t(v->type());
    if (t.bytes())
      std::memcpy(t.raw(), im.pointerOf(v), t.bytes());
    out.push_back(std::move(t));
  }
  for (const auto& [param, value] : g.updates()) // as the device executor does after the kernels
    if (param->type().bytes() && !im.inPlace.count(value))
      std::memcpy(im.pointerOf(param), im.pointerOf(value), static_cast<size_t>(param->type().bytes()));
  return out;
}

Error emulateKernel(const CudaKernel& kernel, const std::vector<void*>& params) {
  CudaProgram p;
  p.kernels.push_back(kernel);
  auto so = buildSharedObject(translationUnit(p));
  if (!so)
    return so.error();
  void* handle = dlopen(so->c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    return makeError("dlopen {}: {}", *so, dlerror());
  auto fn = reinterpret_cast<LaunchFn>(dlsym(handle, "sinter_launch_0"));
  const char* err = fn ? fn(const_cast<void**>(params.data())) : "no sinter_launch_0";
  Error e = err ? makeError("kernel {}: {}", kernel.name, err) : Error::success();
  dlclose(handle);
  return e;
}

Expected<Tensor> EmulatedCuda::param(std::string_view name) const {
  const Value* v = impl_->graph->findValue(name);
  if (!v || !v->isParam())
    return makeError("no parameter named '{}'", name);
  Tensor t(v->type());
  if (t.bytes())
    std::memcpy(t.raw(), impl_->pointerOf(v), t.bytes());
  return t;
}

} // namespace sinter::test

// CPU backend: host target, ORC LLJIT with an object cache, and the kernel executor.
#include "runtime/cpu/CpuBackend.h"

#include "codegen/cpu/CpuCodegen.h"
#include "ir/OpTable.h"
#include "runtime/KernelCache.h"
#include "runtime/ThreadPool.h"

#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace sinter {

namespace {

// Bump when generated code changes meaning without its IR text changing (e.g. the JIT setup).
constexpr std::string_view kCodegenVersion = "sinter-cpu-1";

std::string errorText(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return os.str();
}

void initLlvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

struct HostInfo {
  std::string cpu, features;
  int vectorFloats = 4;
};

HostInfo hostInfo() {
  HostInfo h;
  h.cpu = llvm::sys::getHostCPUName().str();
  llvm::StringMap<bool> f = llvm::sys::getHostCPUFeatures();
  std::vector<std::string> on;
  for (const auto& kv : f)
    if (kv.second)
      on.push_back("+" + kv.first().str());
  std::sort(on.begin(), on.end());
  h.features = fmt::format("{}", fmt::join(on, ","));
  h.vectorFloats = f.lookup("avx512f") ? 16 : f.lookup("avx2") ? 8 : 4;
  return h;
}

// Compiles a module to an object file, or takes it from the cache: the key is the unoptimised IR
// plus everything about the target, so a hit skips LLVM's optimiser and code generator.
class CachingCompiler : public llvm::orc::IRCompileLayer::IRCompiler {
public:
  CachingCompiler(llvm::orc::JITTargetMachineBuilder jtmb, std::unique_ptr<llvm::TargetMachine> tm,
                  std::optional<KernelCache> cache, bool* hit)
      : IRCompiler(llvm::orc::irManglingOptionsFromTargetOptions(jtmb.getOptions())), tm_(std::move(tm)),
        cache_(std::move(cache)), hit_(hit) {}

  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> operator()(llvm::Module& m) override {
    std::string ir;
    llvm::raw_string_ostream os(ir);
    m.print(os, nullptr);
    os.flush();
    std::string key = contentHash(fmt::format("{}\n{}\n{}\n{}\n{}\n{}", kCodegenVersion, LLVM_VERSION_STRING,
                                              tm_->getTargetTriple().str(), tm_->getTargetCPU().str(),
                                              tm_->getTargetFeatureString().str(), ir));
    if (cache_)
      if (auto obj = cache_->load(key)) {
        *hit_ = true;
        return llvm::MemoryBuffer::getMemBufferCopy(*obj, "sinter-cached-object");
      }
    optimize(m);
    llvm::SmallVector<char, 0> buf;
    llvm::raw_svector_ostream out(buf);
    llvm::legacy::PassManager pm;
    if (tm_->addPassesToEmitFile(pm, out, nullptr, llvm::CodeGenFileType::ObjectFile))
      return llvm::make_error<llvm::StringError>("the target cannot emit object files", llvm::inconvertibleErrorCode());
    pm.run(m);
    std::string_view obj(buf.data(), buf.size());
    if (cache_)
      (void)cache_->store(key, obj); // a read-only cache only costs the next run a compile
    return llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(buf.data(), buf.size()), "sinter-object");
  }

private:
  void optimize(llvm::Module& m) {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb(tm_.get());
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
    mpm.run(m, mam);
  }

  std::unique_ptr<llvm::TargetMachine> tm_;
  std::optional<KernelCache> cache_;
  bool* hit_;
};

using KernelFn = int32_t (*)(char**, int64_t, int64_t, char*, char*);

void* alignedAlloc(size_t bytes) {
  size_t size = (std::max<size_t>(bytes, 64) + 63) / 64 * 64;
  return std::aligned_alloc(64, size);
}

} // namespace

bool cpuBackendAvailable() { return true; }

struct CpuExecutable::Impl {
  std::shared_ptr<const Graph> graph;
  CpuProgram program;
  std::unique_ptr<llvm::orc::LLJIT> jit;
  std::vector<KernelFn> fns;
  std::vector<std::unique_ptr<char, void (*)(void*)>> persistent;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<char, void (*)(void*)> arena{nullptr, std::free};
  std::vector<std::unique_ptr<char, void (*)(void*)>> scratch;
  std::unordered_map<const Value*, Tensor> constants;
  std::unordered_map<const Value*, Tensor> params; // owned copies: training updates them
  std::unordered_map<const Value*, Value*> inPlace; // optimizer results written into their parameters
  std::vector<KernelFn> prepFns;                   // per kernel, or null
  CpuCompileStats stats;
  std::vector<CpuExecutable::KernelTime> times;

  // Base address of a value's data for this run.
  char* pointerOf(const Value* v, const std::unordered_map<const Value*, const Tensor*>& inputs) {
    while (v->producer() && v->producer()->op().isAlias())
      v = v->producer()->input(0);
    if (auto it = inPlace.find(v); it != inPlace.end()) // an optimizer result: its parameter's memory
      v = it->second;
    if (auto it = inputs.find(v); it != inputs.end())
      return const_cast<char*>(reinterpret_cast<const char*>(it->second->raw()));
    if (auto it = params.find(v); it != params.end())
      return reinterpret_cast<char*>(it->second.raw());
    if (auto it = constants.find(v); it != constants.end())
      return reinterpret_cast<char*>(it->second.raw());
    return arena.get() + v->offset();
  }

  // Runs kernel k's prepare function (repacking its constant operands) when it has one.
  Error prepare(size_t k) {
    if (!prepFns[k])
      return Error::success();
    const CpuKernel& kernel = program.kernels[k];
    std::vector<char*> ptrs;
    for (const Value* v : kernel.buffers)
      ptrs.push_back(pointerOf(v, {}));
    if (int32_t s = prepFns[k](ptrs.data(), 0, 1, nullptr, persistent[k].get()))
      return makeError("{}: prepare failed: {}", graph->describe(kernel.node), program.errors[static_cast<size_t>(s - 1)]);
    return Error::success();
  }
  // Prepares again every kernel whose prepare reads one of `changed` (a parameter's owner).
  Error reprepare(const std::vector<const Value*>& changed) {
    for (size_t k = 0; k < program.kernels.size(); ++k) {
      if (!prepFns[k])
        continue;
      bool reads = false;
      for (size_t i : program.kernels[k].prepReads)
        for (const Value* v : changed)
          reads = reads || bufferOwner(program.kernels[k].buffers[i]) == v || program.kernels[k].buffers[i] == v;
      if (reads)
        SINTER_CHECK(prepare(k));
    }
    return Error::success();
  }
  static const Value* bufferOwner(const Value* v) {
    while (v->producer() && v->producer()->op().isAlias())
      v = v->producer()->input(0);
    return v;
  }
};

CpuExecutable::CpuExecutable(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CpuExecutable::~CpuExecutable() = default;
const CpuCompileStats& CpuExecutable::stats() const { return impl_->stats; }
int CpuExecutable::threads() const { return impl_->pool->size(); }
std::vector<CpuExecutable::KernelTime> CpuExecutable::kernelTimes() const { return impl_->times; }

Expected<std::unique_ptr<CpuExecutable>> CpuExecutable::compile(std::shared_ptr<const Graph> g, const CpuOptions& o) {
  auto start = std::chrono::steady_clock::now();
  initLlvm();
  auto impl = std::make_unique<Impl>();
  impl->graph = g;
  for (const Value* p : g->params()) {
    const Tensor* t = g->weights().find(p->name());
    if (!t)
      return makeError("parameter {} has no data", g->displayName(p));
    impl->params[p] = t->clone();
  }
  // Every arena value must be planned; constants are materialised once.
  int64_t arenaBytes = 0;
  impl->inPlace = g->inPlaceUpdates();
  for (const auto& n : g->nodes()) {
    if (n->is(ops::Constant)) {
      impl->constants[n->output()] = n->attrs().getTensor("value").clone();
      continue;
    }
    if (n->op().isAlias())
      continue;
    for (const Value* r : n->outputs()) {
      if (impl->inPlace.count(r))
        continue;
      if (r->offset() < 0)
        return makeError("{} has no arena offset: run the pass pipeline (plan-memory) before the CPU backend",
                         g->displayName(r));
      arenaBytes = std::max(arenaBytes, r->offset() + r->type().bytes());
    }
  }
  HostInfo host = hostInfo();
  CpuTarget target;
  target.vectorFloats = host.vectorFloats;
  auto mod = emitCpuModule(*g, target);
  if (!mod)
    return mod.error();
  {
    std::string problems;
    llvm::raw_string_ostream os(problems);
    if (llvm::verifyModule(*mod->module, &os))
      return makeError("internal error: generated LLVM IR is invalid: {}", os.str());
  }
  impl->program = std::move(mod->program);

  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb)
    return makeError("LLVM cannot target this host: {}", errorText(jtmb.takeError()));
  jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  mod->module->setDataLayout(*jtmb->getDefaultDataLayoutForTarget());
  std::optional<KernelCache> cache;
  if (o.useCache)
    cache.emplace("cpu", o.cacheDir);
  bool* hit = &impl->stats.cacheHit;
  llvm::orc::LLJITBuilder jb;
  jb.setJITTargetMachineBuilder(*jtmb);
  jb.setCompileFunctionCreator([&](llvm::orc::JITTargetMachineBuilder b)
                                   -> llvm::Expected<std::unique_ptr<llvm::orc::IRCompileLayer::IRCompiler>> {
    auto tm = b.createTargetMachine();
    if (!tm)
      return tm.takeError();
    return std::make_unique<CachingCompiler>(b, std::move(*tm), cache, hit);
  });
  auto jit = jb.create();
  if (!jit)
    return makeError("cannot start the LLVM JIT: {}", errorText(jit.takeError()));
  impl->jit = std::move(*jit);
  if (auto e = impl->jit->addIRModule(llvm::orc::ThreadSafeModule(std::move(mod->module), std::move(mod->context))))
    return makeError("JIT: {}", errorText(std::move(e)));
  impl->pool = std::make_unique<ThreadPool>(o.threads);
  impl->arena.reset(static_cast<char*>(alignedAlloc(static_cast<size_t>(arenaBytes))));
  for (const CpuKernel& k : impl->program.kernels) {
    auto sym = impl->jit->lookup(k.symbol);
    if (!sym)
      return makeError("JIT: kernel {}: {}", k.symbol, errorText(sym.takeError()));
    impl->fns.push_back(sym->toPtr<KernelFn>());
    impl->persistent.emplace_back(static_cast<char*>(alignedAlloc(static_cast<size_t>(k.persistentBytes))), std::free);
    impl->prepFns.push_back(nullptr);
    if (k.prepSymbol.empty())
      continue;
    // Prepare functions repack constant operands (weights): once, and again after an update.
    auto prep = impl->jit->lookup(k.prepSymbol);
    if (!prep)
      return makeError("JIT: kernel {}: {}", k.prepSymbol, errorText(prep.takeError()));
    for (size_t i : k.prepReads) {
      const Value* v = k.buffers[i];
      assert((v->isParam() || (v->producer() && v->producer()->is(ops::Constant))) && "prepare reads constants only");
      (void)v;
    }
    impl->prepFns.back() = prep->toPtr<KernelFn>();
    SINTER_CHECK(impl->prepare(impl->prepFns.size() - 1));
  }
  int64_t scratch = 0;
  for (const CpuKernel& k : impl->program.kernels)
    scratch = std::max(scratch, k.scratchBytes);
  for (int t = 0; t < impl->pool->size(); ++t)
    impl->scratch.emplace_back(static_cast<char*>(alignedAlloc(static_cast<size_t>(scratch))), std::free);
  for (const CpuKernel& k : impl->program.kernels)
    impl->times.push_back({g->describe(k.node) + (k.node->is(ops::Fused) ? " " + k.node->attrs().getString("kind") : ""), 0, 0});
  impl->stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  impl->stats.kernels = impl->program.kernels.size();
  impl->stats.arenaBytes = arenaBytes;
  impl->stats.cpu = host.cpu;
  impl->stats.vectorFloats = host.vectorFloats;
  return std::unique_ptr<CpuExecutable>(new CpuExecutable(std::move(impl)));
}

Expected<std::vector<Tensor>> CpuExecutable::run(const std::vector<Tensor>& inputs) {
  Impl& im = *impl_;
  const Graph& g = *im.graph;
  if (inputs.size() != g.inputs().size())
    return makeError("graph @{} takes {} inputs, got {}", g.name(), g.inputs().size(), inputs.size());
  std::unordered_map<const Value*, const Tensor*> bound;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].type() != g.inputs()[i]->type())
      return makeError("input {} expects {}, got {}", g.displayName(g.inputs()[i]), g.inputs()[i]->type().str(),
                       inputs[i].type().str());
    bound[g.inputs()[i]] = &inputs[i];
  }
  std::vector<char*> ptrs;
  for (size_t k = 0; k < im.program.kernels.size(); ++k) {
    const CpuKernel& kernel = im.program.kernels[k];
    ptrs.clear();
    for (const Value* v : kernel.buffers)
      ptrs.push_back(im.pointerOf(v, bound));
    std::atomic<int32_t> status{0};
    KernelFn fn = im.fns[k];
    char** args = ptrs.data();
    auto t0 = std::chrono::steady_clock::now();
    im.pool->parallelFor(kernel.items, [&](int64_t b, int64_t e, int t) {
      int32_t s = fn(args, b, e, im.scratch[static_cast<size_t>(t)].get(), im.persistent[k].get());
      if (s != 0)
        status.store(s);
    });
    im.times[k].seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++im.times[k].calls;
    if (int32_t s = status.load())
      return makeError("{}: {}", g.describe(kernel.node), im.program.errors[static_cast<size_t>(s - 1)]);
  }
  std::vector<Tensor> out;
  for (const Value* v : g.outputs()) {
    Tensor t(v->type());
    if (t.bytes())
      std::memcpy(t.raw(), im.pointerOf(v, bound), t.bytes());
    out.push_back(std::move(t));
  }
  // Training: new parameters and optimizer state (all read above, so the copies are safe).
  if (!g.updates().empty()) {
    std::vector<const Value*> changed;
    for (const auto& [param, value] : g.updates()) {
      Tensor& dst = im.params.at(param);
      if (dst.bytes() && !im.inPlace.count(value)) // (in-place results are there already)
        std::memcpy(dst.raw(), im.pointerOf(value, bound), dst.bytes());
      changed.push_back(param);
    }
    SINTER_CHECK(im.reprepare(changed));
  }
  return out;
}

Expected<Tensor> CpuExecutable::param(std::string_view name) const {
  const Value* v = impl_->graph->findValue(name);
  if (!v || !impl_->params.count(v))
    return makeError("no parameter named '{}'", name);
  return impl_->params.at(v).clone();
}

Error CpuExecutable::setParam(std::string_view name, const Tensor& value) {
  const Value* v = impl_->graph->findValue(name);
  if (!v || !impl_->params.count(v))
    return makeError("no parameter named '{}'", name);
  Tensor& dst = impl_->params.at(v);
  if (value.type() != dst.type())
    return makeError("parameter {} is {}, not {}", name, dst.type().str(), value.type().str());
  if (dst.bytes())
    std::memcpy(dst.raw(), value.raw(), dst.bytes());
  return impl_->reprepare({v});
}

} // namespace sinter

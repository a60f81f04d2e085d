#include "runtime/Executor.h"

#include "runtime/cpu/CpuBackend.h"
#include "runtime/cuda/CudaDevice.h"
#include "runtime/reference/Interpreter.h"

#include <fmt/format.h>

#include <map>

namespace sinter {

namespace {

// The float64 interpreter with its own parameter store (for tests and machines without LLVM).
class ReferenceExecutor final : public Executor {
public:
  explicit ReferenceExecutor(std::shared_ptr<const Graph> g) : g_(std::move(g)) {
    for (const Value* p : g_->params())
      if (const Tensor* t = g_->weights().find(p->name()))
        params_[p->name()] = t->clone();
  }
  Expected<std::vector<Tensor>> run(const std::vector<Tensor>& inputs) override {
    ReferenceOptions o;
    for (const Value* p : g_->params())
      if (auto it = params_.find(p->name()); it != params_.end())
        o.overrides.emplace_back(p, it->second);
    std::vector<Tensor> updates;
    o.updates = &updates;
    auto out = runReference(*g_, inputs, o);
    if (!out)
      return out.error();
    for (size_t i = 0; i < updates.size(); ++i)
      params_[g_->updates()[i].first->name()] = std::move(updates[i]);
    return out;
  }
  Expected<Tensor> param(std::string_view name) const override {
    auto it = params_.find(std::string(name));
    if (it == params_.end())
      return makeError("graph @{} has no parameter '{}'", g_->name(), name);
    return it->second.clone();
  }
  Error setParam(std::string_view name, const Tensor& value) override {
    auto it = params_.find(std::string(name));
    if (it == params_.end())
      return makeError("graph @{} has no parameter '{}'", g_->name(), name);
    if (it->second.type() != value.type())
      return makeError("parameter '{}' is {}, not {}", name, it->second.type().str(), value.type().str());
    it->second = value.clone();
    return Error::success();
  }
  std::string describe() const override { return "reference (float64 interpreter)"; }

private:
  std::shared_ptr<const Graph> g_;
  std::map<std::string, Tensor> params_;
};

class CpuExecutor final : public Executor {
public:
  explicit CpuExecutor(std::unique_ptr<CpuExecutable> e) : e_(std::move(e)) {}
  Expected<std::vector<Tensor>> run(const std::vector<Tensor>& inputs) override { return e_->run(inputs); }
  Expected<Tensor> param(std::string_view name) const override { return e_->param(name); }
  Error setParam(std::string_view name, const Tensor& value) override { return e_->setParam(name, value); }
  std::string describe() const override {
    const CpuCompileStats& s = e_->stats();
    return fmt::format("cpu ({}, {} threads, {}-float vectors; compiled in {:.2f} s{})", s.cpu, e_->threads(),
                       s.vectorFloats, s.seconds, s.cacheHit ? " from the cache" : "");
  }

private:
  std::unique_ptr<CpuExecutable> e_;
};

class CudaExecutor final : public Executor {
public:
  CudaExecutor(std::unique_ptr<CudaExecutable> e, bool tf32) : e_(std::move(e)), tf32_(tf32) {}
  Expected<std::vector<Tensor>> run(const std::vector<Tensor>& inputs) override { return e_->run(inputs); }
  Expected<Tensor> param(std::string_view name) const override { return e_->param(name); }
  Error setParam(std::string_view name, const Tensor& value) override { return e_->setParam(name, value); }
  std::string describe() const override {
    const CudaCompileStats& s = e_->stats();
    return fmt::format("cuda ({}, sm_{}, {}; {} kernels in {:.2f} s, {} from the cache{})", s.device.name, s.device.sm,
                       tf32_ ? "tf32" : "f32", s.kernels, s.seconds, s.cacheHits,
                       s.tuning.empty() ? ""
                       : fmt::format("; autotune chose {} tilings in {:.2f} s{}", s.tuned, s.tuneSeconds,
                                     s.tuneRejected ? fmt::format(", rejecting {} wrong candidates", s.tuneRejected) : ""));
  }

private:
  std::unique_ptr<CudaExecutable> e_;
  bool tf32_;
};

} // namespace

Expected<std::unique_ptr<Executor>> Executor::create(std::shared_ptr<const Graph> graph, const ExecutorOptions& o) {
  if (o.target == "reference")
    return std::unique_ptr<Executor>(new ReferenceExecutor(std::move(graph)));
  if (o.target == "cpu") {
    CpuOptions co;
    co.threads = o.threads;
    co.useCache = o.useCache;
    auto e = CpuExecutable::compile(std::move(graph), co);
    if (!e)
      return e.error();
    return std::unique_ptr<Executor>(new CpuExecutor(std::move(*e)));
  }
  if (o.target == "cuda") {
    CudaRunOptions co;
    co.tf32 = o.tf32;
    co.useCache = o.useCache;
    co.autotune = o.autotune;
    co.progress = o.progress;
    auto e = CudaExecutable::create(std::move(graph), co);
    if (!e)
      return e.error();
    return std::unique_ptr<Executor>(new CudaExecutor(std::move(*e), o.tf32));
  }
  return makeError("unknown target '{}' (reference, cpu or cuda)", o.target);
}

} // namespace sinter

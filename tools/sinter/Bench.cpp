// `sinter bench`: compile a model for a target and time its inference steps.
#include "tools/sinter/Commands.h"

#include "ir/OpTable.h"
#include "ir/Philox.h"
#include "runtime/cpu/CpuBackend.h"
#include "runtime/cuda/CudaCompile.h"
#include "runtime/cuda/CudaDevice.h"
#include "runtime/reference/Interpreter.h"

#include <algorithm>
#include <chrono>

namespace sinter::cli {

namespace {

int64_t batchOf(const Graph& g) {
  return g.inputs().empty() || g.inputs()[0]->type().shape.empty() ? 1 : g.inputs()[0]->type().shape[0];
}

struct BenchOpts {
  std::string model, target = "auto", precision = "f32";
  int iters = 10, warmup = 2, threads = 0;
  bool noCache = false, profile = false, autotune = false;
  BuiltinOptions builtin;
  PipelineFlags pipeline;
};

// The CUDA bench: cold NVRTC compile (cache not read), then the executable from the cache,
// one checked run, then device-timed steps (CUDA graph replays, inputs already on the GPU).
Error benchCuda(std::shared_ptr<const Graph> graph, const std::vector<Tensor>& inputs, double flops,
                const CudaDeviceInfo& gpu, const BenchOpts& o) {
  bool tf32 = o.precision == "tf32";
  CudaTarget t;
  t.sm = gpu.sm;
  t.multiprocessors = gpu.multiprocessors;
  t.precision = tf32 ? CudaPrecision::TF32 : CudaPrecision::F32;
  auto start = std::chrono::steady_clock::now();
  auto prog = emitCudaProgram(*graph, t);
  if (!prog)
    return prog.error().context(o.model);
  CudaCompileOptions cold;
  cold.sm = gpu.sm;
  cold.readCache = false;
  cold.useCache = !o.noCache;
  progress(fmt::format("NVRTC: compiling {} kernels for sm_{} ...", prog->kernels.size(), gpu.sm));
  auto bins = compileCudaProgram(*prog, cold);
  progressDone();
  if (!bins)
    return bins.error().context(o.model);
  double coldSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CudaRunOptions ro;
  ro.tf32 = tf32;
  ro.useCache = !o.noCache;
  ro.autotune = o.autotune;
  ro.progress = [](const std::string& line) { progress(line); };
  auto exe = CudaExecutable::create(graph, ro);
  progressDone();
  if (!exe)
    return exe.error().context(o.model);
  const CudaCompileStats& st = (*exe)->stats();
  if (o.autotune) {
    fmt::print("autotune: {:.3f} s; tiled-GEMM kernels:\n", st.tuneSeconds);
    for (const std::string& line : st.tuning)
      fmt::print("  {}\n", line);
    if (o.profile && !st.tuningTimes.empty()) {
      fmt::print("autotune: every candidate timed:\n");
      for (const std::string& line : st.tuningTimes)
        fmt::print("  {}\n", line);
    }
  }
  if (auto r = (*exe)->run(inputs); !r)
    return r.error().context(o.model);
  if (o.warmup)
    if (auto w = (*exe)->timeSteps(o.warmup); !w)
      return w.error().context(o.model);
  auto ms = (*exe)->timeSteps(o.iters);
  if (!ms)
    return ms.error().context(o.model);
  double median = (*ms)[ms->size() / 2], best = ms->front();
  int64_t batch = batchOf(*graph);
  double peak = gpu.peakFlops(tf32), floorMs = flops / peak * 1e3;
  fmt::print("model: {} (batch {}, {:.2f} GFLOP per {} step)\n", o.model, batch, flops / 1e9,
             graph->updates().empty() ? "inference" : "training");
  fmt::print("target: cuda ({}, sm_{}, {} SMs at {:.0f} MHz; {})\n", gpu.name, gpu.sm, gpu.multiprocessors,
             gpu.clockKHz / 1e3, tf32 ? "tf32 tensor cores" : "f32 FFMA");
  fmt::print("compile: cold {:.3f} s (NVRTC, {} kernels); cached {:.3f} s ({} of {} from the cache: {:.3f} s for "
             "codegen, {}cache and module load, the rest allocation and weight upload)\n",
             coldSeconds, prog->kernels.size(), st.seconds, st.cacheHits, st.kernels, st.kernelSeconds,
             o.autotune ? "autotune, " : "");
  fmt::print("step: median {:.3f} ms, min {:.3f} ms over {} iterations ({} warm-up), device time of one CUDA graph "
             "replay\n",
             median, best, o.iters, o.warmup);
  fmt::print("throughput: {:.1f} images/s, {:.2f} TFLOP/s achieved\n", static_cast<double>(batch) / median * 1e3,
             flops / median / 1e9);
  fmt::print("FLOP floor: {:.3f} ms at the {:.1f} TFLOP/s peak ({}); this step is at {:.1f}% of it\n", floorMs,
             peak / 1e12, tf32 ? "TF32 tensor cores" : "FP32 FFMA", 100.0 * floorMs / median);
  if (o.profile) {
    auto k = (*exe)->profileKernels(std::max(1, o.iters / 2));
    if (!k)
      return k.error().context(o.model);
    double total = 0;
    for (const auto& [name, kms] : *k)
      total += kms;
    fmt::print("kernels (mean of launches one by one, no graph):\n");
    for (const auto& [name, kms] : *k)
      fmt::print("  {:>8.3f} ms {:>5.1f}%  {}\n", kms, total > 0 ? 100 * kms / total : 0.0, name);
  }
  return Error::success();
}

} // namespace

Action addBench(CLI::App& app) {
  using Opts = BenchOpts;
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("bench", "Time a model's inference (or, with --train, training) step on a target");
  cmd->add_option("MODEL", o->model, "a .onnx or .sir file, '-' for stdin, or a built-in");
  cmd->add_option("--target", o->target, "cuda, cpu or reference; auto: cuda when a GPU is present, else cpu")
      ->check(CLI::IsMember({"auto", "reference", "cpu", "cuda"}));
  cmd->add_option("--precision", o->precision, "cuda: f32 (exact, FFMA) or tf32 (tensor cores) for conv and gemm")
      ->check(CLI::IsMember({"f32", "tf32"}));
  cmd->add_option("--iters", o->iters, "timed iterations")->check(CLI::Range(1, 100000));
  cmd->add_option("--warmup", o->warmup, "untimed iterations first")->check(CLI::Range(0, 1000));
  cmd->add_option("--threads", o->threads, "CPU threads (default: every core)")->check(CLI::Range(0, 1024));
  cmd->add_flag("--no-cache", o->noCache, "compile without the kernel cache (cold compile time)");
  cmd->add_flag("--profile", o->profile, "print the time of each kernel (with --autotune: of every candidate tiling too)");
  cmd->add_flag("--autotune", o->autotune, kAutotuneHelp);
  o->builtin.add(*cmd);
  o->pipeline.add(*cmd, false);
  cmd->footer("--batch sets a built-in's batch; for ONNX files with a symbolic batch use --input-shape.");
  return [o, cmd]() -> Error {
    auto done = listPassesOrRequireModel(o->pipeline, o->model);
    if (!done || *done)
      return done ? Error::success() : done.error();
    std::string why;
    std::optional<CudaDeviceInfo> gpu = cudaDeviceInfo(&why);
    std::string target = o->target == "auto" ? (gpu ? "cuda" : cpuBackendAvailable() ? "cpu" : "reference") : o->target;
    if (target == "cuda" && !gpu)
      return makeError("target 'cuda' needs a GPU: {} ('sinter compile --target cuda' compiles without one)", why);
    if (o->autotune && target != "cuda")
      return Error::usage(fmt::format("--autotune times CUDA kernels on a GPU: it needs --target cuda, not '{}'", target));
    auto g = loadModel(o->model, o->builtin, *cmd, /*weights=*/true, o->pipeline.training);
    if (!g)
      return g.error();
    SINTER_CHECK(o->pipeline.run(**g, [](const std::string& s) { fmt::print(stderr, "{}", s); }));
    std::shared_ptr<const Graph> graph(std::move(*g));
    double flops = 0;
    for (const auto& n : graph->nodes())
      flops += static_cast<double>(opFlops(*n));
    std::vector<Tensor> inputs;
    for (const Value* v : graph->inputs()) {
      Tensor t(v->type());
      // A training step's scalars get sane values (a random learning rate would blow the
      // weights up over the timed steps); everything else is seeded uniform noise.
      bool scalar = v->type().shape.empty();
      for (int64_t i = 0; i < t.numel(); ++i)
        t.set(i, v->name() == "lr" ? 0.01 : scalar && isFloat(v->type().dtype) ? 1.0
                 : isFloat(v->type().dtype)                              ? philoxUniform(7, i) * 2.0 - 1.0
                                                                         : 0.0);
      inputs.push_back(std::move(t));
    }
    if (target == "cuda")
      return benchCuda(graph, inputs, flops, *gpu, *o);
    std::function<Expected<std::vector<Tensor>>()> step;
    std::unique_ptr<CpuExecutable> exe;
    std::string what = "reference";
    double compile = 0;
    if (target == "cpu") {
      CpuOptions co;
      co.threads = o->threads;
      co.useCache = !o->noCache;
      auto e = CpuExecutable::compile(graph, co);
      if (!e)
        return e.error().context(o->model);
      exe = std::move(*e);
      compile = exe->stats().seconds;
      what = fmt::format("cpu ({}, {} threads, {}-float vectors)", exe->stats().cpu, exe->threads(),
                         exe->stats().vectorFloats);
      step = [&] { return exe->run(inputs); };
    } else {
      step = [&] { return runReference(*graph, inputs); };
    }
    for (int i = 0; i < o->warmup; ++i)
      if (auto r = step(); !r)
        return r.error().context(o->model);
    std::vector<double> ms;
    for (int i = 0; i < o->iters; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      auto r = step();
      auto t1 = std::chrono::steady_clock::now();
      if (!r)
        return r.error().context(o->model);
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      progress(fmt::format("iteration {}/{}: {:.2f} ms", i + 1, o->iters, ms.back()));
    }
    progressDone();
    std::sort(ms.begin(), ms.end());
    double median = ms[ms.size() / 2], best = ms.front();
    int64_t batch = batchOf(*graph);
    fmt::print("model: {} (batch {}, {:.2f} GFLOP per {} step)\n", o->model, batch, flops / 1e9,
               graph->updates().empty() ? "inference" : "training");
    fmt::print("target: {}\n", what);
    if (exe)
      fmt::print("compile: {:.3f} s{}\n", compile, exe->stats().cacheHit ? " (from the kernel cache)" : " (cold)");
    fmt::print("step: median {:.2f} ms, min {:.2f} ms over {} iterations ({} warm-up)\n", median, best, o->iters,
               o->warmup);
    fmt::print("throughput: {:.1f} images/s, {:.1f} GFLOP/s\n", static_cast<double>(batch) / median * 1e3,
               flops / median / 1e6);
    if (exe && o->profile) {
      auto times = exe->kernelTimes();
      double total = 0;
      for (const auto& t : times)
        total += t.seconds;
      fmt::print("kernels (mean per step over warm-up and timed runs):\n");
      for (const auto& t : times)
        fmt::print("  {:>8.3f} ms {:>5.1f}%  {}\n", t.calls ? t.seconds / t.calls * 1e3 : 0.0,
                   total > 0 ? 100 * t.seconds / total : 0.0, t.label);
    }
    return Error::success();
  };
}

} // namespace sinter::cli

// `sinter bench`: compile a model for a target and time its inference steps.
#include "tools/sinter/Commands.h"

#include "ir/OpTable.h"
#include "ir/Philox.h"
#include "runtime/cpu/CpuBackend.h"
#include "runtime/reference/Interpreter.h"

#include <algorithm>
#include <chrono>

namespace sinter::cli {

Action addBench(CLI::App& app) {
  struct Opts {
    std::string model, target = "cpu";
    int iters = 10, warmup = 2, threads = 0;
    bool noCache = false, profile = false;
    BuiltinOptions builtin;
    PipelineFlags pipeline;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("bench", "Time a model's inference on a target (compile, median and min step)");
  cmd->add_option("MODEL", o->model, "a .onnx or .sir file, '-' for stdin, or a built-in");
  cmd->add_option("--target", o->target, "cpu or reference (cuda: not in this build)")
      ->check(CLI::IsMember({"reference", "cpu", "cuda"}));
  cmd->add_option("--iters", o->iters, "timed iterations")->check(CLI::Range(1, 100000));
  cmd->add_option("--warmup", o->warmup, "untimed iterations first")->check(CLI::Range(0, 1000));
  cmd->add_option("--threads", o->threads, "CPU threads (default: every core)")->check(CLI::Range(0, 1024));
  cmd->add_flag("--no-cache", o->noCache, "compile without the kernel cache (cold compile time)");
  cmd->add_flag("--profile", o->profile, "print the time of each kernel (cpu)");
  o->builtin.add(*cmd);
  o->pipeline.add(*cmd, false);
  cmd->footer("--batch sets a built-in's batch; for ONNX files with a symbolic batch use --input-shape.");
  return [o, cmd]() -> Error {
    auto done = listPassesOrRequireModel(o->pipeline, o->model);
    if (!done || *done)
      return done ? Error::success() : done.error();
    if (o->target == "cuda")
      return makeError("target 'cuda' is not available in this build (available: cpu, reference)");
    auto g = loadModel(o->model, o->builtin, *cmd, /*weights=*/true);
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
      for (int64_t i = 0; i < t.numel(); ++i)
        t.set(i, isFloat(v->type().dtype) ? philoxUniform(7, i) * 2.0 - 1.0 : 0.0);
      inputs.push_back(std::move(t));
    }
    std::function<Expected<std::vector<Tensor>>()> step;
    std::unique_ptr<CpuExecutable> exe;
    std::string what = "reference";
    double compile = 0;
    if (o->target == "cpu") {
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
    int64_t batch = graph->inputs().empty() ? 1 : graph->inputs()[0]->type().shape.empty() ? 1
                                                                                             : graph->inputs()[0]->type().shape[0];
    fmt::print("model: {} (batch {}, {:.2f} GFLOP per step)\n", o->model, batch, flops / 1e9);
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

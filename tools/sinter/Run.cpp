// `sinter run`: run a model on .npy inputs (or a seeded random input) and write/print outputs.
#include "tools/sinter/Commands.h"

#include "ir/Philox.h"
#include "ir/Printer.h"
#include "runtime/Npy.h"
#include "runtime/cpu/CpuBackend.h"
#include "runtime/cuda/CudaDevice.h"
#include "runtime/reference/Interpreter.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <numeric>

namespace sinter::cli {

namespace {

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Targets this machine can run; the default is the first available of cuda, cpu, reference.
constexpr std::string_view kTargets[] = {"cuda", "cpu", "reference"};
bool targetAvailable(std::string_view t, std::string* why = nullptr) {
  if (t == "cpu" && !cpuBackendAvailable() && why)
    *why = "this build has no LLVM (SINTER_WITH_LLVM=OFF)";
  return t == "reference" || (t == "cpu" && cpuBackendAvailable()) || (t == "cuda" && cudaDeviceInfo(why).has_value());
}

Tensor randomInput(const TensorType& type, uint64_t seed) {
  Tensor t(type);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.set(i, type.dtype == DType::I64 ? static_cast<double>(philoxBits(seed, i) % 10)
                                      : philoxUniform(seed, i) * 2.0 - 1.0);
  return t;
}

void printTop(const std::string& name, const Tensor& t, int top) {
  if (t.shape().size() != 2 || !isFloat(t.dtype())) {
    fmt::print("{}: {}\n", name, t.type().str());
    return;
  }
  int64_t rows = t.shape()[0], cols = t.shape()[1];
  int k = static_cast<int>(std::min<int64_t>(top, cols));
  for (int64_t r = 0; r < std::min<int64_t>(rows, 4); ++r) {
    std::vector<int64_t> idx(static_cast<size_t>(cols));
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int64_t a, int64_t b) {
      return t.get(r * cols + a) > t.get(r * cols + b);
    });
    std::vector<std::string> parts;
    for (int i = 0; i < k; ++i)
      parts.push_back(fmt::format("{} ({:.5f})", idx[i], t.get(r * cols + idx[i])));
    fmt::print("{} row {}: top-{} classes: {}\n", name, r, k, fmt::join(parts, ", "));
  }
  if (rows > 4)
    fmt::print("{}: ... {} more rows\n", name, rows - 4);
}

} // namespace

Action addRun(CLI::App& app) {
  struct Opts {
    std::string model, target = "auto", output, outputDir, weights, precision = "f32";
    std::vector<std::string> inputs;
    bool random = false, autotune = false;
    uint64_t inputSeed = 0;
    int top = 5;
    int threads = 0;
    BuiltinOptions builtin;
    PipelineFlags pipeline;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("run", "Run a model on inputs from .npy files (or a random input)");
  cmd->add_option("MODEL", o->model, "a .onnx or .sir file, '-' for stdin, or a built-in (alexnet, "
                                     "alexnet-torchvision, alexnet-narrow)");
  cmd->add_option("-i,--input", o->inputs, "NAME=FILE.npy for each graph input (float32 or int64)");
  cmd->add_flag("--random-input", o->random, "fill inputs not given with --input from a seeded "
                                             "uniform [-1, 1) (for smoke runs and timing)");
  cmd->add_option("--input-seed", o->inputSeed, "seed for --random-input");
  cmd->add_option("-o,--output", o->output, "write the (single) output to FILE.npy");
  cmd->add_option("--output-dir", o->outputDir, "write every output to DIR/NAME.npy");
  cmd->add_option("--target", o->target, "reference, cpu or cuda; auto: cuda when a GPU and driver are "
                                          "present, else cpu")
      ->check(CLI::IsMember({"auto", "reference", "cpu", "cuda"}));
  cmd->add_option("--precision", o->precision, "cuda: f32 (exact, FFMA) or tf32 (tensor cores) for conv and gemm")
      ->check(CLI::IsMember({"f32", "tf32"}));
  cmd->add_flag("--autotune", o->autotune, kAutotuneHelp);
  cmd->add_option("--weights", o->weights, "load parameters from DIR/NAME.npy (replacing a built-in's "
                                           "initial weights)");
  cmd->add_option("--threads", o->threads, "CPU threads (default: every core)")->check(CLI::Range(0, 1024));
  cmd->add_option("--top", o->top, "classes to print per row for [N, C] outputs (when not writing files)")
      ->check(CLI::Range(1, 1000000));
  o->builtin.add(*cmd);
  o->pipeline.add(*cmd, /*withPipelineFlag=*/false);
  cmd->footer("The default pass pipeline runs before the model (--passes to choose; IR dumps go to stderr).");
  return [o, cmd]() -> Error {
    auto done = listPassesOrRequireModel(o->pipeline, o->model);
    if (!done || *done)
      return done ? Error::success() : done.error();
    std::string target = o->target, why;
    if (target == "auto")
      target = *std::find_if(std::begin(kTargets), std::end(kTargets), [](std::string_view t) { return targetAvailable(t); });
    if (!targetAvailable(target, &why))
      return makeError("target '{}' is not available here: {} (available: {}reference; 'sinter compile "
                       "--target cuda' compiles CUDA kernels without a GPU)",
                       target, why, cpuBackendAvailable() ? "cpu, " : "");
    if (o->autotune && target != "cuda")
      return Error::usage(fmt::format("--autotune times CUDA kernels on a GPU: it needs --target cuda, not '{}'", target));

    // Parse NAME=FILE pairs before the (possibly slow) model build.
    std::map<std::string, std::string> files;
    for (const std::string& spec : o->inputs) {
      size_t eq = spec.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
        return makeError("--input '{}' must be NAME=FILE.npy", spec);
      if (!files.emplace(spec.substr(0, eq), spec.substr(eq + 1)).second)
        return makeError("--input names '{}' twice", spec.substr(0, eq));
    }
    auto start = Clock::now();
    progress(fmt::format("building {} ...", o->model));
    auto g = loadModel(o->model, o->builtin, *cmd, /*weights=*/true, o->pipeline.training);
    progressDone();
    if (!g)
      return g.error();
    if (!o->weights.empty())
      SINTER_CHECK(loadWeightsDir(**g, o->weights));
    if (Error e = o->pipeline.run(**g, [](const std::string& s) { fmt::print(stderr, "{}", s); }))
      return e.context(o->model);
    std::shared_ptr<const Graph> shared(std::move(*g));
    const Graph& graph = *shared;
    double loadTime = secondsSince(start);
    if (!o->output.empty() && graph.outputs().size() != 1)
      return makeError("{}: --output takes a model with one output, this one has {}; use --output-dir",
                       o->model, graph.outputs().size());

    std::vector<Tensor> inputs;
    std::vector<std::string> sources;
    for (const Value* v : graph.inputs()) {
      auto it = files.find(v->name());
      if (it == files.end()) {
        if (!o->random)
          return makeError("missing input '{}' ({}): pass --input {}=FILE.npy or --random-input",
                           v->name(), v->type().str(), v->name());
        inputs.push_back(randomInput(v->type(), o->inputSeed));
        sources.push_back(fmt::format("{} {} <- random (seed {})", valueRef(v->name()), v->type().str(), o->inputSeed));
        continue;
      }
      auto t = readNpy(it->second);
      if (!t)
        return t.error();
      if (t->type() != v->type())
        return makeError("{}: input '{}' expects {}, the file holds {}", it->second, v->name(),
                         v->type().str(), t->type().str());
      inputs.push_back(std::move(*t));
      sources.push_back(fmt::format("{} {} <- {}", valueRef(v->name()), v->type().str(), it->second));
      files.erase(it);
    }
    if (!files.empty()) {
      std::vector<std::string> names;
      for (const Value* v : graph.inputs())
        names.push_back(v->name());
      return makeError("{}: the model has no input '{}' (inputs: {})", o->model, files.begin()->first,
                       fmt::join(names, ", "));
    }

    if (!o->outputDir.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(o->outputDir, ec);
      if (ec)
        return makeError("{}: cannot create: {}", o->outputDir, ec.message());
    }
    std::string targetInfo = "reference (float64 interpreter)";
    double compileTime = 0;
    auto runStart = Clock::now();
    Expected<std::vector<Tensor>> outs = std::vector<Tensor>{};
    if (target == "cpu") {
      progress("compiling for the CPU ...");
      CpuOptions co;
      co.threads = o->threads;
      auto exe = CpuExecutable::compile(shared, co);
      progressDone();
      if (!exe)
        return exe.error().context(o->model);
      compileTime = (*exe)->stats().seconds;
      targetInfo = fmt::format("cpu ({}, {} threads, {}-float vectors; compiled in {:.3f} s{})", (*exe)->stats().cpu,
                               (*exe)->threads(), (*exe)->stats().vectorFloats, compileTime,
                               (*exe)->stats().cacheHit ? " from the cache" : "");
      runStart = Clock::now();
      outs = (*exe)->run(inputs);
    } else if (target == "cuda") {
      progress("compiling for the GPU (NVRTC) ...");
      CudaRunOptions co;
      co.tf32 = o->precision == "tf32";
      co.autotune = o->autotune;
      co.progress = [](const std::string& line) { progress(line); };
      auto exe = CudaExecutable::create(shared, co);
      progressDone();
      if (!exe)
        return exe.error().context(o->model);
      const CudaCompileStats& st = (*exe)->stats();
      compileTime = st.seconds;
      targetInfo = fmt::format("cuda ({}, sm_{}, {}; {} kernels compiled in {:.3f} s, {} from the cache)", st.device.name,
                               st.device.sm, o->precision, st.kernels, compileTime, st.cacheHits);
      runStart = Clock::now();
      outs = (*exe)->run(inputs);
    } else {
      ReferenceOptions ropts;
      size_t total = graph.numNodes();
      ropts.afterNode = [&](size_t i, const Node& n, std::span<const Tensor>) {
        progress(fmt::format("[{}/{}] {}", i + 1, total, graph.describe(&n)));
      };
      outs = runReference(graph, inputs, ropts);
      progressDone();
    }
    if (!outs)
      return outs.error().context(o->model);
    double runTime = secondsSince(runStart);

    fmt::print("model: {} ({} nodes, {} parameters)\n", o->model, graph.numNodes(), graph.parameterCount());
    for (const std::string& s : sources)
      fmt::print("input: {}\n", s);
    fmt::print("target: {}\n", targetInfo);
    for (size_t i = 0; i < outs->size(); ++i) {
      const Value* v = graph.outputs()[i];
      std::string name = v->name().empty() ? fmt::format("output{}", i) : v->name();
      std::string path;
      if (!o->output.empty())
        path = o->output;
      else if (!o->outputDir.empty())
        path = (std::filesystem::path(o->outputDir) / (name + ".npy")).string();
      if (path.empty()) {
        printTop(valueRef(name), (*outs)[i], o->top);
        continue;
      }
      Tensor out = (*outs)[i];
      SINTER_CHECK(writeNpy(path, out));
      fmt::print("output: {} {} -> {}\n", valueRef(name), out.type().str(), path);
    }
    fmt::print("time: {:.3f} s to run, {:.3f} s to load the model\n", runTime, loadTime);
    return Error::success();
  };
}

} // namespace sinter::cli

// `sinter compile`: run the pipeline and report the kernels the graph will run and its memory plan.
#include "tools/sinter/Commands.h"

#include "ir/OpTable.h"
#include "ir/Printer.h"
#include "passes/MemoryPlan.h"
#include "runtime/cuda/CudaCompile.h"
#include "runtime/cuda/CudaDevice.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>

namespace sinter::cli {

namespace {
std::string human(double v, const char* unit) {
  const char* prefixes[] = {"", "k", "M", "G", "T"};
  int i = 0;
  while (v >= 1000 && i < 4) {
    v /= 1000;
    ++i;
  }
  return fmt::format("{:.1f} {}{}", v, prefixes[i], unit);
}
// Generates CUDA C for every kernel and compiles it with NVRTC (cached); prints the tile rules,
// the resources each kernel uses, and the timings.
// `tilings`: "KERNEL=TILING" overrides of the tile rule (TILING as GemmTiling::str prints it);
// `emitDir`: where each kernel's CUDA C goes (KERNEL.cu), when not empty.
Error compileForCuda(const Graph& graph, const std::string& model, std::string arch, const std::string& precision,
                     const std::vector<std::string>& tilings, const std::string& emitDir) {
  if (!nvrtcAvailable())
    return makeError("target 'cuda' is not available: this build has no CUDA toolkit (NVRTC)");
  int sm = 90;
  if (arch.empty()) {
    if (auto dev = cudaDeviceInfo())
      sm = dev->sm;
  } else {
    int v = 0;
    auto [p, ec] = std::from_chars(arch.data() + (arch.rfind("sm_", 0) == 0 ? 3 : 0), arch.data() + arch.size(), v);
    if (ec != std::errc() || p != arch.data() + arch.size() || v < 50 || v > 200)
      return Error::usage(fmt::format("--arch '{}' is not an architecture such as sm_90", arch));
    sm = v;
  }
  CudaTarget target;
  target.sm = sm;
  target.precision = precision == "tf32" ? CudaPrecision::TF32 : CudaPrecision::F32;
  if (target.precision == CudaPrecision::TF32 && sm < 80)
    return Error::usage(fmt::format("--precision tf32 needs sm_80 or newer, not sm_{}", sm));
  for (const std::string& t : tilings) {
    size_t eq = t.find('=');
    std::optional<GemmTiling> parsed = eq == std::string::npos ? std::nullopt : GemmTiling::parse(t.substr(eq + 1));
    if (!parsed)
      return Error::usage(fmt::format("--tiling '{}' is not KERNEL=TILING, e.g. 'sinter_k4_relu3=tile=128x128 split=1 "
                                      "stages=3 bk=16' (the form the kernel report prints in brackets)",
                                      t));
    if (!target.tilings.emplace(t.substr(0, eq), *parsed).second)
      return Error::usage(fmt::format("--tiling names {} twice", t.substr(0, eq)));
  }
  auto start = std::chrono::steady_clock::now();
  auto prog = emitCudaProgram(graph, target);
  if (!prog)
    return prog.error().context(model);
  for (const auto& entry : target.tilings) {
    const std::string& name = entry.first; // (not a structured binding: clang 14 cannot capture one)
    const GemmTiling& tiling = entry.second;
    auto k = std::find_if(prog->kernels.begin(), prog->kernels.end(), [&](const CudaKernel& k) { return k.name == name && k.tiling; });
    if (k == prog->kernels.end())
      return Error::usage(fmt::format("--tiling: {} is not a tiled-GEMM kernel of {} (the report names them)", name, model));
    if (*k->tiling != tiling) {
      std::vector<std::string> fits;
      for (const GemmTiling& c : k->candidates)
        fits.push_back(c.str());
      return Error::usage(fmt::format("--tiling: '{}' does not fit {} ({}); autotune's candidates for it: '{}'", tiling.str(), name,
                                      k->rule.substr(0, k->rule.find(" x")), fmt::join(fits, "', '")));
    }
  }
  if (!emitDir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(emitDir, ec);
    for (const CudaKernel& k : prog->kernels) {
      std::string path = (std::filesystem::path(emitDir) / (k.name + ".cu")).string();
      std::ofstream f(path, std::ios::binary);
      f << k.source;
      if (!f.flush())
        return makeError("--emit-cuda: cannot write {}", path);
    }
  }
  CudaCompileOptions copts;
  copts.sm = sm;
  auto bins = compileCudaProgram(*prog, copts);
  if (!bins)
    return bins.error().context(model);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  size_t hits = 0;
  fmt::print("CUDA kernels of {} for sm_{} ({}), NVRTC {}:\n", model, sm, precision, nvrtcVersionString());
  for (size_t i = 0; i < prog->kernels.size(); ++i) {
    const CudaKernel& k = prog->kernels[i];
    const CompiledKernel& c = (*bins)[i];
    hits += c.cacheHit;
    fmt::print("  {:<28} grid {}x{}x{} block {}  {}{}\n", k.name, k.grid[0], k.grid[1], k.grid[2], k.block[0], k.rule,
               !k.tiling ? std::string()
               : k.candidates.size() > 1
                   ? fmt::format(" [tiling '{}'; {} tilings for --autotune]", k.tiling->str(), k.candidates.size())
                   : fmt::format(" [tiling '{}']", k.tiling->str()));
    fmt::print("  {:<28} {}{}\n", "", resourceReport(c), nvrtcWarnings(c).empty() ? "" : "  WARNINGS: " + nvrtcWarnings(c));
  }
  fmt::print("compiled {} kernels in {:.3f} s ({} from the kernel cache)\n", prog->kernels.size(), secs, hits);
  if (!emitDir.empty())
    fmt::print("CUDA C of each kernel: {}/KERNEL.cu\n", emitDir);
  return Error::success();
}

} // namespace

Action addCompile(CLI::App& app) {
  struct Opts {
    std::string model, target = "auto", arch, precision = "f32", emitDir;
    std::vector<std::string> tilings;
    BuiltinOptions builtin;
    PipelineFlags pipeline;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("compile", "Optimise a model and report its kernels and memory plan");
  cmd->add_option("MODEL", o->model, "a .onnx or .sir file, '-' for stdin, or a built-in");
  cmd->add_option("--target", o->target, "reference, cpu or cuda (cuda compiles with NVRTC and needs no GPU)")
      ->check(CLI::IsMember({"auto", "reference", "cpu", "cuda"}));
  cmd->add_option("--arch", o->arch, "CUDA architecture, e.g. sm_90 (default: the live GPU's, else sm_90)");
  cmd->add_option("--precision", o->precision, "f32 (exact, FFMA) or tf32 (tensor cores) for conv and gemm")
      ->check(CLI::IsMember({"f32", "tf32"}));
  cmd->add_option("--emit-cuda", o->emitDir, "cuda: write each kernel's CUDA C source to DIR/KERNEL.cu");
  cmd->add_option("--tiling", o->tilings,
                  "cuda: KERNEL=TILING instead of the tile rule's choice for that conv/GEMM kernel, e.g. "
                  "'sinter_k4_relu3=tile=128x128 split=1 stages=3 bk=16 warps=4' (repeatable)")
      ->allow_extra_args(false); // one value per --tiling: a model name after it stays the model
  o->builtin.add(*cmd);
  o->pipeline.add(*cmd, /*withPipelineFlag=*/false);
  return [o, cmd]() -> Error {
    auto done = listPassesOrRequireModel(o->pipeline, o->model);
    if (!done || *done)
      return done ? Error::success() : done.error();
    auto g = loadModel(o->model, o->builtin, *cmd, /*weights=*/o->pipeline.foldsBuiltinWeights(),
                       o->pipeline.training);
    if (!g)
      return g.error();
    SINTER_CHECK(o->pipeline.run(**g, [](const std::string& s) { fmt::print("{}", s); }));
    const Graph& graph = **g;
    if (o->target != "cuda" && (!o->emitDir.empty() || !o->tilings.empty()))
      return Error::usage("--emit-cuda and --tiling are for --target cuda");
    if (o->target == "cuda")
      return compileForCuda(graph, o->model, o->arch, o->precision, o->tilings, o->emitDir);
    fmt::print("kernels of {} ({} nodes after the pipeline):\n", o->model, graph.numNodes());
    fmt::print("  {:>3}  {:<28} {:<34} {:<22} {:>12} {:>12}\n", "#", "result", "ops", "shape", "FLOPs", "bytes");
    int k = 0;
    double flops = 0, bytes = 0;
    for (const auto& n : graph.nodes()) {
      if (n->op().isAlias() || n->is(ops::Constant))
        continue;
      std::string what = n->is(ops::Fused) ? n->attrs().getString("kind") : std::string(n->op().name);
      int64_t moved = 0;
      for (const Value* v : n->inputs())
        moved += v->type().bytes();
      for (const Value* v : n->outputs())
        moved += v->type().bytes();
      double f = static_cast<double>(opFlops(*n));
      flops += f;
      bytes += static_cast<double>(moved);
      fmt::print("  {:>3}  {:<28} {:<34} {:<22} {:>12} {:>12}\n", ++k, graph.displayName(n->output()), what,
                 n->output()->type().str(), human(f, "FLOP"), human(static_cast<double>(moved), "B"));
    }
    fmt::print("total: {} kernels, {}, {} moved\n", k, human(flops, "FLOP"), human(bytes, "B"));
    MemoryStats m = memoryStats(graph);
    if (m.arenaBytes > 0)
      fmt::print("memory: arena {} ({} bytes) for {} buffers ({} in place); naive sum {}; lower bound {} "
                 "(arena = {:.3f} x lower bound)\n",
                 human(static_cast<double>(m.arenaBytes), "B"), m.arenaBytes, m.buffers, m.inPlace,
                 human(static_cast<double>(m.naiveBytes), "B"), human(static_cast<double>(m.lowerBound), "B"),
                 m.lowerBound ? static_cast<double>(m.arenaBytes) / static_cast<double>(m.lowerBound) : 0.0);
    else
      fmt::print("memory: not planned (the pipeline stopped before plan-memory)\n");
    return Error::success();
  };
}

} // namespace sinter::cli

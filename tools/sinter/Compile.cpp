// `sinter compile`: run the pipeline and report the kernels the graph will run and its memory plan.
#include "tools/sinter/Commands.h"

#include "ir/OpTable.h"
#include "ir/Printer.h"
#include "passes/MemoryPlan.h"

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
} // namespace

Action addCompile(CLI::App& app) {
  struct Opts {
    std::string model, target = "auto";
    BuiltinOptions builtin;
    PipelineFlags pipeline;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("compile", "Optimise a model and report its kernels and memory plan");
  cmd->add_option("MODEL", o->model, "a .onnx or .sir file, '-' for stdin, or a built-in");
  cmd->add_option("--target", o->target, "reference, cpu or cuda (this build: reference; code generation comes "
                                          "with the CPU and CUDA backends)")
      ->check(CLI::IsMember({"auto", "reference", "cpu", "cuda"}));
  o->builtin.add(*cmd);
  o->pipeline.add(*cmd, /*withPipelineFlag=*/false);
  return [o, cmd]() -> Error {
    auto done = listPassesOrRequireModel(o->pipeline, o->model);
    if (!done || *done)
      return done ? Error::success() : done.error();
    if (o->target == "cpu" || o->target == "cuda")
      return makeError("target '{}' is not available in this build (available: reference)", o->target);
    auto g = loadModel(o->model, o->builtin, *cmd, /*weights=*/false);
    if (!g)
      return g.error();
    SINTER_CHECK(o->pipeline.run(**g, [](const std::string& s) { fmt::print("{}", s); }));
    const Graph& graph = **g;
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

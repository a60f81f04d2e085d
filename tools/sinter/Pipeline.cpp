// The pass-manager flags (--print-after=P, --stop-after=P, ...) shared by dump, run and compile.
#include "tools/sinter/Commands.h"

#include "passes/PassManager.h"
#include "runtime/reference/Interpreter.h"

#include <algorithm>

namespace sinter::cli {

void PipelineFlags::add(CLI::App& cmd, bool withPipelineFlag) {
  auto* g = "Passes";
  if (withPipelineFlag)
    cmd.add_flag("--pipeline", pipeline, "run the default pipeline before printing (implied by the flags below)")
        ->group(g);
  cmd.add_option("--passes", passes, "run exactly these passes, comma-separated (see --list-passes)")->group(g);
  cmd.add_option("--print-before", printBefore, "print the IR before these passes (comma list)")->group(g);
  cmd.add_option("--print-after", printAfter, "print the IR after these passes (comma list)")->group(g);
  cmd.add_flag("--print-after-all", printAfterAll, "print the IR after every pass")->group(g);
  cmd.add_flag("--print-changed", printChanged, "print the IR after each pass that changed it")->group(g);
  cmd.add_flag("--verify-each", verifyEach, "run the verifier after every pass")->group(g);
  cmd.add_option("--stop-after", stopAfter, "stop the pipeline after this pass")->group(g);
  cmd.add_flag("--time-passes", timePasses, "print how long each pass took")->group(g);
  cmd.add_flag("--list-passes", listPasses, "list the passes and the default pipeline, then exit")->group(g);
  cmd.add_flag("--train", training, "treat the model as a training graph (keeps dropout)")->group(g);
  cmd.add_flag("--winograd", winograd,
               "add the winograd pass before fold-params: 3x3 stride-1 f32 convolutions with 16+ channels per group as "
               "Winograd F(2x2,3x3) (fewer multiplies, different rounding; not yet the default)")
      ->group(g);
  cmd.add_option("--winograd-tile", winogradTile,
                 "output tile of --winograd (implied): 2 = F(2x2,3x3), 2.25x fewer multiplies per output than direct; "
                 "4 = F(4x4,3x3), 4x fewer, larger rounding errors, f32 only on cuda")
      ->check(CLI::IsMember({2, 4}))
      ->group(g);
}

bool PipelineFlags::requested(const CLI::App& cmd) const {
  for (const char* f : {"--pipeline", "--passes", "--print-before", "--print-after", "--print-after-all",
                        "--print-changed", "--verify-each", "--stop-after", "--time-passes", "--train", "--winograd",
                        "--winograd-tile"})
    if (cmd.get_option_no_throw(f) && cmd.count(f))
      return true;
  return false;
}

Error PipelineFlags::run(Graph& g, const std::function<void(const std::string&)>& out) const {
  std::vector<std::string> list = cmdPasses();
  PipelineOptions o;
  for (const std::string& p : splitList(printBefore))
    o.printBefore.insert(p);
  for (const std::string& p : splitList(printAfter))
    o.printAfter.insert(p);
  o.printAfterAll = printAfterAll;
  o.printChanged = printChanged;
  o.verifyEach = verifyEach;
  o.stopAfter = stopAfter;
  o.timePasses = timePasses;
  o.out = out;
  PassContext ctx;
  ctx.evaluate = evaluateNode;
  ctx.training = training;
  ctx.frozenParams = !training; // the CLI compiles for the weights it holds (fold-params)
  if (winogradTile)
    ctx.winogradTile = winogradTile;
  auto r = runPipeline(g, list, ctx, o);
  if (!r)
    return r.error();
  return Error::success();
}

std::vector<std::string> PipelineFlags::cmdPasses() const {
  std::vector<std::string> list = passes.empty() ? defaultPipeline(training) : splitList(passes);
  if ((winograd || winogradTile) && std::find(list.begin(), list.end(), "winograd") == list.end()) {
    // Before fold-params (which then transforms the filters once), else before fuse (so ReLU
    // joins the output transform), else before plan-memory, else last.
    auto at = std::find(list.begin(), list.end(), "fold-params");
    if (at == list.end())
      at = std::find(list.begin(), list.end(), "fuse");
    if (at == list.end())
      at = std::find(list.begin(), list.end(), "plan-memory");
    list.insert(at, "winograd");
  }
  return list;
}

Expected<bool> listPassesOrRequireModel(const PipelineFlags& pipeline, const std::string& model) {
  if (pipeline.listPasses) {
    pipeline.list();
    return true;
  }
  if (model.empty())
    return Error::usage("MODEL is required (a .onnx or .sir file, '-', or a built-in)");
  return false;
}

void PipelineFlags::list() const {
  fmt::print("passes:\n");
  for (const PassInfo& p : allPasses())
    fmt::print("  {:<15} {}\n", p.name, p.summary);
  fmt::print("default pipeline: {}\n", fmt::join(defaultPipeline(false), ","));
  fmt::print("training pipeline (--train): {}\n", fmt::join(defaultPipeline(true), ","));
}

} // namespace sinter::cli

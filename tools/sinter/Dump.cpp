// `sinter dump`: print a model's IR as .sir text or Graphviz.
#include "tools/sinter/Commands.h"

#include "ir/Printer.h"
#include "runtime/Npy.h"

#include <cstring>
#include <fstream>

namespace sinter::cli {

Action addDump(CLI::App& app) {
  struct Opts {
    std::string model, format = "text", out, saveWeights;
    BuiltinOptions builtin;
    PipelineFlags pipeline;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("dump", "Print a model's IR (.sir text, or Graphviz with --format dot)");
  cmd->add_option("MODEL", o->model, "a .onnx or .sir file, '-' for stdin, or a built-in (alexnet, "
                                     "alexnet-torchvision, alexnet-narrow)");
  cmd->add_option("--format", o->format, "text (parseable .sir) or dot (Graphviz)")
      ->check(CLI::IsMember({"text", "dot"}));
  cmd->add_option("-o,--output", o->out, "write to FILE instead of stdout");
  cmd->add_option("--save-weights", o->saveWeights, "also write the parameters to DIR/NAME.npy "
                                                    "(a built-in's initial weights)");
  o->builtin.add(*cmd);
  o->pipeline.add(*cmd, /*withPipelineFlag=*/true);
  cmd->footer("The text form parses back: `sinter dump alexnet | sinter dump -` prints the same text.\n"
              "Render the graph with: sinter dump MODEL --format dot | dot -Tsvg -o model.svg\n"
              "With pass flags the passes run first: --print-after=fuse prints the IR after fusion\n"
              "(instead of the final IR), --stop-after=P stops there, --list-passes names them.");
  return [o, cmd]() -> Error {
    auto done = listPassesOrRequireModel(o->pipeline, o->model);
    if (!done || *done)
      return done ? Error::success() : done.error();
    bool weights = !o->saveWeights.empty() || o->pipeline.foldsBuiltinWeights();
    auto g = loadModel(o->model, o->builtin, *cmd, weights, o->pipeline.training);
    if (!g)
      return g.error();
    std::string dumps;
    if (o->pipeline.requested(*cmd))
      SINTER_CHECK(o->pipeline.run(**g, [&](const std::string& s) { dumps += s; }));
    const PipelineFlags& pf = o->pipeline;
    bool printsStages = !pf.printBefore.empty() || !pf.printAfter.empty() || pf.printAfterAll || pf.printChanged;
    if (!o->saveWeights.empty())
      SINTER_CHECK(saveWeightsDir(**g, o->saveWeights));
    std::string text = dumps;
    if (!printsStages)
      text += o->format == "dot" ? printDot(**g) : printGraph(**g);
    if (o->out.empty()) {
      fmt::print("{}", text);
      return Error::success();
    }
    std::ofstream f(o->out, std::ios::binary | std::ios::trunc);
    f << text;
    if (!f)
      return makeError("{}: cannot write: {}", o->out, std::strerror(errno));
    return Error::success();
  };
}

} // namespace sinter::cli

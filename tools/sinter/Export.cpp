// `sinter export`: a model (with weights) as an ONNX file that any ONNX tool opens.
#include "tools/sinter/Commands.h"

#include "frontend/onnx/OnnxExport.h"
#include "runtime/Npy.h"

namespace sinter::cli {

Action addExport(CLI::App& app) {
  struct Opts {
    std::string model, out, weights;
    int64_t opset = 13;
    BuiltinOptions builtin;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("export", "Write a model and its weights as an ONNX file (checked by onnx::checker)");
  cmd->add_option("MODEL", o->model, "a .onnx or .sir file, '-' for stdin, or a built-in")->required();
  cmd->add_option("-o,--output", o->out, "the .onnx file to write (atomically)")->required();
  cmd->add_option("--opset", o->opset, "ONNX opset to write, 11..17")->check(CLI::Range(11, 17));
  cmd->add_option("--weights", o->weights, "load parameters from DIR/NAME.npy first (for .sir models)");
  o->builtin.add(*cmd);
  return [o, cmd]() -> Error {
    auto g = loadModel(o->model, o->builtin, *cmd, /*weights=*/true);
    if (!g)
      return g.error();
    if (!o->weights.empty())
      SINTER_CHECK(loadWeightsDir(**g, o->weights));
    OnnxExportOptions eo;
    eo.opset = o->opset;
    if (Error e = exportOnnxFile(**g, o->out, eo))
      return e.context(o->model);
    fmt::print("wrote {} (opset {}, {} nodes, {} parameters)\n", o->out, o->opset, (*g)->numNodes(),
               (*g)->parameterCount());
    return Error::success();
  };
}

} // namespace sinter::cli

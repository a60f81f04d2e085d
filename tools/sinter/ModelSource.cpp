// Loading the MODEL argument: built-in names, .sir files and stdin.
#include "tools/sinter/Commands.h"

#include "ir/Printer.h"
#include "ir/Verifier.h"

#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <unistd.h>

namespace sinter::cli {

void BuiltinOptions::add(CLI::App& cmd) {
  auto* g = "Built-in models";
  cmd.add_option("--batch", batch, "batch size of a built-in model")->check(CLI::PositiveNumber)->group(g);
  cmd.add_option("--classes", classes, "classes of a built-in model (default 1000; 10 for alexnet-narrow)")
      ->check(CLI::PositiveNumber)->group(g);
  cmd.add_option("--channels", channels, "input channels of a built-in model")->check(CLI::PositiveNumber)->group(g);
  cmd.add_option("--input-size", inputSize, "square input side of a built-in model (default 227, 224 or 67)")
      ->check(CLI::PositiveNumber)->group(g);
  cmd.add_option("--seed", seed, "weight initialisation seed of a built-in model")->group(g);
}

bool BuiltinOptions::anySet(const CLI::App& cmd) const {
  for (const char* o : {"--batch", "--classes", "--channels", "--input-size", "--seed"})
    if (cmd.count(o))
      return true;
  return false;
}

namespace {
Expected<std::string> readAll(const std::string& path) {
  if (path == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream f(path, std::ios::binary);
  if (!f)
    return makeError("{}: cannot open: {}", path, std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad())
    return makeError("{}: read failed", path);
  return ss.str();
}

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
} // namespace

Expected<std::unique_ptr<Graph>> loadModel(const std::string& model, const BuiltinOptions& opts,
                                           const CLI::App& cmd, bool weights) {
  for (std::string_view b : builtinModelNames())
    if (model == b) {
      AlexNetOptions o;
      o.batch = opts.batch;
      o.classes = opts.classes;
      o.channels = opts.channels;
      o.inputSize = opts.inputSize;
      o.seed = opts.seed;
      o.weights = weights;
      return buildBuiltinModel(model, o);
    }
  if (opts.anySet(cmd))
    return makeError("{}: --batch, --classes, --channels, --input-size and --seed apply to built-in "
                     "models only", model);
  if (endsWith(model, ".onnx"))
    return makeError("{}: ONNX import is not available yet (it arrives with the ONNX frontend)", model);
  if (model != "-" && access(model.c_str(), F_OK) != 0)
    return makeError("{}: no such file, and not a built-in model ({})", model,
                     fmt::join(builtinModelNames(), ", "));
  auto text = readAll(model);
  if (!text)
    return text.error();
  auto g = parseGraph(*text, model == "-" ? "<stdin>" : model);
  if (!g)
    return g.error();
  if (Error e = verifyGraph(**g))
    return e.context(model);
  return g;
}

void progress(const std::string& line) {
  if (isatty(STDERR_FILENO))
    fmt::print(stderr, "\r\033[K{}", line);
}

void progressDone() {
  if (isatty(STDERR_FILENO))
    fmt::print(stderr, "\r\033[K");
}

} // namespace sinter::cli

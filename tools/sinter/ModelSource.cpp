// Loading the MODEL argument: built-in names, .sir files and stdin.
#include "tools/sinter/Commands.h"

#include "frontend/onnx/OnnxImport.h"
#include "ir/Printer.h"
#include "runtime/reference/Interpreter.h"

#include <charconv>
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
  cmd.add_option("--input-shape", inputShapes, "NAME=D0,D1,... binds the shape of an ONNX model's input "
                                               "(symbolic dims such as a named batch)")
      ->group("ONNX models");
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

// "data=8,3,227,227" -> ("data", [8,3,227,227])
Expected<std::pair<std::string, Shape>> parseShapeBinding(const std::string& spec) {
  size_t eq = spec.rfind('=');
  if (eq == std::string::npos || eq == 0)
    return makeError("--input-shape '{}' must be NAME=D0,D1,...", spec);
  Shape dims;
  std::string rest = spec.substr(eq + 1);
  size_t pos = 0;
  while (pos <= rest.size()) {
    size_t comma = rest.find(',', pos);
    std::string d = rest.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    int64_t v = 0;
    auto [p, ec] = std::from_chars(d.data(), d.data() + d.size(), v);
    if (d.empty() || ec != std::errc() || p != d.data() + d.size() || v < 0 || v > kMaxDim)
      return makeError("--input-shape '{}': '{}' is not a dimension", spec, d);
    dims.push_back(v);
    if (comma == std::string::npos)
      break;
    pos = comma + 1;
  }
  return std::make_pair(spec.substr(0, eq), dims);
}

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
} // namespace

Expected<std::unique_ptr<Graph>> loadModel(const std::string& model, const BuiltinOptions& opts,
                                           const CLI::App& cmd, bool weights, bool training) {
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
  if (model != "-" && access(model.c_str(), F_OK) != 0)
    return makeError("{}: no such file, and not a built-in model ({})", model,
                     fmt::join(builtinModelNames(), ", "));
  if (!opts.inputShapes.empty() && !endsWith(model, ".onnx"))
    return makeError("{}: --input-shape applies to ONNX models only", model);
  if (endsWith(model, ".onnx")) {
    OnnxImportOptions io;
    for (const std::string& spec : opts.inputShapes) {
      auto shape = parseShapeBinding(spec);
      if (!shape)
        return shape.error();
      io.inputShapes[shape->first] = shape->second;
    }
    io.fold = evaluateNode;
    io.training = training;
    io.warn = [&](const std::string& w) { fmt::print(stderr, "warning: {}: {}\n", model, w); };
    auto g = importOnnxFile(model, io);
    if (!g)
      return g.error().context(model);
    return g;
  }
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

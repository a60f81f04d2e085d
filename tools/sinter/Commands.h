// The `sinter` CLI: shared model loading and the subcommands' registration.
#pragma once

#include "ir/Error.h"
#include "ir/Graph.h"
#include "models/AlexNet.h"

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

namespace sinter::cli {

/// Options that shape the model: built-in parameters (refused for files) and ONNX input shapes.
struct BuiltinOptions {
  int64_t batch = 1;
  int64_t classes = 0;
  int64_t channels = 3;
  int64_t inputSize = 0;
  uint64_t seed = 0;
  std::vector<std::string> inputShapes; ///< NAME=D0,D1,... for ONNX inputs
  void add(CLI::App& cmd);
  bool anySet(const CLI::App& cmd) const;
};

/// Pass-manager flags shared by dump, run and compile.
struct PipelineFlags {
  std::string passes, printBefore, printAfter, stopAfter;
  bool pipeline = false, printAfterAll = false, printChanged = false, verifyEach = false, timePasses = false,
       listPasses = false, training = false, winograd = false;
  int winogradTile = 0; ///< --winograd-tile (0: not given; implies --winograd)
  void add(CLI::App& cmd, bool withPipelineFlag);
  /// True when a flag asks for passes (dump runs none otherwise).
  bool requested(const CLI::App& cmd) const;
  /// Runs the chosen passes (default pipeline unless --passes), dumps through `out`.
  Error run(Graph& g, const std::function<void(const std::string&)>& out) const;
  /// --list-passes: prints the passes and the default pipeline.
  void list() const;
  /// The pass list these flags select.
  std::vector<std::string> cmdPasses() const;
  /// Whether a built-in model's weights change the kernels these passes make: fold-params
  /// computes winograd's filter transforms from them (built-ins have no batch norm to fold).
  /// `compile` and `dump` generate a built-in's weights only then.
  bool foldsBuiltinWeights() const { return !training && (winograd || winogradTile); }
};

/// Start of dump/run/compile: --list-passes prints the passes and ends the command (true); a
/// missing MODEL is a usage error.
Expected<bool> listPassesOrRequireModel(const PipelineFlags& pipeline, const std::string& model);

/// A model argument: a .sir file, '-' (stdin), or a built-in name. `weights` false skips weight
/// initialisation of built-ins (dump needs types only). `training` (--train): an ONNX model's
/// training-mode BatchNormalization nodes import as batch-norm layers (the training pipeline
/// gives every batch_norm batch statistics).
Expected<std::unique_ptr<Graph>> loadModel(const std::string& model, const BuiltinOptions& opts,
                                           const CLI::App& cmd, bool weights, bool training = false);

/// --autotune's help, shared by run, bench and train.
inline constexpr const char* kAutotuneHelp =
    "cuda: time each convolution/GEMM kernel's candidate tilings on the GPU and keep the fastest whose outputs match "
    "the rule's (stored in the cache for the next run on this GPU)";

/// Each subcommand registers its options and returns the action to run after parsing.
using Action = std::function<Error()>;
Action addDump(CLI::App& app);
Action addRun(CLI::App& app);
Action addConformance(CLI::App& app);
Action addExport(CLI::App& app);
Action addCompile(CLI::App& app);
Action addBench(CLI::App& app);
Action addCache(CLI::App& app);
Action addTrain(CLI::App& app);

/// Prints a transient progress line on stderr when it is a terminal.
void progress(const std::string& line);
void progressDone();

} // namespace sinter::cli

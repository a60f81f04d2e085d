// The pass manager: passes with one signature, registered once (Passes.def), run as a pipeline
// with IR dumps, verification, timing and stopping. Passes never print; the manager does.
#pragma once

#include "ir/Error.h"
#include "ir/Graph.h"

#include <functional>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace sinter {

/// The optimizer the training pipeline inserts (the optimizer pass).
struct OptimizerOptions {
  std::string kind = "sgd";   ///< sgd (the paper's rule) or adam
  double momentum = 0.9;      ///< sgd
  double weightDecay = 0.0005;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8; ///< adam
};

/// What passes may read besides the graph.
struct PassContext {
  /// Evaluates a node on constants (the reference's evaluateNode); fold-constants needs it.
  NodeEvaluator evaluate;
  /// Training graphs keep dropout and get add-loss, autodiff and optimizer.
  bool training = false;
  OptimizerOptions optimizer;
  /// add-loss: when set, every dropout's Philox key (its `seed` attribute) becomes this value,
  /// so a training run's seed decides its masks.
  std::optional<uint64_t> dropoutSeed;
  /// The parameters keep the values they hold now (inference compiled for its weights): passes
  /// may compute with them (fold-batch-norm, fold-params). False where they change after
  /// compilation: training steps, and graphs whose parameters are set again by name.
  bool frozenParams = false;
  /// winograd: the output tile side m of F(m x m, 3x3), 2 or 4.
  int winogradTile = 2;
};

/// Every pass: Expected<bool> pass(Graph&, const PassContext&) -> changed, or an error.
using PassFn = Expected<bool> (*)(Graph&, const PassContext&);

struct PassInfo {
  std::string_view name; ///< kebab-case, as on the command line
  PassFn fn;
  std::string_view summary;
};

std::span<const PassInfo> allPasses();
const PassInfo* findPass(std::string_view name);
/// The default pipeline, as pass names.
std::vector<std::string> defaultPipeline(bool training);

struct PipelineOptions {
  std::set<std::string> printBefore, printAfter;
  bool printAfterAll = false;
  bool printChanged = false; ///< print after a pass only when it changed the IR
  bool verifyEach = false;
  std::string stopAfter;    ///< run up to and including this pass
  bool timePasses = false;
  /// Receives dumps and the timing table (the caller decides stdout or stderr).
  std::function<void(const std::string&)> out;
};

struct PassTiming {
  std::string name;
  double seconds = 0;
  bool changed = false;
};

/// Checks names (unknown passes, a --stop-after or --print-* not in the pipeline) before running.
Error checkPipeline(const std::vector<std::string>& passes, const PipelineOptions& options);

/// Runs the passes in order. Dumps are headed "// ----- IR after NAME -----" and are .sir text
/// that parses back. Errors name the pass.
Expected<std::vector<PassTiming>> runPipeline(Graph& g, const std::vector<std::string>& passes,
                                              const PassContext& ctx, const PipelineOptions& options);

/// "a,b,c" -> {"a", "b", "c"} (empty items dropped).
std::vector<std::string> splitList(const std::string& s);

} // namespace sinter

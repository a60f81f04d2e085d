// One interface over the three ways Sinter runs a planned graph (reference interpreter, CPU JIT,
// CUDA), for code that does not care which: the training loop, evaluation, tools. Each executor
// keeps the graph's parameters (and, for training graphs, applies the graph's updates after
// every run, so optimizer state stays where the backend computes: on the GPU for cuda).
#pragma once

#include "ir/Error.h"
#include "ir/Graph.h"
#include "ir/Tensor.h"

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sinter {

struct ExecutorOptions {
  std::string target = "cpu"; ///< reference, cpu or cuda
  int threads = 0;            ///< cpu: 0 = every core
  bool tf32 = false;          ///< cuda: tensor cores for conv and gemm
  bool useCache = true;       ///< cpu/cuda: the on-disk kernel cache
  bool autotune = false;      ///< cuda: time candidate tilings (CudaRunOptions::autotune)
  std::function<void(const std::string&)> progress; ///< cuda: autotune's progress lines
};

class Executor {
public:
  virtual ~Executor() = default;
  /// Runs one step on `inputs` (one per graph input, exact types); applies the graph's updates.
  virtual Expected<std::vector<Tensor>> run(const std::vector<Tensor>& inputs) = 0;
  /// Current value of a parameter (a copy on the host).
  virtual Expected<Tensor> param(std::string_view name) const = 0;
  /// Replaces a parameter's value (same type).
  virtual Error setParam(std::string_view name, const Tensor& value) = 0;
  /// One line: target, device, threads, compile time.
  virtual std::string describe() const = 0;

  /// Compiles `graph` (planned by the pass pipeline) for `options.target`.
  static Expected<std::unique_ptr<Executor>> create(std::shared_ptr<const Graph> graph, const ExecutorOptions& options);
};

} // namespace sinter

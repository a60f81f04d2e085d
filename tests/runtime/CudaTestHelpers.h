// Helpers shared by the CUDA backend's tests (CudaNvrtcTest, CudaKernelsTest, CudaAutotuneTest,
// CudaGpuTest): the pass pipeline, targets, temporary folders, emulated runs against the
// reference, and the graph the tiling tests use.
#pragma once

#include "codegen/cuda/CudaProgram.h"
#include "frontend/GraphBuilder.h"
#include "ir/OpTable.h"
#include "models/AlexNet.h"
#include "passes/PassManager.h"
#include "runtime/KernelCache.h"
#include "runtime/cuda/Autotune.h"
#include "runtime/cuda/CudaCompile.h"
#include "runtime/cuda/CudaDevice.h"
#include "runtime/reference/Interpreter.h"
#include "codegen/cuda/TuneCheck.h"
#include "tests/support/CudaEmulator.h"
#include "tests/support/Numerics.h"
#include "tests/support/OpSamples.h"
#include "tests/support/TrainStep.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

namespace sinter::cudatest {

namespace fs = std::filesystem;

inline TensorType f32(Shape s) { return {DType::F32, std::move(s)}; }

/// The default pipeline (training's with `train`) run on `g`.
std::shared_ptr<Graph> optimised(std::unique_ptr<Graph> g, bool train = false);
/// plan-memory alone.
std::shared_ptr<Graph> planned(std::unique_ptr<Graph> g);
/// A CUDA target: precision, sm, multiprocessors.
CudaTarget target(CudaPrecision p, int sm = 90, int multiprocessors = 132);
/// Whether the CUDA driver in use is the host driver (tests/support/hostcuda), which runs kernels
/// on the CPU: the tests too large for it skip there.
bool onHostDriver();
/// A fresh, empty temporary folder named after `name` and this process.
std::string tempDir(const std::string& name);

/// Runs `g` (already optimised or planned) through the emulator and compares with the reference
/// on the same inputs; the same sources must also compile with NVRTC without warnings.
void expectEmulationMatchesReference(const Graph& original, std::shared_ptr<const Graph> g, const std::vector<Tensor>& in,
                                     const CudaTarget& t, test::Tolerance tol);

/// --autotune (TF32) end to end on the driver at hand: two executables of `g` on a fresh store.
/// The first times the candidates of its `tiled` tiled-GEMM kernels (none rejected: each computes
/// what the rule's kernel does), the second takes every choice from the store; both match `want`.
void expectAutotunedAndStored(std::shared_ptr<const Graph> g, const std::vector<Tensor>& in, const std::vector<Tensor>& want,
                              size_t tiled, test::Tolerance tol);

/// The graph behind the tiling tests: convolutions (padded, strided, grouped), their two
/// gradients, and gemm in two layouts, with inputs.
struct TilingCase {
  std::unique_ptr<Graph> graph;
  std::vector<Tensor> inputs;
};
TilingCase tilingGraph();

} // namespace sinter::cudatest

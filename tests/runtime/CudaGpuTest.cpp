// The CUDA backend on a GPU (skipped, saying why, without a driver): every op and fused kernel,
// every candidate tiling, AlexNet in both precisions, autotune, and training steps on the device
// through runtime/cuda, against the reference, outputs poisoned before each run. The same file
// also builds into sinter_hostcuda_tests, which runs it on the host driver (tests/support/
// hostcuda): there the AlexNet-sized tests skip.
#include "tests/runtime/CudaTestHelpers.h"

namespace sinter {
namespace {

using namespace cudatest;

class EveryOpGpu : public testing::TestWithParam<const OpDef*> {};

TEST_P(EveryOpGpu, DeviceMatchesReference) {
  std::string why;
  if (!cudaDeviceInfo(&why))
    GTEST_SKIP() << "no GPU: " << why;
  const OpDef& op = *GetParam();
  test::OpSample s = test::sampleFor(op);
  ASSERT_TRUE(s.graph);
  auto want = runReference(*s.graph, s.inputs);
  ASSERT_TRUE(want);
  CudaRunOptions o;
  auto exe = CudaExecutable::create(planned(s.graph->clone()), o);
  ASSERT_TRUE(exe) << exe.error().message();
  for (int run = 0; run < 2; ++run) { // the second run replays the captured CUDA graph
    auto got = (*exe)->run(s.inputs);
    ASSERT_TRUE(got) << got.error().message();
    for (size_t i = 0; i < got->size(); ++i)
      EXPECT_ALL_CLOSE((*got)[i], (*want)[i], {1e-5, 1e-4}) << op.name << " run " << run;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, EveryOpGpu, testing::ValuesIn(allOps().begin(), allOps().end()),
                         [](const testing::TestParamInfo<const OpDef*>& p) { return std::string(p.param->name); });

// Paper AlexNet at batch 4 (optimised), a random input and the reference's output for it.
struct AlexNetCase {
  std::shared_ptr<Graph> graph;
  std::vector<Tensor> inputs;
  Expected<std::vector<Tensor>> want;
};
AlexNetCase alexNetBatch4() {
  AlexNetOptions o;
  o.batch = 4;
  auto g = buildAlexNet(o);
  EXPECT_TRUE(g) << g.error().message();
  std::vector<Tensor> in{test::randomTensor((*g)->inputs()[0]->type(), 5)};
  auto want = runReference(**g, in);
  return {optimised(std::move(*g)), std::move(in), std::move(want)};
}

TEST(CudaGpu, AlexNetMatchesReferenceInBothPrecisions) {
  std::string why;
  if (!cudaDeviceInfo(&why))
    GTEST_SKIP() << "no GPU: " << why;
  if (onHostDriver())
    GTEST_SKIP() << "paper AlexNet is too large for the host driver (CudaHostDriverTest covers the executor)";
  for (bool tf32 : {false, true}) {
    AlexNetCase c = alexNetBatch4();
    ASSERT_TRUE(c.want) << c.want.error().message();
    const std::vector<Tensor>& in = c.inputs;
    auto& want = c.want;
    CudaRunOptions ro;
    ro.tf32 = tf32;
    auto exe = CudaExecutable::create(c.graph, ro);
    ASSERT_TRUE(exe) << exe.error().message();
    auto got = (*exe)->run(in);
    ASSERT_TRUE(got) << got.error().message();
    test::Tolerance tol = tf32 ? test::Tolerance{1e-5, 3e-3} : test::Tolerance{1e-7, 1e-4};
    EXPECT_ALL_CLOSE((*got)[0], (*want)[0], tol) << (tf32 ? "tf32" : "f32");
  }
}

// Every TF32 candidate tiling on the device: the cp.async pipeline's hardware behaviour, every
// tile shape and the split-K stores. (The f32 candidates differ from these only in the FFMA
// inner loop, which the emulator checks; leaving them out halves the device time.)
TEST(CudaGpu, EveryTilingCandidateMatchesReference) {
  std::string why;
  auto dev = cudaDeviceInfo(&why);
  if (!dev)
    GTEST_SKIP() << "no GPU: " << why;
  for (bool tf32 : {true}) {
    SCOPED_TRACE(tf32 ? "tf32" : "f32");
    TilingCase tc = tilingGraph();
    auto original = tc.graph->clone();
    auto opt = optimised(std::move(tc.graph));
    auto want = runReference(*original, tc.inputs);
    ASSERT_TRUE(want) << want.error().message();
    auto rule = emitCudaProgram(*opt, target(tf32 ? CudaPrecision::TF32 : CudaPrecision::F32, dev->sm, dev->multiprocessors));
    ASSERT_TRUE(rule);
    size_t rounds = 0;
    for (const CudaKernel& k : rule->kernels)
      rounds = std::max(rounds, k.candidates.size());
    test::Tolerance tol = tf32 ? test::Tolerance{2e-2, 3e-3} : test::Tolerance{1e-5, 1e-4};
    for (size_t r = 0; r < rounds; ++r) {
      CudaRunOptions ro;
      ro.tf32 = tf32;
      for (const CudaKernel& k : rule->kernels)
        if (k.tiling)
          ro.tilings[k.name] = k.candidates[std::min(r, k.candidates.size() - 1)];
      SCOPED_TRACE(fmt::format("round {}", r));
      auto exe = CudaExecutable::create(opt, ro);
      ASSERT_TRUE(exe) << exe.error().message();
      for (int run = 0; run < 2; ++run) {
        auto got = (*exe)->run(tc.inputs);
        ASSERT_TRUE(got) << got.error().message();
        for (size_t i = 0; i < got->size(); ++i)
          EXPECT_ALL_CLOSE((*got)[i], (*want)[i], tol) << "result " << i << ", run " << run;
      }
    }
  }
}

// --autotune end to end: the tuned AlexNet matches the reference, and a second executable on the
// same GPU takes every choice from the store.
TEST(CudaGpu, AutotunedAlexNetMatchesReferenceAndIsStored) {
  std::string why;
  if (!cudaDeviceInfo(&why))
    GTEST_SKIP() << "no GPU: " << why;
  if (onHostDriver())
    GTEST_SKIP() << "paper AlexNet is too large for the host driver (HostDriver.Autotune* tune a smaller graph)";
  AlexNetCase c = alexNetBatch4();
  ASSERT_TRUE(c.want) << c.want.error().message();
  const std::vector<Tensor>& in = c.inputs;
  auto& want = c.want;
  auto opt = c.graph;
  auto dev = cudaDeviceInfo();
  ASSERT_TRUE(dev);
  auto rule = emitCudaProgram(*opt, target(CudaPrecision::TF32, dev->sm, dev->multiprocessors));
  ASSERT_TRUE(rule);
  size_t tiled = 0;
  for (const CudaKernel& k : rule->kernels)
    tiled += k.tiling.has_value();
  EXPECT_EQ(tiled, 5u); // the five convolutions (batch 4's FC layers are warp dot products)
  expectAutotunedAndStored(opt, in, *want, tiled, {1e-5, 3e-3});
}

// Two training steps of the narrow AlexNet (SGD, Adam) and of a batch-norm network (SGD) on the
// device (parameters, velocities and running statistics stay there, updated inside the captured
// CUDA graph) against the reference, in f32.
TEST(CudaGpu, TrainingStepsMatchReference) {
  std::string why;
  if (!cudaDeviceInfo(&why))
    GTEST_SKIP() << "no GPU: " << why;
  for (auto [optimizer, model] : {std::pair{"sgd", test::TrainModel::NarrowAlexNet}, std::pair{"adam", test::TrainModel::NarrowAlexNet},
                                   std::pair{"sgd", test::TrainModel::BatchNorm}}) {
    SCOPED_TRACE(model == test::TrainModel::BatchNorm ? "batch norm" : "narrow AlexNet");
    test::TrainStepCase c = test::makeTrainStepCase(model == test::TrainModel::BatchNorm ? 4 : 2, optimizer, model);
    ASSERT_TRUE(c.graph);
    CudaRunOptions ro;
    auto exe = CudaExecutable::create(c.graph, ro);
    ASSERT_TRUE(exe) << exe.error().message();
    test::Tolerance tol = std::string(optimizer) == "sgd" ? test::Tolerance{1e-6, 1e-4} : test::Tolerance{2e-4, 1e-4};
    for (size_t step = 0; step < c.inputs.size(); ++step) {
      auto got = (*exe)->run(c.inputs[step]);
      ASSERT_TRUE(got) << got.error().message();
      EXPECT_ALL_CLOSE((*got)[0], c.outputs[step][0], tol) << optimizer << " loss, step " << step;
      EXPECT_ALL_CLOSE((*got)[1], c.outputs[step][1], tol) << optimizer << " logits, step " << step;
      const auto& updates = c.graph->updates();
      for (size_t i = 0; i < updates.size(); ++i) {
        auto p = (*exe)->param(updates[i].first->name());
        ASSERT_TRUE(p) << p.error().message();
        EXPECT_ALL_CLOSE(*p, c.params[step][i], tol)
            << optimizer << " " << c.graph->displayName(updates[i].first) << ", step " << step;
      }
    }
  }
}

TEST(CudaGpu, ReportsWhyWhenThereIsNoGpu) {
  std::string why;
  if (cudaDeviceInfo(&why))
    GTEST_SKIP() << "a GPU is present";
  EXPECT_FALSE(why.empty());
  auto exe = CudaExecutable::create(std::make_shared<Graph>("empty"), {});
  ASSERT_FALSE(exe);
  EXPECT_NE(exe.error().message().find("GPU"), std::string::npos) << exe.error().message();
}

} // namespace
} // namespace sinter

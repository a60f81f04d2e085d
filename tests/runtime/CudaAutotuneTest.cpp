// --autotune without a GPU: the choice, the store and the output check with a stand-in timer;
// the fill and compare kernels in the emulator; the tiling and record texts.
#include "tests/runtime/CudaTestHelpers.h"

namespace sinter {
namespace {

using namespace cudatest;

// The tuner: candidates timed in rounds, the fastest kept and stored per device; the next tune
// on the same device reads the store without timing; another device, or a corrupt entry, tunes
// again. (The timer here is a stand-in that prefers one candidate; on a GPU it is the device.)
TEST(CudaAutotune, KeepsTheFastestCandidateAndStoresIt) {
  GraphBuilder b("tune");
  Value* x = b.input("x", f32({20, 16, 12, 12}));
  Value* w = b.param("w", f32({64, 16, 3, 3}), test::randomTensor(f32({64, 16, 3, 3}), 41));
  Value* y = b.relu(b.conv2d(x, w, nullptr, {1, 1}, {1, 1, 1, 1}, 1, "y"), "r");
  Value* fw = b.param("fw", f32({10, 64 * 144}), test::randomTensor(f32({10, 64 * 144}), 42));
  Value* f = b.op(ops::Gemm, {b.op(ops::Flatten, {y}, {}, "flat"), fw}, {{"trans_b", int64_t{1}}}, "f");
  auto g = b.finish({f});
  ASSERT_TRUE(g) << g.error().message();
  auto opt = optimised(std::move(*g));
  std::string dir = tempDir("tune");
  CudaTarget t = target(CudaPrecision::TF32, 90, 16);
  // Stand-in timer: the last candidate of each kernel is the fastest (1 ms), the rule's 3 ms.
  auto rule = emitCudaProgram(*opt, t);
  ASSERT_TRUE(rule);
  std::map<std::string, GemmTiling> fastest;
  for (const CudaKernel& k : rule->kernels)
    if (k.tiling) {
      ASSERT_GE(k.candidates.size(), 2u) << k.name;
      fastest[k.name] = k.candidates.back();
    }
  ASSERT_EQ(fastest.size(), 2u);
  int timed = 0;
  KernelTimer timer = [&](const std::vector<CudaKernel>& ks, bool ruleRound) -> Expected<std::vector<KernelTiming>> {
    std::vector<KernelTiming> ms;
    for (const CudaKernel& k : ks) {
      ++timed;
      bool isRule = false;
      for (const CudaKernel& r : rule->kernels)
        isRule |= r.name == k.name && *r.tiling == *k.tiling;
      EXPECT_EQ(isRule, ruleRound) << k.name << " " << k.tiling->str(); // the rule's run comes first, flagged
      ms.push_back({*k.tiling == fastest.at(k.name) ? 1.0 : isRule ? 3.0 : 2.0, 0.0});
    }
    return ms;
  };
  TuneStore h100("NVIDIA H100 sm_90 132 SMs", dir);
  auto first = autotune(*opt, t, h100, timer);
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(first->tunable, 2u);
  EXPECT_EQ(first->timed, 2u);
  EXPECT_EQ(first->stored, 0u);
  EXPECT_GT(timed, 3);
  for (const auto& [name, best] : fastest)
    EXPECT_EQ(first->target.tilings.at(name), best) << name;
  // The winners are what the program is generated with.
  auto tuned = emitCudaProgram(*opt, first->target);
  ASSERT_TRUE(tuned);
  for (const CudaKernel& k : tuned->kernels) {
    if (k.tiling) {
      EXPECT_EQ(*k.tiling, fastest.at(k.name));
    }
  }
  // Again on the same device: from the store, nothing timed.
  timed = 0;
  auto second = autotune(*opt, t, h100, timer);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(timed, 0);
  EXPECT_EQ(second->stored, 2u);
  EXPECT_EQ(second->target.tilings, first->target.tilings);
  EXPECT_NE(second->lines[0].find("stored"), std::string::npos) << second->lines[0];
  // Another device tunes for itself.
  auto other = autotune(*opt, t, TuneStore("NVIDIA H200 sm_90 132 SMs", dir), timer);
  ASSERT_TRUE(other);
  EXPECT_GT(timed, 0);
  EXPECT_EQ(other->timed, 2u);
  // A corrupt entry is not trusted: that kernel is timed again.
  KernelCache cache("tune", dir);
  auto entries = cache.list();
  ASSERT_EQ(entries.size(), 4u);
  {
    std::fstream f(entries[0].path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-3, std::ios::end);
    f.write("zzz", 3);
  }
  timed = 0;
  auto third = autotune(*opt, t, h100, timer);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->stored + third->timed, 2u);
  // A timer failure is an error, not a silent choice.
  KernelTimer broken = [](const std::vector<CudaKernel>&, bool) -> Expected<std::vector<KernelTiming>> {
    return makeError("device lost");
  };
  auto failed = autotune(*opt, t, TuneStore("another GPU", dir), broken);
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message().find("device lost"), std::string::npos) << failed.error().message();
  // A candidate whose outputs differ from the rule's is never chosen, however fast: here the
  // fastest computes something else (or NaN where the rule has numbers), the second fastest is
  // off by summation order only.
  for (double wrong : {0.5, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    SCOPED_TRACE(fmt::format("difference {}", wrong));
    std::map<std::string, GemmTiling> second;
    for (const CudaKernel& k : rule->kernels)
      if (k.tiling)
        second[k.name] = k.candidates[k.candidates.size() - 2];
    KernelTimer liar = [&](const std::vector<CudaKernel>& ks, bool) -> Expected<std::vector<KernelTiming>> {
      std::vector<KernelTiming> ms;
      for (const CudaKernel& k : ks)
        ms.push_back(*k.tiling == fastest.at(k.name)  ? KernelTiming{1.0, wrong}
                     : *k.tiling == second.at(k.name) ? KernelTiming{1.5, 1e-6}
                                                      : KernelTiming{3.0, 0.0});
      return ms;
    };
    std::string liarDir = tempDir("tune-liar");
    auto checked = autotune(*opt, t, TuneStore("a GPU with a fault", liarDir), liar);
    ASSERT_TRUE(checked) << checked.error().message();
    EXPECT_EQ(checked->rejected, 2u);
    for (const auto& [name, tiling] : second)
      EXPECT_EQ(checked->target.tilings.at(name), tiling) << name;
    std::string lines = fmt::format("{}", fmt::join(checked->lines, "\n"));
    EXPECT_NE(lines.find(fastest.begin()->second.str() + " rejected: its outputs differ from the rule's"), std::string::npos)
        << lines;
    fs::remove_all(liarDir);
  }
  EXPECT_EQ(autotuneTolerance(CudaPrecision::F32), 1e-4);
  EXPECT_EQ(autotuneTolerance(CudaPrecision::TF32), 2e-3);
  fs::remove_all(dir);
}

// The kernels --autotune checks candidates with: fill gives the same values for the same seed
// (in [-1, 1), varied), compare finds a changed element, a NaN on one side only, an infinity, and
// ignores NaNs both sides share. Run in the emulator, and compiled by NVRTC without warnings.
TEST(CudaAutotune, FillAndCompareKernels) {
  std::string why;
  if (!test::cudaEmulationAvailable(&why))
    GTEST_SKIP() << why;
  CudaTarget t = target(CudaPrecision::F32, 90, 2);
  CudaKernel fill = cuda::tuneFillKernel(t), compare = cuda::tuneCompareKernel(t);
  const long long n = 5000; // more than the grid's 8 x 256 threads: the loops stride
  auto filled = [&](unsigned seed) {
    std::vector<float> v(n, 99.f);
    float* p = v.data();
    long long count = n;
    Error e = test::emulateKernel(fill, {&p, &count, &seed});
    EXPECT_FALSE(e) << e.message();
    return v;
  };
  std::vector<float> a = filled(7), b = filled(7), c = filled(8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  double sum = 0;
  for (float v : a) {
    EXPECT_GE(v, -1.f);
    EXPECT_LT(v, 1.f);
    sum += v;
  }
  EXPECT_LT(std::abs(sum / n), 0.05);
  EXPECT_LT(*std::min_element(a.begin(), a.end()), -0.99f);
  EXPECT_GT(*std::max_element(a.begin(), a.end()), 0.99f);
  float mag = 0;
  for (float v : a)
    mag = std::max(mag, std::abs(v));
  auto difference = [&](std::vector<float> x, const std::vector<float>& ref) {
    const float* xp = x.data();
    const float* rp = ref.data();
    long long count = n;
    uint32_t words[3] = {};
    uint32_t* wp = words;
    Error e = test::emulateKernel(compare, {&xp, &rp, &count, &wp});
    EXPECT_FALSE(e) << e.message();
    return cuda::tuneDifference(words);
  };
  EXPECT_EQ(difference(a, a), 0.0);
  std::vector<float> x = a;
  x[4321] += 0.25f;
  EXPECT_NEAR(difference(x, a), std::abs(x[4321] - a[4321]) / mag, 1e-6);
  x = a;
  x[17] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(difference(x, a), std::numeric_limits<double>::infinity());
  EXPECT_EQ(difference(a, x), std::numeric_limits<double>::infinity());
  EXPECT_EQ(difference(x, x), 0.0);
  x = a;
  x[0] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(difference(x, a), std::numeric_limits<double>::infinity());
  std::vector<float> zero(n, 0.f), one(n, 0.f);
  one[n - 1] = 1e-3f;
  EXPECT_EQ(difference(zero, zero), 0.0);
  EXPECT_EQ(difference(one, zero), std::numeric_limits<double>::infinity());
  if (nvrtcAvailable()) {
    CudaProgram p;
    p.kernels = {fill, compare};
    for (int sm : {80, 90}) {
      CudaCompileOptions co;
      co.sm = sm;
      auto bins = compileCudaProgram(p, co);
      ASSERT_TRUE(bins) << bins.error().message();
      for (size_t i = 0; i < bins->size(); ++i)
        EXPECT_EQ(nvrtcWarnings((*bins)[i]), "") << p.kernels[i].name;
    }
  }
}

TEST(CudaAutotune, TilingAndRecordTextRoundTrip) {
  GemmTiling t{64, 128, 3, 3, 32};
  EXPECT_EQ(t.str(), "tile=64x128 split=3 stages=3 bk=32");
  EXPECT_EQ(GemmTiling::parse(t.str()), t);
  EXPECT_FALSE(GemmTiling::parse("tile=64x64 split=3 stages=3"));
  EXPECT_FALSE(GemmTiling::parse("tile=64 split=3 stages=3 bk=8"));
  EXPECT_FALSE(GemmTiling::parse("tile=64x64 split=x stages=3 bk=8"));
  EXPECT_FALSE(GemmTiling::parse("tile=64x64 split=3 stages=3 bk=8 colour=2"));
  // warps: printed and required only when not the default 8 (records stored before it parse).
  GemmTiling w{128, 128, 1, 3, 16, 4};
  EXPECT_EQ(w.str(), "tile=128x128 split=1 stages=3 bk=16 warps=4");
  EXPECT_EQ(GemmTiling::parse(w.str()), w);
  EXPECT_EQ(GemmTiling::parse("tile=128x128 split=1 stages=3 bk=16")->warps, 8);
  EXPECT_FALSE(GemmTiling::parse("tile=128x128 split=1 stages=3 warps=4"));
  TuneRecord r{t, 0.25, 0.5};
  auto back = TuneRecord::parse(r.str());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->tiling, t);
  EXPECT_DOUBLE_EQ(back->ms, 0.25);
  EXPECT_FALSE(TuneRecord::parse("tile=64x128 split=3 stages=3 bk=32 ms=nan rule_ms=1"));
  EXPECT_FALSE(TuneRecord::parse("tile=64x128 split=3 stages=3 bk=32 ms=1"));
}

} // namespace
} // namespace sinter

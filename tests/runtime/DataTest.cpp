// Data sets and the batch loader: deterministic shuffles, resizing, batches in order, errors.
#include "runtime/data/Dataset.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

namespace sinter {
namespace {

TEST(Data, EpochOrderIsASeededPermutation) {
  auto a = BatchLoader::order(1000, true, 7, 0);
  auto b = BatchLoader::order(1000, true, 7, 0);
  auto c = BatchLoader::order(1000, true, 7, 1);
  auto d = BatchLoader::order(1000, true, 8, 0);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
  std::vector<int64_t> sorted = a, ident(1000);
  std::sort(sorted.begin(), sorted.end());
  std::iota(ident.begin(), ident.end(), 0);
  EXPECT_EQ(sorted, ident);
  EXPECT_NE(a, ident);
  EXPECT_EQ(BatchLoader::order(1000, false, 7, 3), ident);
  // Fixed values: the order must not change between builds (checkpoints resume by position).
  EXPECT_EQ((std::vector<int64_t>(a.begin(), a.begin() + 4)), (std::vector<int64_t>{412, 53, 452, 766}));
}

TEST(Data, BilinearResizeUsesHalfPixelCentres) {
  // PyTorch's interpolate(mode="bilinear", align_corners=False) of [[0, 1]] to width 4 gives
  // [0, 0.25, 0.75, 1]; of a constant image, the constant.
  float in[2] = {0, 1}, out[4];
  resizeBilinear(in, 1, 2, out, 1, 4);
  EXPECT_FLOAT_EQ(out[0], 0.0f);
  EXPECT_FLOAT_EQ(out[1], 0.25f);
  EXPECT_FLOAT_EQ(out[2], 0.75f);
  EXPECT_FLOAT_EQ(out[3], 1.0f);
  std::vector<float> c(28 * 28, 0.5f), big(67 * 67);
  resizeBilinear(c.data(), 28, 28, big.data(), 67, 67);
  for (float v : big)
    EXPECT_FLOAT_EQ(v, 0.5f);
  float down[1];
  float four[4] = {1, 2, 3, 4};
  resizeBilinear(four, 2, 2, down, 1, 1);
  EXPECT_FLOAT_EQ(down[0], 2.5f);
}

// A tiny in-memory data set: example i is filled with i, its label is i % 3.
class Counting final : public Dataset {
public:
  explicit Counting(int64_t n, int64_t failAt = -1) : n_(n), failAt_(failAt) {}
  int64_t size() const override { return n_; }
  int64_t classes() const override { return 3; }
  int64_t channels() const override { return 1; }
  int64_t nativeSize() const override { return 2; }
  int64_t label(int64_t i) const override { return i % 3; }
  Error decode(int64_t i, int64_t side, float* out, const Augment*) const override {
    if (i == failAt_)
      return makeError("example{}.png: corrupt PNG: test", i);
    std::fill(out, out + side * side, static_cast<float>(i));
    return Error::success();
  }
  std::string describe() const override { return "counting"; }

private:
  int64_t n_, failAt_;
};

TEST(Data, LoaderBatchesInOrderAndPadsTheLastForEvaluation) {
  Counting data(10);
  for (bool dropLast : {true, false}) {
    LoaderOptions o;
    o.batch = 4;
    o.side = 2;
    o.shuffle = false;
    o.dropLast = dropLast;
    o.threads = 3;
    BatchLoader loader(data, o);
    EXPECT_EQ(loader.batches(), dropLast ? 2 : 3);
    int64_t seen = 0;
    for (int64_t k = 0;; ++k) {
      auto b = loader.next();
      ASSERT_TRUE(b) << b.error().message();
      if (!*b)
        break;
      EXPECT_EQ((*b)->index, k);
      EXPECT_EQ((*b)->data.type().str(), "f32[4,1,2,2]");
      for (int64_t r = 0; r < (*b)->count; ++r) {
        EXPECT_EQ((*b)->data.get(r * 4 + 3), static_cast<double>(seen + r));
        EXPECT_EQ((*b)->labels.get(r), static_cast<double>((seen + r) % 3));
      }
      for (int64_t r = (*b)->count; r < 4; ++r) // padding of the last evaluation batch
        EXPECT_EQ((*b)->data.get(r * 4), 0.0);
      seen += (*b)->count;
    }
    EXPECT_EQ(seen, dropLast ? 8 : 10);
  }
}

TEST(Data, LoaderResumesMidEpochAndReportsDecodeErrors) {
  Counting data(12);
  LoaderOptions o;
  o.batch = 4;
  o.side = 1;
  o.seed = 3;
  o.epoch = 2;
  std::vector<int64_t> order = BatchLoader::order(12, true, 3, 2);
  o.firstBatch = 1;
  BatchLoader resumed(data, o);
  auto b = resumed.next();
  ASSERT_TRUE(b && *b);
  EXPECT_EQ((*b)->index, 1);
  EXPECT_EQ((*b)->data.get(0), static_cast<double>(order[4]));
  Counting broken(12, 5);
  o.firstBatch = 0;
  o.shuffle = false;
  BatchLoader loader(broken, o);
  auto first = loader.next();
  ASSERT_TRUE(first && *first);
  auto second = loader.next();
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().message(), "example5.png: corrupt PNG: test");
}

} // namespace
} // namespace sinter

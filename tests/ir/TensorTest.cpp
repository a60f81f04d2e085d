// Types, tensors and the Philox generator.
#include "ir/Philox.h"
#include "ir/Tensor.h"

#include <gtest/gtest.h>

#include <cmath>

namespace sinter {
namespace {

TEST(Types, NamesSizesAndOverflow) {
  EXPECT_EQ(dtypeName(DType::BF16), "bf16");
  EXPECT_EQ(parseDType("i64"), DType::I64);
  EXPECT_FALSE(parseDType("float"));
  EXPECT_EQ(dtypeSize(DType::F64), 8u);
  EXPECT_EQ((TensorType{DType::F32, {2, 3}}).str(), "f32[2,3]");
  EXPECT_EQ((TensorType{DType::F32, {}}).numel(), 1);
  EXPECT_EQ(numElements(std::vector<int64_t>{1 << 30, 1 << 30, 1 << 30}), -1);
  EXPECT_EQ(numElements(std::vector<int64_t>{4, -1}), -1);
  EXPECT_EQ(numElements(std::vector<int64_t>{0, INT64_MAX}), -1); // a dim above kMaxDim is refused
  EXPECT_EQ(numElements(std::vector<int64_t>{0, kMaxDim}), 0);
}

TEST(Tensor, ConvertsAndRoundsPerDType) {
  Tensor f({DType::F32, {2}});
  f.set(0, 0.1);
  EXPECT_EQ(f.get(0), static_cast<double>(0.1f));
  Tensor i({DType::I32, {3}});
  i.set(0, 1e20);
  i.set(1, -2.7);
  i.set(2, NAN);
  EXPECT_EQ(i.get(0), 2147483647.0);
  EXPECT_EQ(i.get(1), -2.0);
  EXPECT_EQ(i.get(2), 0.0);
  Tensor b({DType::Bool, {1}});
  b.set(0, 0.5);
  EXPECT_EQ(b.get(0), 1.0);
  Tensor c = f.clone();
  EXPECT_TRUE(c.identical(f));
  c.set(1, 2.0);
  EXPECT_FALSE(c.identical(f));
  EXPECT_EQ(f.reshaped({1, 2}).shape(), (Shape{1, 2}));
}

// Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors).
TEST(Philox, MatchesRandom123KnownAnswers) {
  EXPECT_EQ(philox4x32({0, 0, 0, 0}, 0), (std::array<uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(philox4x32({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, 0xffffffffffffffffull),
            (std::array<uint32_t, 4>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, 0x299f31d0a4093822ull),
            (std::array<uint32_t, 4>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Philox, UniformAndNormalStatistics) {
  const int n = 200000;
  double sum = 0, sq = 0, usum = 0;
  for (int i = 0; i < n; ++i) {
    double z = philoxNormal(42, i);
    sum += z;
    sq += z * z;
    float u = philoxUniform(42, i);
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    usum += u;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(sq / n, 1.0, 0.01);
  EXPECT_NEAR(usum / n, 0.5, 0.005);
  EXPECT_NE(philoxBits(1, 0), philoxBits(2, 0));
  EXPECT_EQ(philoxBits(1, 5), philoxBits(1, 5));
}

} // namespace
} // namespace sinter

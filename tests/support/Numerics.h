// Numeric comparison for tests: reports the worst element, never just "not equal".
#pragma once

#include "ir/Tensor.h"

#include <gtest/gtest.h>

#include <vector>

namespace sinter::test {

struct Tolerance {
  double atol = 1e-5;
  double rtol = 1e-4;
};

/// Succeeds when |a - e| <= atol + rtol * |e| everywhere (NaN only matches NaN); otherwise names
/// the worst index, both values and the error.
testing::AssertionResult allClose(const Tensor& actual, const Tensor& expected, Tolerance tol = {});
testing::AssertionResult allClose(const Tensor& actual, const std::vector<double>& expected,
                                  Tolerance tol = {});

/// Seeded uniform values in [lo, hi) (never all zeros).
Tensor randomTensor(const TensorType& type, uint64_t seed, double lo = -1.0, double hi = 1.0);
/// Tensor from explicit values.
Tensor makeTensor(const TensorType& type, const std::vector<double>& values);

} // namespace sinter::test

#define EXPECT_ALL_CLOSE(actual, expected, ...)                                                    \
  EXPECT_TRUE(::sinter::test::allClose(actual, expected, ##__VA_ARGS__))

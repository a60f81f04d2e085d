// Test numerics helpers.
#include "tests/support/Numerics.h"

#include "ir/Philox.h"

#include <cmath>

namespace sinter::test {

testing::AssertionResult allClose(const Tensor& actual, const std::vector<double>& expected, Tolerance tol) {
  if (actual.numel() != static_cast<int64_t>(expected.size()))
    return testing::AssertionFailure() << "element count " << actual.numel() << " != " << expected.size();
  int64_t worst = -1;
  double worstExcess = 0;
  for (int64_t i = 0; i < actual.numel(); ++i) {
    double a = actual.get(i), e = expected[i];
    if (std::isnan(a) || std::isnan(e)) {
      if (std::isnan(a) != std::isnan(e))
        return testing::AssertionFailure() << "index " << i << ": got " << a << ", want " << e;
      continue;
    }
    double excess = std::fabs(a - e) - (tol.atol + tol.rtol * std::fabs(e));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  if (worst < 0)
    return testing::AssertionSuccess();
  return testing::AssertionFailure() << "worst at index " << worst << ": got " << actual.get(worst)
                                     << ", want " << expected[worst] << " (|error| "
                                     << std::fabs(actual.get(worst) - expected[worst]) << ")";
}

testing::AssertionResult allClose(const Tensor& actual, const Tensor& expected, Tolerance tol) {
  if (actual.shape() != expected.shape())
    return testing::AssertionFailure() << "shape " << actual.type().str() << " != " << expected.type().str();
  return allClose(actual, expected.toDoubles(), tol);
}

Tensor randomTensor(const TensorType& type, uint64_t seed, double lo, double hi) {
  Tensor t(type);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.set(i, lo + (hi - lo) * philoxUniform(seed, static_cast<uint64_t>(i)));
  return t;
}

Tensor makeTensor(const TensorType& type, const std::vector<double>& values) {
  return Tensor::fromDoubles(type, values);
}

} // namespace sinter::test

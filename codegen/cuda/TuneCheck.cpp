// The autotuner's fill and compare kernels (see TuneCheck.h).
#include "codegen/cuda/TuneCheck.h"

#include <bit>
#include <cmath>
#include <fmt/format.h>
#include <limits>

namespace sinter::cuda {

namespace {

CudaKernel checkKernel(const CudaTarget& target, const std::string& name, const std::string& params, const std::string& body,
                       const std::string& rule) {
  CudaKernel k;
  k.name = name;
  k.source = fmt::format("// {}\nextern \"C\" __global__ void __launch_bounds__(256) {}({}) {{\n{}}}\n", rule, name, params, body);
  k.grid = {static_cast<unsigned>(std::max(1, target.multiprocessors) * 4), 1, 1};
  k.block = {256, 1, 1};
  k.rule = rule;
  return k;
}

} // namespace

CudaKernel tuneFillKernel(const CudaTarget& target) {
  // A 32-bit integer hash of the index (its high half folded in) and the seed; the top 24 bits
  // become a float in [-1, 1).
  return checkKernel(target, "sinter_tune_fill", "float* p, long long n, unsigned seed",
                     "  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * "
                     "blockDim.x) {\n"
                     "    unsigned h = (unsigned)i * 0x9e3779b1u ^ (unsigned)(i >> 32) * 0x85ebca77u ^ seed;\n"
                     "    h ^= h >> 16; h *= 0x7feb352du; h ^= h >> 15; h *= 0x846ca68bu; h ^= h >> 16;\n"
                     "    p[i] = (float)(h >> 8) * (1.0f / 8388608.0f) - 1.0f;\n"
                     "  }\n",
                     "autotune: fills an input with pseudo-random values");
}

CudaKernel tuneCompareKernel(const CudaTarget& target) {
  return checkKernel(target, "sinter_tune_compare", "const float* a, const float* ref, long long n, unsigned* out",
                     "  float diff = 0.0f, mag = 0.0f;\n  unsigned nan = 0;\n"
                     "  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * "
                     "blockDim.x) {\n"
                     "    const float x = a[i], r = ref[i];\n"
                     "    if ((x != x) != (r != r)) { ++nan; continue; }\n"
                     "    if (x != x) continue;\n"
                     "    const float d = x == r ? 0.0f : fabsf(x - r);\n"
                     "    diff = d > diff ? d : diff;\n"
                     "    if (fabsf(r) <= 3.402823466e38f && fabsf(r) > mag) mag = fabsf(r);\n"
                     "  }\n"
                     "  if (diff > 0.0f) atomicMax(&out[0], __float_as_uint(diff));\n"
                     "  if (mag > 0.0f) atomicMax(&out[1], __float_as_uint(mag));\n"
                     "  if (nan) atomicAdd(&out[2], nan);\n",
                     "autotune: compares a candidate's output with the rule's");
}

double tuneDifference(const uint32_t out[3]) {
  if (out[2] != 0)
    return std::numeric_limits<double>::infinity();
  double diff = std::bit_cast<float>(out[0]), mag = std::bit_cast<float>(out[1]);
  if (diff == 0)
    return 0;
  return mag > 0 ? diff / mag : std::numeric_limits<double>::infinity();
}

} // namespace sinter::cuda

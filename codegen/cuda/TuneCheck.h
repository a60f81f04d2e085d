// Kernels --autotune runs beside the candidates, so a candidate that computes something else than
// the rule's kernel (a tiling bug the emulator did not show, a hardware-only fault) is never
// chosen: the tuner fills each candidate's activation inputs with the same pseudo-random values,
// keeps the rule's outputs, and compares every candidate's outputs with them on the device.
// Both kernels take any size (grid-stride loops) and need no GPU to generate.
#pragma once

#include "codegen/cuda/CudaProgram.h"

#include <cstdint>

namespace sinter::cuda {

/// `sinter_tune_fill(float* p, long long n, unsigned seed)`: p[i] = a hash of (i, seed) mapped to
/// [-1, 1) (the same values for the same seed on any GPU and in the emulator).
CudaKernel tuneFillKernel(const CudaTarget& target);

/// `sinter_tune_compare(const float* a, const float* ref, long long n, unsigned* out)`: raises
/// out[0] to max |a - ref| and out[1] to max |ref| over finite ref (as float bits: non-negative
/// floats order as unsigned), and adds to out[2] the elements where exactly one of a and ref is
/// NaN. `out` starts at zero.
CudaKernel tuneCompareKernel(const CudaTarget& target);

/// The relative difference those words give: max |a - ref| / max |ref| (0 when both are 0), or
/// infinity where NaNs differ.
double tuneDifference(const uint32_t out[3]);

} // namespace sinter::cuda

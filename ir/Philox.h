// Philox4x32-10: the counter-based RNG behind dropout masks and weight initialisation, so that
// every backend draws the same numbers for the same (seed, index).
#pragma once

#include <array>
#include <cstdint>

namespace sinter {

/// One Philox4x32-10 block: 4 random words for a 128-bit counter and a 64-bit key.
std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter, uint64_t key);

/// Random word `index` of the stream keyed by `seed` (word i = lane i%4 of block i/4; the
/// counter's high 64 bits are `step`, so a training step draws fresh words for the same key).
uint32_t philoxBits(uint64_t seed, uint64_t index, uint64_t step = 0);

/// Uniform in [0, 1) with 24 random bits (exact in f32): (bits >> 8) * 2^-24.
inline float philoxUniform(uint64_t seed, uint64_t index, uint64_t step = 0) {
  return static_cast<float>(philoxBits(seed, index, step) >> 8) * (1.0f / 16777216.0f);
}

/// Standard normal sample `index` of stream `seed` (Box-Muller on two uniforms), in double.
double philoxNormal(uint64_t seed, uint64_t index);

} // namespace sinter

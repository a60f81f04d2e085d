// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11).
#include "ir/Philox.h"

#include <cmath>

namespace sinter {

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> c, uint64_t key) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = static_cast<uint64_t>(kM0) * c[0];
    uint64_t p1 = static_cast<uint64_t>(kM1) * c[2];
    uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c = {hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0};
    k0 += kW0;
    k1 += kW1;
  }
  return c;
}

uint32_t philoxBits(uint64_t seed, uint64_t index, uint64_t step) {
  uint64_t block = index >> 2;
  auto r = philox4x32({static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), static_cast<uint32_t>(step),
                       static_cast<uint32_t>(step >> 32)},
                      seed);
  return r[index & 3];
}

double philoxNormal(uint64_t seed, uint64_t index) {
  // Two samples per block, two 32-bit words each (stream 1 of the key, apart from philoxBits);
  // u1 in (0, 1] so log(u1) is finite.
  uint64_t block = index >> 1;
  auto r = philox4x32({static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 1u, 0u}, seed);
  size_t lane = (index & 1) * 2;
  double u1 = (static_cast<double>(r[lane]) + 1.0) / 4294967296.0;
  double u2 = static_cast<double>(r[lane + 1]) / 4294967296.0;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

} // namespace sinter

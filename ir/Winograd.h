// Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional
// Neural Networks", 2015): a 3x3, stride-1 correlation of a 4x4 input tile d with filter g gives
// the 2x2 output tile
//     Y = A^T [ (G g G^T) * (B^T d B) ] A      (* elementwise over the 4x4 = 16 points)
// so a convolution becomes 16 independent matrix products (one per point t = 4a + b) over the
// channels: 16 multiplies per 2x2 outputs and channel pair instead of 36. The transforms are
// linear maps with constant coefficients (0, +-1, +-1/2); every backend writes them from the
// term lists below, and the winograd pass (passes/Winograd.cpp) builds the graph from the ops
// winograd_filter, winograd_input and winograd_output (ir/ops/Conv.cpp).
#pragma once

#include <cstdint>
#include <vector>

namespace sinter::winograd {

constexpr int kAlpha = 4;  ///< input tile side (m + r - 1)
constexpr int kOut = 2;    ///< output tile side m
constexpr int kTaps = 3;   ///< filter side r
constexpr int kPoints = kAlpha * kAlpha; ///< 16 transformed points, one matrix product each

constexpr double kBT[kAlpha][kAlpha] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
constexpr double kG[kAlpha][kTaps] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
constexpr double kAT[kOut][kAlpha] = {{1, 1, 1, 0}, {0, 1, -1, -1}};

/// One term of out[a][b] = sum over (i, j) of coef * in[i][j].
struct Term {
  int i, j;
  double coef;
};

/// The nonzero terms of out[a][b] = sum_{i,j} L[a][i] * L[b][j] * in[i][j] (out = L in L^T).
template <int R, int C> std::vector<Term> terms(const double (&L)[R][C], int a, int b) {
  std::vector<Term> t;
  for (int i = 0; i < C; ++i)
    for (int j = 0; j < C; ++j)
      if (double c = L[a][i] * L[b][j]; c != 0)
        t.push_back({i, j, c});
  return t;
}

/// Point t's filter terms (over the 3x3 taps), input terms (over the 4x4 tile), and output
/// (i, j)'s terms (over the 16 points, as in[a][b] with t = 4a + b).
inline std::vector<Term> filterTerms(int t) { return terms(kG, t / kAlpha, t % kAlpha); }
inline std::vector<Term> inputTerms(int t) { return terms(kBT, t / kAlpha, t % kAlpha); }
inline std::vector<Term> outputTerms(int i, int j) { return terms(kAT, i, j); }

/// Tiles along an output extent.
constexpr int64_t tiles(int64_t outExtent) { return (outExtent + kOut - 1) / kOut; }

} // namespace sinter::winograd

// Winograd's minimal filtering F(m x m, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional
// Neural Networks", 2015), m = 2 or 4: a 3x3, stride-1 correlation of an a x a input tile d
// (a = m + 2) with filter g gives the m x m output tile
//     Y = A^T [ (G g G^T) * (B^T d B) ] A      (* elementwise over the a x a points)
// so a convolution becomes a^2 independent matrix products (one per point t = a * row + col)
// over the channels: a^2 multiplies per m x m outputs and channel pair instead of 9 m^2 (F(2x2):
// 16 for 36; F(4x4): 36 for 144, with larger coefficients, so more rounding). The transforms are
// linear maps with constant coefficients; every backend writes them from the term lists below,
// and the winograd pass (passes/Winograd.cpp) builds the graph from the ops winograd_filter,
// winograd_input and winograd_output (ir/ops/Conv.cpp), whose `tile` attribute is m.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sinter::winograd {

constexpr int kTaps = 3; ///< filter side r
constexpr int kMaxAlpha = 6;

/// One output tile size's matrices (rows of B^T, G, A^T).
struct Variant {
  int m;     ///< output tile side
  int alpha; ///< input tile side, m + r - 1
  std::vector<std::vector<double>> BT, G, AT;
  int points() const { return alpha * alpha; }
};

/// m = 2: interpolation points 0, 1, -1, infinity; m = 4: 0, 1, -1, 2, -2, infinity.
inline const Variant* variant(int64_t m) {
  static const Variant f2{2, 4,
                          {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}},
                          {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}},
                          {{1, 1, 1, 0}, {0, 1, -1, -1}}};
  static const Variant f4{4, 6,
                          {{4, 0, -5, 0, 1, 0},
                           {0, -4, -4, 1, 1, 0},
                           {0, 4, -4, -1, 1, 0},
                           {0, -2, -1, 2, 1, 0},
                           {0, 2, -1, -2, 1, 0},
                           {0, 4, 0, -5, 0, 1}},
                          {{1.0 / 4, 0, 0},
                           {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                           {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                           {1.0 / 24, 1.0 / 12, 1.0 / 6},
                           {1.0 / 24, -1.0 / 12, 1.0 / 6},
                           {0, 0, 1}},
                          {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}}};
  return m == 2 ? &f2 : m == 4 ? &f4 : nullptr;
}

/// One term of out[a][b] = sum over (i, j) of coef * in[i][j].
struct Term {
  int i, j;
  double coef;
};

/// The nonzero terms of out[a][b] = sum_{i,j} L[a][i] * L[b][j] * in[i][j] (out = L in L^T).
inline std::vector<Term> terms(const std::vector<std::vector<double>>& L, int a, int b) {
  std::vector<Term> t;
  for (std::size_t i = 0; i < L[a].size(); ++i)
    for (std::size_t j = 0; j < L[b].size(); ++j)
      if (double c = L[a][i] * L[b][j]; c != 0)
        t.push_back({static_cast<int>(i), static_cast<int>(j), c});
  return t;
}

/// Point t's filter terms (over the 3x3 taps), input terms (over the alpha x alpha tile), and
/// output (i, j)'s terms (over the points, as in[a][b] with t = alpha * a + b).
inline std::vector<Term> filterTerms(const Variant& v, int t) { return terms(v.G, t / v.alpha, t % v.alpha); }
inline std::vector<Term> inputTerms(const Variant& v, int t) { return terms(v.BT, t / v.alpha, t % v.alpha); }
inline std::vector<Term> outputTerms(const Variant& v, int i, int j) { return terms(v.AT, i, j); }

/// Tiles of side m along an output extent.
constexpr int64_t tiles(int64_t outExtent, int64_t m) { return (outExtent + m - 1) / m; }

} // namespace sinter::winograd

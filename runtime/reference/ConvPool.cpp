// Reference kernels: convolution and pooling (NCHW), float64.
#include "runtime/reference/RefKernels.h"

#include "ir/Winograd.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace sinter::ref {

namespace {

// Output positions o in [0, outLen) whose input index o*stride + offset lies in [0, inLen).
std::pair<int64_t, int64_t> validRange(int64_t outLen, int64_t stride, int64_t offset, int64_t inLen) {
  int64_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  int64_t hiExcl = inLen - 1 - offset < 0 ? 0 : (inLen - 1 - offset) / stride + 1;
  return {std::min(lo, outLen), std::clamp(hiExcl, std::min(lo, outLen), outLen)};
}

Error conv2d(RefArgs& a) {
  const RefTensor& x = *a.in[0];
  const RefTensor& w = *a.in[1];
  RefTensor& y = a.out[0];
  const auto& s = a.attrs.getInts("stride");
  const auto& p = a.attrs.getInts("pad");
  const auto& d = a.attrs.getInts("dilation");
  int64_t groups = a.attrs.getInt("group");
  int64_t N = x.type.shape[0], C = x.type.shape[1], H = x.type.shape[2], W = x.type.shape[3];
  int64_t M = w.type.shape[0], Cg = w.type.shape[1], KH = w.type.shape[2], KW = w.type.shape[3];
  int64_t OH = y.type.shape[2], OW = y.type.shape[3];
  int64_t Mg = M / groups;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m) {
      double* out = &y.data[((n * M + m) * OH) * OW];
      double bias = a.in.size() > 2 ? a.in[2]->data[m] : 0.0;
      std::fill(out, out + OH * OW, bias);
      int64_t g = m / Mg;
      for (int64_t c = 0; c < Cg; ++c) {
        const double* in = &x.data[((n * C + g * Cg + c) * H) * W];
        for (int64_t kh = 0; kh < KH; ++kh) {
          auto [oh0, oh1] = validRange(OH, s[0], kh * d[0] - p[0], H);
          for (int64_t kw = 0; kw < KW; ++kw) {
            double wv = w.data[((m * Cg + c) * KH + kh) * KW + kw];
            auto [ow0, ow1] = validRange(OW, s[1], kw * d[1] - p[1], W);
            for (int64_t oh = oh0; oh < oh1; ++oh) {
              const double* row = in + (oh * s[0] + kh * d[0] - p[0]) * W + kw * d[1] - p[1];
              double* orow = out + oh * OW;
              for (int64_t ow = ow0; ow < ow1; ++ow)
                orow[ow] += wv * row[ow * s[1]];
            }
          }
        }
      }
    }
  return Error::success();
}

template <bool IsMax> Error pool2d(RefArgs& a) {
  const RefTensor& x = *a.in[0];
  RefTensor& y = a.out[0];
  const auto& k = a.attrs.getInts("kernel");
  const auto& s = a.attrs.getInts("stride");
  const auto& p = a.attrs.getInts("pad");
  std::vector<int64_t> d{1, 1};
  bool includePad = false;
  if constexpr (IsMax)
    d = a.attrs.getInts("dilation");
  else
    includePad = a.attrs.getInt("count_include_pad") != 0;
  int64_t NC = x.type.shape[0] * x.type.shape[1], H = x.type.shape[2], W = x.type.shape[3];
  int64_t OH = y.type.shape[2], OW = y.type.shape[3];
  for (int64_t nc = 0; nc < NC; ++nc) {
    const double* in = &x.data[nc * H * W];
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        int64_t h0 = oh * s[0] - p[0], w0 = ow * s[1] - p[1];
        double acc = IsMax ? -std::numeric_limits<double>::infinity() : 0.0;
        int64_t count = 0;
        for (int64_t kh = 0; kh < k[0]; ++kh) {
          int64_t ih = h0 + kh * d[0];
          if (ih < 0 || ih >= H)
            continue;
          for (int64_t kw = 0; kw < k[1]; ++kw) {
            int64_t iw = w0 + kw * d[1];
            if (iw < 0 || iw >= W)
              continue;
            double v = in[ih * W + iw];
            if constexpr (IsMax)
              acc = std::isnan(v) || v > acc ? v : acc;
            else
              acc += v;
            ++count;
          }
        }
        if constexpr (!IsMax) {
          if (includePad) // window clipped to the padded input (PyTorch/ONNX ceil_mode rule)
            count = (std::min(h0 + k[0], H + p[2]) - h0) * (std::min(w0 + k[1], W + p[3]) - w0);
          acc = count > 0 ? acc / static_cast<double>(count) : 0.0;
        }
        y.data[(nc * OH + oh) * OW + ow] = acc;
      }
  }
  return Error::success();
}

// dx[n][g*Cg + c][ih][iw] += dy[n][m][oh][ow] * w[m][c][kh][kw] over every tap of the forward.
Error conv2dGradInput(RefArgs& a) {
  const RefTensor& dy = *a.in[0];
  const RefTensor& w = *a.in[1];
  RefTensor& dx = a.out[0];
  const auto& s = a.attrs.getInts("stride");
  const auto& p = a.attrs.getInts("pad");
  const auto& d = a.attrs.getInts("dilation");
  int64_t groups = a.attrs.getInt("group");
  int64_t N = dx.type.shape[0], C = dx.type.shape[1], H = dx.type.shape[2], W = dx.type.shape[3];
  int64_t M = w.type.shape[0], Cg = w.type.shape[1], KH = w.type.shape[2], KW = w.type.shape[3];
  int64_t OH = dy.type.shape[2], OW = dy.type.shape[3], Mg = M / groups;
  std::fill(dx.data.begin(), dx.data.end(), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m) {
      const double* g = &dy.data[((n * M + m) * OH) * OW];
      int64_t grp = m / Mg;
      for (int64_t c = 0; c < Cg; ++c) {
        double* out = &dx.data[((n * C + grp * Cg + c) * H) * W];
        for (int64_t kh = 0; kh < KH; ++kh) {
          auto [oh0, oh1] = validRange(OH, s[0], kh * d[0] - p[0], H);
          for (int64_t kw = 0; kw < KW; ++kw) {
            double wv = w.data[((m * Cg + c) * KH + kh) * KW + kw];
            auto [ow0, ow1] = validRange(OW, s[1], kw * d[1] - p[1], W);
            for (int64_t oh = oh0; oh < oh1; ++oh) {
              double* row = out + (oh * s[0] + kh * d[0] - p[0]) * W + kw * d[1] - p[1];
              for (int64_t ow = ow0; ow < ow1; ++ow)
                row[ow * s[1]] += wv * g[oh * OW + ow];
            }
          }
        }
      }
    }
  return Error::success();
}

// dw[m][c][kh][kw] = sum over n, oh, ow of dy[n][m][oh][ow] * x[n][g*Cg + c][ih][iw].
Error conv2dGradWeight(RefArgs& a) {
  const RefTensor& x = *a.in[0];
  const RefTensor& dy = *a.in[1];
  RefTensor& dw = a.out[0];
  const auto& s = a.attrs.getInts("stride");
  const auto& p = a.attrs.getInts("pad");
  const auto& d = a.attrs.getInts("dilation");
  int64_t groups = a.attrs.getInt("group");
  int64_t N = x.type.shape[0], C = x.type.shape[1], H = x.type.shape[2], W = x.type.shape[3];
  int64_t M = dw.type.shape[0], Cg = dw.type.shape[1], KH = dw.type.shape[2], KW = dw.type.shape[3];
  int64_t OH = dy.type.shape[2], OW = dy.type.shape[3], Mg = M / groups;
  for (int64_t m = 0; m < M; ++m) {
    int64_t grp = m / Mg;
    for (int64_t c = 0; c < Cg; ++c)
      for (int64_t kh = 0; kh < KH; ++kh) {
        auto [oh0, oh1] = validRange(OH, s[0], kh * d[0] - p[0], H);
        for (int64_t kw = 0; kw < KW; ++kw) {
          auto [ow0, ow1] = validRange(OW, s[1], kw * d[1] - p[1], W);
          double acc = 0;
          for (int64_t n = 0; n < N; ++n) {
            const double* in = &x.data[((n * C + grp * Cg + c) * H) * W];
            const double* g = &dy.data[((n * M + m) * OH) * OW];
            for (int64_t oh = oh0; oh < oh1; ++oh) {
              const double* row = in + (oh * s[0] + kh * d[0] - p[0]) * W + kw * d[1] - p[1];
              for (int64_t ow = ow0; ow < ow1; ++ow)
                acc += g[oh * OW + ow] * row[ow * s[1]];
            }
          }
          dw.data[((m * Cg + c) * KH + kh) * KW + kw] = acc;
        }
      }
  }
  return Error::success();
}

// Gradients of the pools: the same windows as pool2d; max sends each window's gradient to the
// element the forward picked (the first maximum), average spreads it over the counted elements.
template <bool IsMax> Error pool2dGrad(RefArgs& a) {
  const RefTensor* x = IsMax ? a.in[0] : nullptr;
  const RefTensor& dy = *a.in[IsMax ? 1 : 0];
  RefTensor& dx = a.out[0];
  const auto& k = a.attrs.getInts("kernel");
  const auto& s = a.attrs.getInts("stride");
  const auto& p = a.attrs.getInts("pad");
  std::vector<int64_t> d{1, 1};
  bool includePad = false;
  if constexpr (IsMax)
    d = a.attrs.getInts("dilation");
  else
    includePad = a.attrs.getInt("count_include_pad") != 0;
  int64_t NC = dx.type.shape[0] * dx.type.shape[1], H = dx.type.shape[2], W = dx.type.shape[3];
  int64_t OH = dy.type.shape[2], OW = dy.type.shape[3];
  std::fill(dx.data.begin(), dx.data.end(), 0.0);
  for (int64_t nc = 0; nc < NC; ++nc) {
    double* out = &dx.data[nc * H * W];
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        double g = dy.data[(nc * OH + oh) * OW + ow];
        int64_t h0 = oh * s[0] - p[0], w0 = ow * s[1] - p[1];
        double best = -std::numeric_limits<double>::infinity();
        int64_t bestAt = -1, count = 0;
        for (int64_t kh = 0; kh < k[0]; ++kh) {
          int64_t ih = h0 + kh * d[0];
          if (ih < 0 || ih >= H)
            continue;
          for (int64_t kw = 0; kw < k[1]; ++kw) {
            int64_t iw = w0 + kw * d[1];
            if (iw < 0 || iw >= W)
              continue;
            if constexpr (IsMax) {
              double v = x->data[nc * H * W + ih * W + iw];
              if (bestAt < 0 || std::isnan(v) || v > best) {
                best = v;
                bestAt = ih * W + iw;
              }
            }
            ++count;
          }
        }
        if constexpr (IsMax) {
          if (bestAt >= 0)
            out[bestAt] += g;
        } else {
          if (includePad)
            count = (std::min(h0 + k[0], H + p[2]) - h0) * (std::min(w0 + k[1], W + p[3]) - w0);
          if (count == 0)
            continue;
          double share = g / static_cast<double>(count);
          for (int64_t ih = std::max<int64_t>(h0, 0); ih < std::min(h0 + k[0], H); ++ih)
            for (int64_t iw = std::max<int64_t>(w0, 0); iw < std::min(w0 + k[1], W); ++iw)
              out[ih * W + iw] += share;
        }
      }
  }
  return Error::success();
}

Error globalAvgPool(RefArgs& a) {
  const RefTensor& x = *a.in[0];
  int64_t NC = x.type.shape[0] * x.type.shape[1];
  int64_t S = NC == 0 ? 0 : static_cast<int64_t>(x.data.size()) / NC;
  for (int64_t nc = 0; nc < NC; ++nc) {
    double acc = 0;
    for (int64_t i = 0; i < S; ++i)
      acc += x.data[nc * S + i];
    a.out[0].data[nc] = acc / static_cast<double>(S);
  }
  return Error::success();
}

// Winograd F(m x m, 3x3) transforms (ir/Winograd.h), from the term lists every backend uses.
Error winogradFilter(RefArgs& a) {
  const winograd::Variant& wv = *winograd::variant(a.attrs.getInt("tile"));
  const RefTensor& w = *a.in[0];
  RefTensor& u = a.out[0];
  int64_t M = w.type.shape[0], Cg = w.type.shape[1];
  for (int t = 0; t < wv.points(); ++t) {
    auto terms = winograd::filterTerms(wv, t);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t c = 0; c < Cg; ++c) {
        const double* g = &w.data[(m * Cg + c) * 9];
        double acc = 0;
        for (const auto& term : terms)
          acc += term.coef * g[term.i * 3 + term.j];
        u.data[(t * M + m) * Cg + c] = acc;
      }
  }
  return Error::success();
}

Error winogradInput(RefArgs& a) {
  const winograd::Variant& wv = *winograd::variant(a.attrs.getInt("tile"));
  const RefTensor& x = *a.in[0];
  RefTensor& v = a.out[0];
  const auto& p = a.attrs.getInts("pad");
  int64_t N = x.type.shape[0], C = x.type.shape[1], H = x.type.shape[2], W = x.type.shape[3];
  int64_t TH = winograd::tiles(H + p[0] + p[2] - 2, wv.m), TW = winograd::tiles(W + p[1] + p[3] - 2, wv.m);
  int64_t P = N * TH * TW;
  for (int t = 0; t < wv.points(); ++t) {
    auto terms = winograd::inputTerms(wv, t);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t th = 0; th < TH; ++th)
          for (int64_t tw = 0; tw < TW; ++tw) {
            double acc = 0;
            for (const auto& term : terms) {
              int64_t ih = wv.m * th - p[0] + term.i, iw = wv.m * tw - p[1] + term.j;
              if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                acc += term.coef * x.data[((n * C + c) * H + ih) * W + iw];
            }
            v.data[(t * C + c) * P + (n * TH + th) * TW + tw] = acc;
          }
  }
  return Error::success();
}

Error winogradOutput(RefArgs& a) {
  const winograd::Variant& wv = *winograd::variant(a.attrs.getInt("tile"));
  const RefTensor& pts = *a.in[0];
  RefTensor& y = a.out[0];
  int64_t N = y.type.shape[0], M = y.type.shape[1], OH = y.type.shape[2], OW = y.type.shape[3];
  int64_t TH = winograd::tiles(OH, wv.m), TW = winograd::tiles(OW, wv.m), P = N * TH * TW;
  for (int i = 0; i < wv.m; ++i)
    for (int j = 0; j < wv.m; ++j) {
      auto terms = winograd::outputTerms(wv, i, j);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t m = 0; m < M; ++m)
          for (int64_t th = 0; th < TH; ++th)
            for (int64_t tw = 0; tw < TW; ++tw) {
              int64_t oh = wv.m * th + i, ow = wv.m * tw + j;
              if (oh >= OH || ow >= OW)
                continue;
              double acc = a.in.size() > 1 ? a.in[1]->data[m] : 0.0;
              for (const auto& term : terms)
                acc += term.coef * pts.data[((term.i * wv.alpha + term.j) * M + m) * P + (n * TH + th) * TW + tw];
              y.data[((n * M + m) * OH + oh) * OW + ow] = acc;
            }
    }
  return Error::success();
}

constexpr RefKernel kKernels[] = {
    {"conv2d", conv2d},
    {"max_pool2d", pool2d<true>},
    {"avg_pool2d", pool2d<false>},
    {"global_avg_pool", globalAvgPool},
    {"conv2d_grad_input", conv2dGradInput},
    {"conv2d_grad_weight", conv2dGradWeight},
    {"max_pool2d_grad", pool2dGrad<true>},
    {"avg_pool2d_grad", pool2dGrad<false>},
    {"winograd_filter", winogradFilter},
    {"winograd_input", winogradInput},
    {"winograd_output", winogradOutput},
};

} // namespace

std::span<const RefKernel> convPoolKernels() { return kKernels; }

} // namespace sinter::ref

// Reference kernels: convolution and pooling (NCHW), float64.
#include "runtime/reference/RefKernels.h"

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

constexpr RefKernel kKernels[] = {
    {"conv2d", conv2d},
    {"max_pool2d", pool2d<true>},
    {"avg_pool2d", pool2d<false>},
    {"global_avg_pool", globalAvgPool},
};

} // namespace

std::span<const RefKernel> convPoolKernels() { return kKernels; }

} // namespace sinter::ref

// Reference kernels: LRN, batch norm, softmax, log-softmax, softmax cross-entropy; float64.
#include "runtime/reference/RefKernels.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace sinter::ref {

namespace {

Error lrn(RefArgs& a) {
  const RefTensor& x = *a.in[0];
  int64_t size = a.attrs.getInt("size");
  double alpha = a.attrs.getFloat("alpha"), beta = a.attrs.getFloat("beta");
  double bias = a.attrs.getFloat("bias");
  int64_t N = x.type.shape[0], C = x.type.shape[1];
  int64_t S = N * C == 0 ? 0 : static_cast<int64_t>(x.data.size()) / (N * C);
  int64_t before = (size - 1) / 2, after = size - 1 - before;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < S; ++i) {
        double sq = 0;
        for (int64_t k = std::max<int64_t>(0, c - before); k <= std::min(C - 1, c + after); ++k) {
          double v = x.data[(n * C + k) * S + i];
          sq += v * v;
        }
        int64_t at = (n * C + c) * S + i;
        a.out[0].data[at] = x.data[at] / std::pow(bias + alpha / static_cast<double>(size) * sq, beta);
      }
  return Error::success();
}

Error batchNorm(RefArgs& a) {
  const RefTensor& x = *a.in[0];
  double eps = a.attrs.getFloat("epsilon");
  int64_t N = x.type.shape[0], C = x.type.shape[1];
  int64_t S = N * C == 0 ? 0 : static_cast<int64_t>(x.data.size()) / (N * C);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      double scale = a.in[1]->data[c] / std::sqrt(a.in[4]->data[c] + eps);
      double shift = a.in[2]->data[c] - a.in[3]->data[c] * scale;
      for (int64_t i = 0; i < S; ++i) {
        int64_t at = (n * C + c) * S + i;
        a.out[0].data[at] = x.data[at] * scale + shift;
      }
    }
  return Error::success();
}

// Splits a shape around `axis` into outer x len x inner.
struct AxisSplit {
  int64_t outer = 1, len = 1, inner = 1;
};
AxisSplit splitAt(const Shape& s, int64_t axis) {
  AxisSplit r;
  if (axis < 0)
    axis += static_cast<int64_t>(s.size());
  for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i)
    (i < axis ? r.outer : i == axis ? r.len : r.inner) *= s[i];
  return r;
}

// (Log-)softmax of x along `axis` into out (max-subtracted, float64).
template <bool Log> void softmaxAlong(const RefTensor& x, int64_t axis, std::vector<double>& out) {
  AxisSplit sp = splitAt(x.type.shape, axis);
  for (int64_t o = 0; o < sp.outer; ++o)
    for (int64_t i = 0; i < sp.inner; ++i) {
      auto at = [&](int64_t k) { return (o * sp.len + k) * sp.inner + i; };
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t k = 0; k < sp.len; ++k)
        mx = std::max(mx, x.data[at(k)]);
      double sum = 0;
      for (int64_t k = 0; k < sp.len; ++k)
        sum += std::exp(x.data[at(k)] - mx);
      for (int64_t k = 0; k < sp.len; ++k)
        out[at(k)] = Log ? x.data[at(k)] - mx - std::log(sum) : std::exp(x.data[at(k)] - mx) / sum;
    }
}

template <bool Log> Error softmax(RefArgs& a) {
  softmaxAlong<Log>(*a.in[0], a.attrs.getInt("axis"), a.out[0].data);
  return Error::success();
}

// Negative log-likelihood over axis 1 of log-probabilities `logp` (scores [N, C, D...] flattened
// to N x C x D), shared by nll_loss and softmax_cross_entropy.
Error classLoss(RefArgs& a, const std::vector<double>& logp) {
  const RefTensor& x = *a.in[0];
  const RefTensor& labels = *a.in[1];
  const RefTensor* weights = a.in.size() > 2 ? a.in[2] : nullptr;
  int64_t ignore = a.attrs.getInt("ignore_index");
  const std::string& reduction = a.attrs.getString("reduction");
  int64_t N = x.type.shape[0], C = x.type.shape[1];
  int64_t D = N * C == 0 ? 0 : static_cast<int64_t>(x.data.size()) / (N * C);
  std::vector<double> loss(static_cast<size_t>(N * D));
  double weightSum = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t d = 0; d < D; ++d) {
      int64_t item = n * D + d;
      int64_t label = static_cast<int64_t>(labels.data[item]);
      if (label == ignore) {
        loss[item] = 0;
        continue;
      }
      if (label < 0 || label >= C)
        return makeError("label {} of item {} is out of range [0, {})", label, item, C);
      double w = weights ? weights->data[label] : 1.0;
      loss[item] = -w * logp[(n * C + label) * D + d];
      weightSum += w;
    }
  if (reduction == "none") {
    a.out[0].data = std::move(loss);
    return Error::success();
  }
  double total = 0;
  for (double l : loss)
    total += l;
  a.out[0].data[0] = reduction == "sum" ? total : total / weightSum;
  return Error::success();
}

Error softmaxCrossEntropy(RefArgs& a) {
  std::vector<double> logp(a.in[0]->data.size());
  softmaxAlong<true>(*a.in[0], 1, logp);
  return classLoss(a, logp);
}

Error nllLoss(RefArgs& a) { return classLoss(a, a.in[0]->data); }

constexpr RefKernel kKernels[] = {
    {"lrn", lrn},
    {"batch_norm", batchNorm},
    {"softmax", softmax<false>},
    {"log_softmax", softmax<true>},
    {"softmax_cross_entropy", softmaxCrossEntropy},
    {"nll_loss", nllLoss},
};

} // namespace

std::span<const RefKernel> normKernels() { return kKernels; }

} // namespace sinter::ref

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

// Batch statistics per channel (float64, two passes), the normalised output, and the gradients.
struct ChannelView {
  int64_t N, C, S;
  int64_t at(int64_t n, int64_t c, int64_t i) const { return (n * C + c) * S + i; }
};
ChannelView channelView(const RefTensor& x) {
  int64_t N = x.type.shape[0], C = x.type.shape[1];
  return {N, C, N * C == 0 ? 0 : static_cast<int64_t>(x.data.size()) / (N * C)};
}

Error batchNormTrain(RefArgs& a) {
  const RefTensor& x = *a.in[0];
  const ChannelView v = channelView(x);
  const double eps = a.attrs.getFloat("epsilon"), M = static_cast<double>(v.N * v.S);
  for (int64_t c = 0; c < v.C; ++c) {
    double sum = 0, sq = 0;
    for (int64_t n = 0; n < v.N; ++n)
      for (int64_t i = 0; i < v.S; ++i)
        sum += x.data[v.at(n, c, i)];
    const double mean = sum / M;
    for (int64_t n = 0; n < v.N; ++n)
      for (int64_t i = 0; i < v.S; ++i) {
        const double d = x.data[v.at(n, c, i)] - mean;
        sq += d * d;
      }
    const double var = sq / M, k = a.in[1]->data[c] / std::sqrt(var + eps), bias = a.in[2]->data[c];
    for (int64_t n = 0; n < v.N; ++n)
      for (int64_t i = 0; i < v.S; ++i)
        a.out[0].data[v.at(n, c, i)] = (x.data[v.at(n, c, i)] - mean) * k + bias;
    a.out[1].data[c] = mean;
    a.out[2].data[c] = var;
  }
  return Error::success();
}

Error batchNormTrainGrad(RefArgs& a) {
  const RefTensor& x = *a.in[0];
  const auto& dy = a.in[1]->data;
  const ChannelView v = channelView(x);
  const double eps = a.attrs.getFloat("epsilon"), M = static_cast<double>(v.N * v.S);
  for (int64_t c = 0; c < v.C; ++c) {
    const double mean = a.in[3]->data[c], inv = 1 / std::sqrt(a.in[4]->data[c] + eps);
    double dbias = 0, dscale = 0;
    for (int64_t n = 0; n < v.N; ++n)
      for (int64_t i = 0; i < v.S; ++i) {
        const int64_t at = v.at(n, c, i);
        dbias += dy[at];
        dscale += dy[at] * (x.data[at] - mean) * inv;
      }
    const double k = a.in[2]->data[c] * inv;
    for (int64_t n = 0; n < v.N; ++n)
      for (int64_t i = 0; i < v.S; ++i) {
        const int64_t at = v.at(n, c, i);
        a.out[0].data[at] = k * (dy[at] - dbias / M - (x.data[at] - mean) * inv * dscale / M);
      }
    a.out[1].data[c] = dscale;
    a.out[2].data[c] = dbias;
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

// dx_j = dy_j d_j^-beta - 2 alpha beta / size * x_j * sum over c with j in window(c) of
// dy_c x_c d_c^(-beta-1), d_c = bias + alpha / size * sum of x^2 over window(c).
Error lrnGrad(RefArgs& a) {
  const RefTensor& x = *a.in[0];
  const RefTensor& dy = *a.in[1];
  int64_t size = a.attrs.getInt("size");
  double alpha = a.attrs.getFloat("alpha"), beta = a.attrs.getFloat("beta");
  double bias = a.attrs.getFloat("bias");
  int64_t N = x.type.shape[0], C = x.type.shape[1];
  int64_t S = N * C == 0 ? 0 : static_cast<int64_t>(x.data.size()) / (N * C);
  int64_t before = (size - 1) / 2, after = size - 1 - before;
  double k = alpha / static_cast<double>(size);
  std::vector<double> dsum(static_cast<size_t>(C)), t(static_cast<size_t>(C));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < S; ++i) {
      auto at = [&](int64_t c) { return (n * C + c) * S + i; };
      for (int64_t c = 0; c < C; ++c) {
        double sq = 0;
        for (int64_t q = std::max<int64_t>(0, c - before); q <= std::min(C - 1, c + after); ++q)
          sq += x.data[at(q)] * x.data[at(q)];
        dsum[c] = bias + k * sq;
        t[c] = dy.data[at(c)] * x.data[at(c)] * std::pow(dsum[c], -beta - 1);
      }
      for (int64_t j = 0; j < C; ++j) {
        double acc = 0; // windows holding j: c - before <= j <= c + after
        for (int64_t c = std::max<int64_t>(0, j - after); c <= std::min(C - 1, j + before); ++c)
          acc += t[c];
        a.out[0].data[at(j)] = dy.data[at(j)] * std::pow(dsum[j], -beta) - 2 * k * beta * x.data[at(j)] * acc;
      }
    }
  return Error::success();
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

// Gradient of the class losses with respect to scores (probabilities `prob` for softmax
// cross-entropy, none for nll): (prob - onehot) * w[label] * dloss / norm per item.
// Operands: scores, labels, dloss, optional weights.
Error classLossGrad(RefArgs& a, const std::vector<double>* prob) {
  const RefTensor& x = *a.in[0];
  const RefTensor& labels = *a.in[1];
  const RefTensor& dloss = *a.in[2];
  const RefTensor* weights = a.in.size() > 3 ? a.in[3] : nullptr;
  int64_t ignore = a.attrs.getInt("ignore_index");
  const std::string& reduction = a.attrs.getString("reduction");
  int64_t N = x.type.shape[0], C = x.type.shape[1];
  int64_t D = N * C == 0 ? 0 : static_cast<int64_t>(x.data.size()) / (N * C);
  double weightSum = 0;
  for (int64_t item = 0; item < N * D; ++item) {
    int64_t label = static_cast<int64_t>(labels.data[item]);
    if (label == ignore)
      continue;
    if (label < 0 || label >= C)
      return makeError("label {} of item {} is out of range [0, {})", label, item, C);
    weightSum += weights ? weights->data[label] : 1.0;
  }
  std::vector<double>& dx = a.out[0].data;
  std::fill(dx.begin(), dx.end(), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t d = 0; d < D; ++d) {
      int64_t item = n * D + d;
      int64_t label = static_cast<int64_t>(labels.data[item]);
      if (label == ignore)
        continue;
      double w = weights ? weights->data[label] : 1.0;
      double scale = w * (reduction == "none" ? dloss.data[item] : dloss.data[0]) /
                     (reduction == "mean" ? weightSum : 1.0);
      if (prob)
        for (int64_t c = 0; c < C; ++c)
          dx[(n * C + c) * D + d] = (*prob)[(n * C + c) * D + d] * scale;
      dx[(n * C + label) * D + d] -= scale;
    }
  return Error::success();
}

Error softmaxCrossEntropyGrad(RefArgs& a) {
  std::vector<double> prob(a.in[0]->data.size());
  softmaxAlong<false>(*a.in[0], 1, prob);
  return classLossGrad(a, &prob);
}

Error nllLossGrad(RefArgs& a) { return classLossGrad(a, nullptr); }

constexpr RefKernel kKernels[] = {
    {"lrn", lrn},
    {"batch_norm", batchNorm},
    {"softmax", softmax<false>},
    {"log_softmax", softmax<true>},
    {"softmax_cross_entropy", softmaxCrossEntropy},
    {"nll_loss", nllLoss},
    {"lrn_grad", lrnGrad},
    {"batch_norm_train", batchNormTrain},
    {"batch_norm_train_grad", batchNormTrainGrad},
    {"softmax_cross_entropy_grad", softmaxCrossEntropyGrad},
    {"nll_loss_grad", nllLossGrad},
};

} // namespace

std::span<const RefKernel> normKernels() { return kKernels; }

} // namespace sinter::ref

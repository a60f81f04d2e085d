// Reference kernels: optimizer steps (float64).
#include "runtime/reference/RefKernels.h"

#include <cmath>

namespace sinter::ref {

namespace {

Error sgdUpdate(RefArgs& a) {
  const auto& w = a.in[0]->data;
  const auto& g = a.in[1]->data;
  const auto& v = a.in[2]->data;
  double lr = a.in[3]->data[0], mom = a.attrs.getFloat("momentum"), wd = a.attrs.getFloat("weight_decay");
  for (size_t i = 0; i < w.size(); ++i) {
    double vn = mom * v[i] - wd * lr * w[i] - lr * g[i];
    a.out[1].data[i] = vn;
    a.out[0].data[i] = w[i] + vn;
  }
  return Error::success();
}

Error adamUpdate(RefArgs& a) {
  const auto& w = a.in[0]->data;
  const auto& g = a.in[1]->data;
  const auto& m = a.in[2]->data;
  const auto& v = a.in[3]->data;
  double lrT = a.in[4]->data[0], c2 = a.in[5]->data[0];
  double b1 = a.attrs.getFloat("beta1"), b2 = a.attrs.getFloat("beta2"), eps = a.attrs.getFloat("eps");
  double wd = a.attrs.getFloat("weight_decay");
  for (size_t i = 0; i < w.size(); ++i) {
    double gi = g[i] + wd * w[i];
    double mn = b1 * m[i] + (1 - b1) * gi;
    double vn = b2 * v[i] + (1 - b2) * gi * gi;
    a.out[1].data[i] = mn;
    a.out[2].data[i] = vn;
    a.out[0].data[i] = w[i] - lrT * mn / (std::sqrt(vn) * c2 + eps);
  }
  return Error::success();
}

constexpr RefKernel kKernels[] = {
    {"sgd_update", sgdUpdate},
    {"adam_update", adamUpdate},
};

} // namespace

std::span<const RefKernel> optimKernels() { return kKernels; }

} // namespace sinter::ref

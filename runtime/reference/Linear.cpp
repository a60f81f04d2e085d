// Reference kernels: gemm, matmul, reductions; float64.
#include "runtime/reference/RefKernels.h"

#include <cmath>

namespace sinter::ref {

namespace {

// out[m, n] = sum_k a[m, k] * bt[n, k], with a, bt row-major and contiguous in k.
void matmul2d(const double* a, const double* bt, double* out, int64_t M, int64_t N, int64_t K) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0;
      const double* ar = a + m * K;
      const double* br = bt + n * K;
      for (int64_t k = 0; k < K; ++k)
        acc += ar[k] * br[k];
      out[m * N + n] = acc;
    }
}

// Copies a rows x cols row-major matrix transposed.
std::vector<double> transposed(const double* src, int64_t rows, int64_t cols) {
  std::vector<double> t(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      t[c * rows + r] = src[r * cols + c];
  return t;
}

Error gemm(RefArgs& a) {
  const RefTensor& A = *a.in[0];
  const RefTensor& B = *a.in[1];
  bool ta = a.attrs.getInt("trans_a") != 0, tb = a.attrs.getInt("trans_b") != 0;
  double alpha = a.attrs.getFloat("alpha"), beta = a.attrs.getFloat("beta");
  int64_t M = a.out[0].type.shape[0], N = a.out[0].type.shape[1];
  int64_t K = ta ? A.type.shape[0] : A.type.shape[1];
  std::vector<double> at = ta ? transposed(A.data.data(), K, M) : A.data;
  std::vector<double> bt = tb ? B.data : transposed(B.data.data(), K, N);
  double* out = a.out[0].data.data();
  matmul2d(at.data(), bt.data(), out, M, N, K);
  if (a.in.size() > 2) {
    const RefTensor& C = *a.in[2];
    Shape cs = C.type.shape;
    while (cs.size() < 2)
      cs.insert(cs.begin(), 1);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double c = C.data[(cs[0] == 1 ? 0 : m) * cs[1] + (cs[1] == 1 ? 0 : n)];
        out[m * N + n] = alpha * out[m * N + n] + beta * c;
      }
  } else if (alpha != 1.0) {
    for (int64_t i = 0; i < M * N; ++i)
      out[i] *= alpha;
  }
  return Error::success();
}

Error matmul(RefArgs& a) {
  Shape as = a.in[0]->type.shape, bs = a.in[1]->type.shape;
  if (as.size() == 1)
    as.insert(as.begin(), 1);
  if (bs.size() == 1)
    bs.push_back(1);
  int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  size_t r = std::max(as.size(), bs.size()) - 2;
  Shape batch(r), sa(r), sb(r); // batch dims and each operand's matrix-strides (0 = broadcast)
  int64_t ea = M * K, eb = K * N;
  for (size_t i = r; i-- > 0;) {
    int64_t da = i + as.size() - 2 >= r ? as[i + as.size() - 2 - r] : 1;
    int64_t db = i + bs.size() - 2 >= r ? bs[i + bs.size() - 2 - r] : 1;
    batch[i] = std::max(da, db);
    sa[i] = da == 1 ? 0 : ea;
    sb[i] = db == 1 ? 0 : eb;
    ea *= da;
    eb *= db;
  }
  int64_t count = numElements(batch);
  std::vector<double> bt(static_cast<size_t>(K * N));
  for (int64_t bi = 0; bi < count; ++bi) {
    int64_t oa = 0, ob = 0, rem = bi;
    for (size_t i = r; i-- > 0;) {
      int64_t idx = rem % batch[i];
      rem /= batch[i];
      oa += idx * sa[i];
      ob += idx * sb[i];
    }
    bt = transposed(a.in[1]->data.data() + ob, K, N);
    matmul2d(a.in[0]->data.data() + oa, bt.data(), a.out[0].data.data() + bi * M * N, M, N, K);
  }
  return Error::success();
}

enum class Reduction { Sum, Mean, Max };

template <Reduction R> Error reduce(RefArgs& a) {
  const RefTensor& x = *a.in[0];
  const auto& axes = a.attrs.getInts("axes");
  int64_t r = x.type.rank();
  std::vector<bool> reduced(static_cast<size_t>(r), axes.empty());
  for (int64_t ax : axes)
    reduced[ax < 0 ? ax + r : ax] = true;
  Shape kept = x.type.shape; // output with reduced dims as 1: same element order as the result
  int64_t count = 1;
  for (int64_t i = 0; i < r; ++i)
    if (reduced[i]) {
      count *= kept[i];
      kept[i] = 1;
    }
  auto inStrides = stridesOf(x.type.shape), outStrides = stridesOf(kept);
  std::vector<double>& out = a.out[0].data;
  std::fill(out.begin(), out.end(), R == Reduction::Max ? -INFINITY : 0.0);
  for (int64_t i = 0; i < static_cast<int64_t>(x.data.size()); ++i) {
    int64_t o = 0;
    for (int64_t d = 0; d < r; ++d)
      if (!reduced[d])
        o += (i / inStrides[d] % x.type.shape[d]) * outStrides[d];
    if constexpr (R == Reduction::Max)
      out[o] = std::isnan(x.data[i]) || x.data[i] > out[o] ? x.data[i] : out[o];
    else
      out[o] += x.data[i];
  }
  if (R == Reduction::Mean)
    for (double& v : out)
      v /= static_cast<double>(count);
  return Error::success();
}

constexpr RefKernel kKernels[] = {
    {"gemm", gemm},
    {"matmul", matmul},
    {"reduce_sum", reduce<Reduction::Sum>},
    {"reduce_mean", reduce<Reduction::Mean>},
    {"reduce_max", reduce<Reduction::Max>},
};

} // namespace

std::span<const RefKernel> linearKernels() { return kKernels; }

} // namespace sinter::ref

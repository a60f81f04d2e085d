// The table of reference kernels, by kernel-template name.
#include "runtime/reference/RefKernels.h"


namespace sinter::ref {

std::span<const RefKernel> allRefKernels() {
  static const std::vector<RefKernel> all = [] {
    std::vector<RefKernel> v;
    for (auto family : {convPoolKernels(), normKernels(), linearKernels(), shapeKernels(), fusedKernels(), optimKernels()})
      v.insert(v.end(), family.begin(), family.end());
    return v;
  }();
  return all;
}

const RefKernel* findRefKernel(std::string_view name) {
  for (const RefKernel& k : allRefKernels())
    if (k.name == name)
      return &k;
  return nullptr;
}

std::vector<int64_t> stridesOf(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;)
    st[i - 1] = st[i] * s[i];
  return st;
}

} // namespace sinter::ref

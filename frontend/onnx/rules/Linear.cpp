// ONNX rules: Gemm and MatMul.
#include "frontend/onnx/ImportContext.h"

namespace sinter::onnxio {

namespace {

Error gemm(NodeCtx& c) {
  SINTER_CHECK(c.checkInputs(2, 3));
  SINTER_CHECK(c.onlyAttrs({"alpha", "beta", "transA", "transB", "broadcast"}));
  auto alpha = c.attrFloat("alpha", 1.0);
  auto beta = c.attrFloat("beta", 1.0);
  auto ta = c.attrInt("transA", 0);
  auto tb = c.attrInt("transB", 0);
  if (!alpha || !beta || !ta || !tb)
    return !alpha ? alpha.error() : !beta ? beta.error() : !ta ? ta.error() : tb.error();
  auto ins = c.inputs();
  if (!ins)
    return ins.error();
  std::vector<Value*>& in = *ins;
  auto y = c.emit(ops::Gemm, in, {{"trans_a", *ta}, {"trans_b", *tb}, {"alpha", *alpha}, {"beta", *beta}});
  if (!y)
    return y.error();
  return c.bind(0, *y);
}

Error matmul(NodeCtx& c) { return c.generic(ops::MatMul); }

constexpr OnnxRule kRules[] = {
    {"Gemm", gemm},
    {"MatMul", matmul},
};

} // namespace

std::span<const OnnxRule> linearRules() { return kRules; }

} // namespace sinter::onnxio

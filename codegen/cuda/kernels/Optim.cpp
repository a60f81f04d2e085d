// CUDA kernels: optimizer steps, one thread per parameter element (grid-stride).
#include "codegen/cuda/KernelSource.h"

namespace sinter::cuda {

namespace {

std::string loopOver(int64_t n) {
  return fmt::format("  for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < {}ll; i += (i64)gridDim.x * "
                     "blockDim.x) {{\n",
                     n);
}

Error sgdUpdate(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue&) {
  std::string t = computeType(op.input(0)->type().dtype);
  int64_t n = op.input(0)->type().numel();
  double mom = op.attrs().getFloat("momentum"), wd = op.attrs().getFloat("weight_decay");
  std::string& b = ks.body;
  b += fmt::format("  const {} lr = {};\n", t, ks.load(bind.in[3], "0", t));
  b += loopOver(n);
  b += fmt::format("    const {} w = {};\n    const {} vn = {} * {} - {} * lr * w - lr * {};\n", t,
                   ks.load(bind.in[0], "i", t), t, literal(mom, t), ks.load(bind.in[2], "i", t), literal(wd, t),
                   ks.load(bind.in[1], "i", t));
  b += "    " + ks.store(ks.result(1), "i", "vn") + "    " + ks.store(ks.result(0), "i", "w + vn") + "  }\n";
  ks.finish({gridFor(n, 256, ks.target()), 1, 1}, 256, 0, "sgd_update: one thread per element");
  return Error::success();
}

Error adamUpdate(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue&) {
  std::string t = computeType(op.input(0)->type().dtype);
  int64_t n = op.input(0)->type().numel();
  double b1 = op.attrs().getFloat("beta1"), b2 = op.attrs().getFloat("beta2"), eps = op.attrs().getFloat("eps");
  double wd = op.attrs().getFloat("weight_decay");
  std::string& b = ks.body;
  b += fmt::format("  const {} lr_t = {}, c2 = {};\n", t, ks.load(bind.in[4], "0", t), ks.load(bind.in[5], "0", t));
  b += loopOver(n);
  b += fmt::format("    const {} w = {};\n    const {} g = {} + {} * w;\n", t, ks.load(bind.in[0], "i", t), t,
                   ks.load(bind.in[1], "i", t), literal(wd, t));
  b += fmt::format("    const {} mn = {} * {} + {} * g;\n", t, literal(b1, t), ks.load(bind.in[2], "i", t), literal(1 - b1, t));
  b += fmt::format("    const {} vn = {} * {} + {} * g * g;\n", t, literal(b2, t), ks.load(bind.in[3], "i", t),
                   literal(1 - b2, t));
  b += "    " + ks.store(ks.result(1), "i", "mn") + "    " + ks.store(ks.result(2), "i", "vn");
  b += "    " + ks.store(ks.result(0), "i", fmt::format("w - lr_t * mn / (sqrt(vn) * c2 + {})", literal(eps, t))) + "  }\n";
  ks.finish({gridFor(n, 256, ks.target()), 1, 1}, 256, 0, "adam_update: one thread per element");
  return Error::success();
}

constexpr CudaEmitter kEmitters[] = {
    {"sgd_update", sgdUpdate},
    {"adam_update", adamUpdate},
};

} // namespace

std::span<const CudaEmitter> optimEmitters() { return kEmitters; }

} // namespace sinter::cuda

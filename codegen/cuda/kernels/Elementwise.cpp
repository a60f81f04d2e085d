// CUDA kernels: elementwise ops (any Scalar lowering, broadcasting) and dropout.
#include "codegen/cuda/KernelSource.h"
#include "ir/Printer.h"

namespace sinter::cuda {

namespace {

constexpr unsigned kBlock = 256;

std::string loopOver(int64_t n) {
  return fmt::format("  for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < {}ll; i += (i64)gridDim.x * "
                     "blockDim.x) {{\n",
                     n);
}

std::string commonType(const Node& op) {
  auto narrow = [](DType d) { return d == DType::F32 || d == DType::F16 || d == DType::BF16; };
  bool all = narrow(op.output()->type().dtype);
  for (const sinter::Value* v : op.inputs())
    all = all && narrow(v->type().dtype);
  return all ? "float" : "double";
}

Error elementwise(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  const TensorType& out = op.output()->type();
  std::string t = commonType(op);
  auto expr = parseScalarExpr(op.op().scalar()->expr);
  std::vector<std::string> args;
  for (size_t k = 0; k < op.numInputs(); ++k)
    args.push_back(ks.load(bind.in[k], KernelSource::broadcastIndex("i", out.shape, op.input(k)->type().shape), t));
  std::string v = KernelSource::scalar(*expr, args, t);
  ks.body += loopOver(out.numel());
  ks.body += "    " + ks.store(bind.out, "i", epi.apply(ks, v, "i", out.shape, t));
  ks.body += "  }\n";
  ks.finish({gridFor(out.numel(), kBlock, ks.target()), 1, 1}, kBlock, 0, "one thread per element (grid-stride)");
  return Error::success();
}

// Philox4x32-10, word `index` of stream `seed` (ir/Philox.cpp).
constexpr std::string_view kPhilox = R"(__device__ __forceinline__ u32 sinter_philox(u64 seed, u64 index, u64 step) {
  u64 block = index >> 2;
  u32 c0 = (u32)block, c1 = (u32)(block >> 32), c2 = (u32)step, c3 = (u32)(step >> 32), k0 = (u32)seed, k1 = (u32)(seed >> 32);
  #pragma unroll
  for (int r = 0; r < 10; ++r) {
    u32 hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
    u32 hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
    u32 n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
    k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
  }
  u32 lane = (u32)(index & 3);
  return lane == 0 ? c0 : lane == 1 ? c1 : lane == 2 ? c2 : c3;
}
)";

Error dropout(KernelSource& ks, const Node& op, const Binding& bind, const Epilogue& epi) {
  const TensorType& out = op.output()->type();
  std::string t = commonType(op);
  bool training = op.attrs().getInt("training") != 0;
  double ratio = op.attrs().getFloat("ratio");
  std::string v = ks.load(bind.in[0], "i", t);
  if (training) {
    ks.helper(std::string(kPhilox));
    std::string step = op.numInputs() > 1 ? fmt::format("(u64)(i64){}", ks.load(bind.in[1], "0", "double")) : "0ull";
    v = fmt::format("((float)(sinter_philox({}ull, (u64)i, {}) >> 8) * (1.0f / 16777216.0f) >= {} ? {} * {} : ({})0)",
                    static_cast<uint64_t>(op.attrs().getInt("seed")), step, literal(ratio, "float"), v,
                    literal(1.0 / (1.0 - ratio), t), t);
  }
  ks.body += loopOver(out.numel());
  ks.body += "    " + ks.store(bind.out, "i", epi.apply(ks, v, "i", out.shape, t));
  ks.body += "  }\n";
  ks.finish({gridFor(out.numel(), kBlock, ks.target()), 1, 1}, kBlock, 0, "one thread per element (grid-stride)");
  return Error::success();
}

constexpr CudaEmitter kEmitters[] = {{"elementwise", elementwise}, {"dropout", dropout}};

} // namespace

std::span<const CudaEmitter> elementwiseEmitters() { return kEmitters; }

} // namespace sinter::cuda

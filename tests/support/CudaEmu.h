// Host emulation of the CUDA C that codegen/cuda writes, so the kernels' logic (tiling, bounds,
// fragment layouts, barriers, shuffles) is checked against the reference on machines without a
// GPU. Tests compile generated kernels with the host C++ compiler after this header (see
// CudaEmulator.cpp); nothing here is used on a GPU.
//
// Model: a block's threads are fibers (ucontext) run on one OS thread until each reaches a
// barrier; __syncthreads waits for every live thread of the block, warp collectives
// (__shfl_xor_sync, mma.sync) for every live lane of the warp. A barrier no schedule can satisfy
// (divergent __syncthreads) is reported as an error, not a hang. __shared__ becomes a
// thread_local static: one copy per OS thread, shared by the fibers of the block it runs.
// Blocks are spread over OS threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <math.h> // expf, logf, ... in the global namespace, as CUDA has them
#include <string>
#include <thread>
#include <ucontext.h>
#include <utility>
#include <vector>

#define SINTER_EMULATION 1
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) // (__shared__ below carries the alignment: alignas must lead the declaration)
#define __constant__

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};
struct alignas(16) float4 {
  float x, y, z, w;
};

namespace sinter_emu {

enum class State { Run, BlockBarrier, WarpBarrier, Done };

// A cp.async copy in flight: done at the cp.async.wait_group that covers its group.
struct AsyncCopy {
  float* dst;
  const float* src; // null: zero-fill
};

struct Fiber {
  ucontext_t ctx;
  dim3 tid;
  unsigned linear = 0;
  State state = State::Run;
  std::vector<AsyncCopy> openGroup;              // copies since the last commit
  std::vector<std::vector<AsyncCopy>> committed; // groups in flight, oldest first
};

struct Block {
  void (*body)(void*) = nullptr;
  void* arg = nullptr;
  dim3 blockIdx, blockDim, gridDim;
  std::vector<Fiber> fibers;
  std::vector<char> stacks;
  std::vector<unsigned char> slots; // 64 bytes per thread for warp exchanges
  unsigned sharedBytes = 0;          // dynamic shared memory (extern __shared__)
  std::vector<float> dynamicShared;
  ucontext_t scheduler;
  Fiber* current = nullptr;
  std::string error;
};

inline thread_local Block* tlsBlock = nullptr;
constexpr size_t kStackBytes = 96 * 1024;
constexpr size_t kSlotBytes = 64;

inline void yieldAs(State s) {
  Block* b = tlsBlock;
  Fiber* f = b->current;
  f->state = s;
  swapcontext(&f->ctx, &b->scheduler);
}

inline void fiberEntry() {
  Block* b = tlsBlock;
  b->body(b->arg);
  yieldAs(State::Done);
}

// Runs one block to completion; returns false (with b.error) on a barrier no schedule satisfies.
inline bool runBlock(Block& b) {
  unsigned n = b.blockDim.x * b.blockDim.y * b.blockDim.z;
  b.fibers.assign(n, Fiber{});
  if (b.stacks.size() < n * kStackBytes)
    b.stacks.resize(n * kStackBytes);
  b.slots.assign(n * kSlotBytes, 0);
  // NaN at first: a kernel reading dynamic shared memory it never wrote shows up in results.
  b.dynamicShared.assign((b.sharedBytes + 3) / 4, std::numeric_limits<float>::quiet_NaN());
  for (unsigned i = 0; i < n; ++i) {
    Fiber& f = b.fibers[i];
    f.linear = i;
    f.tid = {i % b.blockDim.x, i / b.blockDim.x % b.blockDim.y, i / (b.blockDim.x * b.blockDim.y)};
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = b.stacks.data() + i * kStackBytes;
    f.ctx.uc_stack.ss_size = kStackBytes;
    f.ctx.uc_link = &b.scheduler;
    makecontext(&f.ctx, fiberEntry, 0);
  }
  tlsBlock = &b;
  unsigned warps = (n + 31) / 32;
  for (;;) {
    for (Fiber& f : b.fibers)
      if (f.state == State::Run) {
        b.current = &f;
        swapcontext(&b.scheduler, &f.ctx);
      }
    bool released = false, allDone = true;
    // Warp collectives first: a warp whose live lanes all wait at one goes on.
    for (unsigned w = 0; w < warps; ++w) {
      unsigned live = 0, waiting = 0;
      for (unsigned i = w * 32; i < std::min(n, w * 32 + 32); ++i) {
        live += b.fibers[i].state != State::Done;
        waiting += b.fibers[i].state == State::WarpBarrier;
      }
      if (live && waiting == live) {
        for (unsigned i = w * 32; i < std::min(n, w * 32 + 32); ++i)
          b.fibers[i].state = State::Run;
        released = true;
      }
    }
    if (released)
      continue;
    unsigned live = 0, atBlock = 0;
    for (const Fiber& f : b.fibers) {
      live += f.state != State::Done;
      atBlock += f.state == State::BlockBarrier;
    }
    allDone = live == 0;
    if (allDone)
      return true;
    if (atBlock == live) {
      for (Fiber& f : b.fibers)
        if (f.state == State::BlockBarrier)
          f.state = State::Run;
      continue;
    }
    b.error = "threads of block (" + std::to_string(b.blockIdx.x) + "," + std::to_string(b.blockIdx.y) + "," +
              std::to_string(b.blockIdx.z) + ") wait at different barriers (divergent __syncthreads or warp collective)";
    return false;
  }
}

// Launches `body(arg)` over the grid; returns an error message, or null. Blocks run on worker
// threads only, never on the caller's: the kernel's thread-local state (its __shared__ arrays,
// tlsBlock) then lives and dies with threads that are joined here, and the caller's thread holds
// no dynamic TLS of this shared object (LeakSanitizer's exit scan has crashed on such entries).
inline const char* launch(dim3 grid, dim3 block, unsigned sharedBytes, void (*body)(void*), void* arg) {
  static std::string error; // (one launch at a time per process, as the executors run them)
  unsigned total = grid.x * grid.y * grid.z;
  std::atomic<unsigned> next{0};
  std::atomic<bool> failed{false};
  unsigned workers = std::max(1u, std::min(std::thread::hardware_concurrency(), total));
  std::vector<std::string> errors(workers);
  auto work = [&](unsigned w) {
    Block b;
    b.body = body;
    b.arg = arg;
    b.blockDim = block;
    b.gridDim = grid;
    b.sharedBytes = sharedBytes;
    for (unsigned i; !failed && (i = next++) < total;) {
      b.blockIdx = {i % grid.x, i / grid.x % grid.y, i / (grid.x * grid.y)};
      if (!runBlock(b)) {
        errors[w] = b.error;
        failed = true;
      }
    }
    tlsBlock = nullptr;
  };
  std::vector<std::thread> threads;
  for (unsigned w = 0; w < workers; ++w)
    threads.emplace_back(work, w);
  for (std::thread& t : threads)
    t.join();
  for (const std::string& e : errors)
    if (!e.empty()) {
      error = e;
      return error.c_str();
    }
  return nullptr;
}

// a[i] points at argument i, as cuLaunchKernel's kernelParams do.
template <class... P, size_t... I> void invokeWith(void (*fn)(P...), void** a, std::index_sequence<I...>) {
  fn(*static_cast<P*>(a[I])...);
}
template <class... P> void invoke(void (*fn)(P...), void** a) { invokeWith(fn, a, std::index_sequence_for<P...>{}); }

inline unsigned char* slotOf(unsigned thread) { return tlsBlock->slots.data() + thread * kSlotBytes; }
inline unsigned lane() { return tlsBlock->current->linear % 32; }
inline unsigned warpBase() { return tlsBlock->current->linear - lane(); }

} // namespace sinter_emu

#define threadIdx (::sinter_emu::tlsBlock->current->tid)
#define blockIdx (::sinter_emu::tlsBlock->blockIdx)
#define blockDim (::sinter_emu::tlsBlock->blockDim)
#define gridDim (::sinter_emu::tlsBlock->gridDim)
#define __shared__ alignas(16) static thread_local

inline void __syncthreads() { sinter_emu::yieldAs(sinter_emu::State::BlockBarrier); }

template <class T> T __shfl_xor_sync(unsigned, T v, int laneMask) {
  static_assert(sizeof(T) <= sinter_emu::kSlotBytes);
  unsigned me = sinter_emu::tlsBlock->current->linear;
  std::memcpy(sinter_emu::slotOf(me), &v, sizeof v);
  sinter_emu::yieldAs(sinter_emu::State::WarpBarrier);
  T r;
  std::memcpy(&r, sinter_emu::slotOf(sinter_emu::warpBase() + (sinter_emu::lane() ^ static_cast<unsigned>(laneMask))), sizeof r);
  sinter_emu::yieldAs(sinter_emu::State::WarpBarrier);
  return r;
}

inline int atomicCAS(int* p, int expected, int desired) {
  __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return expected;
}
inline float atomicAdd(float* p, float v) {
  float old = *p; // blocks of one launch may run on several OS threads: CAS loop
  float want;
  do
    want = old + v;
  while (!__atomic_compare_exchange(p, &old, &want, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
  return old;
}

inline unsigned atomicAdd(unsigned* p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicMax(unsigned* p, unsigned v) {
  unsigned old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
  while (old < v && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
  }
  return old;
}
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
template <class T> T __ldcg(const T* p) {
  T v;
  __atomic_load(p, &v, __ATOMIC_SEQ_CST);
  return v;
}

inline unsigned __umulhi(unsigned a, unsigned b) { return static_cast<unsigned>((static_cast<uint64_t>(a) * b) >> 32); }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline float __uint_as_float(unsigned i) { float f; std::memcpy(&f, &i, 4); return f; }
inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
inline unsigned __float_as_uint(float f) { unsigned i; std::memcpy(&i, &f, 4); return i; }
inline double __longlong_as_double(long long i) { double d; std::memcpy(&d, &i, 8); return d; }
inline long long __double_as_longlong(double d) { long long i; std::memcpy(&i, &d, 8); return i; }

// CUDA's integer and floating max/min overloads (the generated code calls them unqualified).
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline int min(int a, int b) { return a < b ? a : b; }
inline float max(float a, float b) { return std::fmax(a, b); }
inline float min(float a, float b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
using std::exp, std::log, std::sqrt, std::pow, std::fabs, std::tanh, std::floor, std::ceil, std::fma;

// The PTX helpers of the prelude (see codegen/cuda): f16 through the compiler's _Float16,
// cvt.rna.tf32 (round to nearest, ties away, 10 mantissa bits), mma.m16n8k8 TF32 per warp.
inline float sinter_f16_to_f32(unsigned short h) { _Float16 v; std::memcpy(&v, &h, 2); return static_cast<float>(v); }
inline unsigned short sinter_f32_to_f16(float f) {
  _Float16 v = static_cast<_Float16>(f);
  unsigned short h;
  std::memcpy(&h, &v, 2);
  return h;
}
// Dynamic shared memory of the running block.
namespace sinter_emu {
inline float* dynamicShared() { return tlsBlock->dynamicShared.data(); }
} // namespace sinter_emu
// cp.async: the destination reads NaN until a wait_group covers the copy's group, so a kernel
// that reads a stage before waiting for it (or before the barrier after the wait, when another
// thread made the copy) shows up in results.
inline void sinter_cp_async4(float* dst, const float* src) {
  *dst = std::numeric_limits<float>::quiet_NaN();
  sinter_emu::tlsBlock->current->openGroup.push_back({dst, src});
}
inline void sinter_cp_async16(float* dst, const float* src) {
  if (reinterpret_cast<uintptr_t>(dst) % 16 || reinterpret_cast<uintptr_t>(src) % 16)
    __builtin_trap(); // the hardware faults on a misaligned 16-byte copy
  for (int i = 0; i < 4; ++i)
    sinter_cp_async4(dst + i, src ? src + i : nullptr);
}
inline void sinter_cp_async_commit() {
  sinter_emu::Fiber* f = sinter_emu::tlsBlock->current;
  f->committed.push_back(std::move(f->openGroup));
  f->openGroup.clear();
}
template <int N> void sinter_cp_async_wait() {
  sinter_emu::Fiber* f = sinter_emu::tlsBlock->current;
  while (f->committed.size() > static_cast<size_t>(N)) {
    for (const sinter_emu::AsyncCopy& c : f->committed.front())
      *c.dst = c.src ? *c.src : 0.f;
    f->committed.erase(f->committed.begin());
  }
}
inline unsigned sinter_tf32(float f) {
  unsigned x = __float_as_uint(f);
  if ((x & 0x7f800000u) == 0x7f800000u)
    return x; // inf and NaN unchanged
  return (x + 0x1000u) & 0xffffe000u;
}
// D (16x8) += A (16x8, row) * B (8x8, col). Lane l holds (g = l / 4, t = l % 4):
// a0 = A[g][t], a1 = A[g+8][t], a2 = A[g][t+4], a3 = A[g+8][t+4]; b0 = B[t][g], b1 = B[t+4][g];
// d0..d3 = D[g][2t], D[g][2t+1], D[g+8][2t], D[g+8][2t+1].
inline void sinter_mma_tf32(float* d, const unsigned* a, const unsigned* b) {
  using namespace sinter_emu;
  unsigned me = tlsBlock->current->linear;
  unsigned frag[6] = {a[0], a[1], a[2], a[3], b[0], b[1]};
  std::memcpy(slotOf(me), frag, sizeof frag);
  yieldAs(State::WarpBarrier);
  auto A = [&](unsigned row, unsigned k) {
    unsigned reg = (row >= 8 ? 1 : 0) + (k >= 4 ? 2 : 0);
    unsigned v;
    std::memcpy(&v, slotOf(warpBase() + (row % 8) * 4 + k % 4) + reg * 4, 4);
    return __uint_as_float(v);
  };
  auto B = [&](unsigned k, unsigned col) {
    unsigned v;
    std::memcpy(&v, slotOf(warpBase() + col * 4 + k % 4) + (4 + (k >= 4 ? 1 : 0)) * 4, 4);
    return __uint_as_float(v);
  };
  unsigned g = lane() / 4, t = lane() % 4;
  for (unsigned r = 0; r < 4; ++r) {
    unsigned row = g + (r / 2) * 8, col = 2 * t + r % 2;
    float s = d[r];
    for (unsigned k = 0; k < 8; ++k)
      s += A(row, k) * B(k, col);
    d[r] = s;
  }
  yieldAs(State::WarpBarrier);
}

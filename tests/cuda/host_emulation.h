// Just enough of CUDA's execution model, on the CPU, to run the generated kernels (codegen/cuda)
// where there is no GPU: cuda_kernels_test builds a module's source with the host compiler and
// `-include host_emulation.h`, and launches its kernels through rptq_emu_launch. Blocks run one
// after another; the threads of a block run as fibers of one OS thread that switch only at
// barriers, so __syncthreads is a barrier and __shfl_down_sync and mma.sync exchanges among the 32
// threads of a warp, cp.async copies land only when a wait lets them, and a kernel that relies on
// anything the hardware would not guarantee (a missing barrier, a lane reading a slot no lane
// wrote) shows up as wrong numbers. What it cannot show: timing, memory-model subtleties between
// blocks (there is no concurrency between them), and code generation bugs of nvcc itself; the
// same kernels run on a GPU in the same test where there is one.
#pragma once

#include <math.h>
#include <stdint.h>
#include <ucontext.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/cuda/abi.h"

#define __device__
#define __global__
#define __forceinline__ inline
#define __launch_bounds__(n)
// One block runs at a time, so a function's static storage is the running block's.
#define __shared__ static
#define RPTQ_DYNAMIC_SHARED(type, name) type* name = reinterpret_cast<type*>(rptq_emu::dynamic_shared)
// The kernels call the rptq_emu_ functions below instead of their inline PTX (mma.sync, dp4a,
// cp.async).
#define RPTQ_EMULATED_PTX 1
// wgmma's operand arrays within one 256 KiB window of addresses (rptq_emu_smem_address).
#define RPTQ_WGMMA_WINDOW_ALIGN 65536

struct rptq_emu_dim3 {
  unsigned x = 0, y = 0, z = 0;
};
// All of a block's threads are fibers of one OS thread; the scheduler sets these on each switch.
inline rptq_emu_dim3 threadIdx, blockIdx, blockDim, gridDim;

struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
struct alignas(8) uint2 {
  unsigned x, y;
};

inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
// Byte i of the result is byte s_i (selector nibble i, low 3 bits) of the 8 bytes y:x.
inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
  const uint64_t both = (static_cast<uint64_t>(y) << 32) | x;
  unsigned r = 0;
  for (int i = 0; i < 4; ++i) r |= static_cast<unsigned>((both >> (8 * ((s >> (4 * i)) & 7))) & 0xFF) << (8 * i);
  return r;
}

namespace rptq_emu {

inline unsigned char* dynamic_shared = nullptr;

// A CUDA thread: a fiber with its own stack, switched only at barriers (swapcontext).
struct Fiber {
  ucontext_t context;
  std::vector<char> stack;
  unsigned thread = 0;
  bool done = false;
};
inline ucontext_t scheduler;
inline Fiber* running = nullptr;
inline void (*kernel_fn)(rptq_cuda_args) = nullptr;
inline const rptq_cuda_args* kernel_args = nullptr;

inline void yield() { swapcontext(&running->context, &scheduler); }

// n threads meet: the last to arrive releases the others, who notice when next scheduled.
class Barrier {
 public:
  explicit Barrier(int n = 0) : n_(n) {}
  void reset(int n) { n_ = n, arrived_ = 0; }
  void wait() {
    if (++arrived_ == n_) {
      arrived_ = 0;
      ++generation_;
      return;
    }
    const unsigned long mine = generation_;
    while (generation_ == mine) yield();
  }

 private:
  int n_, arrived_ = 0;
  unsigned long generation_ = 0;
};

inline Barrier block_barrier;
struct Warp {
  Barrier barrier{32};
  uint64_t slot[32];
  uint32_t mma_a[32][4], mma_b[32][2];  // each lane's mma.sync fragments
};
inline std::vector<Warp>* warps = nullptr;

// A thread's cp.async copies: the open group and the committed ones, oldest first. A copy lands
// only when a wait_group lets it complete (the latest the hardware may), so reading a stage before
// waiting for it, or writing a stage whose copies are still in flight, reads stale bytes.
struct AsyncCopy {
  void* dst;
  const void* src;
  bool valid;
};
struct ThreadCopies {
  std::vector<AsyncCopy> open;
  std::vector<std::vector<AsyncCopy>> committed;
};
inline std::vector<ThreadCopies>* copies = nullptr;

// A thread's wgmma operations, as its cp.async copies: each computes when a wgmma.wait_group lets
// it complete (reading B's shared memory then, the latest the hardware may), so reading the
// accumulators before the wait, or overwriting B while a wgmma is in flight, gives wrong sums.
struct Wgmma {
  int* d;                 // the thread's 64 accumulators
  uint8_t a[2][32];       // A rows g and g + 8 of the warp's 16 (taken at issue, as registers are)
  uint64_t descriptor;    // B
  const unsigned char* window;
  bool accumulate;        // scale-d: d = a b + d, or d = a b
};
struct ThreadWgmmas {
  std::vector<Wgmma> open;
  std::vector<std::vector<Wgmma>> committed;
};
inline std::vector<ThreadWgmmas>* wgmmas = nullptr;

inline void fiber_main() {
  kernel_fn(*kernel_args);
  running->done = true;  // returns to the scheduler (uc_link)
}

}  // namespace rptq_emu

inline void __syncthreads() { rptq_emu::block_barrier.wait(); }

namespace rptq_emu {
// Each lane of the warp offers v and takes the value of lane source(lane), or keeps its own where
// that is past the warp.
template <class T, class Source>
T warp_exchange(T v, Source source) {
  static_assert(sizeof(T) <= 8, "a register");
  Warp& w = (*warps)[threadIdx.x / 32];
  const unsigned lane = threadIdx.x % 32, from = source(lane);
  std::memcpy(&w.slot[lane], &v, sizeof v);
  w.barrier.wait();
  T r = v;
  if (from < 32) std::memcpy(&r, &w.slot[from], sizeof r);
  w.barrier.wait();
  return r;
}
}  // namespace rptq_emu

template <class T>
T __shfl_down_sync(unsigned, T v, int delta) {
  return rptq_emu::warp_exchange(v, [delta](unsigned lane) { return lane + static_cast<unsigned>(delta); });
}

template <class T>
T __shfl_xor_sync(unsigned, T v, int mask) {
  return rptq_emu::warp_exchange(v, [mask](unsigned lane) { return lane ^ static_cast<unsigned>(mask); });
}

namespace rptq_emu {
// An m16n8 mma.sync of the warp: each lane publishes its fragments, then each lane's D register
// (row, column) — lane 4 (row % 8) + column / 2, register 2 (row >= 8) + column % 2 in both
// shapes below — gains dot(A fragments, B fragments, row, column).
template <class T, class Dot>
void mma_m16n8(T (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], Dot dot) {
  Warp& w = (*warps)[threadIdx.x / 32];
  const unsigned lane = threadIdx.x % 32;
  for (int i = 0; i < 4; ++i) w.mma_a[lane][i] = a[i];
  for (int i = 0; i < 2; ++i) w.mma_b[lane][i] = b[i];
  w.barrier.wait();
  for (int reg = 0; reg < 4; ++reg) {
    const int row = static_cast<int>(lane / 4) + (reg >= 2 ? 8 : 0), col = static_cast<int>(lane % 4) * 2 + reg % 2;
    d[reg] += dot(w.mma_a, w.mma_b, row, col);
  }
  w.barrier.wait();
}
}  // namespace rptq_emu

// mma.sync.aligned.m16n8k32.row.col.s32.u8.u8.s32, d += a b, from the fragment layout of the PTX
// ISA ("Matrix Fragments for mma.m16n8k32", .u8), written here from the element's side: A's
// (row, k) is in lane 4 (row % 8) + (k % 16) / 4, register (row >= 8) + 2 (k >= 16), byte k % 4;
// B's (k, column) in lane 4 column + (k % 16) / 4, register k >= 16, byte k % 4.
inline void rptq_emu_mma_m16n8k32_u8u8(int (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  rptq_emu::mma_m16n8(d, a, b, [](const uint32_t (*fa)[4], const uint32_t (*fb)[2], int row, int col) {
    auto byte = [](uint32_t word, int k) { return static_cast<int>((word >> (8 * (k % 4))) & 0xFF); };
    int sum = 0;
    for (int k = 0; k < 32; ++k)
      sum += byte(fa[4 * (row % 8) + (k % 16) / 4][(row >= 8) + 2 * (k >= 16)], k) *
             byte(fb[4 * col + (k % 16) / 4][k >= 16], k);
    return sum;
  });
}

// mma.sync.aligned.m16n8k64.row.col.s32.u4.u4.s32, d += a b, from the element's side (PTX ISA,
// "Matrix Fragments for mma.m16n8k64", .u4): A's (row, k) is in lane 4 (row % 8) + (k % 32) / 8,
// register (row >= 8) + 2 (k >= 32), nibble k % 8; B's (k, column) in lane 4 column + (k % 32) / 8,
// register k >= 32, nibble k % 8.
inline void rptq_emu_mma_m16n8k64_u4u4(int (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  rptq_emu::mma_m16n8(d, a, b, [](const uint32_t (*fa)[4], const uint32_t (*fb)[2], int row, int col) {
    auto nibble = [](uint32_t word, int k) { return static_cast<int>((word >> (4 * (k % 8))) & 0xF); };
    int sum = 0;
    for (int k = 0; k < 64; ++k)
      sum += nibble(fa[4 * (row % 8) + (k % 32) / 8][(row >= 8) + 2 * (k >= 32)], k) *
             nibble(fb[4 * col + (k % 32) / 8][k >= 32], k);
    return sum;
  });
}

// f16 bits of x, rounded to nearest even (subnormals, infinities; NaN as a quiet NaN).
inline uint32_t rptq_emu_half_bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  const uint32_t sign = (b >> 16) & 0x8000u, mag = b & 0x7FFFFFFFu;
  if (mag >= 0x7F800000u) return sign | (mag > 0x7F800000u ? 0x7E00u : 0x7C00u);
  if (mag >= 0x477FF000u) return sign | 0x7C00u;  // 65520 and above round to infinity
  if (mag < 0x33000000u) return sign;              // below 2^-25: to zero (2^-25 itself ties to 0)
  const int e = static_cast<int>(mag >> 23) - 127;
  const uint32_t mant = (mag & 0x7FFFFFu) | 0x800000u;
  const int shift = e >= -14 ? 13 : 13 + (-14 - e);  // subnormal below 2^-14
  uint32_t q = mant >> shift;
  const uint32_t rest = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
  if (rest > half || (rest == half && (q & 1))) ++q;
  // Normal: q holds the implicit bit (0x400); a carry out of the mantissa bumps the exponent.
  return e >= -14 ? sign | ((static_cast<uint32_t>(e + 15) << 10) + (q - 0x400u)) : sign | q;
}

inline float rptq_emu_half_value(uint32_t h) {
  const uint32_t e = (h >> 10) & 0x1F, m = h & 0x3FF;
  const float v = e == 0    ? std::ldexp(static_cast<float>(m), -24)
                  : e == 31 ? (m ? NAN : INFINITY)
                            : std::ldexp(static_cast<float>(m | 0x400), static_cast<int>(e) - 25);
  return h & 0x8000 ? -v : v;
}

// mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32, d += a b, from the element's side (PTX ISA,
// "Matrix Fragments for mma.m16n8k16", .f16): A's (row, k) is in lane 4 (row % 8) + (k % 8) / 2,
// register (row >= 8) + 2 (k >= 8), half k % 2; B's (k, column) in lane 4 column + (k % 8) / 2,
// register k >= 8, half k % 2. Products of two f16 are exact in float.
inline void rptq_emu_mma_m16n8k16_f16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  rptq_emu::mma_m16n8(d, a, b, [](const uint32_t (*fa)[4], const uint32_t (*fb)[2], int row, int col) {
    auto half = [](uint32_t reg, int k) { return rptq_emu_half_value(k % 2 ? reg >> 16 : reg & 0xFFFF); };
    float sum = 0.0f;
    for (int k = 0; k < 16; ++k)
      sum += half(fa[4 * (row % 8) + (k % 8) / 2][(row >= 8) + 2 * (k >= 8)], k) *
             half(fb[4 * col + (k % 8) / 2][k >= 8], k);
    return sum;
  });
}

// Shared memory addresses as wgmma descriptors hold them: 18 bits, so an operand's array must not
// cross a 256 KiB boundary of the host's addresses (RPTQ_WGMMA_WINDOW_ALIGN below).
inline uint32_t rptq_emu_smem_address(const void* p) {
  return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(p) & 0x3FFFFu);
}

// wgmma.mma_async.sync.aligned.m64n128k32.s32.u8.u8 d, a, b-desc, scale-d (PTX ISA, "Asynchronous
// Warpgroup Level Matrix Multiply-Accumulate"), from the element's side: A from registers in each
// warp's m16 slab as mma.sync m16n8k32 lays it out (row 16 warp + r); B from the descriptor: a
// K-major operand without swizzling, element (k, n) at address + (n / 8) sbo + (k / 16) lbo +
// (n % 8) 16 + k % 16; D row 16 warp + lane / 4 (+ 8 for registers 2, 3 of each n8 tile j),
// column 8 j + 2 (lane % 4) (+ 1 for registers 1, 3).
inline void rptq_emu_wgmma_m64n128k32_u8u8(int (&d)[1][16][4], const uint32_t (&a)[4], uint64_t descriptor,
                                           bool accumulate, const void* window) {
  rptq_emu::Warp& w = (*rptq_emu::warps)[threadIdx.x / 32];
  const unsigned lane = threadIdx.x % 32, g = lane / 4;
  for (int i = 0; i < 4; ++i) w.mma_a[lane][i] = a[i];
  w.barrier.wait();
  rptq_emu::Wgmma op{&d[0][0][0], {}, descriptor, static_cast<const unsigned char*>(window), accumulate};
  for (int h = 0; h < 2; ++h)
    for (int k = 0; k < 32; ++k)
      op.a[h][k] = static_cast<uint8_t>(w.mma_a[4 * g + (k % 16) / 4][h + 2 * (k >= 16)] >> (8 * (k % 4)));
  w.barrier.wait();
  if ((descriptor >> 62) != 0 || ((descriptor >> 49) & 7) != 0) {
    std::fprintf(stderr, "wgmma: only K-major operands without swizzling, base offset 0, are emulated\n");
    std::abort();
  }
  (*rptq_emu::wgmmas)[threadIdx.x].open.push_back(op);
}
inline void rptq_emu_wgmma_commit() {
  rptq_emu::ThreadWgmmas& c = (*rptq_emu::wgmmas)[threadIdx.x];
  c.committed.push_back(std::move(c.open));
  c.open.clear();
}
inline void rptq_emu_wgmma_wait(int n) {
  rptq_emu::ThreadWgmmas& c = (*rptq_emu::wgmmas)[threadIdx.x];
  const unsigned t = threadIdx.x % 4;
  while (static_cast<int>(c.committed.size()) > n) {
    for (const rptq_emu::Wgmma& op : c.committed.front()) {
      const uint32_t start = static_cast<uint32_t>(op.descriptor & 0x3FFF) << 4;
      const uint32_t lbo = static_cast<uint32_t>((op.descriptor >> 16) & 0x3FFF) << 4;
      const uint32_t sbo = static_cast<uint32_t>((op.descriptor >> 32) & 0x3FFF) << 4;
      const unsigned char* base = op.window - rptq_emu_smem_address(op.window);
      for (int j = 0; j < 16; ++j)
        for (int e = 0; e < 4; ++e) {
          const uint32_t n = 8 * j + 2 * t + (e & 1);
          int sum = 0;
          for (uint32_t k = 0; k < 32; ++k)
            sum += op.a[e >> 1][k] * base[start + (n / 8) * sbo + (k / 16) * lbo + (n % 8) * 16 + k % 16];
          op.d[4 * j + e] = (op.accumulate ? op.d[4 * j + e] : 0) + sum;
        }
    }
    c.committed.erase(c.committed.begin());
  }
}

inline void rptq_emu_cp_async16(void* dst, const void* src, bool valid) {
  if (reinterpret_cast<uintptr_t>(dst) % 16 || (valid && reinterpret_cast<uintptr_t>(src) % 16)) {
    std::fprintf(stderr, "cp.async of 16 bytes from or to an address that is not 16-byte aligned\n");
    std::abort();
  }
  (*rptq_emu::copies)[threadIdx.x].open.push_back({dst, src, valid});
}
inline void rptq_emu_cp_async_commit() {
  rptq_emu::ThreadCopies& c = (*rptq_emu::copies)[threadIdx.x];
  c.committed.push_back(std::move(c.open));
  c.open.clear();
}
inline void rptq_emu_cp_async_wait(int n) {
  rptq_emu::ThreadCopies& c = (*rptq_emu::copies)[threadIdx.x];
  while (static_cast<int>(c.committed.size()) > n) {
    for (const rptq_emu::AsyncCopy& k : c.committed.front()) {
      if (k.valid)
        std::memcpy(k.dst, k.src, 16);
      else
        std::memset(k.dst, 0, 16);
    }
    c.committed.erase(c.committed.begin());
  }
}

// The entry point the test resolves with dlsym (this header is included into the module's one
// translation unit only): runs kernel(args) over the grid, block after block, each block's
// threads as fibers scheduled round-robin until all have returned.
extern "C" __attribute__((visibility("default"))) void rptq_emu_launch(void (*kernel)(rptq_cuda_args), unsigned gx,
                                                                        unsigned gy, unsigned gz, unsigned threads,
                                                                        unsigned shared, const rptq_cuda_args* args) {
  using namespace rptq_emu;
  std::vector<float4> dynamic(shared / 16 + 1);  // 16-byte aligned, as the hardware's
  dynamic_shared = reinterpret_cast<unsigned char*>(dynamic.data());
  std::vector<Warp> warp_state((threads + 31) / 32);
  warps = &warp_state;
  std::vector<ThreadCopies> copy_state(threads);
  copies = &copy_state;
  std::vector<ThreadWgmmas> wgmma_state(threads);
  wgmmas = &wgmma_state;
  kernel_fn = kernel;
  kernel_args = args;
  gridDim = {gx, gy, gz};
  blockDim = {threads, 1, 1};
  std::vector<Fiber> fibers(threads);
  for (unsigned t = 0; t < threads; ++t) {
    fibers[t].thread = t;
    fibers[t].stack.resize(1 << 16);
  }
  for (unsigned z = 0; z < gz; ++z)
    for (unsigned y = 0; y < gy; ++y)
      for (unsigned x = 0; x < gx; ++x) {
        blockIdx = {x, y, z};
        block_barrier.reset(static_cast<int>(threads));
        for (ThreadCopies& c : copy_state) c = {};  // a block's copies never land in the next block
        for (Fiber& f : fibers) {
          f.done = false;
          getcontext(&f.context);
          f.context.uc_stack.ss_sp = f.stack.data();
          f.context.uc_stack.ss_size = f.stack.size();
          f.context.uc_link = &scheduler;
          makecontext(&f.context, fiber_main, 0);
        }
        for (bool left = true; left;) {
          left = false;
          for (Fiber& f : fibers) {
            if (f.done) continue;
            running = &f;
            threadIdx = {f.thread, 0, 0};
            swapcontext(&scheduler, &f.context);
            left = left || !f.done;
          }
        }
        for (const ThreadWgmmas& c : wgmma_state)  // (empty groups left committed are harmless)
          if (!c.open.empty() || std::any_of(c.committed.begin(), c.committed.end(),
                                             [](const std::vector<Wgmma>& g) { return !g.empty(); })) {
            std::fprintf(stderr, "a thread exited with wgmma operations in flight\n");
            std::abort();
          }
      }
}

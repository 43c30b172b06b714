// The kernel templates of a bundle's CUDA code. Never compiled into the compiler or the runtime:
// rptq-compile writes this header, the ABI header and a generated translation unit (cuda_source.cc)
// into a temporary directory and builds a fatbin from them with nvcc, per GPU architecture.
//
// Each template takes the model's facts as a class of constants (shapes, bits, epilogue) with
// device functions returning its per-channel tables (the scale and zero point of each channel's
// cluster). Launch geometry is engine/device_steps.cc's; the constants below must equal it.
//
// Numerics follow the CPU kernels (runtime/kernels/cpu) operation by operation: LayerNorm
// statistics in double, activation codes q = clamp(rint(x / s) + z, 0, qmax) with an IEEE
// division, weights ŵ = (code - zero) · scale, softmax with a float exp. Sums run in another order
// (warps, tree reductions, parts of the cache), so results agree to float rounding, not bit for bit.
//
// Linear steps: SIMT code (one warp per output feature, float activations staged in shared
// memory) for float inputs or weights; a step on activation codes with weight codes (2..8 bits)
// has integer kernels instead: linear_rows_codes (dp4a) for fewer than kManyRows rows, linear_mma
// for more (int8 mma.sync; int4 mma.sync for W4A4 on sm_80..89; wgmma on sm_90a with
// rptq-compile --cuda-wgmma); all sum codes exactly per segment of constant scales and fold the
// activation zero points into one constant per output (see linear_mma), so they agree with the
// CPU to float rounding of Σ (q + z_x) s_x |ŵ| (the float path: of Σ|x̂ ŵ|).
// Attention: over few rows (decode) split over parts of the cache and merged (attend,
// attend_combine); over many rows tiled (attend_prefill), on f16 tensor cores where the cache
// holds codes (attend_prefill_mma).
#pragma once

#include <stdint.h>

#include "kernels/cuda/abi.h"

#ifndef RPTQ_EMULATED_PTX
#include <cuda_fp16.h>
#endif

// The block's dynamic shared memory as `type name[]`. A macro so that tests can run these
// templates on the CPU (tests/cuda/host_emulation.h defines it first).
#ifndef RPTQ_DYNAMIC_SHARED
#define RPTQ_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

namespace rptq::cuda {

// `inline`: namespace-scope constants otherwise have internal linkage, and nvcc names internal
// symbols after a hash of the source's path (seen for anonymous namespaces), which would make the
// code's bytes depend on the temporary directory.
inline constexpr int kThreads = 256;
inline constexpr int kLinearWarps = 8;
inline constexpr int kLinearRows = 8;
inline constexpr int kLinearChunk = 1024;
inline constexpr int kDecodeChunk = 4096;
inline constexpr int kAttentionThreads = 128;
inline constexpr int kMmaThreads = 128;  // 4 warps, 2 x 2 over the block's tile
inline constexpr int kMmaRows = 64;      // activation rows per block
inline constexpr int kMmaCols = 128;     // outputs per block
inline constexpr int kMmaChunk = 64;     // input channels per pipeline stage
inline constexpr int64_t kPositionOffset = 2;  // OPT's learned positions start at row 2

__device__ __forceinline__ int quantize(float x, float scale, int zero, int qmax) {
  const float v = rintf(__fdiv_rn(x, scale)) + static_cast<float>(zero);
  return static_cast<int>(fminf(fmaxf(v, 0.0f), static_cast<float>(qmax)));
}

__device__ __forceinline__ float dequantize(int code, int zero, float scale) {
  return static_cast<float>(code - zero) * scale;
}

struct Sum {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct Max {
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// Over the warp: lane 0 holds the result.
template <class T, class Op = Sum>
__device__ __forceinline__ T warp_reduce(T v, Op op = {}) {
  for (int s = 16; s > 0; s >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, s));
  return v;
}

// Over the block, returned to every thread. `scratch`: 32 slots.
template <class T, class Op = Sum>
__device__ __forceinline__ T block_reduce(T v, T* scratch, Op op = {}) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  v = warp_reduce(v, op);
  __syncthreads();  // the previous reduction's readers are done with scratch
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  T r = scratch[0];
  for (int w = 1; w < warps; ++w) r = op(r, scratch[w]);
  return r;
}

// Element i of row `row` of a code matrix with `in` columns (U4: two per byte, even column low).
template <int kBits>
__device__ __forceinline__ int weight_code(const uint8_t* codes, int64_t in, int64_t row, int64_t i) {
  if constexpr (kBits <= 4) {
    const uint8_t byte = codes[row * ((in + 1) / 2) + i / 2];
    return (i & 1) ? byte >> 4 : byte & 0xF;
  } else {
    return codes[row * in + i];
  }
}

// Token rows (+ positions). E: kIn (embedding width, == kOut), kOut (hidden), kTable; without a
// table, rows of the LM head's codes: kBits, kGroup.
template <class E>
__device__ __forceinline__ void embed(const rptq_cuda_args& a) {
  const int64_t r = blockIdx.x, past = *a.past;
  const int64_t t = a.ids[r];
  const float* pos = a.positions + (past + r + kPositionOffset) * E::kOut;
  float* out = static_cast<float*>(a.out[0]) + r * E::kOut;
  for (int64_t i = threadIdx.x; i < E::kOut; i += blockDim.x) {
    float e;
    if constexpr (E::kTable) {
      e = a.table[t * E::kIn + i];
    } else {
      constexpr int64_t kGroups = E::kIn / E::kGroup;
      const int64_t g = t * kGroups + i / E::kGroup;
      e = dequantize(weight_code<E::kBits>(a.codes, E::kIn, t, i), a.w_zero[g], a.w_scale[g]);
    }
    out[i] = e + pos[i];
  }
}

// LayerNorm of one row per block, written to column write_index[c] as codes of that column's
// cluster or as float. N: kCols, kEps, kGamma, kBeta, kWriteIndex, kQuantize (+ kQMax,
// col_scale(c), col_zero(c)).
template <class N>
__device__ __forceinline__ void norm(const rptq_cuda_args& a) {
  __shared__ double scratch[32];
  const int64_t r = blockIdx.x;
  const float* x = static_cast<const float*>(a.in[0]) + r * N::kCols;
  double s = 0;
  for (int64_t i = threadIdx.x; i < N::kCols; i += blockDim.x) s += x[i];
  const double mean = block_reduce(s, scratch) / static_cast<double>(N::kCols);
  double v = 0;
  for (int64_t i = threadIdx.x; i < N::kCols; i += blockDim.x) v += (x[i] - mean) * (x[i] - mean);
  const double var = block_reduce(v, scratch) / static_cast<double>(N::kCols);
  const double inv = 1.0 / sqrt(var + static_cast<double>(N::kEps));
  for (int64_t i = threadIdx.x; i < N::kCols; i += blockDim.x) {
    const int64_t col = N::kWriteIndex ? a.write_index[i] : i;
    double y = (x[i] - mean) * inv;
    if constexpr (N::kGamma) y *= a.gamma[col];
    if constexpr (N::kBeta) y += a.beta[col];
    const float f = static_cast<float>(y);
    if constexpr (N::kQuantize)
      static_cast<uint8_t*>(a.out[0])[r * N::kCols + col] =
          static_cast<uint8_t>(quantize(f, N::col_scale(col), N::col_zero(col), N::kQMax));
    else
      static_cast<float*>(a.out[0])[r * N::kCols + col] = f;
  }
}

// x̂ of input channel k of row r: a code of that channel's cluster, or a float.
template <class L>
__device__ __forceinline__ float input_value(const rptq_cuda_args& a, int64_t r, int64_t k) {
  if constexpr (L::kInCodes)
    return dequantize(static_cast<const uint8_t*>(a.in[0])[r * L::kIn + k], L::in_zero(k), L::in_scale(k));
  else
    return static_cast<const float*>(a.in[0])[r * L::kIn + k];
}

// Where channel k of a staged row lives: 4 floats of padding after every 32, so that the float4
// reads of 8 consecutive lanes (each 32 channels apart) hit 8 different groups of 4 banks.
template <int kChunk>
inline constexpr int kStaged = kChunk + kChunk / 8;
inline constexpr int kStagedRow = kStaged<kLinearChunk>;
__device__ __forceinline__ int staged(int k) { return k + (k >> 5) * 4; }

// acc[r] += x̂[r, k .. k+3] · w[0..3] for the R staged rows (kRow floats apart).
template <int R, int kRow>
__device__ __forceinline__ void dot4(const float* xs, int k, const float* w, float* acc) {
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const float4 x = *reinterpret_cast<const float4*>(xs + r * kRow + staged(k));
    acc[r] += x.x * w[0];
    acc[r] += x.y * w[1];
    acc[r] += x.z * w[2];
    acc[r] += x.w * w[3];
  }
}

// acc[r] += Σ_{k in [k0, k0 + kc)} x̂[r, k] ŵ[o, k] for this lane's part of output o's row: one
// 16-byte load at a time (32 U4 codes, 16 U8 codes or 4 floats), never across a scale group
// (engine/device_steps.cc refuses widths and groups that are not whole loads). Unrolled so that
// a lane has several loads in flight: decode streams the weights, and only bytes in flight hide
// the memory latency.
template <class L, int R, int kRow>
__device__ __forceinline__ void linear_chunk(const rptq_cuda_args& a, int64_t o, int64_t k0, int kc, const float* xs,
                                             float* acc, int lane) {
  constexpr int64_t kGroups = L::kIn / L::kGroup;
  if constexpr (L::kBits == 16) {
#pragma unroll 4
    for (int w = lane; w < kc / 4; w += 32) {
      const float4 wv = *reinterpret_cast<const float4*>(a.weight + o * L::kIn + k0 + w * 4);
      const float wf[4] = {wv.x, wv.y, wv.z, wv.w};
      dot4<R, kRow>(xs, w * 4, wf, acc);
    }
  } else {
    constexpr bool kU4 = L::kBits <= 4;
    constexpr int kPerLoad = kU4 ? 32 : 16, kPerWord = kU4 ? 8 : 4;
    constexpr int64_t kRowBytes = kU4 ? (L::kIn + 1) / 2 : L::kIn;
#pragma unroll 4
    for (int w = lane; w < kc / kPerLoad; w += 32) {
      const int64_t k = k0 + static_cast<int64_t>(w) * kPerLoad;
      const uint4 load = *reinterpret_cast<const uint4*>(a.codes + o * kRowBytes + (kU4 ? k / 2 : k));
      const uint32_t words[4] = {load.x, load.y, load.z, load.w};
      const int64_t g = o * kGroups + k / L::kGroup;
      const float scale = a.w_scale[g];
      const int zero = a.w_zero[g];
#pragma unroll
      for (int q = 0; q < 4; ++q)
#pragma unroll
        for (int j = 0; j < kPerWord; j += 4) {
          float wf[4];
#pragma unroll
          for (int e = 0; e < 4; ++e)
            wf[e] = dequantize(kU4 ? (words[q] >> (4 * (j + e))) & 0xF : (words[q] >> (8 * (j + e))) & 0xFF, zero,
                               scale);
          dot4<R, kRow>(xs, static_cast<int>(k - k0) + q * kPerWord + j, wf, acc);
        }
    }
  }
}

// Output o of row r of a linear step, given Σ x̂ ŵ: + bias, ReLU, then stored, added (the
// residual) or quantized.
template <class L>
__device__ __forceinline__ void linear_epilogue(const rptq_cuda_args& a, int64_t r, int64_t o, float v) {
  if constexpr (L::kBias) v += a.bias[o];
  if constexpr (L::kRelu) v = fmaxf(v, 0.0f);
  const int64_t at = r * L::kOut + o;
  if constexpr (L::kQuantize) {
    static_cast<uint8_t*>(a.out[0])[at] = static_cast<uint8_t>(quantize(v, L::out_scale(o), L::out_zero(o), L::kQMax));
  } else {
    float* out = static_cast<float*>(a.out[0]);
    out[at] = L::kAccumulate ? out[at] + v : v;
  }
}

// y = x̂ Ŵᵀ + b, ReLU, then stored, added (residual) or quantized per output channel. One warp
// per output feature; the block's rows are staged R at a time, kChunk input channels at a time,
// in shared memory (padded: staged()). R = 8 takes calls of any size (batches of up to 8 rows
// read the weights once); R = 1 is decode's (linear_decode), with longer chunks, so fewer
// barriers interrupt the weight stream.
// L: kIn, kOut, kBits (2..8 codes, 16 float), kGroup, kInCodes (+ in_scale(), in_zero()), kBias,
// kRelu, kAccumulate, kQuantize (+ kQMax, out_scale(), out_zero()).
template <class L, int R = kLinearRows, int kChunk = kLinearChunk>
__device__ __forceinline__ void linear(const rptq_cuda_args& a) {
  constexpr int kRow = kStaged<kChunk>;
  RPTQ_DYNAMIC_SHARED(float, xs);  // [R][kRow]
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * kLinearWarps + warp;
  const bool active = o < L::kOut;
  for (int64_t r0 = static_cast<int64_t>(blockIdx.y) * R; r0 < a.rows; r0 += static_cast<int64_t>(gridDim.y) * R) {
    const int nr = static_cast<int>(a.rows - r0 < R ? a.rows - r0 : R);
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; ++r) acc[r] = 0.0f;
    for (int64_t k0 = 0; k0 < L::kIn; k0 += kChunk) {
      const int kc = static_cast<int>(L::kIn - k0 < kChunk ? L::kIn - k0 : kChunk);
      __syncthreads();
      for (int idx = threadIdx.x; idx < R * kc; idx += blockDim.x) {
        const int r = idx / kc, k = idx - r * kc;
        xs[r * kRow + staged(k)] = r < nr ? input_value<L>(a, r0 + r, k0 + k) : 0.0f;
      }
      __syncthreads();
      if (active) linear_chunk<L, R, kRow>(a, o, k0, kc, xs, acc, lane);
    }
#pragma unroll
    for (int r = 0; r < R; ++r) acc[r] = warp_reduce(acc[r]);
    if (!active || lane != 0) continue;
    for (int r = 0; r < nr; ++r) linear_epilogue<L>(a, r0 + r, o, acc[r]);
  }
}

template <class L, int R>
__device__ __forceinline__ void linear_rows_codes(const rptq_cuda_args& a);

// One row (decode). On activation codes with weight codes: integer dot products
// (linear_rows_codes); else the kernel above for R = 1 over chunks of kDecodeChunk channels.
template <class L>
__device__ __forceinline__ void linear_decode(const rptq_cuda_args& a) {
  if constexpr (L::kMma)
    linear_rows_codes<L, 1>(a);
  else
    linear<L, 1, kDecodeChunk>(a);
}

// 2 .. kManyRows - 1 rows on activation codes (batched decode, short prefills): linear_rows_codes
// for blocks of kLinearRows rows.
template <class L>
__device__ __forceinline__ void linear_rows(const rptq_cuda_args& a) {
  linear_rows_codes<L, kLinearRows>(a);
}

// Appends the call's K and V rows to the cache (codes per channel, or floats). One row per block.
// A: kHidden, kKeyCodes (+ kKMax, k_scale(), k_zero()), kValueCodes (+ kVMax, v_scale(), v_zero()).
template <class A>
__device__ __forceinline__ void append_kv(const rptq_cuda_args& a) {
  const int64_t r = blockIdx.x, at = (*a.past + r) * A::kHidden;
  const float* k = static_cast<const float*>(a.in[1]) + r * A::kHidden;
  const float* v = static_cast<const float*>(a.in[2]) + r * A::kHidden;
  for (int64_t c = threadIdx.x; c < A::kHidden; c += blockDim.x) {
    if constexpr (A::kKeyCodes)
      static_cast<uint8_t*>(a.k_cache)[at + c] =
          static_cast<uint8_t>(quantize(k[c], A::k_scale(c), A::k_zero(c), A::kKMax));
    else
      static_cast<float*>(a.k_cache)[at + c] = k[c];
    if constexpr (A::kValueCodes)
      static_cast<uint8_t*>(a.v_cache)[at + c] =
          static_cast<uint8_t>(quantize(v[c], A::v_scale(c), A::v_zero(c), A::kVMax));
    else
      static_cast<float*>(a.v_cache)[at + c] = v[c];
  }
}

// Channel c of cache row `at` as float: K when kKey, else V.
template <class A, bool kKey>
__device__ __forceinline__ float cache_value(const void* cache, int64_t at, int64_t c) {
  constexpr bool kCodes = kKey ? A::kKeyCodes : A::kValueCodes;
  if constexpr (kCodes)
    return dequantize(static_cast<const uint8_t*>(cache)[at + c], kKey ? A::k_zero(c) : A::v_zero(c),
                      kKey ? A::k_scale(c) : A::v_scale(c));
  else
    return static_cast<const float*>(cache)[at + c];
}

// Channel c of attention output row r: a code of c's cluster, or the float.
template <class A>
__device__ __forceinline__ void attention_output(const rptq_cuda_args& a, int64_t r, int64_t c, float v) {
  const int64_t at = r * A::kHidden + c;
  if constexpr (A::kOutCodes)
    static_cast<uint8_t*>(a.out[0])[at] = static_cast<uint8_t>(quantize(v, A::o_scale(c), A::o_zero(c), A::kOMax));
  else
    static_cast<float*>(a.out[0])[at] = v;
}

// Attention over few rows (decode), split over the cache: block (query row blockIdx.x, head
// blockIdx.y, part blockIdx.z) takes cache rows [part kSplitKeys, + kSplitKeys) of those the row
// sees (a part past them returns at once) and writes the part's softmax sums to args.scratch: the
// max score m, Σ e^{s - m} and per channel Σ e^{s - m} v (with V codes, of the codes); then
// attend_combine merges the parts. One block per row and head would leave most SMs idle at
// decode, each with too few loads in flight to stream the cache.
// A: as append_kv, plus kHeads, kHeadDim, kContext, kScale, kQueryCodes (+ kQMax, q_scale(),
// q_zero(): Q is fake-quantized before the 1/√d scale, the compiler's simulation order),
// kOutCodes (+ kOMax, o_scale(), o_zero()).
inline constexpr int kSplitKeys = 128;

template <class A>
__device__ __forceinline__ float* split_sums(const rptq_cuda_args& a, int64_t r, int64_t part) {
  constexpr int64_t kParts = (A::kContext + kSplitKeys - 1) / kSplitKeys;
  return a.scratch + ((r * A::kHeads + blockIdx.y) * kParts + part) * (A::kHeadDim + 2);
}

template <class A>
__device__ __forceinline__ void attend(const rptq_cuda_args& a) {
  constexpr int kD = A::kHeadDim;
  // The V pass: each thread 4 channels (one word of codes or a float4) of every kKeyLanes-th key.
  constexpr int kGroups = kD / 4, kKeyLanes = kAttentionThreads / kGroups;
  static_assert(kD % 4 == 0 && kGroups <= kAttentionThreads, "4 channels per thread");
  __shared__ float q[kD];
  __shared__ float p[kSplitKeys];
  __shared__ float partial[kKeyLanes][kD];
  __shared__ float fscratch[32];
  const int64_t r = blockIdx.x, c0 = static_cast<int64_t>(blockIdx.y) * kD, j0 = static_cast<int64_t>(blockIdx.z) * kSplitKeys;
  const int64_t visible = *a.past + r + 1;
  if (j0 >= visible) return;  // the whole block
  const int nk = static_cast<int>(visible - j0 < kSplitKeys ? visible - j0 : kSplitKeys);
  const float* qrow = static_cast<const float*>(a.in[0]) + r * A::kHidden + c0;
  for (int64_t d = threadIdx.x; d < kD; d += blockDim.x) {
    float x = qrow[d];
    if constexpr (A::kQueryCodes) {
      const int64_t c = c0 + d;
      x = dequantize(quantize(x, A::q_scale(c), A::q_zero(c), A::kQMax), A::q_zero(c), A::q_scale(c));
    }
    // With K codes, q̂·k̂_j = Σ_d w_d c_jd − Σ_d w_d z_d, w_d = q̂_d s_d: q holds w, and the
    // second sum, the same for every key of the query, is left out (softmax ignores a constant
    // added to all scores), so a key costs a load and an FMA per channel.
    if constexpr (A::kKeyCodes) x *= A::k_scale(c0 + d);
    q[d] = x;
  }
  __syncthreads();
  // Eight keys per warp at a time, four lanes per key, each a quarter of the head's channels.
  constexpr int kQuarter = kD / 4;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  const int quarter = lane & 3;
  const float* wq = q + quarter * kQuarter;
  for (int jj0 = warp * 8; jj0 < nk; jj0 += warps * 8) {
    const int jj = jj0 + (lane >> 2);
    float s = 0.0f;
    if (jj < nk) {
      const int64_t at = (j0 + jj) * A::kHidden + c0 + quarter * kQuarter;
      if constexpr (A::kKeyCodes && kQuarter % 4 == 0) {
        const uint32_t* words = reinterpret_cast<const uint32_t*>(static_cast<const uint8_t*>(a.k_cache) + at);
#pragma unroll
        for (int i = 0; i < kQuarter / 4; ++i) {
          const uint32_t w = words[i];
#pragma unroll
          for (int e = 0; e < 4; ++e) s += wq[4 * i + e] * static_cast<float>((w >> (8 * e)) & 0xFF);
        }
      } else if constexpr (A::kKeyCodes) {
        for (int i = 0; i < kQuarter; ++i) s += wq[i] * static_cast<float>(static_cast<const uint8_t*>(a.k_cache)[at + i]);
      } else {
        for (int i = 0; i < kQuarter; ++i) s += wq[i] * static_cast<const float*>(a.k_cache)[at + i];
      }
    }
    s += __shfl_xor_sync(0xffffffffu, s, 1);
    s += __shfl_xor_sync(0xffffffffu, s, 2);
    if (quarter == 0 && jj < nk) p[jj] = s * A::kScale;
  }
  __syncthreads();
  float m = -INFINITY;
  for (int jj = threadIdx.x; jj < nk; jj += blockDim.x) m = fmaxf(m, p[jj]);
  m = block_reduce(m, fscratch, Max{});
  float l = 0.0f;
  for (int jj = threadIdx.x; jj < nk; jj += blockDim.x) {
    p[jj] = expf(p[jj] - m);
    l += p[jj];
  }
  l = block_reduce(l, fscratch);  // its barriers also publish p
  const int group = threadIdx.x % kGroups, key_lane = threadIdx.x / kGroups;
  if (key_lane < kKeyLanes) {
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    const int64_t c = c0 + 4 * group;
#pragma unroll 4
    for (int jj = key_lane; jj < nk; jj += kKeyLanes) {
      const int64_t at = (j0 + jj) * A::kHidden + c;
      const float pj = p[jj];
      if constexpr (A::kValueCodes) {
        const uint32_t w = *reinterpret_cast<const uint32_t*>(static_cast<const uint8_t*>(a.v_cache) + at);
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[e] += pj * static_cast<float>((w >> (8 * e)) & 0xFF);
      } else {
        const float4 v = *reinterpret_cast<const float4*>(static_cast<const float*>(a.v_cache) + at);
        acc[0] += pj * v.x, acc[1] += pj * v.y, acc[2] += pj * v.z, acc[3] += pj * v.w;
      }
    }
#pragma unroll
    for (int e = 0; e < 4; ++e) partial[key_lane][4 * group + e] = acc[e];
  }
  __syncthreads();
  float* sums = split_sums<A>(a, r, blockIdx.z);
  for (int d = threadIdx.x; d < kD; d += blockDim.x) {
    float v = 0.0f;
    for (int i = 0; i < kKeyLanes; ++i) v += partial[i][d];
    sums[d] = v;
  }
  if (threadIdx.x == 0) sums[kD] = m, sums[kD + 1] = l;
}

// Merges attend's parts of row blockIdx.x, head blockIdx.y: each part's sums scaled by
// e^{m_part - M} (M the largest m), the weighted mean of V (of its codes, then dequantized).
template <class A>
__device__ __forceinline__ void attend_combine(const rptq_cuda_args& a) {
  constexpr int kD = A::kHeadDim;
  const int64_t r = blockIdx.x, c0 = static_cast<int64_t>(blockIdx.y) * kD;
  const int64_t parts = (*a.past + r + 1 + kSplitKeys - 1) / kSplitKeys;  // those with sums
  float m = -INFINITY;
  for (int64_t s = 0; s < parts; ++s) m = fmaxf(m, split_sums<A>(a, r, s)[kD]);
  float l = 0.0f;
  for (int64_t s = 0; s < parts; ++s) {
    const float* sums = split_sums<A>(a, r, s);
    l += sums[kD + 1] * expf(sums[kD] - m);
  }
  const float inv = 1.0f / l;
  for (int d = threadIdx.x; d < kD; d += blockDim.x) {
    float o = 0.0f;
    for (int64_t s = 0; s < parts; ++s) {
      const float* sums = split_sums<A>(a, r, s);
      o += sums[d] * expf(sums[kD] - m);
    }
    o *= inv;
    const int64_t c = c0 + d;
    if constexpr (A::kValueCodes) o = A::v_scale(c) * (o - static_cast<float>(A::v_zero(c)));
    attention_output<A>(a, r, c, o);
  }
}

// Causal attention of a tile of kPrefillQueries query rows (blockIdx.x), head blockIdx.y, for
// calls over many rows: the cache rows are staged in shared memory a tile of kPrefillKeys at a time
// (K, then V in the same place) and read by every query of the tile, where attend() reads them
// once per query. Softmax is online (running max and sum, rescaled per key tile). Four threads
// per query: each computes the scores of every fourth key and owns every fourth output channel.
// A: as attend.
inline constexpr int kPrefillQueries = 32;
inline constexpr int kPrefillKeys = 32;

template <class A>
__device__ __forceinline__ void attend_prefill_simt(const rptq_cuda_args& a) {
  static_assert(kAttentionThreads == 4 * kPrefillQueries && A::kHeadDim % 4 == 0, "four threads per query");
  constexpr int kD = A::kHeadDim, kRow = kD + 1;  // +1: the rows of a warp's reads fall in different banks
  constexpr int kKeysPerThread = kPrefillKeys / 4;
  RPTQ_DYNAMIC_SHARED(float, smem);
  float* q = smem;                           // [kPrefillQueries][kRow]
  float* kv = q + kPrefillQueries * kRow;    // [kPrefillKeys][kRow]
  float* p = kv + kPrefillKeys * kRow;       // [kPrefillQueries][kPrefillKeys + 1]
  const int64_t q0 = static_cast<int64_t>(blockIdx.x) * kPrefillQueries, c0 = static_cast<int64_t>(blockIdx.y) * kD;
  const int64_t past = *a.past;
  const int tq = threadIdx.x >> 2, part = threadIdx.x & 3;
  const int64_t r = q0 + tq;
  const bool valid = r < a.rows;
  for (int idx = threadIdx.x; idx < kPrefillQueries * kD; idx += blockDim.x) {
    const int qq = idx / kD, d = idx - qq * kD;
    float x = 0.0f;
    if (q0 + qq < a.rows) {
      x = static_cast<const float*>(a.in[0])[(q0 + qq) * A::kHidden + c0 + d];
      if constexpr (A::kQueryCodes) {
        const int64_t c = c0 + d;
        x = dequantize(quantize(x, A::q_scale(c), A::q_zero(c), A::kQMax), A::q_zero(c), A::q_scale(c));
      }
    }
    q[qq * kRow + d] = x;
  }
  float acc[kD / 4];
#pragma unroll
  for (int i = 0; i < kD / 4; ++i) acc[i] = 0.0f;
  float m = -INFINITY;
  double l = 0;
  const int64_t rows_here = a.rows - q0 < kPrefillQueries ? a.rows - q0 : kPrefillQueries;
  const int64_t keys = past + q0 + rows_here;  // the last row of the tile sees keys [0, keys)
  for (int64_t j0 = 0; j0 < keys; j0 += kPrefillKeys) {
    const int nk = static_cast<int>(keys - j0 < kPrefillKeys ? keys - j0 : kPrefillKeys);
    __syncthreads();  // the previous tile's V readers are done (and Q is staged)
    for (int idx = threadIdx.x; idx < nk * kD; idx += blockDim.x) {
      const int jj = idx / kD, d = idx - jj * kD;
      kv[jj * kRow + d] = cache_value<A, true>(a.k_cache, (j0 + jj) * A::kHidden, c0 + d);
    }
    __syncthreads();
    float s[kKeysPerThread];
    float tile_max = -INFINITY;
#pragma unroll
    for (int i = 0; i < kKeysPerThread; ++i) {
      const int jj = part + 4 * i;
      s[i] = -INFINITY;
      if (valid && jj < nk && j0 + jj <= past + r) {
        float dot = 0.0f;
        for (int d = 0; d < kD; ++d) dot += q[tq * kRow + d] * kv[jj * kRow + d];
        s[i] = dot * A::kScale;
        tile_max = fmaxf(tile_max, s[i]);
      }
    }
    // The row's four threads are lanes 4k .. 4k + 3 of one warp.
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
    const float m_new = fmaxf(m, tile_max);
    const float alpha = m == -INFINITY ? 0.0f : expf(m - m_new);  // what the running sums were scaled by
    double e_sum = 0;
#pragma unroll
    for (int i = 0; i < kKeysPerThread; ++i) {
      const float e = s[i] == -INFINITY ? 0.0f : expf(s[i] - m_new);
      p[tq * (kPrefillKeys + 1) + part + 4 * i] = e;
      e_sum += e;
    }
    e_sum += __shfl_xor_sync(0xffffffffu, e_sum, 1);
    e_sum += __shfl_xor_sync(0xffffffffu, e_sum, 2);
    l = l * alpha + e_sum;
#pragma unroll
    for (int i = 0; i < kD / 4; ++i) acc[i] *= alpha;
    m = m_new;
    __syncthreads();  // the K tile's readers are done
    for (int idx = threadIdx.x; idx < nk * kD; idx += blockDim.x) {
      const int jj = idx / kD, d = idx - jj * kD;
      kv[jj * kRow + d] = cache_value<A, false>(a.v_cache, (j0 + jj) * A::kHidden, c0 + d);
    }
    __syncthreads();
    for (int jj = 0; jj < nk; ++jj) {
      const float pj = p[tq * (kPrefillKeys + 1) + jj];
#pragma unroll
      for (int i = 0; i < kD / 4; ++i) acc[i] += pj * kv[jj * kRow + part + 4 * i];
    }
  }
  if (!valid) return;
  const float inv = static_cast<float>(1.0 / l);
#pragma unroll
  for (int i = 0; i < kD / 4; ++i) {
    attention_output<A>(a, r, c0 + part + 4 * i, acc[i] * inv);
  }
}

template <class A>
__device__ __forceinline__ void attend_prefill_mma(const rptq_cuda_args& a);

// Attention over many rows: on tensor cores where the step has them (A::kMmaAttention: K and V
// codes, heads of a multiple of 16 channels up to 128), else the tiles above.
template <class A>
__device__ __forceinline__ void attend_prefill(const rptq_cuda_args& a) {
  if constexpr (A::kMmaAttention)
    attend_prefill_mma<A>(a);
  else
    attend_prefill_simt<A>(a);
}

// ---------------------------------------------------------------------------------------------
// Tensor-core prefill attention (K and V codes, head widths a multiple of 16 up to 128): f16
// mma.sync m16n8k16 with f32 sums, flash-attention style. A block takes kMmaQueries query rows of
// one head, 16 per warp, and walks the cache kMmaKeys rows at a time: K rows and V (transposed)
// staged as codes in shared memory, S = Q K^T and O += P V on tensor cores, softmax online.
//   Codes are exact in f16 (integers below 2048): a code byte becomes the f16 1024 + c by a byte
//   permute and 1024 is subtracted exactly. The float operands (w_d = scale q̂_d s_k(d), and P) are
//   split into two f16 terms hi + lo, two mma each, so products carry ~22 bits as the CPU's
//   float sums do (one f16 term would carry 11). Each row's w is scaled by a power of two into
//   f16's range first (undone on the scores, exactly).
//   As in attend(), q̂·k̂ = Σ w_d c_d - Σ w_d z_d: the second sum is one constant per query, which
//   softmax ignores. And Σ_j p_j v̂_jd = s_v(d) (Σ_j p_j c_jd - z_v(d) Σ_j p_j).
// The k order of each 16-channel step of S = Q K^T is permuted (channels 4t .. 4t + 3 to lane
// t, for Q and K alike) so that a K fragment is one 4-byte load; for O += P V the P fragments are
// the S accumulators in place (the fragment layouts agree) and V is staged with each 16 keys
// reordered so that a V fragment is one 4-byte load too.
inline constexpr int kMmaQueries = 64;  // query rows per block: 16 per warp
inline constexpr int kMmaKeys = 64;     // cache rows per pass

// The mma.sync fragments (PTX ISA, "Matrix Fragments for mma.m16n8k16", .f16): with g = lane / 4,
// t = lane % 4, A (16 x 16, row) a[0] = row g, k 2t, 2t + 1; a[1] = row g + 8; a[2], a[3] = rows
// g, g + 8, k 2t + 8, 2t + 9; B (16 x 8, col) b[0] = k 2t, 2t + 1, column g; b[1] = k 2t + 8, 2t + 9;
// D d[0], d[1] = row g, columns 2t, 2t + 1; d[2], d[3] = row g + 8. Each register two f16, the
// lower k (or column) in the low half.
__device__ __forceinline__ void mma_f16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#ifdef RPTQ_EMULATED_PTX
  rptq_emu_mma_m16n8k16_f16(d, a, b);
#else
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

// x and y as an f16 pair (x in the low half), rounded to nearest even.
__device__ __forceinline__ uint32_t half2_bits(float x, float y) {
#ifdef RPTQ_EMULATED_PTX
  return rptq_emu_half_bits(x) | rptq_emu_half_bits(y) << 16;
#else
  const __half2 h = __floats2half2_rn(x, y);
  return *reinterpret_cast<const uint32_t*>(&h);
#endif
}

// The value of the low (high = false) or high f16 of a pair.
__device__ __forceinline__ float half_value(uint32_t pair, bool high) {
#ifdef RPTQ_EMULATED_PTX
  return rptq_emu_half_value(high ? pair >> 16 : pair & 0xFFFF);
#else
  return __half2float(__ushort_as_half(static_cast<unsigned short>(high ? pair >> 16 : pair & 0xFFFF)));
#endif
}

// (x, y) ≈ hi + lo, each an f16 pair: the rounding error of hi, rounded again.
__device__ __forceinline__ void split_half2(float x, float y, uint32_t& hi, uint32_t& lo) {
  hi = half2_bits(x, y);
  lo = half2_bits(x - half_value(hi, false), y - half_value(hi, true));
}

// Code bytes 0, 1 (b[0]) and 2, 3 (b[1]) of w as f16 pairs, exactly: the bytes under the exponent
// of 1024 make 1024 + c, then 1024 is subtracted.
__device__ __forceinline__ void codes_to_half2(uint32_t w, uint32_t (&b)[2]) {
  const uint32_t with_1024[2] = {__byte_perm(w, 0x64646464u, 0x4140), __byte_perm(w, 0x64646464u, 0x4342)};
#pragma unroll
  for (int i = 0; i < 2; ++i) {
#ifdef RPTQ_EMULATED_PTX
    b[i] = half2_bits(half_value(with_1024[i], false) - 1024.0f, half_value(with_1024[i], true) - 1024.0f);
#else
    const __half2 h = __hsub2(*reinterpret_cast<const __half2*>(&with_1024[i]), __float2half2_rn(1024.0f));
    b[i] = *reinterpret_cast<const uint32_t*>(&h);
#endif
  }
}

// Bytes per staged K row (a key's kD codes) and per transposed V row (a channel's kMmaKeys codes):
// 16 modulo 32, so that the 8 rows of a warp's 4-byte fragment loads (row stride 4 (2m + 1) words)
// start in 8 different groups of 4 banks.
template <int kD>
inline constexpr int kAttentionKRow = kD + (kD % 32 == 0 ? 16 : 32);
inline constexpr int kAttentionVRow = kMmaKeys + 16;

// Where key j of a staged tile sits in a transposed V row: within each 16 keys, lane t's four
// bytes at 4t are keys 2t, 2t + 1, 2t + 8, 2t + 9 (its b[0] and b[1] of one k16 step).
__device__ __forceinline__ int v_slot(int j) { return (j & ~15) + ((j & 7) >> 1) * 4 + ((j >> 3) & 1) * 2 + (j & 1); }

template <class A>
__device__ __forceinline__ void attend_prefill_mma(const rptq_cuda_args& a) {
  constexpr int kD = A::kHeadDim;
  static_assert(A::kKeyCodes && A::kValueCodes && kD % 16 == 0 && kD <= 128, "K and V codes, k16 steps");
  static_assert(kAttentionThreads == 128 && kMmaQueries == 64 && kMmaKeys == 64, "four warps of 16 queries");
  constexpr int kKRow = kAttentionKRow<kD>, kVRow = kAttentionVRow;
  __shared__ uint4 k_staged[kMmaKeys * kKRow / 16];  // [key][channel]
  __shared__ uint4 v_staged[kD * kVRow / 16];        // [channel][v_slot(key)]
  uint8_t* kt = reinterpret_cast<uint8_t*>(k_staged);
  uint8_t* vt = reinterpret_cast<uint8_t*>(v_staged);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int64_t q0 = static_cast<int64_t>(blockIdx.x) * kMmaQueries, c0 = static_cast<int64_t>(blockIdx.y) * kD;
  const int64_t past = *a.past;
  const int64_t row[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};  // this lane's rows

  // Q as w_d = scale q̂_d s_k(d), this lane's channels 16 kk + 4t .. + 3 of its two rows, scaled
  // per row by 2^e with max |w| 2^e in [2^13, 2^14), split into f16 hi + lo fragments.
  uint32_t q_hi[kD / 16][4], q_lo[kD / 16][4];
  float unscale[2];
  {
    float w[2][kD / 16][4];
    float amax[2] = {0.0f, 0.0f};
#pragma unroll
    for (int h = 0; h < 2; ++h)
#pragma unroll
      for (int kk = 0; kk < kD / 16; ++kk)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int64_t c = c0 + 16 * kk + 4 * t + e;
          float x = 0.0f;
          if (row[h] < a.rows) {
            x = static_cast<const float*>(a.in[0])[row[h] * A::kHidden + c];
            if constexpr (A::kQueryCodes)
              x = dequantize(quantize(x, A::q_scale(c), A::q_zero(c), A::kQMax), A::q_zero(c), A::q_scale(c));
          }
          w[h][kk][e] = x * A::kScale * A::k_scale(c);
          amax[h] = fmaxf(amax[h], fabsf(w[h][kk][e]));
        }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      amax[h] = fmaxf(amax[h], __shfl_xor_sync(0xffffffffu, amax[h], 1));
      amax[h] = fmaxf(amax[h], __shfl_xor_sync(0xffffffffu, amax[h], 2));
      int exponent = 0;
      frexpf(amax[h], &exponent);
      // (at most 2^126: a row of denormal-sized w must not scale to infinity)
      const float scale = amax[h] > 0.0f ? ldexpf(1.0f, 14 - exponent < 126 ? 14 - exponent : 126) : 1.0f;
      unscale[h] = 1.0f / scale;  // a power of two: exact
#pragma unroll
      for (int kk = 0; kk < kD / 16; ++kk)
#pragma unroll
        for (int e = 0; e < 4; ++e) w[h][kk][e] *= scale;
    }
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
      split_half2(w[0][kk][0], w[0][kk][1], q_hi[kk][0], q_lo[kk][0]);
      split_half2(w[1][kk][0], w[1][kk][1], q_hi[kk][1], q_lo[kk][1]);
      split_half2(w[0][kk][2], w[0][kk][3], q_hi[kk][2], q_lo[kk][2]);
      split_half2(w[1][kk][2], w[1][kk][3], q_hi[kk][3], q_lo[kk][3]);
    }
  }

  float o[kD / 8][4];
#pragma unroll
  for (int dn = 0; dn < kD / 8; ++dn)
#pragma unroll
    for (int e = 0; e < 4; ++e) o[dn][e] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  const int64_t rows_here = a.rows - q0 < kMmaQueries ? a.rows - q0 : kMmaQueries;
  const int64_t keys = past + q0 + rows_here;  // the block's last row sees keys [0, keys)
  for (int64_t j0 = 0; j0 < keys; j0 += kMmaKeys) {
    const int nk = static_cast<int>(keys - j0 < kMmaKeys ? keys - j0 : kMmaKeys);
    __syncthreads();  // the previous tile's readers are done
    for (int idx = threadIdx.x; idx < kMmaKeys * (kD / 16); idx += kAttentionThreads) {
      const int j = idx / (kD / 16), u = idx % (kD / 16);
      uint4 kw = make_uint4(0, 0, 0, 0), vw = make_uint4(0, 0, 0, 0);
      if (j < nk) {
        const int64_t at = (j0 + j) * A::kHidden + c0 + 16 * u;
        kw = *reinterpret_cast<const uint4*>(static_cast<const uint8_t*>(a.k_cache) + at);
        vw = *reinterpret_cast<const uint4*>(static_cast<const uint8_t*>(a.v_cache) + at);
      }
      *reinterpret_cast<uint4*>(kt + j * kKRow + 16 * u) = kw;
      const uint32_t words[4] = {vw.x, vw.y, vw.z, vw.w};
#pragma unroll
      for (int e = 0; e < 16; ++e)
        vt[(16 * u + e) * kVRow + v_slot(j)] = static_cast<uint8_t>(words[e / 4] >> (8 * (e % 4)));
    }
    __syncthreads();

    float s[kMmaKeys / 8][4];
#pragma unroll
    for (int n = 0; n < kMmaKeys / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[n][e] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk)
#pragma unroll
      for (int n = 0; n < kMmaKeys / 8; ++n) {
        uint32_t b[2];
        codes_to_half2(*reinterpret_cast<const uint32_t*>(kt + (8 * n + g) * kKRow + 16 * kk + 4 * t), b);
        mma_f16(s[n], q_hi[kk], b);
        mma_f16(s[n], q_lo[kk], b);
      }
    // Scores (masked: past the tile, or after the query's position), then the online softmax.
    float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < kMmaKeys / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int h = e >> 1;
        const int jj = 8 * n + 2 * t + (e & 1);
        const bool visible = jj < nk && j0 + jj <= past + row[h];
        s[n][e] = visible ? s[n][e] * unscale[h] : -INFINITY;
        tile_max[h] = fmaxf(tile_max[h], s[n][e]);
      }
    float alpha[2], tile_sum[2] = {0.0f, 0.0f};
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      tile_max[h] = fmaxf(tile_max[h], __shfl_xor_sync(0xffffffffu, tile_max[h], 1));
      tile_max[h] = fmaxf(tile_max[h], __shfl_xor_sync(0xffffffffu, tile_max[h], 2));
      const float m_new = fmaxf(m[h], tile_max[h]);
      alpha[h] = m[h] == -INFINITY ? 0.0f : expf(m[h] - m_new);  // what the running sums were scaled by
      m[h] = m_new;
    }
#pragma unroll
    for (int n = 0; n < kMmaKeys / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int h = e >> 1;
        s[n][e] = s[n][e] == -INFINITY ? 0.0f : expf(s[n][e] - m[h]);
        tile_sum[h] += s[n][e];
      }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      tile_sum[h] += __shfl_xor_sync(0xffffffffu, tile_sum[h], 1);
      tile_sum[h] += __shfl_xor_sync(0xffffffffu, tile_sum[h], 2);
      l[h] = l[h] * alpha[h] + tile_sum[h];
    }
#pragma unroll
    for (int dn = 0; dn < kD / 8; ++dn)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[dn][e] *= alpha[e >> 1];
    // O += P V, 16 keys at a time: P's fragments are the score accumulators of key tiles 2i, 2i + 1.
#pragma unroll
    for (int i = 0; i < kMmaKeys / 16; ++i) {
      uint32_t p_hi[4], p_lo[4];
      split_half2(s[2 * i][0], s[2 * i][1], p_hi[0], p_lo[0]);
      split_half2(s[2 * i][2], s[2 * i][3], p_hi[1], p_lo[1]);
      split_half2(s[2 * i + 1][0], s[2 * i + 1][1], p_hi[2], p_lo[2]);
      split_half2(s[2 * i + 1][2], s[2 * i + 1][3], p_hi[3], p_lo[3]);
#pragma unroll
      for (int dn = 0; dn < kD / 8; ++dn) {
        uint32_t b[2];
        codes_to_half2(*reinterpret_cast<const uint32_t*>(vt + (8 * dn + g) * kVRow + 16 * i + 4 * t), b);
        mma_f16(o[dn], p_hi, b);
        mma_f16(o[dn], p_lo, b);
      }
    }
  }
#pragma unroll
  for (int dn = 0; dn < kD / 8; ++dn)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int h = e >> 1;
      const int64_t c = c0 + 8 * dn + 2 * t + (e & 1);
      if (row[h] < a.rows) attention_output<A>(a, row[h], c, A::v_scale(c) * (o[dn][e] / l[h] - A::v_zero(c)));
    }
}

// ---------------------------------------------------------------------------------------------
// Tensor-core linear. With activation codes q (cluster scale s_x, zero z_x per channel) and
// weight codes c (group scale s_w, zero z_w per output and group), over a segment S of input
// channels where s_x, z_x and s_w, z_w are constant (a cluster cut at group boundaries):
//   Σ_S x̂ ŵ = s_x s_w Σ_S (q - z_x)(c - z_w) = s_x s_w (D_S - z_w Q_S - z_x Σ_S (c - z_w)),
//   D_S = Σ_S q c,  Q_S = Σ_S q,
// D_S exact in int32 from mma.sync m16n8k32 on the raw u8 codes of both, Q_S per row from dp4a on
// the same A fragments. The last term depends on the output only,
// so it is summed once per output over all segments (the fold, linear_fold) and subtracted in the
// epilogue. The int32 sums are scaled into float accumulators when a segment ends (or within a
// long one, after at most kExactRun channels, so that the conversion stays exact and cheap); a
// k32 step that spans a segment boundary runs one mma per part, the other part's A bytes masked
// to zero, so no constraint on cluster sizes is needed (the compiler may still align clusters to
// 32 to avoid the extra mma). Float rounding is that of the terms added: relative to
// Σ (q + z_x) s_x |ŵ|, not to Σ |x̂ ŵ| as on the CPU.
//
// Data movement: kMmaChunk channels of the block's rows and outputs are copied global -> shared
// with cp.async (no registers, no unpacking: weight codes stay packed in shared memory), several
// chunks in flight (kStages); each warp reads its fragments straight from the packed bytes.
// The k order inside a k32 step is permuted, identically for A and B (a dot product does not care):
// lane t's A bytes a[0], a[2] (mma k 4t.., 16 + 4t..) hold channels 8t .. 8t + 7, one 8-byte load,
// and its B registers b[0], b[1] the same channels of its output: one 4-byte load of 8 U4 codes,
// two byte permutes to unpack (or one 8-byte load of U8 codes). Shared memory rows are XOR-swizzled
// in 16-byte units so that these loads and the copies hit distinct banks without padding.
// L (beyond linear's): kMma (true), kSegments, segment_end(i) (exclusive, increasing, the last =
// kIn), segment_at(b) (the segment of channel 32 b, for linear_rows_codes).
//
// 4-bit activation codes times 4-bit weight codes (W4A4) on Ampere-class GPUs (sm_80 .. sm_89:
// Jetson Orin is sm_87) take mma.sync m16n8k64 on u4 operands instead: those tensor cores run int4
// at twice their int8 rate, and the packed weight codes are B fragments as they lie in shared
// memory (no unpacking). A k64 step covers a whole stage; lane t's B registers are words 2t, 2t + 1
// of its output's 32 packed bytes (channels 16t .. 16t + 15, one 8-byte load) and its A registers
// the same 16 channels of rows g and g + 8 (one 16-byte load of byte codes per row, packed to
// nibbles by two byte permutes and a multiply-add per 8 codes). Hopper has no int4 tensor-core
// rate (NVIDIA lists INT8 and FP8 only), so sm_90 keeps the u8 kernel for every code width.
// RPTQ_INT4_TENSOR_CORES overrides the choice (tests run the int4 path on the CPU and on an H100,
// where m16n8k64 .u4 is still valid PTX).
#ifndef RPTQ_INT4_TENSOR_CORES
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800 && __CUDA_ARCH__ < 900
#define RPTQ_INT4_TENSOR_CORES 1
#else
#define RPTQ_INT4_TENSOR_CORES 0
#endif
#endif

// Σ of the four u8 x u8 byte products of a and b, plus c.
__device__ __forceinline__ uint32_t dot4_u8(uint32_t a, uint32_t b, uint32_t c) {
#ifdef RPTQ_EMULATED_PTX
  for (int j = 0; j < 4; ++j) c += ((a >> (8 * j)) & 0xFF) * ((b >> (8 * j)) & 0xFF);
  return c;
#else
  return __dp4a(a, b, c);
#endif
}

// The mma.sync fragments (PTX ISA, "Matrix Fragments for mma.m16n8k32", .u8): with g = lane / 4,
// t = lane % 4, A (16 x 32, row) a[0] = row g, k 4t..4t+3; a[1] = row g + 8, same k; a[2], a[3] =
// rows g, g + 8, k 16 + 4t..; B (32 x 8, col) b[0] = column g, k 4t..4t+3; b[1] = k 16 + 4t..;
// D d[0], d[1] = row g, columns 2t, 2t + 1; d[2], d[3] = row g + 8. Bytes little-endian in
// increasing k.
__device__ __forceinline__ void mma_u8u8(int (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#ifdef RPTQ_EMULATED_PTX
  rptq_emu_mma_m16n8k32_u8u8(d, a, b);
#else
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.u8.u8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

// mma.sync m16n8k64, .u4 (PTX ISA, "Matrix Fragments for mma.m16n8k64"): as m16n8k32 .u8 with
// 8 nibbles per register where that has 4 bytes: a[0] = row g, k 8t .. 8t + 7; a[1] = row g + 8;
// a[2], a[3] = k 32 + 8t ..; b[0] = column g, k 8t ..; b[1] = k 32 + 8t ..; element i of a
// register in bits 4i .. 4i + 3. D as m16n8k32.
__device__ __forceinline__ void mma_u4u4(int (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#ifdef RPTQ_EMULATED_PTX
  rptq_emu_mma_m16n8k64_u4u4(d, a, b);
#else
  asm volatile(
      "mma.sync.aligned.m16n8k64.row.col.s32.u4.u4.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

// Eight byte codes below 16 (channels 0..3 in lo, 4..7 in hi) as one word of nibbles, channel j in
// nibble j: the U4 weights' packing, so that the two are one mma operand each.
__device__ __forceinline__ uint32_t pack_u4x8(uint32_t lo, uint32_t hi) {
  const uint32_t even = __byte_perm(lo, hi, 0x6420), odd = __byte_perm(lo, hi, 0x7531);
  return even + (odd << 4);  // no carries: each byte of even is < 16
}

// 16 bytes global -> shared, asynchronously (zeros where !valid: src is then not read); completes
// at cp_async_wait for the groups committed up to it.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
#ifdef RPTQ_EMULATED_PTX
  rptq_emu_cp_async16(dst, src, valid);
#else
  const uint32_t to = static_cast<uint32_t>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(to), "l"(src), "r"(valid ? 16 : 0));
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#ifdef RPTQ_EMULATED_PTX
  rptq_emu_cp_async_commit();
#else
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
// Waits until at most n of this thread's committed groups are still in flight.
template <int n>
__device__ __forceinline__ void cp_async_wait() {
#ifdef RPTQ_EMULATED_PTX
  rptq_emu_cp_async_wait(n);
#else
  asm volatile("cp.async.wait_group %0;\n" ::"n"(n));
#endif
}

// The 8 U4 codes of a word (channel j in nibble j: even channels in the low nibble of each byte)
// as two words of byte codes, channels 0..3 and 4..7.
__device__ __forceinline__ void unpack_u4x8(uint32_t w, uint32_t (&b)[2]) {
  const uint32_t lo = w & 0x0F0F0F0Fu, hi = (w >> 4) & 0x0F0F0F0Fu;
  b[0] = __byte_perm(lo, hi, 0x5140);
  b[1] = __byte_perm(lo, hi, 0x7362);
}

// The tensor-core kernels' order for U4 weights: the 8 codes of a word as byte codes, the even
// channels (0, 2, 4, 6) in b[0] and the odd ones in b[1], as the nibbles lie: two operations
// where channel order takes two byte permutes more. The activation codes are put in the same
// order (interleave_x8), once per fragment word pair rather than once per weight tile.
__device__ __forceinline__ void unpack_u4x8_interleaved(uint32_t w, uint32_t (&b)[2]) {
  b[0] = w & 0x0F0F0F0Fu;
  b[1] = (w >> 4) & 0x0F0F0F0Fu;
}

// Byte codes of channels 0..3 (x0) and 4..7 (x1) in unpack_u4x8_interleaved's order.
__device__ __forceinline__ void interleave_x8(uint32_t x0, uint32_t x1, uint32_t& even, uint32_t& odd) {
  even = __byte_perm(x0, x1, 0x6420);
  odd = __byte_perm(x0, x1, 0x7531);
}

// The 32 U4 codes of a 16-byte load as 8 words of four byte codes, in channel order.
__device__ __forceinline__ void unpack_u4(const uint4 load, uint32_t (&c)[8]) {
  const uint32_t words[4] = {load.x, load.y, load.z, load.w};
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    uint32_t b[2];
    unpack_u4x8(words[q], b);
    c[2 * q] = b[0];
    c[2 * q + 1] = b[1];
  }
}

// A part [lo, hi) of the K step of up to 64 channels from k (k <= lo < hi <= k + 64), as bits:
// bit i for channel k + i. Computed once per part; each mask word then costs a few operations
// (byte_mask), where comparing every byte's channel with lo and hi in 64-bit integers cost ~30
// per pair of words.
__device__ __forceinline__ uint64_t part_bits(int k, int lo, int hi) {
  const int a = lo - k, b = hi - k;
  return (b >= 64 ? ~uint64_t{0} : (uint64_t{1} << b) - 1) & ~((uint64_t{1} << a) - 1);
}

// The word of the 4 channels at k + p .. k + p + 3 masked to the part: byte j is 0xFF where bit
// p + j of `bits` (part_bits) is set. The multiply moves nibble bit j to bit 8j (the four shifted
// copies do not overlap), the second spreads each bit over its byte.
__device__ __forceinline__ uint32_t byte_mask(uint64_t bits, int p) {
  const uint32_t nibble = static_cast<uint32_t>(bits >> p) & 0xFu;
  return ((nibble * 0x00204081u) & 0x01010101u) * 0xFFu;
}

// A tensor-core kernel's products over the part [lo, hi) of the step from k: mul_masked(mask),
// where mask(p) is the thread's word of channels k + p .. k + p + 3 masked to the part. A whole
// step gets a mask that keeps everything, so its copy of mul_masked does no masking work (a
// select between the two masks instead computed them on every step).
template <class MulMasked>
__device__ __forceinline__ void mul_part(MulMasked&& mul_masked, int k, int lo, int hi, bool whole) {
  if (whole) {
    mul_masked([](int) { return ~0u; });
  } else {
    const uint64_t bits = part_bits(k, lo, hi);
    mul_masked([bits](int p) { return byte_mask(bits, p); });
  }
}

// Shared-memory rows of `kUnits` 16-byte units, unit u of row r stored at u ^ swizzle(r): the
// swizzle spreads the rows that a warp's fragment loads touch at once over all 32 banks.
//   A and U8 weights (64-byte rows, 8-byte loads at unit t / 2 (+ 2 for the second k32 step) by
//     rows g = 0..7): rows r and r + 2 would share banks; flipping unit bit 1 on rows with r & 2
//     separates them.
//   U4 weights (32-byte rows, 4-byte loads of word t (+ 4) by 8 columns): columns n and n + 4
//     would share banks; flipping unit bit 0 on columns with n & 4 separates them.
template <int kRowBytes>
__device__ __forceinline__ int swizzled(int r, int byte) {
  static_assert(kRowBytes == 64 || kRowBytes == 32, "the two row widths the kernel stages");
  const int flip = kRowBytes == 64 ? ((r >> 1) & 1) * 32 : ((r >> 2) & 1) * 16;
  return r * kRowBytes + (byte ^ flip);
}

// ---------------------------------------------------------------------------------------------
// wgmma (Hopper's warpgroup mma, sm_90a only): opt-in with RPTQ_WGMMA (rptq-compile
// --cuda-wgmma) until a GPU has run it; the bundle's h100 code is then built for sm_90a, its PTX
// for compute_90 (which keeps linear_mma_sync). The emulation runs it where RPTQ_WGMMA is set.
#ifndef RPTQ_WGMMA
#define RPTQ_WGMMA 0
#endif
#if RPTQ_WGMMA && (defined(RPTQ_EMULATED_PTX) || defined(__CUDA_ARCH_FEAT_SM90_ALL))
#define RPTQ_WGMMA_ENABLED 1
#else
#define RPTQ_WGMMA_ENABLED 0
#endif
// The emulation finds shared-memory operands by their 18-bit address within an aligned window.
#ifndef RPTQ_WGMMA_WINDOW_ALIGN
#define RPTQ_WGMMA_WINDOW_ALIGN 16
#endif

__device__ __forceinline__ uint32_t smem_address(const void* p) {
#ifdef RPTQ_EMULATED_PTX
  return rptq_emu_smem_address(p);
#else
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
#endif
}

// The matrix descriptor of a K-major operand without swizzling (PTX ISA, "Matrix Descriptor
// Format"; canonical layout ((8, n), 2) : ((16 bytes, sbo), lbo)): core matrices of 8 rows x 16
// bytes (128 contiguous bytes), `lbo` bytes from one to the next along K, `sbo` bytes from one
// 8-row group to the next. Bits 0-13 address >> 4, 16-29 lbo >> 4, 32-45 sbo >> 4, base offset and
// layout type (bits 49-51, 62-63) 0.
__device__ __forceinline__ uint64_t wgmma_descriptor(uint32_t address, uint32_t lbo, uint32_t sbo) {
  return static_cast<uint64_t>((address >> 4) & 0x3FFFu) | (static_cast<uint64_t>((lbo >> 4) & 0x3FFFu) << 16) |
         (static_cast<uint64_t>((sbo >> 4) & 0x3FFFu) << 32);
}

// d += a b (d = a b without `accumulate`) over a 64 x 128 x 32 tile of the warpgroup: a from
// registers (each warp its 16 rows, in mma.sync m16n8k32's A layout), b (K-major u8) through its
// descriptor; d in the m16n8 D layout of 16 n8 tiles (PTX ISA, "Register Fragments" of wgmma
// .m64nNk32: row 16 warp + g (+ 8), columns 8j + 2t (+ 1)). Asynchronous: d may be read, and b's
// shared memory written, only after wgmma_wait. `window` (only the emulation uses it): the start
// of b's shared array.
__device__ __forceinline__ void wgmma_u8(int (&d)[1][16][4], const uint32_t (&a)[4], uint64_t b, bool accumulate,
                                         const void* window) {
#ifdef RPTQ_EMULATED_PTX
  rptq_emu_wgmma_m64n128k32_u8u8(d, a, b, accumulate, window);
#else
  (void)window;
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k32.s32.u8.u8 {"
      "%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,"
      "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,"
      "%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,"
      "%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63"
      "}, {%64,%65,%66,%67}, %68, p;\n}\n"
      : "+r"(d[0][0][0]), "+r"(d[0][0][1]), "+r"(d[0][0][2]), "+r"(d[0][0][3]), "+r"(d[0][1][0]), "+r"(d[0][1][1]),
        "+r"(d[0][1][2]), "+r"(d[0][1][3]), "+r"(d[0][2][0]), "+r"(d[0][2][1]), "+r"(d[0][2][2]), "+r"(d[0][2][3]),
        "+r"(d[0][3][0]), "+r"(d[0][3][1]), "+r"(d[0][3][2]), "+r"(d[0][3][3]), "+r"(d[0][4][0]), "+r"(d[0][4][1]),
        "+r"(d[0][4][2]), "+r"(d[0][4][3]), "+r"(d[0][5][0]), "+r"(d[0][5][1]), "+r"(d[0][5][2]), "+r"(d[0][5][3]),
        "+r"(d[0][6][0]), "+r"(d[0][6][1]), "+r"(d[0][6][2]), "+r"(d[0][6][3]), "+r"(d[0][7][0]), "+r"(d[0][7][1]),
        "+r"(d[0][7][2]), "+r"(d[0][7][3]), "+r"(d[0][8][0]), "+r"(d[0][8][1]), "+r"(d[0][8][2]), "+r"(d[0][8][3]),
        "+r"(d[0][9][0]), "+r"(d[0][9][1]), "+r"(d[0][9][2]), "+r"(d[0][9][3]), "+r"(d[0][10][0]), "+r"(d[0][10][1]),
        "+r"(d[0][10][2]), "+r"(d[0][10][3]), "+r"(d[0][11][0]), "+r"(d[0][11][1]), "+r"(d[0][11][2]),
        "+r"(d[0][11][3]), "+r"(d[0][12][0]), "+r"(d[0][12][1]), "+r"(d[0][12][2]), "+r"(d[0][12][3]),
        "+r"(d[0][13][0]), "+r"(d[0][13][1]), "+r"(d[0][13][2]), "+r"(d[0][13][3]), "+r"(d[0][14][0]),
        "+r"(d[0][14][1]), "+r"(d[0][14][2]), "+r"(d[0][14][3]), "+r"(d[0][15][0]), "+r"(d[0][15][1]),
        "+r"(d[0][15][2]), "+r"(d[0][15][3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(accumulate ? 1 : 0));
#endif
}

// Orders this thread's earlier register and shared-memory accesses before the next wgmma's.
// (The emulation needs nothing: it takes a wgmma's register operands when it is issued.)
__device__ __forceinline__ void wgmma_fence() {
#ifndef RPTQ_EMULATED_PTX
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
// Closes the group of this thread's wgmmas issued since the last commit. The fence first: a commit
// after other instructions have written registers needs one, which ptxas would otherwise insert
// itself (info C7519); written here, ptxas has nothing to add, and cuda_codegen_test requires that.
__device__ __forceinline__ void wgmma_commit() {
#ifdef RPTQ_EMULATED_PTX
  rptq_emu_wgmma_commit();
#else
  asm volatile("wgmma.fence.sync.aligned;\nwgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
// Waits until at most n committed groups are in flight; then d's registers hold their sums (the
// empty asm statements keep the compiler from reading them earlier).
template <int n>
__device__ __forceinline__ void wgmma_wait(int (&d)[1][16][4]) {
#ifdef RPTQ_EMULATED_PTX
  rptq_emu_wgmma_wait(n);
  (void)d;
#else
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(n) : "memory");
#pragma unroll
  for (int j = 0; j < 16; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+r"(d[0][j][e])::"memory");
#endif
}
// Makes this thread's shared-memory writes (stores, cp.async) visible to wgmma's reads (the async
// proxy); a barrier must still order them across threads.
__device__ __forceinline__ void fence_proxy_async() {
#ifndef RPTQ_EMULATED_PTX
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

// The tensor-core kernels' sums: a warp's MI x NI tiles of m16n8 (rows g, g + 8 of each m16 tile,
// columns 2t, 2t + 1 of each n8 tile: the mma.sync D layout, which wgmma's accumulators follow
// too), as the current run's int32 sums D, this lane's part of each row's Σ q over the run, and
// the float sums of the finished runs.
template <int MI, int NI>
struct TileSums {
  int d[MI][NI][4];
  uint32_t q[MI][2];
  float f[MI][NI][4];
  // With one weight group per row (kGroups == 1: s_w and z_w per output only), f sums D s_x and
  // rq each row's Q s_x, and the output's s_w and z_w are applied once, at the end:
  //   Σ_S s_x s_w (D_S - z_w Q_S) = s_w (Σ_S s_x D_S - z_w Σ_S s_x Q_S),
  // which leaves a flush 3 operations per sum (int -> float, a multiply-add, the reset) and no
  // loads. With groups, f sums s_x s_w (D - z_w Q) per run.
  float rq[MI][2];
  __device__ __forceinline__ void clear() {
#pragma unroll
    for (int mi = 0; mi < MI; ++mi) {
      q[mi][0] = q[mi][1] = 0;
      rq[mi][0] = rq[mi][1] = 0.0f;
#pragma unroll
      for (int ni = 0; ni < NI; ++ni)
#pragma unroll
        for (int e = 0; e < 4; ++e) d[mi][ni][e] = 0, f[mi][ni][e] = 0.0f;
    }
  }
};

// Ends a run at seg_begin's segment: Q over each row's four lanes, then the int sums into the
// float ones. int -> float as two full-rate operations (I2F issues at a quarter rate): for
// |d| < 2^22 the float with bits 0x4B400000 + d is exactly 1.5 * 2^23 + d. kReset: the int sums
// set to 0 (wgmma instead overwrites them: its first operation after a flush does not accumulate).
// `o_first`: the warp's first output column.
template <class L, bool kReset, int MI, int NI>
__device__ __forceinline__ void flush_run(const rptq_cuda_args& a, TileSums<MI, NI>& s, int64_t o_first, int t,
                                          int64_t seg_begin) {
  constexpr int64_t kGroups = L::kIn / L::kGroup;
  int q[MI][2];
#pragma unroll
  for (int mi = 0; mi < MI; ++mi)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      uint32_t v = s.q[mi][h];
      v += __shfl_xor_sync(0xffffffffu, v, 1);
      v += __shfl_xor_sync(0xffffffffu, v, 2);
      q[mi][h] = static_cast<int>(v);
      s.q[mi][h] = 0;
    }
  const float sx = L::in_scale(seg_begin);
  if constexpr (kGroups == 1) {
#pragma unroll
    for (int mi = 0; mi < MI; ++mi)
#pragma unroll
      for (int h = 0; h < 2; ++h) s.rq[mi][h] += static_cast<float>(q[mi][h]) * sx;  // q < 2^22: exact
#pragma unroll
    for (int ni = 0; ni < NI; ++ni)
#pragma unroll
      for (int mi = 0; mi < MI; ++mi)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          s.f[mi][ni][e] += (__int_as_float(0x4B400000 + s.d[mi][ni][e]) - 12582912.0f) * sx;
          if constexpr (kReset) s.d[mi][ni][e] = 0;
        }
    return;
  }
  const int64_t group = seg_begin / L::kGroup;
#pragma unroll
  for (int ni = 0; ni < NI; ++ni) {
    float f[2];
    int z[2];
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const int64_t o = o_first + ni * 8 + 2 * t + j;
      f[j] = o < L::kOut ? sx * a.w_scale[o * kGroups + group] : 0.0f;
      z[j] = o < L::kOut ? a.w_zero[o * kGroups + group] : 0;
    }
#pragma unroll
    for (int mi = 0; mi < MI; ++mi)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int d = s.d[mi][ni][e] - z[e & 1] * q[mi][e >> 1];
        const float fd = __int_as_float(0x4B400000 + d) - 12582912.0f;
        s.f[mi][ni][e] += fd * f[e & 1];
        if constexpr (kReset) s.d[mi][ni][e] = 0;
      }
  }
}

// The epilogue of a warp's tiles: Σ x̂ ŵ plus the fold's correction, then linear_epilogue, rows
// from r_first.
template <class L, int MI, int NI>
__device__ __forceinline__ void store_tile(const rptq_cuda_args& a, const TileSums<MI, NI>& s, int64_t r_first,
                                           int64_t o_first, int g, int t) {
  constexpr int64_t kGroups = L::kIn / L::kGroup;
#pragma unroll
  for (int mi = 0; mi < MI; ++mi)
#pragma unroll
    for (int ni = 0; ni < NI; ++ni)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t r = r_first + mi * 16 + g + (e >= 2 ? 8 : 0);
        const int64_t o = o_first + ni * 8 + 2 * t + (e & 1);
        if (r >= a.rows || o >= L::kOut) continue;
        const float v = kGroups == 1 ? a.w_scale[o] * (s.f[mi][ni][e] - a.w_zero[o] * s.rq[mi][e >> 1])
                                     : s.f[mi][ni][e];
        linear_epilogue<L>(a, r, o, v - a.fold[o]);
      }
}

// A tensor-core kernel's walk along K through the segments of constant scales: step() cuts a K
// step [k, k_end) into its parts in successive segments, multiplies each (mul(lo, hi, whole):
// `whole` when the part is the whole kK-channel step) and ends the run (flush(seg_begin)) at a
// segment's end, or before the next step could take the run's int sums past exact conversion:
// |sum| <= kProductMax per channel must stay below 2^22, so a run ends within kExactRun channels.
// All warps take the same path.
// Positions are 32-bit (inputs are far below 2^31 channels): in 64 bits each comparison and sum
// of the walk is two instructions, on every step.
template <class L, int kK, int kProductMax>
struct SegmentWalk {
  static constexpr int kExactRun = ((1 << 22) - 1) / kProductMax / kK * kK;
  static_assert(kExactRun >= kK, "one mma step per run at least");
  static_assert(L::kIn < (int64_t{1} << 30), "32-bit channel positions");
  int seg = 0;
  int seg_begin = 0, seg_end, run_begin = 0;
  __device__ __forceinline__ SegmentWalk() : seg_end(static_cast<int>(L::segment_end(0))) {}

  template <class Mul, class Flush>
  __device__ __forceinline__ void step(int k, int k_end, Mul mul, Flush flush) {
    for (int lo = k;;) {
      const int hi = seg_end < k_end ? seg_end : k_end;
      mul(lo, hi, lo == k && hi == k + kK);
      const bool seg_done = hi == seg_end;
      if (seg_done || (hi == k_end && hi + kK - run_begin > kExactRun)) {
        flush(seg_begin);
        run_begin = hi;
      }
      if (seg_done) {
        ++seg;
        seg_begin = seg_end;
        if (seg < L::kSegments) seg_end = static_cast<int>(L::segment_end(seg));
      }
      if (hi == k_end) return;
      lo = hi;
    }
  }
};

// Chunk c of a tensor-core linear block's operands, global -> shared with cp.async, into stage
// c % kStages: kMmaRows activation rows of kMmaChunk byte codes (xs_all) and kMmaCols weight rows
// as stored (ws_all: U4 packed), both rows swizzled(); rows past the call, outputs past kOut and
// channels past kIn zero-filled, never read. Then a commit: an empty group past the last chunk
// keeps the wait counts uniform.
template <class L, int kStages>
__device__ __forceinline__ void stage_linear_chunk(const rptq_cuda_args& a, int c, uint8_t* xs_all, uint8_t* ws_all,
                                                   int64_t r0, int64_t o0) {
  constexpr bool kU4 = L::kBits <= 4;
  constexpr int kXRow = kMmaChunk, kWRow = kU4 ? kMmaChunk / 2 : kMmaChunk;
  constexpr int kXStage = kMmaRows * kXRow, kWStage = kMmaCols * kWRow;
  constexpr int kChunks = static_cast<int>((L::kIn + kMmaChunk - 1) / kMmaChunk);
  const uint8_t* x = static_cast<const uint8_t*>(a.in[0]);
  if (c < kChunks) {
    const int64_t k0 = static_cast<int64_t>(c) * kMmaChunk;
    uint8_t* xs = xs_all + (c % kStages) * kXStage;
    uint8_t* ws = ws_all + (c % kStages) * kWStage;
#pragma unroll
    for (int i = 0; i < kMmaRows * (kXRow / 16) / kMmaThreads; ++i) {
      const int idx = threadIdx.x + i * kMmaThreads, r = idx / (kXRow / 16), u = idx % (kXRow / 16);
      const int64_t k = k0 + u * 16;
      const bool valid = r0 + r < a.rows && k < L::kIn;
      cp_async16(xs + swizzled<kXRow>(r, u * 16), valid ? x + (r0 + r) * L::kIn + k : x, valid);
    }
#pragma unroll
    for (int i = 0; i < kMmaCols * (kWRow / 16) / kMmaThreads; ++i) {
      const int idx = threadIdx.x + i * kMmaThreads, n = idx / (kWRow / 16), u = idx % (kWRow / 16);
      const int64_t k = k0 + u * (kU4 ? 32 : 16);
      const bool valid = o0 + n < L::kOut && k < L::kIn;
      const uint8_t* src = kU4 ? a.codes + (o0 + n) * (L::kIn / 2) + k / 2 : a.codes + (o0 + n) * L::kIn + k;
      cp_async16(ws + swizzled<kWRow>(n, u * 16), valid ? src : a.codes, valid);
    }
  }
  cp_async_commit();
}

template <class L>
__device__ __forceinline__ void linear_mma_sync(const rptq_cuda_args& a) {
  static_assert(L::kInCodes && L::kBits <= 8, "the tensor-core kernel takes activation codes and weight codes");
  static_assert(kMmaChunk == 64 && kMmaThreads == 128 && kMmaRows == 64 && kMmaCols == 128, "the tiling below");
  constexpr bool kU4 = L::kBits <= 4;
  constexpr bool kU4Mma = RPTQ_INT4_TENSOR_CORES && kU4 && L::kInMax <= 15;  // see above
  constexpr int kK = kU4Mma ? 64 : 32;  // channels per mma
  constexpr int kXRow = kMmaChunk, kWRow = kU4 ? kMmaChunk / 2 : kMmaChunk;  // staged bytes per row
  constexpr int kXStage = kMmaRows * kXRow, kWStage = kMmaCols * kWRow;
  constexpr int kStages = kU4 ? 4 : 3;  // 32 or 36 KiB of shared memory
  __shared__ uint4 x_stages[kStages * kXStage / 16];  // uint4: 16-byte aligned for cp.async
  __shared__ uint4 w_stages[kStages * kWStage / 16];
  uint8_t* xs_all = reinterpret_cast<uint8_t*>(x_stages);
  uint8_t* ws_all = reinterpret_cast<uint8_t*>(w_stages);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int wm = (warp >> 1) * 32, wn = (warp & 1) * 64;  // this warp's 32 x 64 of the block's tile
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * kMmaRows, o0 = static_cast<int64_t>(blockIdx.x) * kMmaCols;
  constexpr int kChunks = static_cast<int>((L::kIn + kMmaChunk - 1) / kMmaChunk);

  auto stage_chunk = [&](int c) { stage_linear_chunk<L, kStages>(a, c, xs_all, ws_all, r0, o0); };

  TileSums<2, 8> sums;
  sums.clear();
  // The int sums of a run: Σ q c <= 255 (2^bits - 1) per channel (15 (2^bits - 1) for u4 codes).
  SegmentWalk<L, kK, (kU4Mma ? 15 : 255) * ((1 << L::kBits) - 1)> walk;

#pragma unroll
  for (int c = 0; c < kStages - 1; ++c) stage_chunk(c);
  for (int c = 0; c < kChunks; ++c) {
    cp_async_wait<kStages - 2>();  // chunk c has landed (this thread's copies) ...
    __syncthreads();               // ... everyone's; and chunk c - 1's readers are done with its stage
    stage_chunk(c + kStages - 1);
    const uint8_t* xs = xs_all + (c % kStages) * kXStage;
    const uint8_t* ws = ws_all + (c % kStages) * kWStage;
    const int64_t k0 = static_cast<int64_t>(c) * kMmaChunk;
    const int kc = static_cast<int>(L::kIn - k0 < kMmaChunk ? L::kIn - k0 : kMmaChunk);  // a multiple of 32
    for (int ks = 0; ks < kc; ks += kK) {
      // The u8 path's A registers (the u4 path loads its byte codes per part, below: 16 registers
      // held across the parts spill on sm_87).
      uint32_t af[2][4], bf[8][2];
#pragma unroll
      for (int mi = 0; mi < 2 && !kU4Mma; ++mi) {
        const int r = wm + mi * 16 + g;
        const uint2 lo = *reinterpret_cast<const uint2*>(xs + swizzled<kXRow>(r, ks + 8 * t));
        const uint2 hi = *reinterpret_cast<const uint2*>(xs + swizzled<kXRow>(r + 8, ks + 8 * t));
        af[mi][0] = lo.x, af[mi][2] = lo.y, af[mi][1] = hi.x, af[mi][3] = hi.y;
      }
#pragma unroll
      for (int ni = 0; ni < 8; ++ni) {
        const int n = wn + ni * 8 + g;
        if constexpr (kU4Mma) {
          const uint2 w = *reinterpret_cast<const uint2*>(ws + swizzled<kWRow>(n, 8 * t));
          bf[ni][0] = w.x, bf[ni][1] = w.y;
        } else if constexpr (kU4) {
          unpack_u4x8_interleaved(*reinterpret_cast<const uint32_t*>(ws + swizzled<kWRow>(n, ks / 2 + 4 * t)),
                                  bf[ni]);
        } else {
          const uint2 w = *reinterpret_cast<const uint2*>(ws + swizzled<kWRow>(n, ks + 8 * t));
          bf[ni][0] = w.x, bf[ni][1] = w.y;
        }
      }
      const int k = static_cast<int>(k0) + ks;
      const int k_end = k + kK < L::kIn ? k + kK : static_cast<int>(L::kIn);  // a k64 step may pass kIn by 32
      auto mul_masked = [&](auto mask) {  // see mul_part
#pragma unroll
        for (int mi = 0; mi < 2; ++mi) {
          if constexpr (kU4Mma) {
            // Rows g, g + 8 of the m16 tile: channels 16t .. 16t + 15 as byte codes, masked to
            // the part, then packed.
            const int r = wm + mi * 16 + g;
            const uint4 c0 = *reinterpret_cast<const uint4*>(xs + swizzled<kXRow>(r, 16 * t));
            const uint4 c1 = *reinterpret_cast<const uint4*>(xs + swizzled<kXRow>(r + 8, 16 * t));
            const uint32_t bytes[8] = {c0.x, c0.y, c0.z, c0.w, c1.x, c1.y, c1.z, c1.w};
            uint32_t m[8], am[4];
#pragma unroll
            for (int j = 0; j < 8; ++j) {
              m[j] = bytes[j] & mask(16 * t + 4 * (j & 3));
              sums.q[mi][j >> 2] = dot4_u8(m[j], 0x01010101u, sums.q[mi][j >> 2]);
            }
            am[0] = pack_u4x8(m[0], m[1]), am[2] = pack_u4x8(m[2], m[3]);  // row g
            am[1] = pack_u4x8(m[4], m[5]), am[3] = pack_u4x8(m[6], m[7]);  // row g + 8
#pragma unroll
            for (int ni = 0; ni < 8; ++ni) mma_u4u4(sums.d[mi][ni], am, bf[ni]);
          } else {
            const uint32_t m0 = mask(8 * t), m1 = mask(8 * t + 4);
            uint32_t am[4] = {af[mi][0] & m0, af[mi][1] & m0, af[mi][2] & m1, af[mi][3] & m1};
            sums.q[mi][0] = dot4_u8(am[0], 0x01010101u, dot4_u8(am[2], 0x01010101u, sums.q[mi][0]));
            sums.q[mi][1] = dot4_u8(am[1], 0x01010101u, dot4_u8(am[3], 0x01010101u, sums.q[mi][1]));
            if constexpr (kU4) {  // the weights' order (rows g and g + 8 each)
              interleave_x8(am[0], am[2], am[0], am[2]);
              interleave_x8(am[1], am[3], am[1], am[3]);
            }
#pragma unroll
            for (int ni = 0; ni < 8; ++ni) mma_u8u8(sums.d[mi][ni], am, bf[ni]);
          }
        }
      };
      auto mul = [&](int lo, int hi, bool whole) { mul_part(mul_masked, k, lo, hi, whole); };
      walk.step(k, k_end, mul, [&](int64_t seg_begin) { flush_run<L, true>(a, sums, o0 + wn, t, seg_begin); });
    }
  }

  store_tile<L>(a, sums, r0 + wm, o0 + wn, g, t);
}

// Where a wgmma's B tile keeps byte k of output column n (K-major, no swizzle: core matrices of 8
// columns x 16 bytes, kWgmmaLbo apart along K, kWgmmaSbo apart along N; one 64-channel stage).
inline constexpr int kWgmmaLbo = 128, kWgmmaSbo = (kMmaChunk / 16) * kWgmmaLbo;
__device__ __forceinline__ int wgmma_b_offset(int n, int k) {
  return (n >> 3) * kWgmmaSbo + (k >> 4) * kWgmmaLbo + (n & 7) * 16 + (k & 15);
}

// linear_mma_sync's arithmetic on wgmma (sm_90a): the block's 128 threads are one warpgroup
// multiplying the 64 x 128 tile in one m64n128k32 per k32 step, A (the activation codes, each warp
// its 16 rows) from registers, masked per segment as in linear_mma_sync, B from shared memory. The
// weight codes are copied global -> shared packed (cp.async, as linear_mma_sync), then expanded
// once per stage into the u8 B tile (U4: two byte permutes per 8 codes), with linear_mma_sync's k
// order inside each k32 step (byte 4t + j of the step's first 16 holds channel 8t + j, of its
// second 16 channel 8t + 4 + j), so that the A fragments are the same 8-byte loads. Each warp
// unpacks an n8 tile's weights once per block instead of once per warp and m16 tile, and no
// fragment loads of B run on the SMs' issue slots.
template <class L>
__device__ __forceinline__ void linear_wgmma(const rptq_cuda_args& a) {
  static_assert(L::kInCodes && L::kBits <= 8, "the tensor-core kernel takes activation codes and weight codes");
  static_assert(kMmaChunk == 64 && kMmaThreads == 128 && kMmaRows == 64 && kMmaCols == 128, "the tiling below");
  constexpr bool kU4 = L::kBits <= 4;
  constexpr int kXRow = kMmaChunk, kWRow = kU4 ? kMmaChunk / 2 : kMmaChunk;
  constexpr int kXStage = kMmaRows * kXRow, kWStage = kMmaCols * kWRow, kBTile = kMmaCols * kMmaChunk;
  // U4: 3 stages and two B tiles, so that a stage's expansion overlaps the previous stage's
  // wgmmas (40 KiB of shared memory); U8's stages are larger: 3 stages and one B tile (44 KiB).
  constexpr int kStages = 3, kBTiles = kU4 ? 2 : 1;
  __shared__ uint4 x_stages[kStages * kXStage / 16];
  __shared__ uint4 w_stages[kStages * kWStage / 16];
  alignas(RPTQ_WGMMA_WINDOW_ALIGN) __shared__ uint4 b_tiles[kBTiles * kBTile / 16];
  uint8_t* xs_all = reinterpret_cast<uint8_t*>(x_stages);
  uint8_t* ws_all = reinterpret_cast<uint8_t*>(w_stages);
  uint8_t* bt_all = reinterpret_cast<uint8_t*>(b_tiles);
  const uint32_t bt_address = smem_address(bt_all);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * kMmaRows, o0 = static_cast<int64_t>(blockIdx.x) * kMmaCols;
  constexpr int kChunks = static_cast<int>((L::kIn + kMmaChunk - 1) / kMmaChunk);

  auto stage_chunk = [&](int c) { stage_linear_chunk<L, kStages>(a, c, xs_all, ws_all, r0, o0); };
  // The staged weights of chunk c as the B tile: item (column n, k32 step s), columns fastest so
  // that 8 threads store one core matrix (128 contiguous bytes) at a time.
  auto expand_chunk = [&](int c) {
    const uint8_t* ws = ws_all + (c % kStages) * kWStage;
    uint8_t* bt = bt_all + (c % kBTiles) * kBTile;
#pragma unroll
    for (int i = 0; i < 2 * kMmaCols / kMmaThreads; ++i) {
      const int idx = threadIdx.x + i * kMmaThreads, n = idx % kMmaCols, step = idx / kMmaCols;
      uint32_t lo[4], hi[4];  // words t of the step's first and second 16 bytes
      if constexpr (kU4) {
        const uint4 w = *reinterpret_cast<const uint4*>(ws + swizzled<kWRow>(n, 16 * step));
        const uint32_t words[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          uint32_t b[2];
          unpack_u4x8_interleaved(words[q], b);
          lo[q] = b[0], hi[q] = b[1];
        }
      } else {
        const uint4 w0 = *reinterpret_cast<const uint4*>(ws + swizzled<kWRow>(n, 32 * step));
        const uint4 w1 = *reinterpret_cast<const uint4*>(ws + swizzled<kWRow>(n, 32 * step + 16));
        lo[0] = w0.x, hi[0] = w0.y, lo[1] = w0.z, hi[1] = w0.w, lo[2] = w1.x, hi[2] = w1.y, lo[3] = w1.z, hi[3] = w1.w;
      }
      *reinterpret_cast<uint4*>(bt + wgmma_b_offset(n, 32 * step)) = make_uint4(lo[0], lo[1], lo[2], lo[3]);
      *reinterpret_cast<uint4*>(bt + wgmma_b_offset(n, 32 * step + 16)) = make_uint4(hi[0], hi[1], hi[2], hi[3]);
    }
  };

  TileSums<1, 16> sums;
  sums.clear();
  bool fresh = true;  // the int sums were flushed: the next wgmma overwrites them
  SegmentWalk<L, 32, 255 * ((1 << L::kBits) - 1)> walk;  // as linear_mma_sync's u8 path

#pragma unroll
  for (int c = 0; c < kStages - 1; ++c) stage_chunk(c);
  // A stage's wgmmas are one commit group (a flush commits and waits for them all), so waiting
  // for all but kBTiles - 1 groups frees the B tile chunk c expands into. The group of chunk c - 1
  // is committed here rather than at the end of its iteration: with the commit last in the loop,
  // ptxas waits for every group at the back edge (info C7517, once the loop also reads the sums in
  // a flush), and a stage's expansion no longer overlaps the previous stage's wgmmas.
  for (int c = 0; c < kChunks; ++c) {
    if (c > 0) wgmma_commit();
    wgmma_wait<kBTiles - 1>(sums.d);  // this warp's reads of the tile chunk c reuses are done ...
    cp_async_wait<kStages - 2>();     // ... and chunk c has landed (this thread's copies) ...
    __syncthreads();                  // ... everyone's; chunk c - 1's stages are free
    stage_chunk(c + kStages - 1);
    expand_chunk(c);
    fence_proxy_async();
    __syncthreads();
    const uint8_t* xs = xs_all + (c % kStages) * kXStage;
    const int64_t k0 = static_cast<int64_t>(c) * kMmaChunk;
    const int kc = static_cast<int>(L::kIn - k0 < kMmaChunk ? L::kIn - k0 : kMmaChunk);  // a multiple of 32
    for (int ks = 0; ks < kc; ks += 32) {
      const int r = warp * 16 + g;
      const uint2 xlo = *reinterpret_cast<const uint2*>(xs + swizzled<kXRow>(r, ks + 8 * t));
      const uint2 xhi = *reinterpret_cast<const uint2*>(xs + swizzled<kXRow>(r + 8, ks + 8 * t));
      const uint32_t af[4] = {xlo.x, xhi.x, xlo.y, xhi.y};
      const uint64_t desc =
          wgmma_descriptor(bt_address + (c % kBTiles) * kBTile + ks / 16 * kWgmmaLbo, kWgmmaLbo, kWgmmaSbo);
      const int k = static_cast<int>(k0) + ks;
      auto mul_masked = [&](auto mask) {  // as linear_mma_sync's
        const uint32_t m0 = mask(8 * t), m1 = mask(8 * t + 4);
        uint32_t am[4] = {af[0] & m0, af[1] & m0, af[2] & m1, af[3] & m1};
        sums.q[0][0] = dot4_u8(am[0], 0x01010101u, dot4_u8(am[2], 0x01010101u, sums.q[0][0]));
        sums.q[0][1] = dot4_u8(am[1], 0x01010101u, dot4_u8(am[3], 0x01010101u, sums.q[0][1]));
        if constexpr (kU4) {  // the expanded tile's order
          interleave_x8(am[0], am[2], am[0], am[2]);
          interleave_x8(am[1], am[3], am[1], am[3]);
        }
        wgmma_fence();
        wgmma_u8(sums.d, am, desc, !fresh, bt_all);
        fresh = false;
      };
      auto mul = [&](int lo, int hi, bool whole) { mul_part(mul_masked, k, lo, hi, whole); };
      walk.step(k, k + 32, mul, [&](int64_t seg_begin) {
        wgmma_commit();
        wgmma_wait<0>(sums.d);
        flush_run<L, false>(a, sums, o0, t, seg_begin);
        fresh = true;
      });
    }
  }
  // The last segment's flush waited for every wgmma; this (empty) group and wait only say so to
  // ptxas, which would otherwise add a wait of its own here (C7517).
  wgmma_commit();
  wgmma_wait<0>(sums.d);
  store_tile<L>(a, sums, r0 + warp * 16, o0, g, t);
}

// The tensor-core linear of a step: wgmma where enabled (sm_90a, opt-in), else mma.sync.
template <class L>
__device__ __forceinline__ void linear_mma(const rptq_cuda_args& a) {
  if constexpr (RPTQ_WGMMA_ENABLED)
    linear_wgmma<L>(a);
  else
    linear_mma_sync<L>(a);
}

// Linear on the activation codes of a few rows (decode, batches up to kLinearRows), with the
// tensor-core kernel's arithmetic in integer dot products: R rows' codes are staged kDecodeChunk
// channels at a time (bytes, with the sum of each 32-channel block), one warp per output, each
// lane one 32-channel block (one 16-byte load of codes c, read once for all R rows) at a time:
//   Σ_block q (c - z_w) = Σ q c - z_w Σ q   (4 dp4a per 16 codes and row), scaled by s_x s_w into
//   a float sum per block (a block that spans a segment boundary, of a cluster or of a weight
//   group, one masked part per segment), minus the fold, as linear_mma.
template <class L, int R>
__device__ __forceinline__ void linear_rows_codes(const rptq_cuda_args& a) {
  constexpr int64_t kGroups = L::kIn / L::kGroup;
  constexpr int kPerLoad = L::kBits <= 4 ? 32 : 16;  // codes per 16-byte weight load
  constexpr int kChunkWords = kDecodeChunk / 4, kChunkBlocks = kDecodeChunk / 32;
  // (extern shared arrays of one name must have one type: each kernel template names its own)
  RPTQ_DYNAMIC_SHARED(uint32_t, row_codes);
  uint32_t* xq = row_codes;                     // [R][kChunkWords]: codes, 4 per word
  uint32_t* qsum = row_codes + R * kChunkWords;  // [R][kChunkBlocks]: Σ q per 32-channel block
  const uint8_t* x = static_cast<const uint8_t*>(a.in[0]);
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * R;
  const int nr = static_cast<int>(a.rows - r0 < R ? a.rows - r0 : R);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * kLinearWarps + warp;
  const bool active = o < L::kOut;  // whole warps; every warp still meets the barriers
  float acc[R];
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = 0.0f;
  for (int64_t k0 = 0; k0 < L::kIn; k0 += kDecodeChunk) {
    const int kc = static_cast<int>(L::kIn - k0 < kDecodeChunk ? L::kIn - k0 : kDecodeChunk);  // a multiple of 32
    __syncthreads();  // the previous chunk's readers are done
    for (int idx = threadIdx.x; idx < R * (kc / 16); idx += blockDim.x) {
      const int r = idx / (kc / 16), i = idx - r * (kc / 16);
      reinterpret_cast<uint4*>(xq + r * kChunkWords)[i] =
          r < nr ? reinterpret_cast<const uint4*>(x + (r0 + r) * L::kIn + k0)[i] : make_uint4(0, 0, 0, 0);
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < R * (kc / 32); idx += blockDim.x) {
      const int r = idx / (kc / 32), b = idx - r * (kc / 32);
      uint32_t sum = 0;
      for (int j = 0; j < 8; ++j) sum = dot4_u8(xq[r * kChunkWords + b * 8 + j], 0x01010101u, sum);
      qsum[r * kChunkBlocks + b] = sum;
    }
    __syncthreads();
    if (!active) continue;
#pragma unroll 2
    for (int b = lane; b < kc / 32; b += 32) {
      const int64_t k = k0 + static_cast<int64_t>(b) * 32;
      uint32_t c[8];  // codes of channels k .. k + 31, 4 per word in channel order
      if constexpr (L::kBits <= 4) {
        unpack_u4(*reinterpret_cast<const uint4*>(a.codes + o * (L::kIn / 2) + k / 2), c);
      } else {
#pragma unroll
        for (int h = 0; h < 32 / kPerLoad; ++h) {
          const uint4 w = *reinterpret_cast<const uint4*>(a.codes + o * L::kIn + k + h * 16);
          c[4 * h] = w.x, c[4 * h + 1] = w.y, c[4 * h + 2] = w.z, c[4 * h + 3] = w.w;
        }
      }
      // Segments end at group boundaries too (U8 groups may be 16 channels), so each part has one
      // weight scale and zero, those of its first channel's group.
      int seg = L::segment_at(k / 32);
      int64_t end = L::segment_end(seg);
      if (end >= k + 32) {  // one segment: the block's scales are one
        const int64_t g = o * kGroups + k / L::kGroup;
        const uint32_t z = a.w_zero[g];
        const float scale = L::in_scale(k) * a.w_scale[g];
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const uint4* q4 = reinterpret_cast<const uint4*>(xq + r * kChunkWords) + b * 2;
          const uint4 q0 = q4[0], q1 = q4[1];
          const uint32_t q[8] = {q0.x, q0.y, q0.z, q0.w, q1.x, q1.y, q1.z, q1.w};
          uint32_t qc = 0;
#pragma unroll
          for (int j = 0; j < 8; ++j) qc = dot4_u8(q[j], c[j], qc);
          acc[r] += static_cast<float>(static_cast<int>(qc) - static_cast<int>(z * qsum[r * kChunkBlocks + b])) * scale;
        }
      } else {
        for (int64_t lo = k; lo < k + 32; lo = end, end = ++seg < L::kSegments ? L::segment_end(seg) : L::kIn) {
          const int64_t hi = end < k + 32 ? end : k + 32;
          const int64_t g = o * kGroups + lo / L::kGroup;
          const uint32_t z = a.w_zero[g];
          const float scale = L::in_scale(lo) * a.w_scale[g];
          const uint64_t bits = part_bits(static_cast<int>(k), static_cast<int>(lo), static_cast<int>(hi));
          uint32_t m[8];
#pragma unroll
          for (int j = 0; j < 8; ++j) m[j] = byte_mask(bits, 4 * j);
          for (int r = 0; r < R; ++r) {
            const uint32_t* q = xq + r * kChunkWords + b * 8;
            uint32_t qc = 0, qs = 0;
#pragma unroll
            for (int j = 0; j < 8; ++j) {
              const uint32_t qm = q[j] & m[j];
              qc = dot4_u8(qm, c[j], qc);
              qs = dot4_u8(qm, 0x01010101u, qs);
            }
            acc[r] += static_cast<float>(static_cast<int>(qc) - static_cast<int>(z * qs)) * scale;
          }
        }
      }
    }
  }
  if (!active) return;
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = warp_reduce(acc[r]);
  if (lane == 0)
    for (int r = 0; r < nr; ++r) linear_epilogue<L>(a, r0 + r, o, acc[r] - a.fold[o]);
}

// fold[o] = Σ_k s_x(k) z_x(k) s_w(o, k) (c(o, k) - z_w(o, k)), in double: what linear_mma's
// integer sums over activation codes count beyond Σ x̂ ŵ. One warp per output; out[0] = fold.
template <class L>
__device__ __forceinline__ void linear_fold(const rptq_cuda_args& a) {
  constexpr int64_t kGroups = L::kIn / L::kGroup;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * kLinearWarps + warp;
  if (o >= L::kOut) return;  // the whole warp
  double s = 0;
  for (int64_t k = lane; k < L::kIn; k += 32) {
    const int64_t g = o * kGroups + k / L::kGroup;
    s += static_cast<double>(L::in_scale(k)) * L::in_zero(k) * a.w_scale[g] *
         (weight_code<L::kBits>(a.codes, L::kIn, o, k) - a.w_zero[g]);
  }
  s = warp_reduce(s);
  if (lane == 0) static_cast<float*>(a.out[0])[o] = static_cast<float>(s);
}

}  // namespace rptq::cuda

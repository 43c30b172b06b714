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
// division, weights ŵ = (code - zero) · scale, softmax with a float exp and a double sum. Sums run
// in another order (warps, tree reductions), so results agree to float rounding, not bit for bit.
//
// This first generation is SIMT code (one warp per output feature, activations staged in shared
// memory): correct for every step of the plan, not yet the tensor-core GEMM prefill needs.
#pragma once

#include <stdint.h>

#include "kernels/cuda/abi.h"

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
inline constexpr int kAttentionThreads = 128;
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
inline constexpr int kStagedRow = kLinearChunk + kLinearChunk / 8;
__device__ __forceinline__ int staged(int k) { return k + (k >> 5) * 4; }

// acc[r] += x̂[r, k .. k+3] · w[0..3], x̂ read from the staged rows.
__device__ __forceinline__ void dot4(const float* xs, int k, const float* w, float* acc) {
#pragma unroll
  for (int r = 0; r < kLinearRows; ++r) {
    const float4 x = *reinterpret_cast<const float4*>(xs + r * kStagedRow + staged(k));
    acc[r] += x.x * w[0];
    acc[r] += x.y * w[1];
    acc[r] += x.z * w[2];
    acc[r] += x.w * w[3];
  }
}

// acc[r] += Σ_{k in [k0, k0 + kc)} x̂[r, k] ŵ[o, k] for this lane's part of output o's row: one
// 16-byte load at a time (32 U4 codes, 16 U8 codes or 4 floats), never across a scale group
// (engine/device_steps.cc refuses widths and groups that are not whole loads).
template <class L>
__device__ __forceinline__ void linear_chunk(const rptq_cuda_args& a, int64_t o, int64_t k0, int kc, const float* xs,
                                             float* acc, int lane) {
  constexpr int64_t kGroups = L::kIn / L::kGroup;
  if constexpr (L::kBits == 16) {
    for (int w = lane; w < kc / 4; w += 32) {
      const float4 wv = *reinterpret_cast<const float4*>(a.weight + o * L::kIn + k0 + w * 4);
      const float wf[4] = {wv.x, wv.y, wv.z, wv.w};
      dot4(xs, w * 4, wf, acc);
    }
  } else {
    constexpr bool kU4 = L::kBits <= 4;
    constexpr int kPerLoad = kU4 ? 32 : 16, kPerWord = kU4 ? 8 : 4;
    constexpr int64_t kRowBytes = kU4 ? (L::kIn + 1) / 2 : L::kIn;
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
          dot4(xs, static_cast<int>(k - k0) + q * kPerWord + j, wf, acc);
        }
    }
  }
}

// y = x̂ Ŵᵀ + b, ReLU, then stored, added (residual) or quantized per output channel. One warp
// per output feature; the block's rows are staged kLinearRows at a time in shared memory (padded:
// staged()).
// L: kIn, kOut, kBits (2..8 codes, 16 float), kGroup, kInCodes (+ in_scale(), in_zero()), kBias,
// kRelu, kAccumulate, kQuantize (+ kQMax, out_scale(), out_zero()).
template <class L>
__device__ __forceinline__ void linear(const rptq_cuda_args& a) {
  RPTQ_DYNAMIC_SHARED(float, xs);  // [kLinearRows][kStagedRow]
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * kLinearWarps + warp;
  const bool active = o < L::kOut;
  for (int64_t r0 = static_cast<int64_t>(blockIdx.y) * kLinearRows; r0 < a.rows;
       r0 += static_cast<int64_t>(gridDim.y) * kLinearRows) {
    const int nr = static_cast<int>(a.rows - r0 < kLinearRows ? a.rows - r0 : kLinearRows);
    float acc[kLinearRows];
#pragma unroll
    for (int r = 0; r < kLinearRows; ++r) acc[r] = 0.0f;
    for (int64_t k0 = 0; k0 < L::kIn; k0 += kLinearChunk) {
      const int kc = static_cast<int>(L::kIn - k0 < kLinearChunk ? L::kIn - k0 : kLinearChunk);
      __syncthreads();
      for (int idx = threadIdx.x; idx < kLinearRows * kc; idx += blockDim.x) {
        const int r = idx / kc, k = idx - r * kc;
        xs[r * kStagedRow + staged(k)] = r < nr ? input_value<L>(a, r0 + r, k0 + k) : 0.0f;
      }
      __syncthreads();
      if (active) linear_chunk<L>(a, o, k0, kc, xs, acc, lane);
    }
#pragma unroll
    for (int r = 0; r < kLinearRows; ++r) acc[r] = warp_reduce(acc[r]);
    if (!active || lane != 0) continue;
    for (int r = 0; r < nr; ++r) {
      float v = acc[r];
      if constexpr (L::kBias) v += a.bias[o];
      if constexpr (L::kRelu) v = fmaxf(v, 0.0f);
      const int64_t at = (r0 + r) * L::kOut + o;
      if constexpr (L::kQuantize) {
        static_cast<uint8_t*>(a.out[0])[at] =
            static_cast<uint8_t>(quantize(v, L::out_scale(o), L::out_zero(o), L::kQMax));
      } else {
        float* out = static_cast<float*>(a.out[0]);
        out[at] = L::kAccumulate ? out[at] + v : v;
      }
    }
  }
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

// Causal attention of query row blockIdx.x, head blockIdx.y, over cache rows 0 .. past + row.
// A: as append_kv, plus kHeads, kHeadDim, kContext, kScale, kQueryCodes (+ kQMax, q_scale(),
// q_zero(): Q is fake-quantized before the 1/√d scale, the compiler's simulation order),
// kOutCodes (+ kOMax, o_scale(), o_zero()).
template <class A>
__device__ __forceinline__ void attend(const rptq_cuda_args& a) {
  RPTQ_DYNAMIC_SHARED(float, smem);
  float* q = smem;                   // [kHeadDim]
  float* p = smem + A::kHeadDim;     // [kContext]
  __shared__ double dscratch[32];
  __shared__ float fscratch[32];
  const int64_t r = blockIdx.x, c0 = static_cast<int64_t>(blockIdx.y) * A::kHeadDim;
  const int64_t visible = *a.past + r + 1;
  const float* qrow = static_cast<const float*>(a.in[0]) + r * A::kHidden + c0;
  for (int64_t d = threadIdx.x; d < A::kHeadDim; d += blockDim.x) {
    float x = qrow[d];
    if constexpr (A::kQueryCodes) {
      const int64_t c = c0 + d;
      x = dequantize(quantize(x, A::q_scale(c), A::q_zero(c), A::kQMax), A::q_zero(c), A::q_scale(c));
    }
    q[d] = x;
  }
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  for (int64_t j = warp; j < visible; j += warps) {
    float s = 0.0f;
    for (int64_t d = lane; d < A::kHeadDim; d += 32)
      s += q[d] * cache_value<A, true>(a.k_cache, j * A::kHidden, c0 + d);
    s = warp_reduce(s);
    if (lane == 0) p[j] = s * A::kScale;
  }
  __syncthreads();
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < visible; j += blockDim.x) m = fmaxf(m, p[j]);
  m = block_reduce(m, fscratch, Max{});
  double sum = 0;
  for (int64_t j = threadIdx.x; j < visible; j += blockDim.x) {
    p[j] = expf(p[j] - m);
    sum += p[j];
  }
  const float inv = static_cast<float>(1.0 / block_reduce(sum, dscratch));
  for (int64_t j = threadIdx.x; j < visible; j += blockDim.x) p[j] *= inv;
  __syncthreads();
  for (int64_t d = threadIdx.x; d < A::kHeadDim; d += blockDim.x) {
    const int64_t c = c0 + d;
    float acc = 0.0f;
    for (int64_t j = 0; j < visible; ++j)
      acc += p[j] * cache_value<A, false>(a.v_cache, j * A::kHidden, c);
    const int64_t at = r * A::kHidden + c;
    if constexpr (A::kOutCodes)
      static_cast<uint8_t*>(a.out[0])[at] =
          static_cast<uint8_t>(quantize(acc, A::o_scale(c), A::o_zero(c), A::kOMax));
    else
      static_cast<float*>(a.out[0])[at] = acc;
  }
}

}  // namespace rptq::cuda

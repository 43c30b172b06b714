// The step templates of a bundle's native CPU code. Never compiled into the compiler or the
// runtime: rptq-compile writes this header, the runtime headers it includes and a generated
// translation unit (native_source.cc) into a temporary directory and builds a shared object from
// them with the host compiler (or the aarch64 cross compiler), once per instruction set
// (RPTQ_NATIVE_ISA_AVX512VNNI, RPTQ_NATIVE_ISA_AVX2 or RPTQ_NATIVE_ISA_NEON_DOTPROD).
//
// Each template takes the model's facts as a class of constants (shapes, span table, cluster
// ends, scales, zero points, epilogue) and calls the same row and tile routines as the generic
// kernels (layer_norm_row.h, quantize.h, spans.h, attention_decode.h, isa_*_inline.h), so results are bit-identical to
// them. What specialization buys: no span tables built or activation buffers allocated per call,
// loops with constant trip counts, and fc1's output quantized in its epilogue instead of going
// through a float buffer.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/attention_decode.h"
#include "kernels/cpu/layer_norm_row.h"
#include "kernels/cpu/linear_internal.h"
#include "kernels/cpu/quantize.h"
#include "kernels/cpu/spans.h"
#include "kernels/native/abi.h"

#if defined(RPTQ_NATIVE_ISA_AVX512VNNI)
#include "kernels/cpu/isa_avx512vnni_inline.h"
#elif defined(RPTQ_NATIVE_ISA_AVX2)
#include "kernels/cpu/isa_avx2_inline.h"
#elif defined(RPTQ_NATIVE_ISA_NEON_DOTPROD)
#include "kernels/cpu/isa_neon_dotprod_inline.h"
#else
#error "define the instruction set the native code is built for"
#endif

#define RPTQ_NATIVE_EXPORT extern "C" __attribute__((visibility("default")))

namespace rptq::native {

using cpu::ActQuantParams;
using cpu::detail::IntTileArgs;
using cpu::detail::kMaxRowBlock;
using cpu::detail::kTileOutputs;
using cpu::detail::Span;

// Runs f(begin, end) over chunks of [0, n) on the runtime's threads.
template <class F>
void parallel_for(const rptq_native_args* a, int64_t n, bool on, const F& f) {
  a->parallel_for(
      n, [](void* ctx, int64_t begin, int64_t end) { (*static_cast<const F*>(ctx))(begin, end); },
      const_cast<F*>(&f), on ? 1 : 0);
}

// The span list of a step as compile-time constants (the interface of cpu::detail::SpanList).
template <class S>
struct FixedSpans {
  static constexpr int32_t size() { return S::kNumSpans; }
  constexpr const Span& operator[](int32_t s) const { return S::kSpans[s]; }
};

// LayerNorm of a row, quantized per cluster. Q: kCols, kEps, kQuant (ActQuantParams over
// constexpr arrays).
template <class Q>
int norm_quant(const rptq_native_args* a) {
  const auto* x = static_cast<const float*>(a->in[0]);
  auto* codes = static_cast<uint8_t*>(a->out[0]);
  parallel_for(a, a->rows, a->rows > 1, [&](int64_t r0, int64_t r1) {
    alignas(64) float y[Q::kCols];
    for (int64_t r = r0; r < r1; ++r) {
      cpu::detail::normalize_row(x + r * Q::kCols, Q::kCols, a->gamma, a->beta, a->write_index, Q::kEps, y);
      cpu::detail::quantize_row(y, Q::kCols, Q::kQuant, codes + r * Q::kCols);
    }
  });
  return 0;
}

// Activation codes × packed weight codes. L: kIn, kOut, kU4, kWide, kGroups, kTiles, kTileBytes,
// kNumSpans, kSpans, kSpanBegin, kSpanEnd, kRowStride, kSumStride (scratch layout of
// engine::native_scratch), kRelu, kAccumulate, kQuantizeOutput and, for the latter,
// kOutScale / kOutZero / kOutMax per output channel.
template <class L>
int linear_int(const rptq_native_args* a) {
  const auto* codes = static_cast<const uint8_t*>(a->in[0]);
  const int64_t rows = a->rows;
  uint8_t* span_rows = a->scratch;
  auto* asum = reinterpret_cast<int32_t*>(a->scratch + rows * L::kRowStride);
  constexpr int64_t kSumRow = L::kSumStride / 4;
  auto fill = [&](int64_t r) {
    cpu::detail::fill_span_row(L::kSpans, L::kSpanBegin, L::kSpanEnd, L::kNumSpans, codes + r * L::kIn,
                               span_rows + r * L::kRowStride, asum + r * kSumRow);
  };
  // A few rows (decode) are copied on the caller: one parallel loop less per call.
  parallel_for(a, rows, rows > kMaxRowBlock, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) fill(r);
  });
  parallel_for(a, L::kTiles, true, [&](int64_t t0, int64_t t1) {
    alignas(64) float y[kMaxRowBlock * kTileOutputs];
    IntTileArgs t{};
    t.u4 = L::kU4;
    t.wide_weights = L::kWide;
    for (int64_t tile = t0; tile < t1; ++tile) {
      t.tile = a->tiles + tile * L::kTileBytes;
      t.sw = a->w_scale + tile * L::kGroups * kTileOutputs;
      t.zw = a->w_zero + tile * L::kGroups * kTileOutputs;
      t.wsum = a->w_sums + tile * L::kNumSpans * kTileOutputs;
      const int64_t o0 = tile * kTileOutputs, outs = std::min<int64_t>(kTileOutputs, L::kOut - o0);
      const uint8_t* row_ptr[kMaxRowBlock];
      const int32_t* asum_ptr[kMaxRowBlock];
      for (int64_t r0 = 0; r0 < rows; r0 += kMaxRowBlock) {
        const int n = static_cast<int>(std::min<int64_t>(kMaxRowBlock, rows - r0));
        for (int r = 0; r < n; ++r) {
          row_ptr[r] = span_rows + (r0 + r) * L::kRowStride;
          asum_ptr[r] = asum + (r0 + r) * kSumRow;
        }
        t.act = row_ptr;
        t.asum = asum_ptr;
        t.rows = n;
        cpu::detail::int_tile_dot<L::kU4, L::kWide>(t, FixedSpans<L>{}, y);
        for (int r = 0; r < n; ++r)
          for (int64_t o = 0; o < outs; ++o) {
            // The generic epilogue, then (fc1) the quantization quantize_rows would do after it.
            const float v = cpu::detail::bias_relu(y[r * kTileOutputs + o], a->bias, o0 + o,
                                                   L::kRelu ? cpu::kRelu : 0u);
            const int64_t at = (r0 + r) * L::kOut + o0 + o;
            if constexpr (L::kQuantizeOutput) {
              AffineQuant q;
              q.scale = L::kOutScale[o0 + o];
              q.zero = L::kOutZero[o0 + o];
              q.qmax = L::kOutMax;
              static_cast<uint8_t*>(a->out[0])[at] = static_cast<uint8_t>(q.quantize(v));
            } else {
              float* out = static_cast<float*>(a->out[0]);
              out[at] = L::kAccumulate ? out[at] + v : v;
            }
          }
      }
    }
  });
  return 0;
}

// The in-place codes kernels of the instruction set, as attend_in_place() calls them.
struct InlineAttentionKernels {
  static void codes_dot(const float* a, const float* z, int64_t n, const uint8_t* codes, int64_t stride,
                        int64_t count, float* out) {
    cpu::detail::codes_dot(a, z, n, codes, stride, count, out);
  }
  static void codes_axpy(const float* p, int64_t count, const uint8_t* codes, int64_t stride, const float* z,
                         int64_t n, float* acc) {
    cpu::detail::codes_axpy(p, count, codes, stride, z, n, acc);
  }
};

// Decode attention over this layer's quantized cache. A: kHidden, kHeads, kHeadDim, kScale,
// kKeyQuant / kValueQuant (appending to the cache), per-channel kKs, kKz, kVs, kVz; kQuantizeQuery
// with per-channel kQs, kQz, kQMax; kQuantizeOutput with kOutQuant. More rows than the in-place
// path takes (prefill) are declined: the generic kernel dequantizes each head once instead.
template <class A>
int attention(const rptq_native_args* a) {
  const int64_t n = a->rows, past = a->past, total = past + n;
  if (n > cpu::detail::kInPlaceQueries) return 1;
  const auto* q = static_cast<const float*>(a->in[0]);
  const auto* k = static_cast<const float*>(a->in[1]);
  const auto* v = static_cast<const float*>(a->in[2]);
  for (int64_t r = 0; r < n; ++r) {
    cpu::detail::quantize_row(k + r * A::kHidden, A::kHidden, A::kKeyQuant, a->k_cache + (past + r) * A::kHidden);
    cpu::detail::quantize_row(v + r * A::kHidden, A::kHidden, A::kValueQuant, a->v_cache + (past + r) * A::kHidden);
  }
  // q̂: the Query point is quantized before the 1/√d scale (the compiler's simulation order).
  std::vector<float> q_hat(static_cast<size_t>(n * A::kHidden));  // heap: hidden may be 12288
  for (int64_t i = 0; i < n * A::kHidden; ++i) {
    if constexpr (A::kQuantizeQuery) {
      AffineQuant c;
      c.scale = A::kQs[i % A::kHidden];
      c.zero = A::kQz[i % A::kHidden];
      c.qmax = A::kQMax;
      q_hat[i] = c.dequantize(c.quantize(q[i]));
    } else {
      q_hat[i] = q[i];
    }
  }
  std::vector<float> out(A::kQuantizeOutput ? static_cast<size_t>(n * A::kHidden) : 0);
  float* dst = A::kQuantizeOutput ? out.data() : static_cast<float*>(a->out[0]);
  const auto pool = [a](int64_t count, const auto& body, bool on) { parallel_for(a, count, on, body); };
  cpu::detail::attend_in_place(InlineAttentionKernels{}, pool, q_hat.data(), n, past, A::kHeads, A::kHeadDim, A::kScale, A::kKs,
                               A::kKz, A::kVs, A::kVz, a->k_cache, a->v_cache,
                               2 * n * total * A::kHidden > cpu::detail::kAttendParallelBytes, dst);
  if constexpr (A::kQuantizeOutput)
    for (int64_t r = 0; r < n; ++r)
      cpu::detail::quantize_row(out.data() + r * A::kHidden, A::kHidden, A::kOutQuant,
                                static_cast<uint8_t*>(a->out[0]) + r * A::kHidden);
  return 0;
}

}  // namespace rptq::native

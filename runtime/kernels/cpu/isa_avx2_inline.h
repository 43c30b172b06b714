// The AVX2 micro-kernels that bundles' native code (codegen/cpu) shares with the generic kernels:
// the integer tile kernels, as templates over where the spans come from (isa_avx2.cc passes a
// bundle's span table read at run time, native code the model's spans as compile-time
// constants), and the float × codes kernels of attention over a quantized cache. Include only from
// translation units compiled with -mavx2 -mfma (see isa.h on why nothing else).
//
// Integer tile: as the AVX-512 kernel, with the 16 outputs in two ymm and vpdpbusd emulated by
// maddubs (u8 × s8 → pairs summed in int16, saturating) + madd with 1s (pairs → int32).
// Saturation: a maddubs lane is x0·w0 + x1·w1 with x in [0, 255]. weight_offset() keeps
// |w'| <= 64 for codes of up to 7 bits, so |lane| <= 2 · 255 · 64 = 32640 < 32767: exact.
// 8-bit codes (w' in [-128, 127]) are split as w' = 16h + l with l in [0, 15], h in [-8, 7]
// (|lane| <= 7650 and 4080) and recombined in int32 by the madd (h with 16s instead of 1s).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/isa.h"

namespace rptq::cpu::detail {
namespace {

constexpr int kTile = kTileOutputs;
constexpr int kRows = 4;  // rows per pass: 2 accumulators each plus 4 weight vectors fit 16 ymm

inline __m256i broadcast_quad(const uint8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, sizeof v);
  return _mm256_set1_epi32(v);
}

// w[0], w[1]: channels 8b..8b+3 for outputs 0-7 and 8-15; w[2], w[3]: channels 8b+4..8b+7.
template <bool kU4>
inline void load_block(const uint8_t* tile, int64_t b, __m256i* w) {
  if (kU4) {
    const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile + b * 64));
    const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile + b * 64 + 32));
    const __m256i low = _mm256_set1_epi8(0x0F);
    w[0] = _mm256_and_si256(x0, low);
    w[1] = _mm256_and_si256(x1, low);
    w[2] = _mm256_and_si256(_mm256_srli_epi16(x0, 4), low);
    w[3] = _mm256_and_si256(_mm256_srli_epi16(x1, 4), low);
  } else {
    for (int k = 0; k < 4; ++k) w[k] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile + b * 128 + 32 * k));
  }
}

// Per int32 lane: Σ of the 4 products of the lane's bytes of x (u8) and w (s8).
template <bool kWide>
inline __m256i quad_dot(__m256i x, __m256i w) {
  const __m256i ones = _mm256_set1_epi16(1);
  if (!kWide) return _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), ones);
  const __m256i low = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8);
  const __m256i l = _mm256_and_si256(w, low);
  const __m256i h = _mm256_sub_epi8(_mm256_xor_si256(_mm256_and_si256(_mm256_srli_epi16(w, 4), low), eight), eight);
  return _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(x, l), ones),
                          _mm256_madd_epi16(_mm256_maddubs_epi16(x, h), _mm256_set1_epi16(16)));
}

// acc[r][half] = Σ_{i in span} act[r][i] · w'[o, i] for outputs 8·half .. 8·half+7.
template <int R, bool kU4, bool kWide>
inline void span_dot(const uint8_t* tile, const Span& sp, const uint8_t* const* act, __m256i (*acc)[2]) {
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  for (int32_t j = 0; j < sp.blocks; ++j) {
    __m256i w[4];
    load_block<kU4>(tile, int64_t{sp.block_begin} + j, w);
    const int64_t off = (int64_t{sp.act_block} + j) * kBlockChannels;
    for (int r = 0; r < R; ++r) {
      const __m256i x0 = broadcast_quad(act[r] + off), x1 = broadcast_quad(act[r] + off + 4);
      acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_add_epi32(quad_dot<kWide>(x0, w[0]), quad_dot<kWide>(x1, w[2])));
      acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_add_epi32(quad_dot<kWide>(x0, w[1]), quad_dot<kWide>(x1, w[3])));
    }
  }
}

template <bool kU4>
inline void tile_sums_impl(const IntTileArgs& a, int32_t* sums) {
  for (int32_t s = 0; s < a.num_spans; ++s) {
    __m256i acc[1][2];
    span_dot<1, kU4, false>(a.tile, a.spans[s], a.act, acc);  // act is 0/1: never near saturation
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(sums + int64_t{s} * kTile), acc[0][0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(sums + int64_t{s} * kTile + 8), acc[0][1]);
  }
}

// Rows r0 .. r0+R-1 of the call; out accumulates over spans in memory (16 ymm are not enough to
// keep the float sums in registers too).
template <int R, bool kU4, bool kWide, class Spans>
inline void tile_dot_rows(const IntTileArgs& a, const Spans& spans, int r0, float* out) {
  const uint8_t* act[R];
  for (int r = 0; r < R; ++r) act[r] = a.act[r0 + r];
  for (int32_t s = 0; s < spans.size(); ++s) {
    const Span& sp = spans[s];
    __m256i acc[R][2];
    span_dot<R, kU4, kWide>(a.tile, sp, act, acc);
    const __m256 sa = _mm256_set1_ps(sp.sa);
    for (int half = 0; half < 2; ++half) {
      const int64_t g = int64_t{sp.group} * kTile + 8 * half;
      const __m256 scale = _mm256_mul_ps(sa, _mm256_loadu_ps(a.sw + g));
      const __m256i zw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.zw + g));
      const __m256i wsum = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.wsum + int64_t{s} * kTile + 8 * half));
      const __m256i za_wsum = _mm256_mullo_epi32(_mm256_set1_epi32(sp.za), wsum);
      for (int r = 0; r < R; ++r) {
        float* y = out + (r0 + r) * kTile + 8 * half;
        // Σ (q - za)(w' - zw') = Σ q·w' - za·Σ w' - zw'·Σ (q - za), exact in int32.
        const __m256i zw_asum = _mm256_mullo_epi32(zw, _mm256_set1_epi32(a.asum[r0 + r][s]));
        const __m256i exact = _mm256_sub_epi32(_mm256_sub_epi32(acc[r][half], za_wsum), zw_asum);
        _mm256_storeu_ps(y, _mm256_fmadd_ps(_mm256_cvtepi32_ps(exact), scale, _mm256_loadu_ps(y)));
      }
    }
  }
}

// out[r][o] for the a.rows rows of the call. `spans` stands in for a.spans / a.num_spans: a
// SpanList (run time) or a compile-time list.
template <bool kU4, bool kWide, class Spans>
inline void int_tile_dot(const IntTileArgs& a, const Spans& spans, float* out) {
  for (int i = 0; i < a.rows * kTile; ++i) out[i] = 0.0f;
  int r0 = 0;
  for (; r0 + kRows <= a.rows; r0 += kRows) tile_dot_rows<kRows, kU4, kWide>(a, spans, r0, out);
  switch (a.rows - r0) {
    case 3: tile_dot_rows<3, kU4, kWide>(a, spans, r0, out); break;
    case 2: tile_dot_rows<2, kU4, kWide>(a, spans, r0, out); break;
    case 1: tile_dot_rows<1, kU4, kWide>(a, spans, r0, out); break;
    default: break;
  }
}

// ---- Float activations × codes read in place (attention over a quantized cache) ----

inline float horizontal_sum(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

inline __m256 centred(const uint8_t* codes, const float* z) {
  const __m256i c = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes)));
  return _mm256_sub_ps(_mm256_cvtepi32_ps(c), _mm256_loadu_ps(z));
}

inline void codes_dot(const float* a, const float* z, int64_t n, const uint8_t* codes, int64_t stride, int64_t count,
               float* out) {
  for (int64_t j = 0; j < count; ++j) {
    const uint8_t* c = codes + j * stride;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t d = 0;
    for (; d + 16 <= n; d += 16) {
      acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + d), centred(c + d, z + d), acc0);
      acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + d + 8), centred(c + d + 8, z + d + 8), acc1);
    }
    for (; d + 8 <= n; d += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + d), centred(c + d, z + d), acc0);
    float tail = 0;
    for (; d < n; ++d) tail += a[d] * (static_cast<float>(c[d]) - z[d]);
    out[j] = horizontal_sum(_mm256_add_ps(acc0, acc1)) + tail;
  }
}

inline void codes_axpy(const float* p, int64_t count, const uint8_t* codes, int64_t stride, const float* z, int64_t n,
                float* acc) {
  int64_t d0 = 0;
  // 32 channels at a time: four independent accumulators over the rows.
  for (; d0 + 32 <= n; d0 += 32) {
    __m256 zv[4], av[4];
    for (int k = 0; k < 4; ++k) {
      zv[k] = _mm256_loadu_ps(z + d0 + 8 * k);
      av[k] = _mm256_loadu_ps(acc + d0 + 8 * k);
    }
    for (int64_t j = 0; j < count; ++j) {
      const uint8_t* c = codes + j * stride + d0;
      const __m256 pj = _mm256_set1_ps(p[j]);
      for (int k = 0; k < 4; ++k) {
        const __m256 v = _mm256_sub_ps(
            _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(c + 8 * k)))), zv[k]);
        av[k] = _mm256_fmadd_ps(pj, v, av[k]);
      }
    }
    for (int k = 0; k < 4; ++k) _mm256_storeu_ps(acc + d0 + 8 * k, av[k]);
  }
  for (; d0 + 8 <= n; d0 += 8) {
    const __m256 zv = _mm256_loadu_ps(z + d0);
    __m256 av = _mm256_loadu_ps(acc + d0);
    for (int64_t j = 0; j < count; ++j) {
      const __m256i c = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + j * stride + d0)));
      av = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_sub_ps(_mm256_cvtepi32_ps(c), zv), av);
    }
    _mm256_storeu_ps(acc + d0, av);
  }
  for (; d0 < n; ++d0)
    for (int64_t j = 0; j < count; ++j) acc[d0] += p[j] * (static_cast<float>(codes[j * stride + d0]) - z[d0]);
}

}  // namespace
}  // namespace rptq::cpu::detail

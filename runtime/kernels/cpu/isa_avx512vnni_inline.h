// The AVX-512 VNNI micro-kernels that bundles' native code (codegen/cpu) shares with the generic
// kernels: the integer tile kernels, as templates over where the spans come from
// (isa_avx512vnni.cc passes a bundle's span table read at run time, native code the model's spans
// as compile-time constants), and the float × codes kernels of attention over a quantized cache.
// Include only from translation units compiled with -mavx512f/bw/vl/dq/vnni (see isa.h on why
// nothing else).
//
// One zmm holds the int32 sums of the tile's 16 outputs. Per 8-channel block the weights are two
// zmm of 16 × 4 signed bytes (unpacked from nibbles for U4), and each activation row contributes
// two broadcast 4-byte quads: vpdpbusd multiplies them as u8 (activation codes, 0..255) × s8
// (w' = code - offset, see weight_codes.h) and adds the 4 products into each lane in int32,
// without saturation. No horizontal reductions: a lane is an output.
#pragma once

#include <immintrin.h>

#include <cstdint>

// GCC 12's AVX-512 intrinsics initialise their "undefined" pass-through operands from themselves,
// which -Wuninitialized reports wherever they are inlined (GCC bug 105593, fixed in 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "kernels/cpu/isa.h"

namespace rptq::cpu::detail {
namespace {


constexpr int kTile = kTileOutputs;

inline __m512i broadcast_quad(const uint8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, sizeof v);
  return _mm512_set1_epi32(v);
}

// The block's weights for channels 8b..8b+3 (w0) and 8b+4..8b+7 (w1), 16 outputs × 4 bytes each.
template <bool kU4>
inline void load_block(const uint8_t* tile, int64_t b, __m512i& w0, __m512i& w1) {
  if (kU4) {
    const __m512i x = _mm512_loadu_si512(tile + b * 64);
    const __m512i low = _mm512_set1_epi8(0x0F);
    w0 = _mm512_and_si512(x, low);
    w1 = _mm512_and_si512(_mm512_srli_epi16(x, 4), low);
  } else {
    w0 = _mm512_loadu_si512(tile + b * 128);
    w1 = _mm512_loadu_si512(tile + b * 128 + 64);
  }
}

// acc[r] = Σ_{i in span} act[r][i] · w'[o, i] per output lane o. With 1 or 2 rows each row gets
// two accumulator chains so as not to wait on vpdpbusd latency; with more, the rows are enough
// independent chains, and more accumulators would crowd out the float sums (32 zmm in all).
template <int R, bool kU4>
inline void span_dot(const uint8_t* tile, const Span& sp, const uint8_t* const* act, __m512i* acc) {
  constexpr int kChains = R <= 2 ? 2 : 1;
  __m512i part[kChains][R];
  for (int c = 0; c < kChains; ++c)
    for (int r = 0; r < R; ++r) part[c][r] = _mm512_setzero_si512();
  for (int32_t j = 0; j < sp.blocks; ++j) {
    __m512i w0, w1;
    load_block<kU4>(tile, int64_t{sp.block_begin} + j, w0, w1);
    const int64_t off = (int64_t{sp.act_block} + j) * kBlockChannels;
    for (int r = 0; r < R; ++r) {
      part[0][r] = _mm512_dpbusd_epi32(part[0][r], broadcast_quad(act[r] + off), w0);
      part[kChains - 1][r] = _mm512_dpbusd_epi32(part[kChains - 1][r], broadcast_quad(act[r] + off + 4), w1);
    }
  }
  for (int r = 0; r < R; ++r) acc[r] = kChains == 2 ? _mm512_add_epi32(part[0][r], part[1][r]) : part[0][r];
}

template <bool kU4>
inline void tile_sums_impl(const IntTileArgs& a, int32_t* sums) {
  for (int32_t s = 0; s < a.num_spans; ++s) {
    __m512i acc;
    span_dot<1, kU4>(a.tile, a.spans[s], a.act, &acc);
    _mm512_storeu_si512(sums + int64_t{s} * kTile, acc);
  }
}

// `spans` stands in for a.spans / a.num_spans: SpanList (run time) or a compile-time list.
template <int R, bool kU4, class Spans>
inline void tile_dot_impl(const IntTileArgs& a, const Spans& spans, float* out) {
  const uint8_t* act[R];
  const int32_t* asum[R];
  __m512 y[R];
  for (int r = 0; r < R; ++r) {
    act[r] = a.act[r];
    asum[r] = a.asum[r];
    y[r] = _mm512_setzero_ps();
  }
  for (int32_t s = 0; s < spans.size(); ++s) {
    const Span& sp = spans[s];
    __m512i acc[R];
    span_dot<R, kU4>(a.tile, sp, act, acc);
    const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(sp.sa), _mm512_loadu_ps(a.sw + int64_t{sp.group} * kTile));
    const __m512i zw = _mm512_loadu_si512(a.zw + int64_t{sp.group} * kTile);
    const __m512i za_wsum = _mm512_mullo_epi32(_mm512_set1_epi32(sp.za), _mm512_loadu_si512(a.wsum + int64_t{s} * kTile));
    for (int r = 0; r < R; ++r) {
      // Σ (q - za)(w' - zw') = Σ q·w' - za·Σ w' - zw'·Σ (q - za), exact in int32.
      const __m512i zw_asum = _mm512_mullo_epi32(zw, _mm512_set1_epi32(asum[r][s]));
      const __m512i exact = _mm512_sub_epi32(_mm512_sub_epi32(acc[r], za_wsum), zw_asum);
      y[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(exact), scale, y[r]);
    }
  }
  for (int r = 0; r < R; ++r) _mm512_storeu_ps(out + r * kTile, y[r]);
}

// out[r][o] for the a.rows rows of the call (the interface isa_avx2_inline.h has too; vpdpbusd needs
// no special case for 8-bit weights, so kWide is unused). Rows go in blocks of 8, 4, 2 and 1: four
// instantiations instead of eight (a bundle's native code has one set per layer), at the cost of
// re-reading the tile from L1 for the last few rows.
template <bool kU4, bool kWide, class Spans>
inline void int_tile_dot(const IntTileArgs& a, const Spans& spans, float* out) {
  static_assert(kMaxRowBlock == 8, "blocks of 8, 4, 2, 1");
  IntTileArgs part = a;
  for (int r0 = 0; r0 < a.rows;) {
    const int left = a.rows - r0;
    part.act = a.act + r0;
    part.asum = a.asum + r0;
    float* y = out + r0 * kTile;
    if (left >= 8) {
      tile_dot_impl<8, kU4>(part, spans, y);
      r0 += 8;
    } else if (left >= 4) {
      tile_dot_impl<4, kU4>(part, spans, y);
      r0 += 4;
    } else if (left >= 2) {
      tile_dot_impl<2, kU4>(part, spans, y);
      r0 += 2;
    } else {
      tile_dot_impl<1, kU4>(part, spans, y);
      r0 += 1;
    }
  }
}

// ---- Float activations × codes read in place (attention over a quantized cache) ----

inline float horizontal_sum(__m512 v) {
  __m256 x = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 y = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  y = _mm_add_ps(y, _mm_movehl_ps(y, y));
  y = _mm_add_ss(y, _mm_movehdup_ps(y));
  return _mm_cvtss_f32(y);
}

inline __mmask16 tail_mask(int64_t left) { return left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1); }

// codes[d .. d+16) (masked) as float, minus z.
inline __m512 centred(const uint8_t* codes, const float* z, __mmask16 m) {
  const __m512i c = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, codes));
  return _mm512_sub_ps(_mm512_cvtepi32_ps(c), _mm512_maskz_loadu_ps(m, z));
}

inline void codes_dot(const float* a, const float* z, int64_t n, const uint8_t* codes, int64_t stride, int64_t count,
               float* out) {
  for (int64_t j = 0; j < count; ++j) {
    const uint8_t* c = codes + j * stride;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t d = 0;
    for (; d + 32 <= n; d += 32) {
      acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + d), centred(c + d, z + d, 0xFFFF), acc0);
      acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + d + 16), centred(c + d + 16, z + d + 16, 0xFFFF), acc1);
    }
    for (; d < n; d += 16) {
      const __mmask16 m = tail_mask(n - d);
      acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + d), centred(c + d, z + d, m), acc0);
    }
    out[j] = horizontal_sum(_mm512_add_ps(acc0, acc1));
  }
}

inline void codes_axpy(const float* p, int64_t count, const uint8_t* codes, int64_t stride, const float* z, int64_t n,
                float* acc) {
  // Up to 64 channels at a time: four independent accumulators over the rows.
  for (int64_t d0 = 0; d0 < n; d0 += 64) {
    __mmask16 m[4];
    __m512 zv[4], av[4];
    for (int k = 0; k < 4; ++k) {
      const int64_t left = n - d0 - 16 * k;
      m[k] = left > 0 ? tail_mask(left) : __mmask16(0);
      zv[k] = _mm512_maskz_loadu_ps(m[k], z + d0 + 16 * k);
      av[k] = _mm512_maskz_loadu_ps(m[k], acc + d0 + 16 * k);
    }
    for (int64_t j = 0; j < count; ++j) {
      const uint8_t* c = codes + j * stride + d0;
      const __m512 pj = _mm512_set1_ps(p[j]);
      for (int k = 0; k < 4; ++k) {
        const __m512 v = _mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m[k], c + 16 * k))), zv[k]);
        av[k] = _mm512_fmadd_ps(pj, v, av[k]);
      }
    }
    for (int k = 0; k < 4; ++k) _mm512_mask_storeu_ps(acc + d0 + 16 * k, m[k], av[k]);
  }
}

}  // namespace
}  // namespace rptq::cpu::detail

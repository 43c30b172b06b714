// AVX-512 VNNI micro-kernels (compiled with -mavx512f/bw/vl/dq/vnni; called only when cpuid has them).
//
// Integer tile: one zmm holds the int32 sums of the tile's 16 outputs. Per 8-channel block the
// weights are two zmm of 16 × 4 signed bytes (unpacked from nibbles for U4), and each activation
// row contributes two broadcast 4-byte quads: vpdpbusd multiplies them as u8 (activation codes,
// 0..255) × s8 (w' = code - offset, see weight_codes.h) and adds the 4 products into each lane in
// int32, without saturation. No horizontal reductions: a lane is an output.
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
void tile_sums_impl(const IntTileArgs& a, int32_t* sums) {
  for (int32_t s = 0; s < a.num_spans; ++s) {
    __m512i acc;
    span_dot<1, kU4>(a.tile, a.spans[s], a.act, &acc);
    _mm512_storeu_si512(sums + int64_t{s} * kTile, acc);
  }
}

template <int R, bool kU4>
void tile_dot_impl(const IntTileArgs& a, float* out) {
  const uint8_t* act[R];
  const int32_t* asum[R];
  __m512 y[R];
  for (int r = 0; r < R; ++r) {
    act[r] = a.act[r];
    asum[r] = a.asum[r];
    y[r] = _mm512_setzero_ps();
  }
  for (int32_t s = 0; s < a.num_spans; ++s) {
    const Span& sp = a.spans[s];
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

using TileDotFn = void (*)(const IntTileArgs&, float*);
static_assert(kMaxRowBlock == 8, "one instantiation per row count");
template <bool kU4>
constexpr TileDotFn kTileDot[kMaxRowBlock] = {tile_dot_impl<1, kU4>, tile_dot_impl<2, kU4>, tile_dot_impl<3, kU4>,
                                              tile_dot_impl<4, kU4>, tile_dot_impl<5, kU4>, tile_dot_impl<6, kU4>,
                                              tile_dot_impl<7, kU4>, tile_dot_impl<8, kU4>};

void tile_sums(const IntTileArgs& a, int32_t* sums) {
  if (a.u4)
    tile_sums_impl<true>(a, sums);
  else
    tile_sums_impl<false>(a, sums);
}

void tile_dot(const IntTileArgs& a, float* out) { (a.u4 ? kTileDot<true> : kTileDot<false>)[a.rows - 1](a, out); }

inline float horizontal_sum(__m512 v) {
  __m256 x = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 y = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  y = _mm_add_ps(y, _mm_movehl_ps(y, y));
  y = _mm_add_ss(y, _mm_movehdup_ps(y));
  return _mm_cvtss_f32(y);
}

// Float dot products, 16 channels per step; the tail is a masked load, so nothing past n is read.
template <int R, int O>
void dot_f32_impl(const float* const* a, const float* const* w, int64_t n, float* out) {
  __m512 acc[R][O];
  for (int r = 0; r < R; ++r)
    for (int o = 0; o < O; ++o) acc[r][o] = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
    __m512 wv[O];
    for (int o = 0; o < O; ++o) wv[o] = _mm512_maskz_loadu_ps(m, w[o] + i);
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_maskz_loadu_ps(m, a[r] + i);
      for (int o = 0; o < O; ++o) acc[r][o] = _mm512_fmadd_ps(av, wv[o], acc[r][o]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int o = 0; o < O; ++o) out[r * O + o] = horizontal_sum(acc[r][o]);
}

using DotF32Fn = void (*)(const float* const*, const float* const*, int64_t, float*);
constexpr DotF32Fn kDotF32[4][4] = {
    {dot_f32_impl<1, 1>, dot_f32_impl<1, 2>, dot_f32_impl<1, 3>, dot_f32_impl<1, 4>},
    {dot_f32_impl<2, 1>, dot_f32_impl<2, 2>, dot_f32_impl<2, 3>, dot_f32_impl<2, 4>},
    {dot_f32_impl<3, 1>, dot_f32_impl<3, 2>, dot_f32_impl<3, 3>, dot_f32_impl<3, 4>},
    {dot_f32_impl<4, 1>, dot_f32_impl<4, 2>, dot_f32_impl<4, 3>, dot_f32_impl<4, 4>},
};

void dot_f32(const float* const* a, int rows, const float* const* w, int outs, int64_t n, float* out) {
  kDotF32[rows - 1][outs - 1](a, w, n, out);
}

// ---- Float activations × weight codes ----
//
// A 16-byte slice k of a quad's 64 bytes holds outputs 4k..4k+3 × channels t = 0..3; widened to
// 16 float lanes (output 4k + l/4, channel l%4) it meets the quad's 4 activations broadcast to every
// 128-bit lane, after the zero point (spread to the same lanes) is subtracted. Two accumulator
// sets (the block's two quads) keep the FMA chains short; each span ends with one reduction of the
// 4 lanes of every output.

// in[k] lane 4i + t holds output 4k + i, channel t; returns lane o = Σ_t of output o.
inline __m512 reduce_quads(const __m512* in) {
  const __m512 s01 = _mm512_add_ps(_mm512_shuffle_ps(in[0], in[1], 0x88), _mm512_shuffle_ps(in[0], in[1], 0xDD));
  const __m512 s23 = _mm512_add_ps(_mm512_shuffle_ps(in[2], in[3], 0x88), _mm512_shuffle_ps(in[2], in[3], 0xDD));
  // Lane 4i + k: output 4k + i.
  const __m512 t = _mm512_add_ps(_mm512_shuffle_ps(s01, s23, 0x88), _mm512_shuffle_ps(s01, s23, 0xDD));
  const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_ps(idx, t);
}

template <bool kU4>
void tile_dot_codes_impl(const FloatTileArgs& a, float* out) {
  __m512 y = _mm512_setzero_ps();
  for (int32_t s = 0; s < a.num_spans; ++s) {
    const Span& sp = a.spans[s];
    __m512 acc0[4], acc1[4], zero[4];
    // zero[k] lane 4i + t: zw' of output 4k + i, as the weight lanes of slice k.
    const __m512 zw = _mm512_cvtepi32_ps(_mm512_loadu_si512(a.zw + int64_t{sp.group} * kTile));
    for (int k = 0; k < 4; ++k) {
      acc0[k] = acc1[k] = _mm512_setzero_ps();
      const __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(4 * k),
                                           _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));
      zero[k] = _mm512_permutexvar_ps(idx, zw);
    }
    for (int32_t j = 0; j < sp.blocks; ++j) {
      const int64_t b = int64_t{sp.block_begin} + j;
      const float* x = a.act + (int64_t{sp.act_block} + j) * kBlockChannels;
      const __m512 x0 = _mm512_broadcast_f32x4(_mm_loadu_ps(x)), x1 = _mm512_broadcast_f32x4(_mm_loadu_ps(x + 4));
      for (int k = 0; k < 4; ++k) {
        if (kU4) {
          const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.tile + b * 64 + 16 * k)));
          const __m512 lo = _mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_and_si512(v, _mm512_set1_epi32(0xF))), zero[k]);
          const __m512 hi = _mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(v, 4)), zero[k]);
          acc0[k] = _mm512_fmadd_ps(lo, x0, acc0[k]);
          acc1[k] = _mm512_fmadd_ps(hi, x1, acc1[k]);
        } else {
          const uint8_t* q = a.tile + b * 128 + 16 * k;
          const __m512 w0 = _mm512_sub_ps(
              _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)))), zero[k]);
          const __m512 w1 = _mm512_sub_ps(
              _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 64)))), zero[k]);
          acc0[k] = _mm512_fmadd_ps(w0, x0, acc0[k]);
          acc1[k] = _mm512_fmadd_ps(w1, x1, acc1[k]);
        }
      }
    }
    for (int k = 0; k < 4; ++k) acc0[k] = _mm512_add_ps(acc0[k], acc1[k]);
    const __m512 dot = reduce_quads(acc0);
    y = _mm512_fmadd_ps(_mm512_loadu_ps(a.sw + int64_t{sp.group} * kTile), dot, y);
  }
  _mm512_storeu_ps(out, y);
}

void tile_dot_codes(const FloatTileArgs& a, float* out) {
  if (a.u4)
    tile_dot_codes_impl<true>(a, out);
  else
    tile_dot_codes_impl<false>(a, out);
}

inline __mmask16 tail_mask(int64_t left) { return left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1); }

// codes[d .. d+16) (masked) as float, minus z.
inline __m512 centred(const uint8_t* codes, const float* z, __mmask16 m) {
  const __m512i c = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, codes));
  return _mm512_sub_ps(_mm512_cvtepi32_ps(c), _mm512_maskz_loadu_ps(m, z));
}

void codes_dot(const float* a, const float* z, int64_t n, const uint8_t* codes, int64_t stride, int64_t count,
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

void codes_axpy(const float* p, int64_t count, const uint8_t* codes, int64_t stride, const float* z, int64_t n,
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

const IsaKernels kAvx512VnniKernels = {"avx512vnni", tile_sums, tile_dot, dot_f32, tile_dot_codes, codes_dot, codes_axpy};

}  // namespace rptq::cpu::detail

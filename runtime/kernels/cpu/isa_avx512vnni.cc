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

}  // namespace

const IsaKernels kAvx512VnniKernels = {"avx512vnni", tile_sums, tile_dot, dot_f32};

}  // namespace rptq::cpu::detail

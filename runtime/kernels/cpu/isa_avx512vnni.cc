// AVX-512 VNNI micro-kernels (compiled with -mavx512f/bw/vl/dq/vnni; called only when cpuid has
// them). The integer tile and attention kernels live in isa_avx512vnni_inline.h, shared with
// bundles' native code.
#include "kernels/cpu/isa_avx512vnni_inline.h"

namespace rptq::cpu::detail {
namespace {

void tile_sums(const IntTileArgs& a, int32_t* sums) {
  if (a.u4)
    tile_sums_impl<true>(a, sums);
  else
    tile_sums_impl<false>(a, sums);
}

void tile_dot(const IntTileArgs& a, float* out) {
  const SpanList spans{a.spans, a.num_spans};
  if (a.u4)
    int_tile_dot<true, false>(a, spans, out);
  else
    int_tile_dot<false, false>(a, spans, out);
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

}  // namespace

const IsaKernels kAvx512VnniKernels = {"avx512vnni", tile_sums, tile_dot, dot_f32, tile_dot_codes, codes_dot, codes_axpy};

}  // namespace rptq::cpu::detail

// AVX2 + FMA micro-kernels (compiled with -mavx2 -mfma; called only when cpuid has them). The
// integer tile and attention kernels live in isa_avx2_inline.h, shared with bundles' native code.
#include "kernels/cpu/isa_avx2_inline.h"

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
  else if (a.wide_weights)
    int_tile_dot<false, true>(a, spans, out);
  else
    int_tile_dot<false, false>(a, spans, out);
}

// Float dot products of R rows and O (<= 2) outputs, 8 channels per step; the tail is a masked
// load, so nothing past n is read. Writes out[r * stride + o].
template <int R, int O>
void dot_f32_impl(const float* const* a, const float* const* w, int64_t n, float* out, int stride) {
  alignas(32) static const int32_t kMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  __m256 acc[R][O];
  for (int r = 0; r < R; ++r)
    for (int o = 0; o < O; ++o) acc[r][o] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 wv[O];
    for (int o = 0; o < O; ++o) wv[o] = _mm256_loadu_ps(w[o] + i);
    for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_loadu_ps(a[r] + i);
      for (int o = 0; o < O; ++o) acc[r][o] = _mm256_fmadd_ps(av, wv[o], acc[r][o]);
    }
  }
  if (i < n) {
    const __m256i m = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMask + 8 - (n - i)));
    __m256 wv[O];
    for (int o = 0; o < O; ++o) wv[o] = _mm256_maskload_ps(w[o] + i, m);
    for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_maskload_ps(a[r] + i, m);
      for (int o = 0; o < O; ++o) acc[r][o] = _mm256_fmadd_ps(av, wv[o], acc[r][o]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int o = 0; o < O; ++o) out[r * stride + o] = horizontal_sum(acc[r][o]);
}

using DotF32Fn = void (*)(const float* const*, const float* const*, int64_t, float*, int);
constexpr DotF32Fn kDotF32[4][2] = {
    {dot_f32_impl<1, 1>, dot_f32_impl<1, 2>},
    {dot_f32_impl<2, 1>, dot_f32_impl<2, 2>},
    {dot_f32_impl<3, 1>, dot_f32_impl<3, 2>},
    {dot_f32_impl<4, 1>, dot_f32_impl<4, 2>},
};

void dot_f32(const float* const* a, int rows, const float* const* w, int outs, int64_t n, float* out) {
  for (int o = 0; o < outs; o += 2) {
    const int no = outs - o < 2 ? outs - o : 2;
    kDotF32[rows - 1][no - 1](a, w + o, n, out + o, outs);
  }
}

// ---- Float activations × weight codes ----
//
// As the AVX-512 kernel with 8 float lanes: 8-byte slice k of a quad holds outputs 2k, 2k+1 ×
// channels 0..3, widened to one ymm, less the zero point, and multiplied by the quad's 4
// activations broadcast to both 128-bit lanes. 8 accumulators, one per slice (both quads add into it).

// in[k] lane 4h + t holds output 2k + h, channel t (k < 4); returns lane o = Σ_t of output o.
inline __m256 reduce_quads(const __m256* in) {
  // Lane 4h + k: output 2k + h.
  const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(in[0], in[1]), _mm256_hadd_ps(in[2], in[3]));
  return _mm256_permutevar8x32_ps(t, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

template <bool kU4>
void tile_dot_codes_impl(const FloatTileArgs& a, float* out) {
  __m256 y[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int32_t s = 0; s < a.num_spans; ++s) {
    const Span& sp = a.spans[s];
    __m256 acc[8];
    // zero[k] lane 4h + t: zw' of output 2k + h, as the weight lanes of slice k (read from L1:
    // 16 ymm do not hold 8 of these besides the accumulators).
    alignas(32) float zero[8][8];
    for (int k = 0; k < 8; ++k) {
      acc[k] = _mm256_setzero_ps();
      for (int l = 0; l < 8; ++l) zero[k][l] = static_cast<float>(a.zw[int64_t{sp.group} * kTile + 2 * k + l / 4]);
    }
    for (int32_t j = 0; j < sp.blocks; ++j) {
      const int64_t b = int64_t{sp.block_begin} + j;
      const float* x = a.act + (int64_t{sp.act_block} + j) * kBlockChannels;
      const __m256 x0 = _mm256_broadcast_ps(reinterpret_cast<const __m128*>(x));
      const __m256 x1 = _mm256_broadcast_ps(reinterpret_cast<const __m128*>(x + 4));
      for (int k = 0; k < 8; ++k) {
        if (kU4) {
          const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(a.tile + b * 64 + 8 * k)));
          const __m256 z = _mm256_load_ps(zero[k]);
          const __m256 lo = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v, _mm256_set1_epi32(0xF))), z);
          const __m256 hi = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(v, 4)), z);
          acc[k] = _mm256_fmadd_ps(hi, x1, _mm256_fmadd_ps(lo, x0, acc[k]));
        } else {
          const uint8_t* q = a.tile + b * 128 + 8 * k;
          const __m256 z = _mm256_load_ps(zero[k]);
          const __m256 w0 = _mm256_sub_ps(
              _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q)))), z);
          const __m256 w1 = _mm256_sub_ps(
              _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + 64)))), z);
          acc[k] = _mm256_fmadd_ps(w1, x1, _mm256_fmadd_ps(w0, x0, acc[k]));
        }
      }
    }
    for (int half = 0; half < 2; ++half)
      y[half] = _mm256_fmadd_ps(_mm256_loadu_ps(a.sw + int64_t{sp.group} * kTile + 8 * half),
                                reduce_quads(acc + 4 * half), y[half]);
  }
  _mm256_storeu_ps(out, y[0]);
  _mm256_storeu_ps(out + 8, y[1]);
}

void tile_dot_codes(const FloatTileArgs& a, float* out) {
  if (a.u4)
    tile_dot_codes_impl<true>(a, out);
  else
    tile_dot_codes_impl<false>(a, out);
}

// codes[0 .. 8) as float, minus z.
}  // namespace

const IsaKernels kAvx2Kernels = {"avx2", tile_sums, tile_dot, dot_f32, tile_dot_codes, codes_dot, codes_axpy};

}  // namespace rptq::cpu::detail

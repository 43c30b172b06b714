// NEON + dot-product micro-kernels for aarch64 (compiled with -march=armv8.2-a+dotprod; called only
// when the kernel reports HWCAP_ASIMDDP, e.g. Jetson Orin's Cortex-A78AE). The integer tile and
// attention kernels live in isa_neon_dotprod_inline.h, shared with bundles' native code.
#include "kernels/cpu/isa_neon_dotprod_inline.h"

namespace rptq::cpu::detail {
namespace {

void tile_sums(const IntTileArgs& a, int32_t* sums) {
  if (a.u4)
    tile_sums_impl<true>(a, sums);
  else
    tile_sums_impl<false>(a, sums);
}

// wide_weights needs nothing special here: w' + 128 covers all of int8.
void tile_dot(const IntTileArgs& a, float* out) {
  const SpanList spans{a.spans, a.num_spans};
  if (a.u4)
    int_tile_dot<true, false>(a, spans, out);
  else
    int_tile_dot<false, false>(a, spans, out);
}

// ---- Float dot products ----

// R rows × O outputs, 4 channels per step; the tail (< 4) is scalar, so nothing past n is read.
// Writes out[r * stride + o].
template <int R, int O>
void dot_f32_impl(const float* const* a, const float* const* w, int64_t n, float* out, int stride) {
  float32x4_t acc[R][O];
  for (int r = 0; r < R; ++r)
    for (int o = 0; o < O; ++o) acc[r][o] = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    float32x4_t wv[O];
    for (int o = 0; o < O; ++o) wv[o] = vld1q_f32(w[o] + i);
    for (int r = 0; r < R; ++r) {
      const float32x4_t av = vld1q_f32(a[r] + i);
      for (int o = 0; o < O; ++o) acc[r][o] = vfmaq_f32(acc[r][o], av, wv[o]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int o = 0; o < O; ++o) {
      float tail = 0.0f;
      for (int64_t t = i; t < n; ++t) tail += a[r][t] * w[o][t];
      out[r * stride + o] = vaddvq_f32(acc[r][o]) + tail;
    }
}

using DotF32Fn = void (*)(const float* const*, const float* const*, int64_t, float*, int);
constexpr DotF32Fn kDotF32[4][4] = {
    {dot_f32_impl<1, 1>, dot_f32_impl<1, 2>, dot_f32_impl<1, 3>, dot_f32_impl<1, 4>},
    {dot_f32_impl<2, 1>, dot_f32_impl<2, 2>, dot_f32_impl<2, 3>, dot_f32_impl<2, 4>},
    {dot_f32_impl<3, 1>, dot_f32_impl<3, 2>, dot_f32_impl<3, 3>, dot_f32_impl<3, 4>},
    {dot_f32_impl<4, 1>, dot_f32_impl<4, 2>, dot_f32_impl<4, 3>, dot_f32_impl<4, 4>},
};

void dot_f32(const float* const* a, int rows, const float* const* w, int outs, int64_t n, float* out) {
  kDotF32[rows - 1][outs - 1](a, w, n, out, outs);
}

// ---- Float activations × weight codes ----
//
// One float32x4 accumulator per output (lane t: channel t of the quads), as the scalar kernel's
// dot[o][t]. Per block, each 16-byte vector k of a quad (outputs 4k..4k+3) is widened to int16,
// less the zero points (exact), then to float, and multiplied by the quad's 4 activations.

// The bytes of a weight vector as int16: lanes 0-7 (outputs 4k, 4k+1) and 8-15 (4k+2, 4k+3).
template <bool kU4>
inline void widen(uint8x16_t v, int16x8_t* lo, int16x8_t* hi) {
  if (kU4) {
    *lo = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(v)));
    *hi = vreinterpretq_s16_u16(vmovl_u8(vget_high_u8(v)));
  } else {
    const int8x16_t s = vreinterpretq_s8_u8(v);
    *lo = vmovl_s8(vget_low_s8(s));
    *hi = vmovl_s8(vget_high_s8(s));
  }
}

// acc[0..3] (outputs 4k .. 4k+3) += (w - z) · x for a weight vector w of one quad.
template <bool kU4>
inline void quad_fma(uint8x16_t w, const int16x8_t* zero, float32x4_t x, float32x4_t* acc) {
  int16x8_t lo, hi;
  widen<kU4>(w, &lo, &hi);
  lo = vsubq_s16(lo, zero[0]);
  hi = vsubq_s16(hi, zero[1]);
  acc[0] = vfmaq_f32(acc[0], vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), x);
  acc[1] = vfmaq_f32(acc[1], vcvtq_f32_s32(vmovl_s16(vget_high_s16(lo))), x);
  acc[2] = vfmaq_f32(acc[2], vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), x);
  acc[3] = vfmaq_f32(acc[3], vcvtq_f32_s32(vmovl_s16(vget_high_s16(hi))), x);
}

template <bool kU4>
void tile_dot_codes_impl(const FloatTileArgs& a, float* out) {
  float32x4_t y[4];
  for (int k = 0; k < 4; ++k) y[k] = vdupq_n_f32(0.0f);
  for (int32_t s = 0; s < a.num_spans; ++s) {
    const Span& sp = a.spans[s];
    const int64_t g = int64_t{sp.group} * kTile;
    // zero[m]: zw' of output 2m in lanes 0-3 and of 2m+1 in lanes 4-7 (|w' - zw'| <= 255: int16).
    int16x8_t zero[8];
    for (int m = 0; m < 8; ++m)
      zero[m] = vcombine_s16(vdup_n_s16(static_cast<int16_t>(a.zw[g + 2 * m])),
                             vdup_n_s16(static_cast<int16_t>(a.zw[g + 2 * m + 1])));
    float32x4_t acc[kTile];
    for (int o = 0; o < kTile; ++o) acc[o] = vdupq_n_f32(0.0f);
    for (int32_t j = 0; j < sp.blocks; ++j) {
      const int64_t b = int64_t{sp.block_begin} + j;
      const float* x = a.act + (int64_t{sp.act_block} + j) * kBlockChannels;
      const float32x4_t x0 = vld1q_f32(x), x1 = vld1q_f32(x + 4);
      for (int k = 0; k < 4; ++k) {
        uint8x16_t w0, w1;  // quads 0 and 1 of outputs 4k .. 4k+3
        if (kU4) {
          const uint8x16_t v = vld1q_u8(a.tile + b * 64 + 16 * k);
          w0 = vandq_u8(v, vdupq_n_u8(0x0F));
          w1 = vshrq_n_u8(v, 4);
        } else {
          w0 = vld1q_u8(a.tile + b * 128 + 16 * k);
          w1 = vld1q_u8(a.tile + b * 128 + 64 + 16 * k);
        }
        quad_fma<kU4>(w0, zero + 2 * k, x0, acc + 4 * k);
        quad_fma<kU4>(w1, zero + 2 * k, x1, acc + 4 * k);
      }
    }
    // Lane o of sums: Σ_t acc[4k + o][t], as ((t0 + t1) + (t2 + t3)).
    for (int k = 0; k < 4; ++k) {
      const float32x4_t sums =
          vpaddq_f32(vpaddq_f32(acc[4 * k], acc[4 * k + 1]), vpaddq_f32(acc[4 * k + 2], acc[4 * k + 3]));
      y[k] = vfmaq_f32(y[k], vld1q_f32(a.sw + g + 4 * k), sums);
    }
  }
  for (int k = 0; k < 4; ++k) vst1q_f32(out + 4 * k, y[k]);
}

void tile_dot_codes(const FloatTileArgs& a, float* out) {
  if (a.u4)
    tile_dot_codes_impl<true>(a, out);
  else
    tile_dot_codes_impl<false>(a, out);
}

}  // namespace

const IsaKernels kNeonDotprodKernels = {"neon-dotprod", tile_sums,  tile_dot,  dot_f32,
                                        tile_dot_codes, codes_dot, codes_axpy};

}  // namespace rptq::cpu::detail

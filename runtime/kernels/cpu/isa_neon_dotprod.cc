// NEON + dot-product micro-kernels for aarch64 (compiled with -march=armv8.2-a+dotprod; called only
// when the kernel reports HWCAP_ASIMDDP, e.g. Jetson Orin's Cortex-A78AE).
//
// Integer tile: the 16 outputs in four int32x4 accumulators per row; each lane's 4 bytes of a
// packed block are one output's quad, so `udot` by lane (vdotq_lane_u32) against the row's 8
// activation bytes adds one quad per instruction, as vpdpbusd does on x86. udot is u8 × u8 and sdot
// s8 × s8, while activations are u8 codes (0..255) and w' is signed; so (without i8mm's usdot):
//   - U4 tiles hold w' = code in 0..15: udot directly;
//   - U8 tiles hold w' in int8: udot against w' + 128 (the sign bit flipped, 0..255), then
//     Σ x·w' = Σ x·(w' + 128) - 128·Σ x with Σ x over the span's bytes of the row (udot with 1s).
// Both are exact in 32 bits: Σ x·(w' + 128) <= 16384 · 255 · 255 < 2^31 for a span (isa.h), and
// the corrections are done in wrapping int32 arithmetic whose final value fits.
#include <arm_neon.h>

#include <cstdint>

#include "kernels/cpu/isa.h"

namespace rptq::cpu::detail {
namespace {

constexpr int kTile = kTileOutputs;
constexpr int kRows = 4;  // rows per pass: 16 accumulators + 8 weight vectors + activations fit 32 registers

// w[k], k < 4: quad 0 (channels 8b..8b+3) of outputs 4k..4k+3; w[4 + k]: quad 1 (8b+4..8b+7); as u8
// (U8: w' + 128).
template <bool kU4>
inline void load_block(const uint8_t* tile, int64_t b, uint8x16_t* w) {
  if (kU4) {
    const uint8_t* p = tile + b * 64;
    const uint8x16_t low = vdupq_n_u8(0x0F);
    for (int k = 0; k < 4; ++k) {
      const uint8x16_t v = vld1q_u8(p + 16 * k);
      w[k] = vandq_u8(v, low);
      w[4 + k] = vshrq_n_u8(v, 4);
    }
  } else {
    const uint8_t* p = tile + b * 128;
    const uint8x16_t sign = vdupq_n_u8(0x80);
    for (int k = 0; k < 8; ++k) w[k] = veorq_u8(vld1q_u8(p + 16 * k), sign);
  }
}

// Σ of `bytes` bytes at p (a multiple of 8).
inline uint32_t byte_sum(const uint8_t* p, int64_t bytes) {
  uint32x4_t s = vdupq_n_u32(0);
  int64_t i = 0;
  for (; i + 16 <= bytes; i += 16) s = vdotq_u32(s, vld1q_u8(p + i), vdupq_n_u8(1));
  uint32_t total = vaddvq_u32(s);
  if (i < bytes) total += vaddv_u32(vdot_u32(vdup_n_u32(0), vld1_u8(p + i), vdup_n_u8(1)));
  return total;
}

// acc[r][k] = Σ_{i in span} act[r][i] · w'[o, i] for outputs o = 4k .. 4k+3, as int32.
template <int R, bool kU4>
inline void span_dot(const uint8_t* tile, const Span& sp, const uint8_t* const* act, int32x4_t (*acc)[4]) {
  uint32x4_t u[R][4];
  for (int r = 0; r < R; ++r)
    for (int k = 0; k < 4; ++k) u[r][k] = vdupq_n_u32(0);
  const int64_t off0 = int64_t{sp.act_block} * kBlockChannels;
  for (int32_t j = 0; j < sp.blocks; ++j) {
    uint8x16_t w[8];
    load_block<kU4>(tile, int64_t{sp.block_begin} + j, w);
    const int64_t off = off0 + int64_t{j} * kBlockChannels;
    for (int r = 0; r < R; ++r) {
      const uint8x8_t x = vld1_u8(act[r] + off);
      for (int k = 0; k < 4; ++k) {
        u[r][k] = vdotq_lane_u32(u[r][k], w[k], x, 0);
        u[r][k] = vdotq_lane_u32(u[r][k], w[4 + k], x, 1);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    // U8: less 128 · Σ x (wrapping; the true value fits in int32).
    const int32x4_t bias =
        kU4 ? vdupq_n_s32(0)
            : vreinterpretq_s32_u32(vdupq_n_u32(128u * byte_sum(act[r] + off0, int64_t{sp.blocks} * kBlockChannels)));
    for (int k = 0; k < 4; ++k) acc[r][k] = vsubq_s32(vreinterpretq_s32_u32(u[r][k]), bias);
  }
}

template <bool kU4>
void tile_sums_impl(const IntTileArgs& a, int32_t* sums) {
  for (int32_t s = 0; s < a.num_spans; ++s) {
    int32x4_t acc[1][4];
    span_dot<1, kU4>(a.tile, a.spans[s], a.act, acc);
    for (int k = 0; k < 4; ++k) vst1q_s32(sums + int64_t{s} * kTile + 4 * k, acc[0][k]);
  }
}

// Rows r0 .. r0+R-1 of the call; out accumulates over spans in memory.
template <int R, bool kU4>
void tile_dot_rows(const IntTileArgs& a, int r0, float* out) {
  const uint8_t* act[R];
  for (int r = 0; r < R; ++r) act[r] = a.act[r0 + r];
  for (int32_t s = 0; s < a.num_spans; ++s) {
    const Span& sp = a.spans[s];
    int32x4_t acc[R][4];
    span_dot<R, kU4>(a.tile, sp, act, acc);
    const int64_t g = int64_t{sp.group} * kTile;
    for (int k = 0; k < 4; ++k) {
      const float32x4_t scale = vmulq_n_f32(vld1q_f32(a.sw + g + 4 * k), sp.sa);
      const int32x4_t zw = vld1q_s32(a.zw + g + 4 * k);
      const int32x4_t za_wsum = vmulq_n_s32(vld1q_s32(a.wsum + int64_t{s} * kTile + 4 * k), sp.za);
      for (int r = 0; r < R; ++r) {
        float* y = out + (r0 + r) * kTile + 4 * k;
        // Σ (q - za)(w' - zw') = Σ q·w' - za·Σ w' - zw'·Σ (q - za), exact in int32.
        const int32x4_t exact = vsubq_s32(vsubq_s32(acc[r][k], za_wsum), vmulq_n_s32(zw, a.asum[r0 + r][s]));
        vst1q_f32(y, vfmaq_f32(vld1q_f32(y), vcvtq_f32_s32(exact), scale));
      }
    }
  }
}

template <bool kU4>
void tile_dot_impl(const IntTileArgs& a, float* out) {
  for (int i = 0; i < a.rows * kTile; ++i) out[i] = 0.0f;
  int r0 = 0;
  for (; r0 + kRows <= a.rows; r0 += kRows) tile_dot_rows<kRows, kU4>(a, r0, out);
  switch (a.rows - r0) {
    case 3: tile_dot_rows<3, kU4>(a, r0, out); break;
    case 2: tile_dot_rows<2, kU4>(a, r0, out); break;
    case 1: tile_dot_rows<1, kU4>(a, r0, out); break;
    default: break;
  }
}

void tile_sums(const IntTileArgs& a, int32_t* sums) {
  if (a.u4)
    tile_sums_impl<true>(a, sums);
  else
    tile_sums_impl<false>(a, sums);
}

// wide_weights needs nothing special here: w' + 128 covers all of int8.
void tile_dot(const IntTileArgs& a, float* out) {
  if (a.u4)
    tile_dot_impl<true>(a, out);
  else
    tile_dot_impl<false>(a, out);
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

// ---- Attention over quantized codes ----

// codes[0 .. 16) as four float32x4.
inline void codes_to_float(uint8x16_t c, float32x4_t* f) {
  const uint16x8_t lo = vmovl_u8(vget_low_u8(c)), hi = vmovl_u8(vget_high_u8(c));
  f[0] = vcvtq_f32_u32(vmovl_u16(vget_low_u16(lo)));
  f[1] = vcvtq_f32_u32(vmovl_u16(vget_high_u16(lo)));
  f[2] = vcvtq_f32_u32(vmovl_u16(vget_low_u16(hi)));
  f[3] = vcvtq_f32_u32(vmovl_u16(vget_high_u16(hi)));
}

// codes[0 .. 8) as two float32x4.
inline void codes_to_float(uint8x8_t c, float32x4_t* f) {
  const uint16x8_t w = vmovl_u8(c);
  f[0] = vcvtq_f32_u32(vmovl_u16(vget_low_u16(w)));
  f[1] = vcvtq_f32_u32(vmovl_u16(vget_high_u16(w)));
}

void codes_dot(const float* a, const float* z, int64_t n, const uint8_t* codes, int64_t stride, int64_t count,
               float* out) {
  for (int64_t j = 0; j < count; ++j) {
    const uint8_t* c = codes + j * stride;
    float32x4_t acc[4];
    for (int k = 0; k < 4; ++k) acc[k] = vdupq_n_f32(0.0f);
    int64_t d = 0;
    for (; d + 16 <= n; d += 16) {
      float32x4_t f[4];
      codes_to_float(vld1q_u8(c + d), f);
      for (int k = 0; k < 4; ++k)
        acc[k] = vfmaq_f32(acc[k], vld1q_f32(a + d + 4 * k), vsubq_f32(f[k], vld1q_f32(z + d + 4 * k)));
    }
    if (d + 8 <= n) {
      float32x4_t f[2];
      codes_to_float(vld1_u8(c + d), f);
      for (int k = 0; k < 2; ++k)
        acc[k] = vfmaq_f32(acc[k], vld1q_f32(a + d + 4 * k), vsubq_f32(f[k], vld1q_f32(z + d + 4 * k)));
      d += 8;
    }
    float tail = 0.0f;
    for (; d < n; ++d) tail += a[d] * (static_cast<float>(c[d]) - z[d]);
    out[j] = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3]))) + tail;
  }
}

void codes_axpy(const float* p, int64_t count, const uint8_t* codes, int64_t stride, const float* z, int64_t n,
                float* acc) {
  int64_t d0 = 0;
  // 32 channels at a time: eight accumulators over the rows.
  for (; d0 + 32 <= n; d0 += 32) {
    float32x4_t zv[8], av[8];
    for (int k = 0; k < 8; ++k) {
      zv[k] = vld1q_f32(z + d0 + 4 * k);
      av[k] = vld1q_f32(acc + d0 + 4 * k);
    }
    for (int64_t j = 0; j < count; ++j) {
      const uint8_t* c = codes + j * stride + d0;
      float32x4_t f[8];
      codes_to_float(vld1q_u8(c), f);
      codes_to_float(vld1q_u8(c + 16), f + 4);
      for (int k = 0; k < 8; ++k) av[k] = vfmaq_n_f32(av[k], vsubq_f32(f[k], zv[k]), p[j]);
    }
    for (int k = 0; k < 8; ++k) vst1q_f32(acc + d0 + 4 * k, av[k]);
  }
  for (; d0 + 8 <= n; d0 += 8) {
    const float32x4_t z0 = vld1q_f32(z + d0), z1 = vld1q_f32(z + d0 + 4);
    float32x4_t a0 = vld1q_f32(acc + d0), a1 = vld1q_f32(acc + d0 + 4);
    for (int64_t j = 0; j < count; ++j) {
      float32x4_t f[2];
      codes_to_float(vld1_u8(codes + j * stride + d0), f);
      a0 = vfmaq_n_f32(a0, vsubq_f32(f[0], z0), p[j]);
      a1 = vfmaq_n_f32(a1, vsubq_f32(f[1], z1), p[j]);
    }
    vst1q_f32(acc + d0, a0);
    vst1q_f32(acc + d0 + 4, a1);
  }
  for (; d0 < n; ++d0)
    for (int64_t j = 0; j < count; ++j) acc[d0] += p[j] * (static_cast<float>(codes[j * stride + d0]) - z[d0]);
}

}  // namespace

const IsaKernels kNeonDotprodKernels = {"neon-dotprod", tile_sums,  tile_dot,  dot_f32,
                                        tile_dot_codes, codes_dot, codes_axpy};

}  // namespace rptq::cpu::detail

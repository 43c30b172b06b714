// The NEON + dot-product micro-kernels that bundles' native code (codegen/cpu) shares with the
// generic kernels: the integer tile kernels, as templates over where the spans come from
// (isa_neon_dotprod.cc passes a bundle's span table read at run time, native code the model's
// spans as compile-time constants), and the float × codes kernels of attention over a quantized
// cache. Include only from translation units compiled with -march=armv8.2-a+dotprod (see isa.h).
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
#pragma once

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
inline void tile_sums_impl(const IntTileArgs& a, int32_t* sums) {
  for (int32_t s = 0; s < a.num_spans; ++s) {
    int32x4_t acc[1][4];
    span_dot<1, kU4>(a.tile, a.spans[s], a.act, acc);
    for (int k = 0; k < 4; ++k) vst1q_s32(sums + int64_t{s} * kTile + 4 * k, acc[0][k]);
  }
}

// Rows r0 .. r0+R-1 of the call; out accumulates over spans in memory.
template <int R, bool kU4, class Spans>
inline void tile_dot_rows(const IntTileArgs& a, const Spans& spans, int r0, float* out) {
  const uint8_t* act[R];
  for (int r = 0; r < R; ++r) act[r] = a.act[r0 + r];
  for (int32_t s = 0; s < spans.size(); ++s) {
    const Span& sp = spans[s];
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

// out[r][o] for the a.rows rows of the call (the interface of isa_avx2_inline.h; udot against
// w' + 128 needs no special case for 8-bit weights, so kWide is unused). `spans` stands in for
// a.spans / a.num_spans: a SpanList (run time) or a compile-time list.
template <bool kU4, bool kWide, class Spans>
inline void int_tile_dot(const IntTileArgs& a, const Spans& spans, float* out) {
  for (int i = 0; i < a.rows * kTile; ++i) out[i] = 0.0f;
  int r0 = 0;
  for (; r0 + kRows <= a.rows; r0 += kRows) tile_dot_rows<kRows, kU4>(a, spans, r0, out);
  switch (a.rows - r0) {
    case 3: tile_dot_rows<3, kU4>(a, spans, r0, out); break;
    case 2: tile_dot_rows<2, kU4>(a, spans, r0, out); break;
    case 1: tile_dot_rows<1, kU4>(a, spans, r0, out); break;
    default: break;
  }
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

inline void codes_dot(const float* a, const float* z, int64_t n, const uint8_t* codes, int64_t stride, int64_t count,
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

inline void codes_axpy(const float* p, int64_t count, const uint8_t* codes, int64_t stride, const float* z, int64_t n,
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
}  // namespace rptq::cpu::detail

// Portable micro-kernels: the definition of what the SIMD ones compute, and the fallback.
#include <cstring>

#include "kernels/cpu/isa.h"

namespace rptq::cpu::detail {
namespace {

constexpr int kTile = kTileOutputs;

// acc[o] += Σ_{i in span} act[i] · w'[o, i] for the 16 outputs of the tile.
void span_dot(const IntTileArgs& a, const Span& sp, const uint8_t* act_row, int32_t* acc) {
  for (int32_t j = 0; j < sp.blocks; ++j) {
    const uint8_t* x = act_row + (int64_t{sp.act_block} + j) * kBlockChannels;
    const int64_t b = int64_t{sp.block_begin} + j;
    for (int o = 0; o < kTile; ++o) {
      int32_t s = 0;
      for (int t = 0; t < 4; ++t) {
        if (a.u4) {
          const uint8_t w = a.tile[b * 64 + o * 4 + t];
          s += x[t] * (w & 0xF) + x[4 + t] * (w >> 4);
        } else {
          const auto* w = reinterpret_cast<const int8_t*>(a.tile + b * 128 + o * 4 + t);
          s += x[t] * w[0] + x[4 + t] * w[64];
        }
      }
      acc[o] += s;
    }
  }
}

void tile_sums(const IntTileArgs& a, int32_t* sums) {
  for (int32_t s = 0; s < a.num_spans; ++s) {
    int32_t* acc = sums + int64_t{s} * kTile;
    std::memset(acc, 0, sizeof(int32_t) * kTile);
    span_dot(a, a.spans[s], a.act[0], acc);
  }
}

void tile_dot(const IntTileArgs& a, float* out) {
  std::memset(out, 0, sizeof(float) * kTile * a.rows);
  for (int32_t s = 0; s < a.num_spans; ++s) {
    const Span& sp = a.spans[s];
    const float* sw = a.sw + int64_t{sp.group} * kTile;
    const int32_t* zw = a.zw + int64_t{sp.group} * kTile;
    const int32_t* ws = a.wsum + int64_t{s} * kTile;
    for (int r = 0; r < a.rows; ++r) {
      int32_t acc[kTile] = {};
      span_dot(a, sp, a.act[r], acc);
      const int32_t asum = a.asum[r][s];
      for (int o = 0; o < kTile; ++o) {
        const int32_t exact = acc[o] - sp.za * ws[o] - zw[o] * asum;  // Σ (q - za)(w' - zw')
        out[r * kTile + o] += sp.sa * sw[o] * static_cast<float>(exact);
      }
    }
  }
}

void dot_f32(const float* const* a, int rows, const float* const* w, int outs, int64_t n, float* out) {
  for (int r = 0; r < rows; ++r)
    for (int o = 0; o < outs; ++o) {
      // Four partial sums, as a vector kernel would, which also keeps the error down.
      float p[4] = {0, 0, 0, 0};
      int64_t i = 0;
      for (; i + 4 <= n; i += 4)
        for (int t = 0; t < 4; ++t) p[t] += a[r][i + t] * w[o][i + t];
      for (; i < n; ++i) p[0] += a[r][i] * w[o][i];
      out[r * outs + o] = (p[0] + p[1]) + (p[2] + p[3]);
    }
}

void tile_dot_codes(const FloatTileArgs& a, float* out) {
  std::memset(out, 0, sizeof(float) * kTile);
  for (int32_t s = 0; s < a.num_spans; ++s) {
    const Span& sp = a.spans[s];
    // Per output, one partial sum per channel of a quad (as the vector kernels' lanes).
    float dot[kTile][4] = {};
    const float* sw = a.sw + int64_t{sp.group} * kTile;
    const int32_t* zw = a.zw + int64_t{sp.group} * kTile;
    for (int32_t j = 0; j < sp.blocks; ++j) {
      const float* x = a.act + (int64_t{sp.act_block} + j) * kBlockChannels;
      const int64_t b = int64_t{sp.block_begin} + j;
      for (int o = 0; o < kTile; ++o)
        for (int t = 0; t < 4; ++t) {
          if (a.u4) {
            const uint8_t w = a.tile[b * 64 + o * 4 + t];
            dot[o][t] += x[t] * static_cast<float>((w & 0xF) - zw[o]) + x[4 + t] * static_cast<float>((w >> 4) - zw[o]);
          } else {
            const auto* w = reinterpret_cast<const int8_t*>(a.tile + b * 128 + o * 4 + t);
            dot[o][t] += x[t] * static_cast<float>(w[0] - zw[o]) + x[4 + t] * static_cast<float>(w[64] - zw[o]);
          }
        }
    }
    for (int o = 0; o < kTile; ++o) out[o] += sw[o] * ((dot[o][0] + dot[o][1]) + (dot[o][2] + dot[o][3]));
  }
}

void codes_dot(const float* a, const float* z, int64_t n, const uint8_t* codes, int64_t stride, int64_t count,
               float* out) {
  for (int64_t j = 0; j < count; ++j) {
    const uint8_t* c = codes + j * stride;
    float p[4] = {0, 0, 0, 0};
    int64_t d = 0;
    for (; d + 4 <= n; d += 4)
      for (int t = 0; t < 4; ++t) p[t] += a[d + t] * (static_cast<float>(c[d + t]) - z[d + t]);
    for (; d < n; ++d) p[0] += a[d] * (static_cast<float>(c[d]) - z[d]);
    out[j] = (p[0] + p[1]) + (p[2] + p[3]);
  }
}

void codes_axpy(const float* p, int64_t count, const uint8_t* codes, int64_t stride, const float* z, int64_t n,
                float* acc) {
  for (int64_t j = 0; j < count; ++j) {
    const uint8_t* c = codes + j * stride;
    for (int64_t d = 0; d < n; ++d) acc[d] += p[j] * (static_cast<float>(c[d]) - z[d]);
  }
}

}  // namespace

const IsaKernels kScalarKernels = {"scalar", tile_sums, tile_dot, dot_f32, tile_dot_codes, codes_dot, codes_axpy};

}  // namespace rptq::cpu::detail

// The contract between the kernel drivers (baseline x86-64 / aarch64 / any CPU) and the per-ISA
// micro-kernels (isa_scalar.cc, isa_avx2.cc, isa_avx512vnni.cc, isa_neon_dotprod.cc), and the
// dispatcher that picks one.
//
// The ISA files are compiled with their own -m/-march flags, so they include nothing but this
// header, <immintrin.h> or <arm_neon.h>, and <cstdint>/<cstring>: an inline function of a shared
// header (std::, quant_math.h) instantiated there would be compiled with AVX-512 (or dotprod) and
// could be the copy the linker keeps for everyone. Everything they define lives in an anonymous namespace except their IsaKernels table.
#pragma once

#include <cstdint>

namespace rptq::cpu::detail {

// Integer path geometry (the packed weight layout of packed_weights.h):
//   - output features in tiles of kTileOutputs (one 512-bit register of int32 lanes);
//   - input channels in blocks of 8 = two 4-byte quads, the unit of vpdpbusd / maddubs+madd;
//   - each (activation cluster ∩ weight group) span covers whole blocks, its activation bytes
//     copied into a per-row "span row" where the block's channels outside the span are zero, so
//     a quad that straddles two spans contributes to each only its own channels.
inline constexpr int kTileOutputs = 16;
inline constexpr int kBlockChannels = 8;
inline constexpr int kMaxRowBlock = 8;  // activation rows per micro-kernel call
// Longer spans are cut, so that every int32 partial below is exact: with n <= 16384 channels,
// |Σ q·w'| <= n·255·128, |za·Σ w'| <= 255·n·128 and |zw'·Σ (q - za)| <= 255·n·255, all < 2^31.
inline constexpr int64_t kMaxSpanChannels = 16384;

struct Span {
  int32_t block_begin;  // first 8-channel block of the packed tile it reads
  int32_t blocks;       // number of blocks
  int32_t act_block;    // where its blocks start in a span row (units of 8 bytes)
  int32_t group;        // weight group (index into the tile's per-group scales)
  int32_t za;           // activation zero point of its cluster
  float sa;             // activation scale of its cluster
};

// The spans of a call as the integer micro-kernels iterate them. The generic kernels pass the
// table built at run time; a bundle's native code passes a type with the same two members over
// a constexpr array, so that span counts, block ranges and cluster scales are constants there.
struct SpanList {
  const Span* spans;
  int32_t count;
  int32_t size() const { return count; }
  const Span& operator[](int32_t s) const { return spans[s]; }
};

// One call of the integer micro-kernel: rows x kTileOutputs outputs of one tile.
struct IntTileArgs {
  const uint8_t* tile;          // U4: [blocks][64] nibble pairs; U8: [blocks][2][64] signed bytes
  bool u4;
  bool wide_weights;            // U8 codes of 8 bits: w' = code - 128 spans all of int8
  const float* sw;              // [groups][16] weight scale
  const int32_t* zw;            // [groups][16] weight zero point - offset (zw')
  const Span* spans;
  int32_t num_spans;
  // Activations: `rows` span rows (8 bytes per span block) and, per row and span,
  // asum[r][s] = Σ (q - za) over the span.
  const uint8_t* const* act;
  const int32_t* const* asum;
  int rows;                     // 1 .. kMaxRowBlock
  const int32_t* wsum;          // [num_spans][16]: Σ w' over each span (from tile_sums)
};

// One call of the float-activation × weight-code micro-kernel: one float row × kTileOutputs
// outputs of a packed tile (the integer path's layout, so U8 tiles hold w' = code - offset).
// Spans are those of a single-cluster table (weight groups only; sa, za unused).
struct FloatTileArgs {
  const uint8_t* tile;          // as IntTileArgs::tile
  bool u4;
  const float* sw;              // [groups][16]
  const int32_t* zw;            // [groups][16] zero - offset (zw')
  const Span* spans;
  int32_t num_spans;
  const float* act;             // span row of floats: 8 per span block, 0 outside the span
};

struct IsaKernels {
  const char* name;
  // sums[s][o] = Σ_{i in span s} act[0][i] · w'[o][i] for a one-row args (act[0] all ones within
  // the spans gives Σ w'; wsum/asum/sw/zw are not read).
  void (*tile_sums)(const IntTileArgs& a, int32_t* sums);
  // out[r][o] = Σ_spans sa·sw[o,g] · I[r,o,s] = Σ_i x̂[r,i] Ŵ[o,i] (without bias), where the exact
  //   I = Σ (q - za)(w' - zw') = Σ q·w' - za·wsum[s][o] - zw'[o,g]·asum[r][s]
  // leaves a pure u8 × s8 dot product for the inner loop.
  void (*tile_dot)(const IntTileArgs& a, float* out);
  // out[r][o] = Σ_{i<n} a[r][i] · w[o][i] in float; rows, outs <= 4; reads exactly n floats of each.
  void (*dot_f32)(const float* const* a, int rows, const float* const* w, int outs, int64_t n, float* out);
  // out[o] = Σ_spans sw[o,g] · Σ_{i in span} x[i] · (w'[o][i] - zw'[o,g]) = Σ_i x[i] Ŵ[o,i]: float
  // activations against weight codes widened to float in registers (no dequantized copy). The zero
  // point is subtracted per weight (exact in float), not as zw'·Σx afterwards: that would leave the
  // rounding error of Σ x·w' in results whose terms x·Ŵ are small or cancel.
  void (*tile_dot_codes)(const FloatTileArgs& a, float* out);
  // Attention over a quantized cache, rows j < count of `codes` (row stride `stride`, n channels):
  //   dot:  out[j] = Σ_{d<n} a[d] · (codes[j][d] - z[d])
  //   axpy: acc[d] += Σ_{j<count} p[j] · (codes[j][d] - z[d])
  // with the per-channel scale folded into a (keys) or applied to acc afterwards (values).
  void (*codes_dot)(const float* a, const float* z, int64_t n, const uint8_t* codes, int64_t stride, int64_t count,
                    float* out);
  void (*codes_axpy)(const float* p, int64_t count, const uint8_t* codes, int64_t stride, const float* z, int64_t n,
                     float* acc);
};

extern const IsaKernels kScalarKernels;
#if RPTQ_KERNELS_X86
extern const IsaKernels kAvx2Kernels;
extern const IsaKernels kAvx512VnniKernels;
#endif
#if RPTQ_KERNELS_AARCH64
extern const IsaKernels kNeonDotprodKernels;
#endif

// The kernels of the active ISA (dispatch.cc).
const IsaKernels& isa_kernels();

}  // namespace rptq::cpu::detail

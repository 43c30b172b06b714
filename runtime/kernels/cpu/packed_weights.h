// Weights in the layout the integer micro-kernels read (isa.h): tiles of 16 output features, input
// channels in blocks of 8, every block of a tile one 64-byte vector per 4 channels.
//
//   U4 (2..4 bits): [blocks][16 outputs][4 bytes]; byte t of output o holds code[o, 8b + t] in its
//                   low nibble and code[o, 8b + 4 + t] in its high nibble, so the low nibbles of a
//                   block are the quad of channels 8b..8b+3 for all 16 outputs and the high nibbles
//                   the quad 8b+4..8b+7. Same size as the U4 codes.
//   U8 (5..8 bits): [blocks][2 quads][16 outputs][4 bytes] of w' = code - weight_offset(bits), int8.
//
// Channels past `in` and outputs past `out` hold 0 and scale 0. Per tile and group the kernels
// also read the 16 scales and zero points (as zw' = zero - offset), stored [tiles][groups][16].
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cpu/kernels.h"

namespace rptq::cpu {
namespace detail {

struct PackLayout {
  int64_t out = 0, in = 0, group_size = 0, groups = 0;
  int64_t tiles = 0, blocks = 0, tile_bytes = 0;
  int bits = 0, offset = 0;
  bool u4 = false;
};

PackLayout pack_layout(const LinearParams& w);

// Packs tile t of w: codes [L.tile_bytes], sw and zw [L.groups][16].
void pack_tile(const LinearParams& w, const PackLayout& L, int64_t t, uint8_t* codes, float* sw, int32_t* zw);

// w.packed when it was packed from weights of w's shape and bits, else null (then pack per call).
const PackedWeights* usable_packing(const LinearParams& w);

// Tile t's codes, scales and zero points: read from `packed`, or (packed == null) packed now into
// the caller's scratch buffers (codes [L.tile_bytes], sw and zw [L.groups][16]).
struct TileRef {
  const uint8_t* codes;
  const float* sw;
  const int32_t* zw;
};
TileRef tile_ref(const LinearParams& w, const PackLayout& L, const PackedWeights* packed, int64_t t,
                 uint8_t* scratch_codes, float* scratch_sw, int32_t* scratch_zw);

}  // namespace detail

struct PackedWeights {
  detail::PackLayout layout;
  std::vector<uint8_t> codes;  // [tiles][tile_bytes]
  std::vector<float> sw;       // [tiles][groups][16]
  std::vector<int32_t> zw;     // [tiles][groups][16]
  // Σ w' per span of the input quantizer given to pack_weights (empty without one): the span
  // table's channel ends, which a call's table must equal for wsum to apply, and the sums.
  std::vector<int64_t> span_end;
  std::vector<int32_t> wsum;   // [tiles][spans][16]
};

}  // namespace rptq::cpu

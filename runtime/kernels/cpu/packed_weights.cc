#include "kernels/cpu/packed_weights.h"

#include <algorithm>

#include "kernels/cpu/isa.h"
#include "kernels/cpu/spans.h"
#include "kernels/cpu/weight_codes.h"
#include "kernels/cpu/thread_pool.h"

namespace rptq::cpu {
namespace detail {
namespace {

constexpr int64_t kTile = kTileOutputs;

// A U4 source row stores channels 8b..8b+7 in bytes 4b..4b+3, i.e. as the nibbles 0..7 of one
// 32-bit word (channel k in bits 4k..4k+3). The packed layout wants byte t = (k_t, k_t+4): nibble
// order k0 k4 k1 k5 k2 k6 k3 k7, an outer perfect shuffle done by two swaps (Hacker's Delight 7-2).
uint32_t shuffle_nibbles(uint32_t x) {
  x = (x & 0xFF0000FFu) | ((x << 8) & 0x00FF0000u) | ((x >> 8) & 0x0000FF00u);
  x = (x & 0xF00FF00Fu) | ((x << 4) & 0x0F000F00u) | ((x >> 4) & 0x00F000F0u);
  return x;
}

void pack_row_u4(const LinearParams& w, const PackLayout& L, const uint8_t* row, int o, uint8_t* tile) {
  const int64_t row_bytes = code_row_bytes(w);
  for (int64_t b = 0; b < L.blocks; ++b) {
    uint32_t src = 0;
    const int64_t n = std::min<int64_t>(4, row_bytes - 4 * b);
    for (int64_t j = 0; j < n; ++j) src |= static_cast<uint32_t>(row[4 * b + j]) << (8 * j);
    const int64_t valid = L.in - 8 * b;  // channels of this block inside the row
    if (valid < 8) src &= (1u << (4 * valid)) - 1;
    const uint32_t dst = shuffle_nibbles(src);
    uint8_t* out = tile + b * 64 + o * 4;
    for (int j = 0; j < 4; ++j) out[j] = static_cast<uint8_t>(dst >> (8 * j));
  }
}

void pack_row_u8(const PackLayout& L, const uint8_t* row, int o, uint8_t* tile) {
  for (int64_t i = 0; i < L.in; ++i) {
    const int64_t b = i / 8, quad = (i / 4) % 2, t = i % 4;
    tile[b * 128 + quad * 64 + o * 4 + t] = static_cast<uint8_t>(row[i] - L.offset);
  }
}

}  // namespace

PackLayout pack_layout(const LinearParams& w) {
  PackLayout L;
  L.out = w.out;
  L.in = w.in;
  L.bits = w.bits;
  L.group_size = group_size_of(w);
  L.groups = groups_of(w);
  L.tiles = (w.out + kTile - 1) / kTile;
  L.blocks = (w.in + kBlockChannels - 1) / kBlockChannels;
  L.u4 = codes_are_u4(w.bits);
  L.offset = weight_offset(w.bits);
  L.tile_bytes = L.blocks * (L.u4 ? 64 : 128);
  return L;
}

const PackedWeights* usable_packing(const LinearParams& w) {
  const PackedWeights* p = w.packed;
  if (!p) return nullptr;
  const PackLayout& L = p->layout;
  return L.out == w.out && L.in == w.in && L.bits == w.bits && L.group_size == group_size_of(w) ? p : nullptr;
}

void pack_tile(const LinearParams& w, const PackLayout& L, int64_t t, uint8_t* codes, float* sw, int32_t* zw) {
  std::fill_n(codes, L.tile_bytes, uint8_t{0});
  std::fill_n(sw, L.groups * kTile, 0.0f);
  std::fill_n(zw, L.groups * kTile, 0);
  const int64_t row_bytes = code_row_bytes(w);
  for (int o = 0; o < kTile && t * kTile + o < w.out; ++o) {
    const int64_t r = t * kTile + o;
    const uint8_t* row = w.codes + r * row_bytes;
    if (L.u4)
      pack_row_u4(w, L, row, o, codes);
    else
      pack_row_u8(L, row, o, codes);
    for (int64_t g = 0; g < L.groups; ++g) {
      sw[g * kTile + o] = w.scale[r * L.groups + g];
      zw[g * kTile + o] = int32_t{w.zero[r * L.groups + g]} - L.offset;
    }
  }
}

TileRef tile_ref(const LinearParams& w, const PackLayout& L, const PackedWeights* packed, int64_t t,
                 uint8_t* scratch_codes, float* scratch_sw, int32_t* scratch_zw) {
  if (packed) {
    const int64_t per_tile = L.groups * 16;
    return {packed->codes.data() + t * L.tile_bytes, packed->sw.data() + t * per_tile,
            packed->zw.data() + t * per_tile};
  }
  pack_tile(w, L, t, scratch_codes, scratch_sw, scratch_zw);
  return {scratch_codes, scratch_sw, scratch_zw};
}

}  // namespace detail

std::shared_ptr<const PackedWeights> pack_weights(const LinearParams& w, const ActQuantParams& input) {
  if (w.bits > 8) return nullptr;
  auto p = std::make_shared<PackedWeights>();
  const detail::PackLayout& L = p->layout = detail::pack_layout(w);
  p->codes.resize(static_cast<size_t>(L.tiles * L.tile_bytes));
  p->sw.resize(static_cast<size_t>(L.tiles * L.groups * detail::kTileOutputs));
  p->zw.resize(p->sw.size());
  parallel_for(L.tiles, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t per_tile = L.groups * detail::kTileOutputs;
      detail::pack_tile(w, L, t, p->codes.data() + t * L.tile_bytes, p->sw.data() + t * per_tile,
                        p->zw.data() + t * per_tile);
    }
  });
  if (input.enabled()) {
    // Σ w' per span: the integer micro-kernel's dot product with an all-ones activation row.
    const detail::SpanTable table = detail::make_span_table(input, w.in, L.group_size);
    const int64_t spans = static_cast<int64_t>(table.spans.size());
    std::vector<uint8_t> ones(static_cast<size_t>(table.row_bytes));
    detail::fill_ones_row(table, ones.data());
    p->span_end = table.end;
    p->wsum.resize(static_cast<size_t>(L.tiles * spans * detail::kTileOutputs));
    const detail::IsaKernels& kernels = detail::isa_kernels();
    parallel_for(L.tiles, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const uint8_t* act = ones.data();
        detail::IntTileArgs args{};
        args.tile = p->codes.data() + t * L.tile_bytes;
        args.u4 = L.u4;
        args.wide_weights = w.bits == 8;
        args.spans = table.spans.data();
        args.num_spans = static_cast<int32_t>(spans);
        args.act = &act;
        args.rows = 1;
        kernels.tile_sums(args, p->wsum.data() + t * spans * detail::kTileOutputs);
      }
    });
  }
  return p;
}

}  // namespace rptq::cpu

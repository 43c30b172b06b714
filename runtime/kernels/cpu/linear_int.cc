// Integer linear: activation codes × weight codes.
//
// Per output tile of 16 features the weights are read once (from the packed copy, or packed into
// per-thread scratch), Σ w' per span comes from pack time (or is taken once per tile with an
// all-ones activation row when the layer was packed without this input quantizer), and then
// every activation row is run against the tile, kMaxRowBlock rows per micro-kernel call. So a
// single row streams the weights once, and many rows reuse each tile from cache while the
// activations (a few KB per row) stream from L2/L3.
#include <algorithm>
#include <vector>

#include "kernels/cpu/isa.h"
#include "kernels/cpu/linear_internal.h"
#include "kernels/cpu/packed_weights.h"
#include "kernels/cpu/spans.h"
#include "kernels/cpu/thread_pool.h"

namespace rptq::cpu::detail {
namespace {

constexpr int64_t kTile = kTileOutputs;

// The activations as the micro-kernels read them: span rows and Σ (q - za) per span.
struct SpanActivations {
  std::vector<uint8_t> rows;  // [rows][table.row_bytes]
  std::vector<int32_t> asum;  // [rows][spans]
  std::vector<uint8_t> ones;  // [table.row_bytes]
};

SpanActivations prepare_activations(const SpanTable& table, const uint8_t* codes, int64_t rows, int64_t in) {
  SpanActivations a;
  const int64_t spans = static_cast<int64_t>(table.spans.size());
  a.rows.resize(static_cast<size_t>(rows * table.row_bytes));
  a.asum.resize(static_cast<size_t>(rows * spans));
  a.ones.resize(static_cast<size_t>(table.row_bytes));
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          fill_span_row(table, codes + r * in, a.rows.data() + r * table.row_bytes, a.asum.data() + r * spans);
      },
      rows > kMaxRowBlock);
  fill_ones_row(table, a.ones.data());
  return a;
}

// Rows are split into chunks only when there are fewer tiles than threads (a narrow layer):
// each chunk redoes its tile's preparation, which is small next to a chunk of rows.
int64_t row_chunks(int64_t tiles, int64_t rows) {
  const int64_t threads = num_threads();
  if (tiles >= threads) return 1;
  const int64_t blocks = (rows + kMaxRowBlock - 1) / kMaxRowBlock;
  return std::min(blocks, (threads + tiles - 1) / tiles);
}

}  // namespace

void linear_int(const ActTensor& x, int64_t rows, const LinearParams& w, uint32_t flags, float* out) {
  const PackLayout L = pack_layout(w);
  const SpanTable table = make_span_table(x.quant, w.in, L.group_size);
  const SpanActivations act = prepare_activations(table, x.codes, rows, w.in);
  const PackedWeights* packed = usable_packing(w);
  const IsaKernels& kernels = isa_kernels();
  const int64_t spans = static_cast<int64_t>(table.spans.size());
  const int64_t per_tile = L.groups * kTile;
  const int64_t chunks = row_chunks(L.tiles, rows);
  const int64_t chunk_rows = (rows + chunks - 1) / chunks;
  // Σ w' per span from pack time when it was packed for this table (same span boundaries).
  const bool packed_sums = packed && packed->span_end == table.end;

  // Over (tile, row chunk) pairs, tiles outermost.
  parallel_for(L.tiles * chunks, [&](int64_t k0, int64_t k1) {
    std::vector<uint8_t> tile_codes(packed ? 0 : static_cast<size_t>(L.tile_bytes));
    std::vector<float> sw(packed ? 0 : static_cast<size_t>(per_tile));
    std::vector<int32_t> zw(sw.size());
    std::vector<int32_t> wsum(packed_sums ? 0 : static_cast<size_t>(spans * kTile));
    float y[kMaxRowBlock * kTile];

    IntTileArgs args{};
    args.u4 = L.u4;
    args.wide_weights = w.bits == 8;
    args.spans = table.spans.data();
    args.num_spans = static_cast<int32_t>(spans);

    for (int64_t k = k0; k < k1; ++k) {
      const int64_t t = k / chunks, chunk = k % chunks;
      const TileRef tile = tile_ref(w, L, packed, t, tile_codes.data(), sw.data(), zw.data());
      args.tile = tile.codes;
      args.sw = tile.sw;
      args.zw = tile.zw;
      if (packed_sums) {
        args.wsum = packed->wsum.data() + t * spans * kTile;
      } else {
        const uint8_t* ones = act.ones.data();
        args.act = &ones;
        args.rows = 1;
        args.wsum = wsum.data();
        kernels.tile_sums(args, wsum.data());
      }

      const int64_t o0 = t * kTile, outs = std::min(kTile, w.out - o0);
      const uint8_t* row_ptr[kMaxRowBlock];
      const int32_t* asum_ptr[kMaxRowBlock];
      const int64_t row_end = std::min(rows, (chunk + 1) * chunk_rows);
      for (int64_t r0 = chunk * chunk_rows; r0 < row_end; r0 += kMaxRowBlock) {
        const int n = static_cast<int>(std::min<int64_t>(kMaxRowBlock, row_end - r0));
        for (int r = 0; r < n; ++r) {
          row_ptr[r] = act.rows.data() + (r0 + r) * table.row_bytes;
          asum_ptr[r] = act.asum.data() + (r0 + r) * spans;
        }
        args.act = row_ptr;
        args.asum = asum_ptr;
        args.rows = n;
        kernels.tile_dot(args, y);
        store_outputs(y, kTile, n, o0, outs, w, flags, out + r0 * w.out);
      }
    }
  });
}

}  // namespace rptq::cpu::detail

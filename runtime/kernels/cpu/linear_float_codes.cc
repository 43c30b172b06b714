// Float activations × weight codes for a few rows: the decode step of the LM head and of
// weight-only (W4A16) layers. Memory-bound, so the weights are read once, in their packed
// (4- or 8-bit) form, and widened to float in registers:
//   y[o] = Σ_g sw[o,g] · Σ_{i in g} x_i · (w'[o,i] - zw'[o,g])
// (isa.h says why the zero point is not taken out as zw'·Σx). Spans are the weight groups (a
// single-cluster span table), so each span row of floats lines the groups up with the packed
// 8-channel blocks.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/isa.h"
#include "kernels/cpu/linear_internal.h"
#include "kernels/cpu/packed_weights.h"
#include "kernels/cpu/spans.h"
#include "kernels/cpu/thread_pool.h"

namespace rptq::cpu::detail {
namespace {

constexpr int64_t kTile = kTileOutputs;
// Below this many weight bytes a call is not worth waking a second thread for.
constexpr int64_t kParallelBytes = int64_t{1} << 16;

// The span table of a layer's groups alone (one activation "cluster" covering every channel).
SpanTable group_spans(int64_t in, int64_t group_size) {
  const int32_t end = static_cast<int32_t>(in), zero = 0;
  const float scale = 1.0f;
  ActQuantParams whole;
  whole.bits = 8;
  whole.num_clusters = 1;
  whole.cluster_end = &end;
  whole.scale = &scale;
  whole.zero = &zero;
  return make_span_table(whole, in, group_size);  // copies what it reads
}

// Span row of floats of one row: 8 per span block, 0 outside the span.
void fill_float_span_row(const SpanTable& t, const float* x, float* row) {
  for (size_t s = 0; s < t.spans.size(); ++s) {
    const Span& sp = t.spans[s];
    float* dst = row + int64_t{sp.act_block} * kBlockChannels;
    std::fill_n(dst, int64_t{sp.blocks} * kBlockChannels, 0.0f);
    const int64_t lead = t.begin[s] - int64_t{sp.block_begin} * kBlockChannels, n = t.end[s] - t.begin[s];
    std::copy_n(x + t.begin[s], n, dst + lead);
  }
}

}  // namespace

void linear_float_codes(const float* x, int64_t rows, const LinearParams& w, uint32_t flags, float* out) {
  const PackLayout L = pack_layout(w);
  const SpanTable table = group_spans(w.in, L.group_size);
  const int64_t spans = static_cast<int64_t>(table.spans.size()), per_tile = L.groups * kTile;
  std::vector<float> act(static_cast<size_t>(rows * table.row_bytes));
  for (int64_t r = 0; r < rows; ++r) fill_float_span_row(table, x + r * w.in, act.data() + r * table.row_bytes);
  const PackedWeights* packed = usable_packing(w);
  const IsaKernels& kernels = isa_kernels();

  parallel_for(L.tiles, [&](int64_t t0, int64_t t1) {
    std::vector<uint8_t> tile_codes(packed ? 0 : static_cast<size_t>(L.tile_bytes));
    std::vector<float> sw(packed ? 0 : static_cast<size_t>(per_tile));
    std::vector<int32_t> zw(sw.size());
    float y[kTile];
    FloatTileArgs args{};
    args.u4 = L.u4;
    args.spans = table.spans.data();
    args.num_spans = static_cast<int32_t>(spans);

    for (int64_t t = t0; t < t1; ++t) {
      const TileRef tile = tile_ref(w, L, packed, t, tile_codes.data(), sw.data(), zw.data());
      args.tile = tile.codes;
      args.sw = tile.sw;
      args.zw = tile.zw;
      const int64_t o0 = t * kTile, outs = std::min(kTile, w.out - o0);
      for (int64_t r = 0; r < rows; ++r) {
        args.act = act.data() + r * table.row_bytes;
        kernels.tile_dot_codes(args, y);
        store_outputs(y, kTile, 1, o0, outs, w, flags, out + r * w.out);
      }
    }
  }, L.tiles * L.tile_bytes > kParallelBytes);
}

}  // namespace rptq::cpu::detail

// The (activation cluster ∩ weight group) spans of an integer linear layer, and the per-row
// "span rows" the micro-kernels read activations from (isa.h).
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cpu/isa.h"
#include "kernels/cpu/kernels.h"

namespace rptq::cpu::detail {

struct SpanTable {
  std::vector<Span> spans;
  std::vector<int64_t> begin, end;  // channel range of each span
  int64_t row_bytes = 0;            // bytes of one span row: 8 per block of every span
};

// Spans of channels [0, in) cut at every cluster end of q, every multiple of group_size and every
// multiple of kMaxSpanChannels.
SpanTable make_span_table(const ActQuantParams& q, int64_t in, int64_t group_size);

// Copies a row of codes into its span row (channels of a span's blocks outside the span are 0)
// and sets asum[s] = Σ_{i in span s} (codes[i] - za). Span s covers channels [begin[s], end[s]).
// Inline over plain arrays so that bundles' native code can pass its span table as constants.
inline void fill_span_row(const Span* spans, const int64_t* begin, const int64_t* end, int32_t count,
                          const uint8_t* codes, uint8_t* span_row, int32_t* asum) {
  for (int32_t s = 0; s < count; ++s) {
    const Span& sp = spans[s];
    const int64_t lead = begin[s] - int64_t{sp.block_begin} * kBlockChannels, n = end[s] - begin[s];
    uint8_t* dst = span_row + int64_t{sp.act_block} * kBlockChannels;
    std::memset(dst, 0, static_cast<size_t>(sp.blocks) * kBlockChannels);
    std::memcpy(dst + lead, codes + begin[s], static_cast<size_t>(n));
    int32_t sum = 0;  // <= 255 · kMaxSpanChannels
    for (int64_t i = 0; i < n; ++i) sum += codes[begin[s] + i];
    asum[s] = sum - static_cast<int32_t>(n) * sp.za;
  }
}
inline void fill_span_row(const SpanTable& t, const uint8_t* codes, uint8_t* span_row, int32_t* asum) {
  fill_span_row(t.spans.data(), t.begin.data(), t.end.data(), static_cast<int32_t>(t.spans.size()), codes, span_row,
                asum);
}
// The span row of an all-ones activation: tile_sums of it gives Σ w' per span.
void fill_ones_row(const SpanTable& t, uint8_t* span_row);

}  // namespace rptq::cpu::detail

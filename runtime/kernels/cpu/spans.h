// The (activation cluster ∩ weight group) spans of an integer linear layer, and the per-row
// "span rows" the micro-kernels read activations from (isa.h).
#pragma once

#include <cstdint>
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
// and sets asum[s] = Σ_{i in span s} (codes[i] - za).
void fill_span_row(const SpanTable& t, const uint8_t* codes, uint8_t* span_row, int32_t* asum);
// The span row of an all-ones activation: tile_sums of it gives Σ w' per span.
void fill_ones_row(const SpanTable& t, uint8_t* span_row);

}  // namespace rptq::cpu::detail

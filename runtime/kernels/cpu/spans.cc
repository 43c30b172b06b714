#include "kernels/cpu/spans.h"

#include <algorithm>
#include <cstring>

namespace rptq::cpu::detail {

SpanTable make_span_table(const ActQuantParams& q, int64_t in, int64_t group_size) {
  SpanTable t;
  int32_t c = 0;
  int64_t pos = 0, act_block = 0;
  while (pos < in) {
    while (c + 1 < q.num_clusters && q.cluster_end[c] <= pos) ++c;
    const int64_t g = pos / group_size;
    const int64_t cap = (pos / kMaxSpanChannels + 1) * kMaxSpanChannels;
    int64_t end = std::min({static_cast<int64_t>(q.cluster_end[c]), (g + 1) * group_size, cap, in});
    if (end <= pos) end = std::min({(g + 1) * group_size, cap, in});  // clusters end short of `in` (bad input)
    const int64_t first = pos / kBlockChannels, last = (end - 1) / kBlockChannels;
    Span s;
    s.block_begin = static_cast<int32_t>(first);
    s.blocks = static_cast<int32_t>(last - first + 1);
    s.act_block = static_cast<int32_t>(act_block);
    s.group = static_cast<int32_t>(g);
    s.za = q.zero[c];
    s.sa = q.scale[c];
    t.spans.push_back(s);
    t.begin.push_back(pos);
    t.end.push_back(end);
    act_block += s.blocks;
    pos = end;
  }
  t.row_bytes = act_block * kBlockChannels;
  return t;
}

void fill_ones_row(const SpanTable& t, uint8_t* span_row) {
  for (size_t s = 0; s < t.spans.size(); ++s) {
    const Span& sp = t.spans[s];
    uint8_t* dst = span_row + int64_t{sp.act_block} * kBlockChannels;
    std::memset(dst, 0, static_cast<size_t>(sp.blocks) * kBlockChannels);
    std::memset(dst + (t.begin[s] - int64_t{sp.block_begin} * kBlockChannels), 1,
                static_cast<size_t>(t.end[s] - t.begin[s]));
  }
}

}  // namespace rptq::cpu::detail

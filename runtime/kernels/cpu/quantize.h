// Row-level activation (de)quantization shared by the kernels that produce or read codes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cpu/kernels.h"
#include "rptq/quant_math.h"

namespace rptq::cpu::detail {

// Cluster c of q as the compiler's quantizer (so codes are bit-identical to its simulation).
inline AffineQuant cluster_quant(const ActQuantParams& q, int32_t c) {
  AffineQuant a;
  a.scale = q.scale[c];
  a.zero = q.zero[c];
  a.qmax = (1 << q.bits) - 1;
  return a;
}

// One row of `cols` channels. Inline so that a bundle's native code, which calls it with its
// quantizers as constants, gets the cluster loop specialized.
inline void quantize_row(const float* x, int64_t cols, const ActQuantParams& q, uint8_t* codes) {
  int64_t begin = 0;
  for (int32_t c = 0; c < q.num_clusters; ++c) {
    const AffineQuant a = cluster_quant(q, c);
    const int64_t end = q.cluster_end[c] < cols ? q.cluster_end[c] : cols;
    for (int64_t j = begin; j < end; ++j) codes[j] = static_cast<uint8_t>(a.quantize(x[j]));
    begin = end;
  }
}
// Per channel of [0, channels): the scale and zero point (as float, as the kernels use them) of
// its cluster. For kernels that read codes channel by channel (attention's cache) and for bundles'
// native code, which has them as constants.
inline void channel_params(const ActQuantParams& q, int64_t channels, std::vector<float>* scale,
                           std::vector<float>* zero) {
  scale->resize(static_cast<size_t>(channels));
  zero->resize(static_cast<size_t>(channels));
  int64_t begin = 0;
  for (int32_t c = 0; c < q.num_clusters && begin < channels; ++c) {
    const int64_t end = q.cluster_end[c] < channels ? q.cluster_end[c] : channels;
    std::fill(scale->begin() + begin, scale->begin() + end, q.scale[c]);
    std::fill(zero->begin() + begin, zero->begin() + end, static_cast<float>(q.zero[c]));
    begin = end;
  }
}

// x[j - begin] = x̂ of channel j, for channels [begin, end) of a row of codes (indexed by channel).
void dequantize_channels(const uint8_t* codes, int64_t begin, int64_t end, const ActQuantParams& q, float* x);

}  // namespace rptq::cpu::detail

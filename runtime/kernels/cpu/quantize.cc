#include "kernels/cpu/quantize.h"

#include <algorithm>

#include "kernels/cpu/thread_pool.h"

namespace rptq::cpu {
namespace detail {

void dequantize_channels(const uint8_t* codes, int64_t begin, int64_t end, const ActQuantParams& q, float* x) {
  // First cluster that ends past `begin`.
  int32_t c = static_cast<int32_t>(std::upper_bound(q.cluster_end, q.cluster_end + q.num_clusters, begin) -
                                   q.cluster_end);
  for (int64_t j = begin; j < end && c < q.num_clusters; ++c) {
    const AffineQuant a = cluster_quant(q, c);
    const int64_t stop = std::min<int64_t>(q.cluster_end[c], end);
    for (; j < stop; ++j) x[j - begin] = a.dequantize(codes[j]);
  }
}

}  // namespace detail

void quantize_rows(const float* x, int64_t rows, int64_t cols, const ActQuantParams& q, uint8_t* codes) {
  parallel_for(
      rows, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) detail::quantize_row(x + r * cols, cols, q, codes + r * cols);
      },
      rows * cols > (1 << 16));
}

void dequantize_rows(const uint8_t* codes, int64_t rows, int64_t cols, const ActQuantParams& q, float* x) {
  parallel_for(
      rows, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) detail::dequantize_channels(codes + r * cols, 0, cols, q, x + r * cols);
      },
      rows * cols > (1 << 16));
}

}  // namespace rptq::cpu

// LayerNorm (+ quantization of its output): rows of layer_norm_row.h, quantized as the
// compiler's simulation quantizes them.
#include <vector>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/layer_norm_row.h"
#include "kernels/cpu/quantize.h"
#include "kernels/cpu/thread_pool.h"

namespace rptq::cpu {

void layer_norm_quant(const float* x, int64_t rows, int64_t cols, const float* gamma, const float* beta,
                      const int32_t* write_index, float eps, const ActQuantParams& q, uint8_t* codes,
                      float* out) {
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        std::vector<float> normalized(q.enabled() ? static_cast<size_t>(cols) : 0);
        for (int64_t r = r0; r < r1; ++r) {
          float* y = q.enabled() ? normalized.data() : out + r * cols;
          detail::normalize_row(x + r * cols, cols, gamma, beta, write_index, eps, y);
          if (q.enabled()) detail::quantize_row(y, cols, q, codes + r * cols);
        }
      },
      rows > 1);
}

}  // namespace rptq::cpu

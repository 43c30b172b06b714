// LayerNorm (+ quantization of its output): rows of layer_norm_row.h, quantized as the
// compiler's simulation quantizes them.
#include <vector>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/layer_norm_row.h"
#include "kernels/cpu/quantize.h"

namespace rptq::cpu {

void layer_norm_quant(const float* x, int64_t rows, int64_t cols, const float* gamma, const float* beta,
                      const int32_t* write_index, float eps, const ActQuantParams& q, uint8_t* codes,
                      float* out) {
#pragma omp parallel if (rows > 1)
  {
    std::vector<float> normalized(q.enabled() ? static_cast<size_t>(cols) : 0);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      float* y = q.enabled() ? normalized.data() : out + r * cols;
      detail::normalize_row(x + r * cols, cols, gamma, beta, write_index, eps, y);
      if (q.enabled()) detail::quantize_row(y, cols, q, codes + r * cols);
    }
  }
}

}  // namespace rptq::cpu

// LayerNorm (+ quantization of its output). Statistics are taken in double in the same order as
// the float reference executor, so the float row equals the one the compiler calibrated and
// simulated on, and its codes are the simulation's.
#include <cmath>
#include <vector>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/quantize.h"

namespace rptq::cpu {
namespace {

void normalize_row(const float* x, int64_t cols, const float* gamma, const float* beta, const int32_t* write_index,
                   float eps, float* y) {
  double mean = 0;
  for (int64_t i = 0; i < cols; ++i) mean += x[i];
  mean /= static_cast<double>(cols);
  double var = 0;
  for (int64_t i = 0; i < cols; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= static_cast<double>(cols);
  const double inv = 1.0 / std::sqrt(var + static_cast<double>(eps));
  for (int64_t i = 0; i < cols; ++i) {
    const int64_t col = write_index ? write_index[i] : i;
    double v = (x[i] - mean) * inv;
    if (gamma) v *= gamma[col];
    if (beta) v += beta[col];
    y[col] = static_cast<float>(v);
  }
}

}  // namespace

void layer_norm_quant(const float* x, int64_t rows, int64_t cols, const float* gamma, const float* beta,
                      const int32_t* write_index, float eps, const ActQuantParams& q, uint8_t* codes,
                      float* out) {
#pragma omp parallel if (rows > 1)
  {
    std::vector<float> normalized(q.enabled() ? static_cast<size_t>(cols) : 0);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      float* y = q.enabled() ? normalized.data() : out + r * cols;
      normalize_row(x + r * cols, cols, gamma, beta, write_index, eps, y);
      if (q.enabled()) detail::quantize_row(y, cols, q, codes + r * cols);
    }
  }
}

}  // namespace rptq::cpu

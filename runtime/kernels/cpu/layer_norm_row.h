// One row of LayerNorm, shared by the generic kernel (layer_norm.cc) and bundles' native code,
// which calls it with the model's width and epsilon as constants. Statistics are taken in double
// in the same order as the float reference executor, so the float row equals the one the
// compiler calibrated and simulated on.
#pragma once

#include <cmath>
#include <cstdint>

namespace rptq::cpu::detail {

// y[write_index[c]] = (x[c] - mean) / sqrt(var + eps) · gamma + beta (gamma, beta in output-column
// order; any of the three may be null).
inline void normalize_row(const float* x, int64_t cols, const float* gamma, const float* beta,
                          const int32_t* write_index, float eps, float* y) {
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

}  // namespace rptq::cpu::detail

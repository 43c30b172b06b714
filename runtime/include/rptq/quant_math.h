// Asymmetric min-max (affine) quantization: the one definition of codes, scales and zero points
// that the compiler's simulation, its calibration and every runtime kernel share.
//
//   scale = (max - min) / (2^bits - 1),  zero = round(-min / scale) clamped to [0, 2^bits - 1]
//   q = clamp(round(x / scale) + zero, 0, 2^bits - 1),  x̂ = (q - zero) · scale
//
// The range is widened to include 0 so that 0 (ReLU outputs, padding) is exact. Rounding is
// round-half-to-even (std::nearbyint in the default mode), as PyTorch's torch.round does.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace rptq {

struct AffineQuant {
  float scale = 1.0f;
  int32_t zero = 0;
  int32_t qmax = 255;  // 2^bits - 1

  static AffineQuant from_range(float min, float max, int bits) {
    AffineQuant q;
    q.qmax = (1 << bits) - 1;
    min = std::min(min, 0.0f);
    max = std::max(max, 0.0f);
    q.scale = (max - min) / static_cast<float>(q.qmax);
    if (!(q.scale > 0.0f) || !std::isfinite(q.scale)) q.scale = 1.0f;  // all-zero (or degenerate) range
    q.zero = static_cast<int32_t>(std::clamp(std::nearbyint(-min / q.scale), 0.0f, static_cast<float>(q.qmax)));
    return q;
  }

  int32_t quantize(float x) const {
    const float v = std::nearbyint(x / scale) + static_cast<float>(zero);
    return static_cast<int32_t>(std::clamp(v, 0.0f, static_cast<float>(qmax)));
  }
  float dequantize(int32_t q) const { return static_cast<float>(q - zero) * scale; }
  float fake_quantize(float x) const { return dequantize(quantize(x)); }
};

}  // namespace rptq

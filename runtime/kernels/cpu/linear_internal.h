// The two implementations behind linear() and the output step they share.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/kernels.h"

namespace rptq::cpu::detail {

// Activation codes × weight codes, in integers (linear_int.cc).
void linear_int(const ActTensor& x, int64_t rows, const LinearParams& w, uint32_t flags, float* out);
// Float activations × weight codes for a few rows (decode, the LM head): the codes widened to
// float in registers, never dequantized to memory (linear_float_codes.cc).
void linear_float_codes(const float* x, int64_t rows, const LinearParams& w, uint32_t flags, float* out);
inline constexpr int64_t kFloatCodesMaxRows = 4;  // past this, dequantizing a tile once is cheaper
// Everything else, in float (linear_float.cc).
void linear_float(const ActTensor& x, int64_t rows, const LinearParams& w, uint32_t flags, float* out);

// One output of a linear layer before it is stored: + bias[o], then ReLU per the flags. Every
// path (and bundles' native code) applies it in this order, so their results agree bit for bit.
inline float bias_relu(float y, const float* bias, int64_t o, uint32_t flags) {
  if (bias) y += bias[o];
  if (flags & kRelu) y = std::max(y, 0.0f);
  return y;
}

// Writes a block of results y[r][o] (row stride y_stride) to out[r, o0 + o] (row stride w.out),
// adding the bias, then ReLU, then = or += per the flags.
inline void store_outputs(const float* y, int64_t y_stride, int64_t rows, int64_t o0, int64_t outs,
                          const LinearParams& w, uint32_t flags, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    float* dst = out + r * w.out + o0;
    for (int64_t o = 0; o < outs; ++o) {
      const float v = bias_relu(y[r * y_stride + o], w.bias, o0 + o, flags);
      dst[o] = (flags & kAccumulate) ? dst[o] + v : v;
    }
  }
}

}  // namespace rptq::cpu::detail

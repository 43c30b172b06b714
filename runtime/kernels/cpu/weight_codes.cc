#include "kernels/cpu/weight_codes.h"

namespace rptq::cpu::detail {

int64_t group_size_of(const LinearParams& w) {
  return w.group_size <= 0 || w.group_size >= w.in ? w.in : w.group_size;
}

int64_t groups_of(const LinearParams& w) {
  const int64_t g = group_size_of(w);
  return g > 0 ? (w.in + g - 1) / g : 0;
}

int64_t code_row_bytes(const LinearParams& w) { return codes_are_u4(w.bits) ? (w.in + 1) / 2 : w.in; }

int weight_offset(int bits) { return bits <= 6 ? 0 : 1 << (bits - 1); }

void dequantize_weight_row(const LinearParams& w, int64_t o, float* dst) {
  const int64_t gs = group_size_of(w), groups = groups_of(w);
  const uint8_t* row = w.codes + o * code_row_bytes(w);
  for (int64_t g = 0; g < groups; ++g) {
    const float scale = w.scale[o * groups + g];
    const int zero = w.zero[o * groups + g];
    const int64_t end = g + 1 < groups ? (g + 1) * gs : w.in;
    for (int64_t i = g * gs; i < end; ++i) dst[i] = static_cast<float>(code_at(w, row, i) - zero) * scale;
  }
}

}  // namespace rptq::cpu::detail

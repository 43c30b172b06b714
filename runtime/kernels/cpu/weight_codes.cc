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
  const bool u4 = codes_are_u4(w.bits);
  for (int64_t g = 0; g < groups; ++g) {
    const float scale = w.scale[o * groups + g];
    const int zero = w.zero[o * groups + g];
    int64_t i = g * gs;
    const int64_t end = g + 1 < groups ? (g + 1) * gs : w.in;
    // Separate branch-free loops per layout so that the compiler vectorizes them.
    if (u4) {
      if (i < end && (i & 1)) dst[i] = static_cast<float>((row[i >> 1] >> 4) - zero) * scale, ++i;
      for (; i + 1 < end; i += 2) {
        const int byte = row[i >> 1];
        dst[i] = static_cast<float>((byte & 0xF) - zero) * scale;
        dst[i + 1] = static_cast<float>((byte >> 4) - zero) * scale;
      }
      if (i < end) dst[i] = static_cast<float>((row[i >> 1] & 0xF) - zero) * scale;
    } else {
      for (; i < end; ++i) dst[i] = static_cast<float>(row[i] - zero) * scale;
    }
  }
}

}  // namespace rptq::cpu::detail

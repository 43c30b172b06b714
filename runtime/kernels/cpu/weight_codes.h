// How a LinearParams' codes, scales and zero points are laid out (kernels.h), in one place.
#pragma once

#include <cstdint>

#include "kernels/cpu/kernels.h"

namespace rptq::cpu::detail {

// group_size <= 0 or >= in: one group per row.
int64_t group_size_of(const LinearParams& w);
int64_t groups_of(const LinearParams& w);
inline bool codes_are_u4(int bits) { return bits <= 4; }
// Bytes of one row of codes: U4 rows are padded to whole bytes.
int64_t code_row_bytes(const LinearParams& w);

// The integer kernels multiply activation codes (u8) by w' = code - offset as a signed byte, and
// the AVX2 kernel's maddubs pairs must stay within int16: 2 · 255 · |w'| <= 32767 needs
// |w'| <= 64. Codes of up to 6 bits are used as they are (|w'| <= 63); 7-bit codes are centred
// (offset 64, w' in [-64, 63]); 8-bit codes become code - 128 in [-128, 127], which fits int8 but
// not the maddubs bound, so the AVX2 kernel splits those (IntTileArgs::wide_weights).
int weight_offset(int bits);

// Ŵ[o, :] in float, exactly as the compiler reconstructs it: (code - zero) * scale.
void dequantize_weight_row(const LinearParams& w, int64_t o, float* dst);

}  // namespace rptq::cpu::detail

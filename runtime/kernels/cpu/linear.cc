#include "kernels/cpu/linear_internal.h"

namespace rptq::cpu {

void linear(const ActTensor& x, int64_t rows, const LinearParams& w, uint32_t flags, float* out) {
  if (rows <= 0 || w.out <= 0) return;
  if (x.quant.enabled() && w.bits <= 8)
    detail::linear_int(x, rows, w, flags, out);
  else if (!x.quant.enabled() && w.bits <= 8 && rows <= detail::kFloatCodesMaxRows)
    detail::linear_float_codes(x.f32, rows, w, flags, out);
  else
    detail::linear_float(x, rows, w, flags, out);
}

}  // namespace rptq::cpu

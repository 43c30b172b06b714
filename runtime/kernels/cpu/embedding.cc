#include <algorithm>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/weight_codes.h"

namespace rptq::cpu {

void embedding(const int32_t* ids, int64_t n, const float* table, int64_t dim, float* out) {
  for (int64_t r = 0; r < n; ++r) std::copy_n(table + int64_t{ids[r]} * dim, dim, out + r * dim);
}

void embedding_from_codes(const int32_t* ids, int64_t n, const LinearParams& table, float* out) {
  for (int64_t r = 0; r < n; ++r) detail::dequantize_weight_row(table, ids[r], out + r * table.in);
}

}  // namespace rptq::cpu

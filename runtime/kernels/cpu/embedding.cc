#include <algorithm>

#include "kernels/cpu/kernels.h"

namespace rptq::cpu {

void embedding(const int32_t* ids, int64_t n, const float* table, int64_t dim, float* out) {
  for (int64_t r = 0; r < n; ++r) std::copy_n(table + int64_t{ids[r]} * dim, dim, out + r * dim);
}

}  // namespace rptq::cpu

#include "bundle/dtype.h"

#include <limits>
#include <string>

namespace rptq::bundle {

namespace {

constexpr uint64_t kMaxBytes = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

std::optional<uint64_t> mul(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r) || r > kMaxBytes) return std::nullopt;
  return r;
}

}  // namespace

bool dtype_known(DType dtype) { return dtype >= DType::MIN && dtype <= DType::MAX; }

std::string dtype_name(DType dtype) {
  if (dtype_known(dtype)) return EnumNameDType(dtype);
  return "DType(" + std::to_string(static_cast<unsigned>(dtype)) + ")";
}

std::optional<uint64_t> row_byte_size(DType dtype, int64_t row_elems) {
  if (row_elems < 0) return std::nullopt;
  const uint64_t n = static_cast<uint64_t>(row_elems);
  switch (dtype) {
    case DType::U4: return n / 2 + n % 2;
    case DType::U8: return n;
    case DType::F16: return mul(n, 2);
    case DType::F32:
    case DType::I32: return mul(n, 4);
    case DType::I64: return mul(n, 8);
  }
  return std::nullopt;
}

std::optional<uint64_t> tensor_byte_size(DType dtype, const int64_t* dims, size_t rank) {
  if (rank == 0) return row_byte_size(dtype, 1);
  std::optional<uint64_t> bytes = row_byte_size(dtype, dims[rank - 1]);
  for (size_t i = 0; i + 1 < rank && bytes; ++i) {
    if (dims[i] < 0) return std::nullopt;
    bytes = mul(*bytes, static_cast<uint64_t>(dims[i]));
  }
  return bytes;
}

std::string shape_string(const int64_t* dims, size_t rank) {
  std::string s = "[";
  for (size_t i = 0; i < rank; ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

}  // namespace rptq::bundle

// Element types of bundle tensors and buffers: names and byte sizes, shared by the writer (which
// refuses inconsistent tensors), the verifier and the inspector.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "schema/bundle_generated.h"

namespace rptq::bundle {

bool dtype_known(DType dtype);
// "F32", ...; "DType(n)" for a value this reader does not know.
std::string dtype_name(DType dtype);

// Bytes of one row of `row_elems` elements; U4 rows are padded to whole bytes.
// nullopt for an unknown dtype, a negative count or a size past 2^63.
std::optional<uint64_t> row_byte_size(DType dtype, int64_t row_elems);

// Bytes of a tensor: rows (the product of all but the last dimension) × row_byte_size(last).
// A scalar (rank 0) is one element. nullopt as for row_byte_size.
std::optional<uint64_t> tensor_byte_size(DType dtype, const int64_t* dims, size_t rank);
inline std::optional<uint64_t> tensor_byte_size(DType dtype, const std::vector<int64_t>& shape) {
  return tensor_byte_size(dtype, shape.data(), shape.size());
}

// "[2, 3]"
std::string shape_string(const int64_t* dims, size_t rank);

}  // namespace rptq::bundle

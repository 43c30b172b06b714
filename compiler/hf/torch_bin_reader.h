// Internals of read_torch_bin (declared in hf/tensor_ref.h), exposed for tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "hf/tensor_ref.h"

namespace rptq::hf::detail {

// read_torch_bin over bytes already in memory: `data[0, size)` is the whole file, `path` names it
// in errors and `keepalive` (may be null in tests) is stored in every TensorRef::file.
// read_torch_bin maps the file and calls this.
void read_torch_bin_bytes(const uint8_t* data, size_t size, const std::string& path,
                          std::shared_ptr<const MappedFile> keepalive, TensorMap& out);

}  // namespace rptq::hf::detail

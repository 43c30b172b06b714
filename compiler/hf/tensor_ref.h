// A view of one tensor inside a memory-mapped checkpoint file.
// Readers (safetensors, pytorch_model.bin) produce these after checking that every element the
// view can address lies inside the mapping; consumers may then read without further bounds checks.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "rptq/mapped_file.h"

namespace rptq::hf {

enum class DType { F32, F16, BF16, Unsupported };

const char* dtype_name(DType t);
size_t dtype_size(DType t);  // 0 for Unsupported

struct TensorRef {
  std::string name;
  DType dtype = DType::Unsupported;
  std::string dtype_text;           // as spelled in the file, for error messages
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;     // in elements; row-major contiguous unless a pickle said otherwise
  const uint8_t* data = nullptr;    // first element
  std::shared_ptr<const MappedFile> file;  // keeps `data` mapped

  int64_t numel() const;
  bool contiguous() const;
};

using TensorMap = std::map<std::string, TensorRef>;

// Element strides of a row-major contiguous tensor of `shape`.
std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape);

// Shape as text, e.g. "[768, 3072]".
std::string shape_text(const std::vector<int64_t>& shape);

// Copies `t` into fp32 (row-major), converting f16/bf16 and honouring strides.
// Throws rptq::Error naming the file and tensor for unsupported dtypes.
std::vector<float> to_f32(const TensorRef& t);

// Adds every tensor of a `model.safetensors` file to `out`. Validates the header (JSON, dtypes,
// shapes, offsets inside the data section, sizes matching shapes) and throws rptq::Error naming the
// file and the problem otherwise. Duplicate names across files are an error.
void read_safetensors(const std::string& path, TensorMap& out);

// Adds every tensor of a PyTorch `pytorch_model.bin` (zip of pickle + raw storages, as written by
// torch.save with the default zipfile serialization) to `out`, with the same guarantees.
void read_torch_bin(const std::string& path, TensorMap& out);

}  // namespace rptq::hf

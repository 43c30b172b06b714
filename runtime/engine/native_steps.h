// Which plan steps a bundle's native CPU code runs, and what it assumed about each: the one rule
// that the code generator (codegen/cpu) and the runtime's loader both apply to a ModelBinding, so
// that the two cannot disagree about a step without the fingerprints differing.
//
// Native code runs a step when its work is on codes: a LayerNorm whose output is quantized, a
// linear layer whose input is activation codes and whose weights are codes of <= 8 bits (with or
// without a quantized output), and attention over a quantized K and V cache (its decode path).
// Everything else (embedding, float paths, the LM head) runs the generic kernels.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model_binding.h"

namespace rptq::engine {

enum class NativeOp : uint8_t { Generic = 0, NormQuant = 1, LinearInt = 2, Attention = 3 };

struct NativeStep {
  NativeOp op = NativeOp::Generic;
  int layer = -1;
  // NormQuant: LayerNorm over `in` channels, output quantized by `output`.
  // LinearInt: [rows, in] codes (quantized by `input`) × [out, in] weight codes of `bits` bits in
  //            groups of `group_size`; bias, ReLU, residual add per the flags; with
  //            output.enabled() the result is quantized by `output` instead of stored as float.
  // Attention: `heads` heads of `out` channels over `in` = hidden channels; Q quantized by `input`
  //            (or float), K and V codes by `key` and `value`, the output by `output` (or float).
  int64_t in = 0, out = 0, heads = 0;
  int bits = 0;
  int64_t group_size = 0;
  float eps = 0;
  bool gamma = false, beta = false, write_index = false, bias = false;
  bool relu = false, accumulate = false;
  cpu::ActQuantParams input, output, key, value;  // point into the binding's quantizers
};

// One per plan step of m.
std::vector<NativeStep> native_steps(const ModelBinding& m);

// XXH64 of everything the steps say (shapes, flags, bits, every cluster end, scale and zero point).
uint64_t native_fingerprint(const std::vector<NativeStep>& steps);

// Scratch a LinearInt step needs per activation row (none for other steps): the span rows of all
// rows first, row_stride bytes each, then the per-span sums, sum_stride bytes each; both padded
// to 64 bytes. The generated code takes the strides as constants, the runtime allocates the total.
struct NativeScratch {
  uint64_t row_stride = 0, sum_stride = 0;
  uint64_t bytes_per_row() const { return row_stride + sum_stride; }
};
NativeScratch native_scratch(const NativeStep& step);

}  // namespace rptq::engine

// The tensors of one decoder layer under their checkpoint names, as slots of an OptLayerWeights:
// the driver swaps in permuted (folded) and quantized replacements slot by slot.
#pragma once

#include <string>
#include <vector>

#include "reference/opt_weights.h"

namespace rptq::pipeline {

struct LayerTensor {
  std::string name;      // e.g. "decoder.layers.3.fc1.weight"
  int64_t rows, cols;    // cols == 1 for vectors
  const float** slot;    // the pointer inside the OptLayerWeights
};

// Only the tensors the layer has (no biases without enable_bias, no gamma/beta without affine).
std::vector<LayerTensor> layer_tensors(OptLayerWeights& layer, int64_t index, const OptConfig& config);

// The checkpoint name prefix of a linear layer's weight and bias, e.g. "decoder.layers.3.fc1".
std::string layer_prefix(int64_t index);

// out[i, j] = src[row_perm[i], col_perm[j]]; an empty perm is the identity.
std::vector<float> permuted(const float* src, int64_t rows, int64_t cols, const std::vector<int64_t>& row_perm,
                            const std::vector<int64_t>& col_perm);

}  // namespace rptq::pipeline

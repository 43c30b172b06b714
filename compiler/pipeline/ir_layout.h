// The driver's view of the IR: it marks the quantization points, hands each layer's channel
// orders to the IR and reads back what the folding passes made of them. The IR is the one place
// where permutations are folded into weights and LayerNorm write indices; the numeric stages
// build their permuted weights from its answer.
#pragma once

#include <array>
#include <map>
#include <string>
#include <vector>

#include <mlir/IR/BuiltinOps.h>

#include "quant/act_quant.h"
#include "reference/float_executor.h"

namespace rptq::pipeline {

struct WeightPerms {
  std::vector<int64_t> row_perm, col_perm;  // empty: identity
};

struct LayerLayout {
  std::map<std::string, WeightPerms> weights;  // by checkpoint name
  std::vector<int64_t> attn_norm_write_index, ffn_norm_write_index;  // empty: identity
};

// Runs --rptq-mark-quant-points (once; it is idempotent).
void mark_quant_points(mlir::ModuleOp module);

// Sets the channel order of each of the layer's quantization points (empty: keep the order),
// materializes and folds the reorders, and returns the folded permutations of that layer.
// Throws rptq::Error if a reorder cannot be folded.
LayerLayout fold_layer_orders(mlir::ModuleOp module, int64_t layer,
                              const std::array<std::vector<int64_t>, kNumActivationPoints>& orders);

// Records the final quantization parameters on the layer's quantization points.
void annotate_quant_points(mlir::ModuleOp module, int64_t layer,
                           const std::array<quant::ActQuantSpec, kNumActivationPoints>& specs);

}  // namespace rptq::pipeline

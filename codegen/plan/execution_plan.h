// The execution plan of one forward call over T <= max_tokens tokens: the ordered kernel calls of
// an OPT decoder and the static memory plan of their activation buffers (docs/bundle.md).
//
// Every buffer is [T, row_elems] and lives from its first to its last use; buffers whose lives do
// not overlap share arena bytes. The offsets are chosen here, at compile time, for T = max_tokens,
// and hold for any smaller T because each buffer's rows are contiguous from its offset.
// Logits are not an arena buffer: the LM head writes to the caller's memory, so the arena does not
// grow with the vocabulary.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "rptq/opt_config.h"
#include "schema/bundle_generated.h"

namespace rptq::codegen {

struct PlanBuffer {
  std::string name;
  bundle::DType dtype;
  int64_t row_elems;
  uint64_t offset = 0;
  int first_use = -1, last_use = -1;  // op indices
  uint64_t bytes(int64_t rows) const;
};

struct PlanOp {
  bundle::OpKind kind;
  int layer = -1;
  bundle::LinearId linear = bundle::LinearId::QProj;
  uint8_t norm = 0;    // 0 attn_norm, 1 ffn_norm, 2 final_norm
  int act = -1;        // ActPoint quantizing the NormQuant output / the Linear input; -1: float
  int out_act = -1;    // ActPoint quantizing a Linear's output (QuantizeOutput)
  bundle::OpFlags flags = bundle::OpFlags::NONE;
  std::vector<int> inputs, outputs;
};

struct ExecutionPlan {
  std::vector<PlanOp> ops;
  std::vector<PlanBuffer> buffers;
  int64_t max_tokens = 0;
  uint64_t arena_bytes = 0;
  uint64_t kv_cache_bytes_per_token = 0;
};

// Activation bits of each layer's seven points (ActPoint order); 16 = float.
using LayerActBits = std::array<int, 7>;

// Pre-LN OPT only (post-LN models are rejected with rptq::Error). Offsets are assigned.
ExecutionPlan build_execution_plan(const OptConfig& config, const std::vector<LayerActBits>& act_bits,
                                   int64_t max_tokens);

// First-fit by decreasing size over the buffers' live ranges; 64-byte aligned offsets.
void assign_buffer_offsets(ExecutionPlan& plan);

}  // namespace rptq::codegen

// fp32 parameters of an OPT model as the reference executor reads them: plain row-major arrays,
// either borrowed from a mapped fp32 checkpoint or owned copies converted from f16/bf16.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "rptq/opt_config.h"

namespace rptq {

struct LinearWeights {
  const float* weight = nullptr;  // [out, in], y = x Wᵀ + b (nn.Linear)
  const float* bias = nullptr;    // [out] or null
  int64_t out = 0, in = 0;
};

struct LayerNormWeights {
  const float* gamma = nullptr;  // [dim] or null (no elementwise affine), in output-column order
  const float* beta = nullptr;
  // RPTQ's reorder-LayerNorm (rptq.layer_norm write_index): normalized channel c is written to
  // column write_index[c], scaled by gamma/beta of that column. Null: identity.
  const int64_t* write_index = nullptr;
};

struct OptLayerWeights {
  LayerNormWeights attn_norm;  // self_attn_layer_norm
  LinearWeights q, k, v, out;
  LayerNormWeights ffn_norm;   // the layer's final_layer_norm (before fc1 in pre-LN)
  LinearWeights fc1, fc2;
};

struct OptWeights {
  OptConfig config;
  const float* embed_tokens = nullptr;     // [vocab, word_embed_proj_dim]
  const float* embed_positions = nullptr;  // [max_positions + 2, hidden]
  LinearWeights project_in, project_out;   // present iff config.has_projections()
  LayerNormWeights final_norm;             // used iff config.final_layer_norm
  const float* lm_head = nullptr;          // [vocab, word_embed_proj_dim]
  std::vector<OptLayerWeights> layers;

  // Whatever the pointers above point into (owned float buffers, mapped files).
  std::vector<std::shared_ptr<const void>> keepalive;

  // Set when the layers are loaded on demand (f16/bf16 checkpoints converted one layer at a
  // time): `layers[l]` is empty until load_layer(l, layers[l]) fills it, and the returned object
  // owns what the filled pointers point to.
  std::function<std::shared_ptr<const void>(int64_t layer, OptLayerWeights& out)> load_layer;
};

}  // namespace rptq

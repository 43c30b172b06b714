// The architecture hyper-parameters of an OPT model, as the runtime needs them.
// Filled from a Hugging Face config.json by the compiler (compiler/hf/opt_config_json.*)
// and, later, from a bundle.
#pragma once

#include <cstdint>
#include <string>

namespace rptq {

struct OptConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;          // d_model
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t ffn_dim = 0;
  int64_t max_positions = 0;        // learned positions, excluding OPT's offset of 2
  int64_t word_embed_proj_dim = 0;  // == hidden_size unless project_in/out exist
  bool pre_layer_norm = true;       // do_layer_norm_before; false only for opt-350m
  bool final_layer_norm = true;     // false for post-LN models and _remove_final_layer_norm
  bool enable_bias = true;
  bool layer_norm_affine = true;
  bool tie_word_embeddings = true;  // lm_head shares embed_tokens unless the checkpoint says not
  float layer_norm_eps = 1e-5f;
  int64_t bos_token_id = 2;
  int64_t eos_token_id = 2;
  int64_t pad_token_id = 1;

  static constexpr int64_t kPositionOffset = 2;  // OPT's learned positions start at index 2
  int64_t head_dim() const { return hidden_size / num_heads; }
  bool has_projections() const { return word_embed_proj_dim != hidden_size; }
};

}  // namespace rptq

#include "hf/opt_config_json.h"

#include <nlohmann/json.hpp>

#include "hf/json_file.h"
#include "rptq/error.h"

namespace rptq::hf {
namespace {

using nlohmann::json;

int64_t get_int(const json& j, const std::string& path, const char* key, bool required, int64_t fallback) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) fail(path, std::string("missing required key '") + key + "'");
    return fallback;
  }
  if (!j[key].is_number_integer()) fail(path, std::string("key '") + key + "' must be an integer");
  return j[key].get<int64_t>();
}

bool get_bool(const json& j, const std::string& path, const char* key, bool fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_boolean()) fail(path, std::string("key '") + key + "' must be a boolean");
  return j[key].get<bool>();
}

}  // namespace

OptConfig read_opt_config(const std::string& path) {
  const json j = read_json_file(path, "config.json");
  if (!j.is_object()) fail(path, "config is not a JSON object");

  const std::string model_type = j.value("model_type", std::string());
  if (model_type != "opt")
    fail(path, "model_type is '" + model_type + "', not 'opt': only OPT checkpoints are supported");
  if (j.contains("activation_function") && j["activation_function"] != "relu")
    fail(path, "activation_function " + j["activation_function"].dump() + " is not supported (OPT uses relu)");

  OptConfig c;
  c.vocab_size = get_int(j, path, "vocab_size", true, 0);
  c.hidden_size = get_int(j, path, "hidden_size", true, 0);
  c.num_layers = get_int(j, path, "num_hidden_layers", true, 0);
  c.num_heads = get_int(j, path, "num_attention_heads", true, 0);
  c.ffn_dim = get_int(j, path, "ffn_dim", true, 0);
  c.max_positions = get_int(j, path, "max_position_embeddings", true, 0);
  c.word_embed_proj_dim = get_int(j, path, "word_embed_proj_dim", false, c.hidden_size);
  c.pre_layer_norm = get_bool(j, path, "do_layer_norm_before", true);
  c.final_layer_norm = c.pre_layer_norm && !get_bool(j, path, "_remove_final_layer_norm", false);
  c.enable_bias = get_bool(j, path, "enable_bias", true);
  c.layer_norm_affine = get_bool(j, path, "layer_norm_elementwise_affine", true);
  c.bos_token_id = get_int(j, path, "bos_token_id", false, 2);
  c.eos_token_id = get_int(j, path, "eos_token_id", false, 2);
  c.pad_token_id = get_int(j, path, "pad_token_id", false, 1);
  c.tie_word_embeddings = get_bool(j, path, "tie_word_embeddings", true);

  auto positive = [&](const char* key, int64_t v) {
    if (v <= 0) fail(path, std::string("key '") + key + "' must be positive, got " + std::to_string(v));
  };
  positive("vocab_size", c.vocab_size);
  positive("hidden_size", c.hidden_size);
  positive("num_hidden_layers", c.num_layers);
  positive("num_attention_heads", c.num_heads);
  positive("ffn_dim", c.ffn_dim);
  positive("max_position_embeddings", c.max_positions);
  positive("word_embed_proj_dim", c.word_embed_proj_dim);
  if (c.hidden_size % c.num_heads != 0)
    fail(path, "hidden_size " + std::to_string(c.hidden_size) + " is not divisible by num_attention_heads " +
                   std::to_string(c.num_heads));
  for (int64_t id : {c.bos_token_id, c.eos_token_id, c.pad_token_id})
    if (id < 0 || id >= c.vocab_size) fail(path, "special token id " + std::to_string(id) + " is outside the vocabulary");
  return c;
}

}  // namespace rptq::hf

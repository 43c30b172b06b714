#include "hf/opt_weights_loader.h"

#include <cstdint>

namespace rptq::hf {
namespace {

class Loader {
 public:
  Loader(const Checkpoint& ck, OptWeights& w) : ck_(ck), w_(w) {}

  const float* tensor(const std::string& name) {
    const TensorRef& t = ck_.get(name);
    if (t.dtype == DType::F32 && t.contiguous() && reinterpret_cast<uintptr_t>(t.data) % alignof(float) == 0) {
      w_.keepalive.push_back(t.file);
      return reinterpret_cast<const float*>(t.data);
    }
    auto owned = std::make_shared<std::vector<float>>(to_f32(t));
    w_.keepalive.push_back(owned);
    return owned->data();
  }

  LinearWeights linear(const std::string& name, int64_t out, int64_t in, bool bias) {
    LinearWeights l;
    l.weight = tensor(name + ".weight");
    l.bias = bias ? tensor(name + ".bias") : nullptr;
    l.out = out;
    l.in = in;
    return l;
  }

  LayerNormWeights layer_norm(const std::string& name) {
    if (!w_.config.layer_norm_affine) return {};
    return {tensor(name + ".weight"), tensor(name + ".bias")};
  }

 private:
  const Checkpoint& ck_;
  OptWeights& w_;
};

}  // namespace

std::shared_ptr<OptWeights> load_opt_weights(const Checkpoint& ck) {
  auto w = std::make_shared<OptWeights>();
  w->config = ck.config();
  const OptConfig& c = w->config;
  const int64_t D = c.hidden_size, E = c.word_embed_proj_dim, F = c.ffn_dim;
  const bool bias = c.enable_bias;
  Loader load(ck, *w);
  w->embed_tokens = load.tensor("decoder.embed_tokens.weight");
  w->embed_positions = load.tensor("decoder.embed_positions.weight");
  if (c.has_projections()) {
    w->project_in = load.linear("decoder.project_in", D, E, false);
    w->project_out = load.linear("decoder.project_out", E, D, false);
  }
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "decoder.layers." + std::to_string(l) + ".";
    OptLayerWeights L;
    L.attn_norm = load.layer_norm(p + "self_attn_layer_norm");
    L.q = load.linear(p + "self_attn.q_proj", D, D, bias);
    L.k = load.linear(p + "self_attn.k_proj", D, D, bias);
    L.v = load.linear(p + "self_attn.v_proj", D, D, bias);
    L.out = load.linear(p + "self_attn.out_proj", D, D, bias);
    L.ffn_norm = load.layer_norm(p + "final_layer_norm");
    L.fc1 = load.linear(p + "fc1", F, D, bias);
    L.fc2 = load.linear(p + "fc2", D, F, bias);
    w->layers.push_back(L);
  }
  if (c.final_layer_norm) w->final_norm = load.layer_norm("decoder.final_layer_norm");
  w->lm_head = load.tensor("lm_head.weight");
  return w;
}

}  // namespace rptq::hf

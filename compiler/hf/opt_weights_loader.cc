#include "hf/opt_weights_loader.h"

#include <cstdint>

namespace rptq::hf {
namespace {

class Loader {
 public:
  Loader(const Checkpoint& ck, std::vector<std::shared_ptr<const void>>& owned) : ck_(ck), owned_(owned) {}

  const float* tensor(const std::string& name) {
    const TensorRef& t = ck_.get(name);
    if (t.dtype == DType::F32 && t.contiguous() && reinterpret_cast<uintptr_t>(t.data) % alignof(float) == 0) {
      owned_.push_back(t.file);
      return reinterpret_cast<const float*>(t.data);
    }
    auto owned = std::make_shared<std::vector<float>>(to_f32(t));
    owned_.push_back(owned);
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
    if (!ck_.config().layer_norm_affine) return {};
    return {tensor(name + ".weight"), tensor(name + ".bias")};
  }

  OptLayerWeights layer(int64_t l) {
    const OptConfig& c = ck_.config();
    const int64_t D = c.hidden_size, F = c.ffn_dim;
    const bool bias = c.enable_bias;
    const std::string p = "decoder.layers." + std::to_string(l) + ".";
    OptLayerWeights L;
    L.attn_norm = layer_norm(p + "self_attn_layer_norm");
    L.q = linear(p + "self_attn.q_proj", D, D, bias);
    L.k = linear(p + "self_attn.k_proj", D, D, bias);
    L.v = linear(p + "self_attn.v_proj", D, D, bias);
    L.out = linear(p + "self_attn.out_proj", D, D, bias);
    L.ffn_norm = layer_norm(p + "final_layer_norm");
    L.fc1 = linear(p + "fc1", F, D, bias);
    L.fc2 = linear(p + "fc2", D, F, bias);
    return L;
  }

 private:
  const Checkpoint& ck_;
  std::vector<std::shared_ptr<const void>>& owned_;
};

}  // namespace

std::shared_ptr<OptWeights> load_opt_weights(const Checkpoint& ck, bool lazy_layers) {
  auto w = std::make_shared<OptWeights>();
  w->config = ck.config();
  const OptConfig& c = w->config;
  const int64_t D = c.hidden_size, E = c.word_embed_proj_dim;
  Loader load(ck, w->keepalive);
  w->embed_tokens = load.tensor("decoder.embed_tokens.weight");
  w->embed_positions = load.tensor("decoder.embed_positions.weight");
  if (c.has_projections()) {
    w->project_in = load.linear("decoder.project_in", D, E, false);
    w->project_out = load.linear("decoder.project_out", E, D, false);
  }
  w->layers.resize(static_cast<size_t>(c.num_layers));
  if (lazy_layers) {
    w->load_layer = [ck](int64_t l, OptLayerWeights& out) -> std::shared_ptr<const void> {
      auto owned = std::make_shared<std::vector<std::shared_ptr<const void>>>();
      Loader layer_loader(ck, *owned);
      out = layer_loader.layer(l);
      return owned;
    };
  } else {
    for (int64_t l = 0; l < c.num_layers; ++l) w->layers[static_cast<size_t>(l)] = load.layer(l);
  }
  if (c.final_layer_norm) w->final_norm = load.layer_norm("decoder.final_layer_norm");
  w->lm_head = load.tensor("lm_head.weight");
  return w;
}

}  // namespace rptq::hf

#include "pipeline/layer_tensors.h"

#include "rptq/error.h"

namespace rptq::pipeline {

std::string layer_prefix(int64_t index) { return "decoder.layers." + std::to_string(index) + "."; }

std::vector<LayerTensor> layer_tensors(OptLayerWeights& L, int64_t index, const OptConfig& c) {
  const std::string p = layer_prefix(index);
  std::vector<LayerTensor> out;
  auto linear = [&](const std::string& name, LinearWeights& w) {
    out.push_back({p + name + ".weight", w.out, w.in, &w.weight});
    if (w.bias) out.push_back({p + name + ".bias", w.out, 1, &w.bias});
  };
  auto norm = [&](const std::string& name, LayerNormWeights& n) {
    if (n.gamma) out.push_back({p + name + ".weight", c.hidden_size, 1, &n.gamma});
    if (n.beta) out.push_back({p + name + ".bias", c.hidden_size, 1, &n.beta});
  };
  norm("self_attn_layer_norm", L.attn_norm);
  linear("self_attn.q_proj", L.q);
  linear("self_attn.k_proj", L.k);
  linear("self_attn.v_proj", L.v);
  linear("self_attn.out_proj", L.out);
  norm("final_layer_norm", L.ffn_norm);
  linear("fc1", L.fc1);
  linear("fc2", L.fc2);
  return out;
}

std::vector<float> permuted(const float* src, int64_t rows, int64_t cols, const std::vector<int64_t>& row_perm,
                            const std::vector<int64_t>& col_perm) {
  if ((!row_perm.empty() && static_cast<int64_t>(row_perm.size()) != rows) ||
      (!col_perm.empty() && static_cast<int64_t>(col_perm.size()) != cols))
    fail("folding", "a permutation does not match its tensor's shape");
  std::vector<float> out(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t r = row_perm.empty() ? i : row_perm[static_cast<size_t>(i)];
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t k = col_perm.empty() ? j : col_perm[static_cast<size_t>(j)];
      out[static_cast<size_t>(i * cols + j)] = src[r * cols + k];
    }
  }
  return out;
}

}  // namespace rptq::pipeline

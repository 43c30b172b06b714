#include "reference/float_executor.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <string>

#include "rptq/error.h"

namespace rptq {
namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMatMap = Eigen::Map<const RowMat>;
using MatMap = Eigen::Map<RowMat>;

// y[n, out] = x[n, in] · Wᵀ + b. Eigen threads GEMMs itself but not matrix-vector products, so
// for the few-token decode case the output columns are split across threads by hand.
void linear(const float* x, int64_t n, const LinearWeights& w, float* y) {
  ConstMatMap X(x, n, w.in);
  ConstMatMap W(w.weight, w.out, w.in);
  MatMap Y(y, n, w.out);
  if (n >= 8) {
    Y.noalias() = X * W.transpose();
  } else {
    constexpr int64_t kBlock = 256;
    const int64_t blocks = (w.out + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t r0 = b * kBlock, rows = std::min(kBlock, w.out - r0);
      Y.middleCols(r0, rows).noalias() = X * W.middleRows(r0, rows).transpose();
    }
  }
  if (w.bias) Y.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(w.bias, w.out);
}

// torch.nn.LayerNorm: biased variance, eps inside the square root. Statistics in double so the
// reference does not add rounding error of its own.
void layer_norm(const float* x, int64_t n, int64_t dim, const LayerNormWeights& w, float eps, float* y) {
  for (int64_t r = 0; r < n; ++r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    double mean = 0;
    for (int64_t i = 0; i < dim; ++i) mean += xr[i];
    mean /= static_cast<double>(dim);
    double var = 0;
    for (int64_t i = 0; i < dim; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    var /= static_cast<double>(dim);
    const double inv = 1.0 / std::sqrt(var + static_cast<double>(eps));
    for (int64_t i = 0; i < dim; ++i) {
      const int64_t col = w.write_index ? w.write_index[i] : i;
      double v = (xr[i] - mean) * inv;
      if (w.gamma) v = v * w.gamma[col] + w.beta[col];
      yr[col] = static_cast<float>(v);
    }
  }
}

}  // namespace

const char* activation_point_name(ActivationPoint p) {
  switch (p) {
    case ActivationPoint::kAttnNormOut: return "attn_norm_out";
    case ActivationPoint::kQuery: return "query";
    case ActivationPoint::kKey: return "key";
    case ActivationPoint::kValue: return "value";
    case ActivationPoint::kAttnOut: return "attn_out";
    case ActivationPoint::kFfnNormOut: return "ffn_norm_out";
    case ActivationPoint::kFc1Out: return "fc1_out";
  }
  return "?";
}

KvCache::KvCache(const OptConfig& config, int64_t capacity)
    : capacity_(capacity), hidden_(config.hidden_size) {
  k_.assign(config.num_layers, std::vector<float>(static_cast<size_t>(capacity * hidden_)));
  v_.assign(config.num_layers, std::vector<float>(static_cast<size_t>(capacity * hidden_)));
}

FloatExecutor::FloatExecutor(std::shared_ptr<const OptWeights> weights) : weights_(std::move(weights)) {}

KvCache FloatExecutor::new_cache(int64_t capacity) const {
  const int64_t max = config().max_positions;
  if (capacity <= 0 || capacity > max) capacity = max;
  return KvCache(config(), capacity);
}

void FloatExecutor::check_length(int64_t n, const KvCache& cache) const {
  if (n <= 0) fail("executor", "no tokens to run");
  if (cache.length() + n > cache.capacity())
    fail("executor", "sequence of " + std::to_string(cache.length() + n) + " tokens exceeds the context of " +
                         std::to_string(cache.capacity()) + " positions");
}

std::vector<float> FloatExecutor::forward(const int32_t* tokens, int64_t n, KvCache& cache,
                                          const ActivationObserver& observer) const {
  check_length(n, cache);
  std::vector<float> h = embed(tokens, n, cache.length());
  for (int64_t l = 0; l < config().num_layers; ++l) run_layer(l, h.data(), n, cache, observer);
  cache.advance(n);
  return logits(h.data(), n);
}

std::vector<float> FloatExecutor::embed(const int32_t* tokens, int64_t n, int64_t past) const {
  const OptWeights& W = *weights_;
  const OptConfig& c = W.config;
  const int64_t D = c.hidden_size, E = c.word_embed_proj_dim;
  if (past < 0 || past + n > c.max_positions) fail("executor", "positions past the model's context");
  // Tokens (optionally projected to the hidden size) plus learned positions.
  std::vector<float> emb(static_cast<size_t>(n * E));
  for (int64_t i = 0; i < n; ++i) {
    if (tokens[i] < 0 || tokens[i] >= c.vocab_size)
      fail("executor", "token id " + std::to_string(tokens[i]) + " is outside the vocabulary of " +
                           std::to_string(c.vocab_size));
    std::copy_n(W.embed_tokens + tokens[i] * E, E, emb.data() + i * E);
  }
  std::vector<float> h(static_cast<size_t>(n * D));
  if (c.has_projections())
    linear(emb.data(), n, W.project_in, h.data());
  else
    h = std::move(emb);
  for (int64_t i = 0; i < n; ++i) {
    const float* pos = W.embed_positions + (past + i + OptConfig::kPositionOffset) * D;
    for (int64_t j = 0; j < D; ++j) h[i * D + j] += pos[j];
  }
  return h;
}

void FloatExecutor::run_layer(int64_t layer, float* h, int64_t n, KvCache& cache,
                              const ActivationObserver& observer) const {
  const OptConfig& c = config();
  const OptLayerWeights& L = weights_->layers[static_cast<size_t>(layer)];
  const int64_t D = c.hidden_size, F = c.ffn_dim, H = c.num_heads;
  const int64_t hd = c.head_dim(), past = cache.length(), total = past + n;
  if (total > cache.capacity()) fail("executor", "KV cache overflow");
  auto observe = [&](ActivationPoint p, float* data, int64_t cols) {
    if (observer) observer({layer, p, data, n, cols});
  };
  std::vector<float> x(static_cast<size_t>(n * D)), q(x.size()), attn(x.size()), tmp(x.size());
  std::vector<float> ff(static_cast<size_t>(n * F));
  const float scaling = 1.0f / std::sqrt(static_cast<float>(hd));
  // Pre-LN (every OPT but 350m) normalises a block's input into `x`; post-LN normalises the
  // residual sum instead. `tmp` holds the block's output when add_residual runs. The
  // quantization point sees a copy in `x` either way, so an observer that rewrites it never
  // touches the residual stream.
  auto block_input = [&](const LayerNormWeights& norm) -> float* {
    if (c.pre_layer_norm)
      layer_norm(h, n, D, norm, c.layer_norm_eps, x.data());
    else
      std::copy_n(h, n * D, x.data());
    return x.data();
  };
  auto add_residual = [&](const LayerNormWeights& norm) {
    for (int64_t i = 0; i < n * D; ++i) h[i] += tmp[static_cast<size_t>(i)];
    if (c.pre_layer_norm) return;
    layer_norm(h, n, D, norm, c.layer_norm_eps, tmp.data());
    std::copy_n(tmp.data(), n * D, h);
  };
  float* kc = cache.keys(layer);
  float* vc = cache.values(layer);

  // Self-attention block.
  float* attn_in = block_input(L.attn_norm);
  observe(ActivationPoint::kAttnNormOut, attn_in, D);
  linear(attn_in, n, L.q, q.data());
  linear(attn_in, n, L.k, kc + past * D);
  linear(attn_in, n, L.v, vc + past * D);
  observe(ActivationPoint::kQuery, q.data(), D);
  observe(ActivationPoint::kKey, kc + past * D, D);
  observe(ActivationPoint::kValue, vc + past * D, D);
  for (float& v : q) v *= scaling;  // HF scales q after the projection (bias included)

#pragma omp parallel for schedule(static)
  for (int64_t head = 0; head < H; ++head) {
    using StridedMap = Eigen::Map<const RowMat, 0, Eigen::OuterStride<>>;
    StridedMap Q(q.data() + head * hd, n, hd, Eigen::OuterStride<>(D));
    StridedMap K(kc + head * hd, total, hd, Eigen::OuterStride<>(D));
    StridedMap V(vc + head * hd, total, hd, Eigen::OuterStride<>(D));
    RowMat S = Q * K.transpose();  // [n, total]
    for (int64_t i = 0; i < n; ++i) {
      const int64_t visible = past + i + 1;  // causal: query i sees keys 0 .. past+i
      float mx = S.row(i).head(visible).maxCoeff();
      double sum = 0;
      for (int64_t j = 0; j < visible; ++j) {
        S(i, j) = std::exp(S(i, j) - mx);
        sum += S(i, j);
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int64_t j = 0; j < visible; ++j) S(i, j) *= inv;
      for (int64_t j = visible; j < total; ++j) S(i, j) = 0.0f;
    }
    Eigen::Map<RowMat, 0, Eigen::OuterStride<>> O(attn.data() + head * hd, n, hd, Eigen::OuterStride<>(D));
    O.noalias() = S * V;
  }
  observe(ActivationPoint::kAttnOut, attn.data(), D);
  linear(attn.data(), n, L.out, tmp.data());
  add_residual(L.attn_norm);

  // Feed-forward block.
  float* ffn_in = block_input(L.ffn_norm);
  observe(ActivationPoint::kFfnNormOut, ffn_in, D);
  linear(ffn_in, n, L.fc1, ff.data());
  for (float& v : ff) v = std::max(v, 0.0f);
  observe(ActivationPoint::kFc1Out, ff.data(), F);
  linear(ff.data(), n, L.fc2, tmp.data());
  add_residual(L.ffn_norm);
}

std::vector<float> FloatExecutor::logits(const float* hidden, int64_t n) const {
  const OptWeights& W = *weights_;
  const OptConfig& c = W.config;
  const int64_t D = c.hidden_size, E = c.word_embed_proj_dim;
  std::vector<float> h(hidden, hidden + n * D), tmp;
  if (c.final_layer_norm) {
    tmp.resize(h.size());
    layer_norm(h.data(), n, D, W.final_norm, c.layer_norm_eps, tmp.data());
    h.swap(tmp);
  }
  if (c.has_projections()) {
    tmp.resize(static_cast<size_t>(n * E));
    linear(h.data(), n, W.project_out, tmp.data());
    h.swap(tmp);
  }
  std::vector<float> out(static_cast<size_t>(n * c.vocab_size));
  LinearWeights lm{W.lm_head, nullptr, c.vocab_size, E};
  linear(h.data(), n, lm, out.data());
  return out;
}

}  // namespace rptq

// The reference executor: OPT in fp32 on the CPU, with a KV cache for incremental decoding.
// It is the numeric oracle for every quantized path, and calibration reads activations through
// its observer hook, so it favours clarity and exact HF semantics over speed (GEMMs still go
// through Eigen, threaded with OpenMP).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "reference/opt_weights.h"

namespace rptq {

// The tensors RPTQ quantizes: every activation that feeds a matrix multiplication.
enum class ActivationPoint {
  kAttnNormOut,  // LayerNorm output feeding q/k/v_proj  [tokens, hidden]
  kQuery,        // Q entering QKᵀ, before the 1/√d scale [tokens, hidden]
  kKey,          // K entering QKᵀ (new tokens only)     [tokens, hidden]
  kValue,        // V entering P·V (new tokens only)     [tokens, hidden]
  kAttnOut,      // attention output feeding out_proj    [tokens, hidden]
  kFfnNormOut,   // LayerNorm output feeding fc1         [tokens, hidden]
  kFc1Out,       // ReLU(fc1) output feeding fc2         [tokens, ffn]
};
const char* activation_point_name(ActivationPoint p);

constexpr int kNumActivationPoints = 7;

// An observer sees each quantization point as the executor produces it and may rewrite it in
// place: calibration only reads, the quantization simulation replaces values by their
// dequantized codes, so everything downstream (the KV cache included) sees what a kernel sees.
struct ActivationView {
  int64_t layer;
  ActivationPoint point;
  float* data;  // row-major [rows, cols]
  int64_t rows, cols;
};
using ActivationObserver = std::function<void(const ActivationView&)>;

// Keys and values of every layer for the tokens seen so far.
class KvCache {
 public:
  KvCache(const OptConfig& config, int64_t capacity);
  int64_t length() const { return length_; }
  int64_t capacity() const { return capacity_; }
  void clear() { length_ = 0; }
  // Layer-at-a-time execution writes each layer's new keys/values at length(), then advances once.
  void advance(int64_t n) { length_ += n; }
  float* keys(int64_t layer) { return k_[static_cast<size_t>(layer)].data(); }
  float* values(int64_t layer) { return v_[static_cast<size_t>(layer)].data(); }

 private:
  int64_t capacity_, length_ = 0, hidden_;
  std::vector<std::vector<float>> k_, v_;  // per layer, [capacity, hidden]
};

class FloatExecutor {
 public:
  explicit FloatExecutor(std::shared_ptr<const OptWeights> weights);
  const OptConfig& config() const { return weights_->config; }
  KvCache new_cache(int64_t capacity = 0) const;  // 0: the model's max positions

  // Runs `n` tokens that follow the cache's contents; appends their keys/values to the cache.
  // Returns logits [n, vocab]. Throws rptq::Error if the cache would overflow or ids are invalid.
  std::vector<float> forward(const int32_t* tokens, int64_t n, KvCache& cache,
                             const ActivationObserver& observer = nullptr) const;

  // The same computation a stage at a time, for layer-by-layer calibration:
  // hidden [n, hidden] of tokens at positions past .. past+n-1 ...
  std::vector<float> embed(const int32_t* tokens, int64_t n, int64_t past) const;
  // ... one decoder layer, in place, its keys/values written at cache.length() (not advanced) ...
  void run_layer(int64_t layer, float* hidden, int64_t n, KvCache& cache,
                 const ActivationObserver& observer = nullptr) const;
  // ... and the final norm, projection and LM head: logits [n, vocab].
  std::vector<float> logits(const float* hidden, int64_t n) const;

 private:
  void check_length(int64_t n, const KvCache& cache) const;
  std::shared_ptr<const OptWeights> weights_;
};

}  // namespace rptq

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
  kQuery,        // scaled Q entering QKᵀ                [tokens, hidden]
  kKey,          // K entering QKᵀ (new tokens only)     [tokens, hidden]
  kValue,        // V entering P·V (new tokens only)     [tokens, hidden]
  kAttnOut,      // attention output feeding out_proj    [tokens, hidden]
  kFfnNormOut,   // LayerNorm output feeding fc1         [tokens, hidden]
  kFc1Out,       // ReLU(fc1) output feeding fc2         [tokens, ffn]
};
const char* activation_point_name(ActivationPoint p);

struct ActivationView {
  int64_t layer;
  ActivationPoint point;
  const float* data;  // row-major [rows, cols]
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

 private:
  friend class FloatExecutor;
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

 private:
  std::shared_ptr<const OptWeights> weights_;
};

}  // namespace rptq

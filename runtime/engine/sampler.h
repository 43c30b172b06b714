// Next-token choice from logits: greedy, or temperature with top-k / top-p (nucleus) filtering.
// Deterministic for a seed on every platform (the random stream and the tie-breaking are ours,
// not the standard library's distributions, whose outputs are implementation-defined).
#pragma once

#include <cstdint>
#include <vector>

namespace rptq::engine {

struct SamplingParams {
  float temperature = 0.0f;  // <= 0: greedy
  int32_t top_k = 0;         // 0: no limit
  float top_p = 1.0f;        // 1: no limit
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  int32_t next(const float* logits, int64_t vocab);

 private:
  double uniform();  // [0, 1)
  SamplingParams p_;
  uint64_t state_;
  std::vector<std::pair<float, int32_t>> candidates_;
};

}  // namespace rptq::engine

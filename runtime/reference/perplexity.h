// Perplexity as the RPTQ/GPTQ papers measure it: the whole evaluation text tokenized once (BOS
// first), cut into non-overlapping windows, mean next-token NLL over every window.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "reference/float_executor.h"

namespace rptq {

struct PerplexityResult {
  double nll = 0;          // summed over predicted tokens
  int64_t predicted = 0;   // windows × (window - 1)
  int64_t windows = 0;
  int64_t window = 0;      // tokens per window
  double perplexity() const { return std::exp(nll / static_cast<double>(predicted)); }
};

// Summed NLL of tokens[1..n) given their prefixes, from logits [n, vocab].
double window_nll(const float* logits, const int32_t* tokens, int64_t n, int64_t vocab);

// `window` <= 0: the model's context. `max_windows` <= 0: every full window. Throws rptq::Error if
// the text holds no full window. The observer (e.g. activation fake quantization) sees every layer.
PerplexityResult evaluate_perplexity(const FloatExecutor& exec, const std::vector<int32_t>& ids, int64_t window,
                                     int64_t max_windows, const ActivationObserver& observer = nullptr);

}  // namespace rptq

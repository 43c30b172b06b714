#include "reference/perplexity.h"

#include <algorithm>
#include <string>

#include "rptq/error.h"

namespace rptq {

double window_nll(const float* logits, const int32_t* tokens, int64_t n, int64_t vocab) {
  double nll = 0;
#pragma omp parallel for reduction(+ : nll) schedule(static)
  for (int64_t i = 0; i < n - 1; ++i) {
    const float* row = logits + i * vocab;
    const float mx = *std::max_element(row, row + vocab);
    double sum = 0;
    for (int64_t j = 0; j < vocab; ++j) sum += std::exp(static_cast<double>(row[j] - mx));
    nll += std::log(sum) + mx - row[tokens[i + 1]];
  }
  return nll;
}

PerplexityResult evaluate_perplexity(const FloatExecutor& exec, const std::vector<int32_t>& ids, int64_t window,
                                     int64_t max_windows, const ActivationObserver& observer) {
  if (window <= 0 || window > exec.config().max_positions) window = exec.config().max_positions;
  PerplexityResult r;
  r.window = window;
  r.windows = static_cast<int64_t>(ids.size()) / window;
  if (max_windows > 0) r.windows = std::min(r.windows, max_windows);
  if (r.windows == 0)
    fail("perplexity", "text of " + std::to_string(ids.size()) + " tokens is shorter than one window of " +
                           std::to_string(window) + " tokens");
  KvCache cache = exec.new_cache(window);
  for (int64_t w = 0; w < r.windows; ++w) {
    cache.clear();
    const int32_t* t = ids.data() + w * window;
    r.nll += window_nll(exec.forward(t, window, cache, observer).data(), t, window, exec.config().vocab_size);
  }
  r.predicted = r.windows * (window - 1);
  return r;
}

}  // namespace rptq

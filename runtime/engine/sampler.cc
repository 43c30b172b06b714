#include "engine/sampler.h"

#include <algorithm>
#include <cmath>

namespace rptq::engine {

Sampler::Sampler(const SamplingParams& p) : p_(p), state_(p.seed ^ 0x9E3779B97F4A7C15ull) {}

double Sampler::uniform() {
  // splitmix64: tiny, well distributed, and the same on every compiler.
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

int32_t Sampler::next(const float* logits, int64_t vocab) {
  if (p_.temperature <= 0.0f) {
    // Greedy; the lowest id wins ties.
    return static_cast<int32_t>(std::max_element(logits, logits + vocab) - logits);
  }
  candidates_.clear();
  for (int64_t i = 0; i < vocab; ++i) candidates_.emplace_back(logits[i], static_cast<int32_t>(i));
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  size_t keep = candidates_.size();
  if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < keep) {
    keep = static_cast<size_t>(p_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(keep), candidates_.end(), by_logit);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), by_logit);
  }
  candidates_.resize(keep);
  // Softmax at the temperature over the kept candidates (sorted, so the max is the first).
  const double max_logit = candidates_.front().first;
  std::vector<double> prob(keep);
  double total = 0;
  for (size_t i = 0; i < keep; ++i) total += prob[i] = std::exp((candidates_[i].first - max_logit) / p_.temperature);
  if (p_.top_p < 1.0f) {
    double mass = 0;
    size_t n = 0;
    while (n < keep && mass < p_.top_p * total) mass += prob[n++];
    keep = std::max<size_t>(n, 1);
    total = 0;
    for (size_t i = 0; i < keep; ++i) total += prob[i];
  }
  double r = uniform() * total;
  for (size_t i = 0; i < keep; ++i) {
    r -= prob[i];
    if (r < 0) return candidates_[i].second;
  }
  return candidates_[keep - 1].second;
}

}  // namespace rptq::engine

// Random inputs for the kernel tests (cpu_kernels_test.cc, native_kernels_test.cc): fresh data
// every run from a printed seed (RPTQ_TEST_SEED=<seed> repeats a run), one generator per test
// case, and per-cluster activation quantizers with their storage.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/kernels.h"
#include "rptq/quant_math.h"

namespace rptq::test {

using rptq::AffineQuant;

inline uint32_t run_seed() {
  static const uint32_t seed = [] {
    const char* env = std::getenv("RPTQ_TEST_SEED");
    const uint32_t s = env ? static_cast<uint32_t>(std::strtoul(env, nullptr, 10)) : std::random_device{}();
    std::printf("seed %u (RPTQ_TEST_SEED=%u repeats this run)\n", s, s);
    return s;
  }();
  return seed;
}

// One generator per test case, so that a test run alone with the same seed sees the same data.
inline std::mt19937 make_rng(const std::string& test) {
  std::seed_seq seq{run_seed(), static_cast<uint32_t>(std::hash<std::string>{}(test))};
  return std::mt19937(seq);
}

inline int64_t uniform_int(std::mt19937& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}
inline float uniform(std::mt19937& rng, float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng); }

// ---- Activation quantizers ----

// kWhole (one cluster of every channel) is not among kAllClusterModes: the CUDA kernel tests use it
// for the longest runs of constant scales.
enum class Clusters { kOnes, kTwos, kFives, kRandom, kWhole };
inline const Clusters kAllClusterModes[] = {Clusters::kOnes, Clusters::kTwos, Clusters::kFives, Clusters::kRandom};
inline const char* name(Clusters c) {
  switch (c) {
    case Clusters::kOnes: return "size 1";
    case Clusters::kTwos: return "size 2";
    case Clusters::kFives: return "size 5";
    case Clusters::kRandom: return "random sizes";
    case Clusters::kWhole: return "one";
  }
  return "?";
}

// An ActQuantParams with its storage; each cluster's range drawn at random (some all-positive,
// some all-negative, so zero points reach both ends).
struct ActQuant {
  int bits = 16;
  std::vector<int32_t> ends, zero;
  std::vector<float> scale;

  rptq::cpu::ActQuantParams params() const {
    rptq::cpu::ActQuantParams p;
    p.bits = bits;
    p.num_clusters = static_cast<int32_t>(ends.size());
    p.cluster_end = ends.data();
    p.scale = scale.data();
    p.zero = zero.data();
    return p;
  }
  AffineQuant cluster(size_t c) const {
    AffineQuant a;
    a.scale = scale[c];
    a.zero = zero[c];
    a.qmax = (1 << bits) - 1;
    return a;
  }
  // The quantizer of each channel.
  std::vector<AffineQuant> per_channel() const {
    std::vector<AffineQuant> q;
    for (size_t c = 0; c < ends.size(); ++c) q.resize(static_cast<size_t>(ends[c]), cluster(c));
    return q;
  }
};

inline ActQuant make_act_quant(std::mt19937& rng, int64_t cols, int bits, Clusters mode, float range = 4.0f) {
  ActQuant q;
  q.bits = bits;
  int64_t pos = 0;
  while (pos < cols) {
    int64_t size = mode == Clusters::kOnes    ? 1
                   : mode == Clusters::kTwos  ? 2
                   : mode == Clusters::kFives ? 5
                   : mode == Clusters::kWhole ? cols
                                              : uniform_int(rng, 1, 40);
    pos = std::min(cols, pos + size);
    q.ends.push_back(static_cast<int32_t>(pos));
    float lo = uniform(rng, -range, range), hi = uniform(rng, -range, range);
    if (lo > hi) std::swap(lo, hi);
    const AffineQuant a = AffineQuant::from_range(lo, hi, bits);
    q.scale.push_back(a.scale);
    q.zero.push_back(a.zero);
  }
  return q;
}

inline std::vector<uint8_t> random_codes(std::mt19937& rng, size_t n, int bits) {
  std::vector<uint8_t> c(n);
  for (uint8_t& v : c) v = static_cast<uint8_t>(uniform_int(rng, 0, (1 << bits) - 1));
  return c;
}

inline std::vector<float> random_floats(std::mt19937& rng, size_t n, float range) {
  std::vector<float> x(n);
  for (float& v : x) v = uniform(rng, -range, range);
  return x;
}

}  // namespace rptq::test

// RPTQ-style activation quantizers for the kernel benches: `clusters` contiguous clusters of random
// sizes over the channels (speed depends on the count and the boundaries, not on the values).
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cpu/kernels.h"

namespace rptq::bench {

struct Clusters {
  std::vector<int32_t> ends, zero;
  std::vector<float> scale;
  cpu::ActQuantParams params(int bits) const {
    cpu::ActQuantParams p;
    p.bits = bits;
    p.num_clusters = static_cast<int32_t>(ends.size());
    p.cluster_end = ends.data();
    p.scale = scale.data();
    p.zero = zero.data();
    return p;
  }
};

inline Clusters make_clusters(std::mt19937& rng, int64_t channels, int64_t clusters, int bits) {
  std::vector<int32_t> cuts(static_cast<size_t>(channels - 1));
  std::iota(cuts.begin(), cuts.end(), 1);
  std::shuffle(cuts.begin(), cuts.end(), rng);
  cuts.resize(static_cast<size_t>(std::min(clusters, channels) - 1));
  std::sort(cuts.begin(), cuts.end());
  Clusters c;
  c.ends = cuts;
  c.ends.push_back(static_cast<int32_t>(channels));
  for (size_t i = 0; i < c.ends.size(); ++i) {
    c.scale.push_back(0.05f);
    c.zero.push_back(static_cast<int32_t>(rng() % (1u << bits)));
  }
  return c;
}

}  // namespace rptq::bench

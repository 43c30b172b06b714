// Activation quantization as the kernels do it: channels in a chosen order, split into contiguous
// clusters, each cluster with its own asymmetric min-max scale and zero point (static, from
// calibration). RPTQ, the per-tensor baseline and the per-group-without-reorder baseline are all
// this one shape: they differ only in the order and the cluster sizes.
#pragma once

#include <cstdint>
#include <vector>

#include "rptq/quant_math.h"

namespace rptq::quant {

// Per-channel range of one activation over the calibration set.
struct ChannelRange {
  std::vector<float> min, max;  // [channels]

  explicit ChannelRange(int64_t channels = 0);
  int64_t channels() const { return static_cast<int64_t>(min.size()); }
  void observe(const float* data, int64_t rows, int64_t cols);  // row-major [rows, cols]
};

// The mean over calibration samples of each sample's per-channel min and max: less driven by a
// few extreme tokens than the global min/max, which at 4 bits and below costs resolution for every
// other value (the official RPTQ code smooths its ranges with a moving average for the same reason).
struct MeanChannelRange {
  std::vector<double> min_sum, max_sum;
  int64_t samples = 0;

  void add(const ChannelRange& sample);
  ChannelRange mean() const;
};

struct ActQuantSpec {
  int bits = 16;                       // >= 16: not quantized
  std::vector<int64_t> order;          // position j holds original channel order[j]; empty: identity
  std::vector<int64_t> cluster_sizes;  // contiguous clusters over positions, summing to the channels
  std::vector<AffineQuant> clusters;   // one per cluster

  bool enabled() const { return bits < 16; }
  int64_t channels() const;
  // Cluster bounds from calibration ranges given in ORIGINAL channel order.
  void set_ranges(const ChannelRange& range);
  // Replaces each value of a [rows, cols] activation laid out in position order (the folded
  // model's order) by its dequantized code.
  void fake_quantize(float* data, int64_t rows) const;
  // ||x - x̂||² / ||x||² of a [rows, cols] activation given in ORIGINAL channel order.
  double relative_error(const float* data, int64_t rows) const;
};

}  // namespace rptq::quant

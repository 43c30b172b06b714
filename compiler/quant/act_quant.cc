#include "quant/act_quant.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "rptq/error.h"

namespace rptq::quant {

ChannelRange::ChannelRange(int64_t channels)
    : min(static_cast<size_t>(channels), std::numeric_limits<float>::infinity()),
      max(static_cast<size_t>(channels), -std::numeric_limits<float>::infinity()) {}

void ChannelRange::observe(const float* data, int64_t rows, int64_t cols) {
  if (cols != channels()) fail("calibration", "activation width changed between samples");
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = data + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      min[static_cast<size_t>(c)] = std::min(min[static_cast<size_t>(c)], row[c]);
      max[static_cast<size_t>(c)] = std::max(max[static_cast<size_t>(c)], row[c]);
    }
  }
}

void MeanChannelRange::add(const ChannelRange& sample) {
  if (samples == 0) {
    min_sum.assign(sample.min.size(), 0.0);
    max_sum.assign(sample.max.size(), 0.0);
  }
  if (sample.min.size() != min_sum.size()) fail("calibration", "activation width changed between samples");
  for (size_t c = 0; c < min_sum.size(); ++c) {
    min_sum[c] += sample.min[c];
    max_sum[c] += sample.max[c];
  }
  ++samples;
}

ChannelRange MeanChannelRange::mean() const {
  ChannelRange r(static_cast<int64_t>(min_sum.size()));
  for (size_t c = 0; c < min_sum.size(); ++c) {
    r.min[c] = static_cast<float>(min_sum[c] / static_cast<double>(samples));
    r.max[c] = static_cast<float>(max_sum[c] / static_cast<double>(samples));
  }
  return r;
}

int64_t ActQuantSpec::channels() const {
  return std::accumulate(cluster_sizes.begin(), cluster_sizes.end(), int64_t{0});
}

void ActQuantSpec::set_ranges(const ChannelRange& range) {
  if (channels() != range.channels()) fail("calibration", "cluster sizes do not cover the activation's channels");
  if (!order.empty() && static_cast<int64_t>(order.size()) != range.channels())
    fail("calibration", "channel order does not match the activation's channels");
  clusters.clear();
  int64_t pos = 0;
  for (int64_t size : cluster_sizes) {
    float lo = std::numeric_limits<float>::infinity(), hi = -lo;
    for (int64_t j = pos; j < pos + size; ++j) {
      const size_t c = static_cast<size_t>(order.empty() ? j : order[static_cast<size_t>(j)]);
      lo = std::min(lo, range.min[c]);
      hi = std::max(hi, range.max[c]);
    }
    if (!std::isfinite(lo) || !std::isfinite(hi)) fail("calibration", "an activation was never observed or is not finite");
    clusters.push_back(AffineQuant::from_range(lo, hi, bits));
    pos += size;
  }
}

void ActQuantSpec::fake_quantize(float* data, int64_t rows) const {
  if (!enabled()) return;
  const int64_t cols = channels();
  for (int64_t r = 0; r < rows; ++r) {
    float* row = data + r * cols;
    int64_t pos = 0;
    for (size_t k = 0; k < cluster_sizes.size(); ++k) {
      const AffineQuant& q = clusters[k];
      for (int64_t j = pos; j < pos + cluster_sizes[k]; ++j) row[j] = q.fake_quantize(row[j]);
      pos += cluster_sizes[k];
    }
  }
}

double ActQuantSpec::relative_error(const float* data, int64_t rows) const {
  if (!enabled()) return 0.0;
  const int64_t cols = channels();
  std::vector<float> row(static_cast<size_t>(cols));
  double err = 0, norm = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = data + r * cols;
    for (int64_t j = 0; j < cols; ++j) row[static_cast<size_t>(j)] = x[order.empty() ? j : order[static_cast<size_t>(j)]];
    const std::vector<float> exact = row;
    fake_quantize(row.data(), 1);
    for (int64_t j = 0; j < cols; ++j) {
      const double d = static_cast<double>(row[static_cast<size_t>(j)]) - exact[static_cast<size_t>(j)];
      err += d * d;
      norm += static_cast<double>(exact[static_cast<size_t>(j)]) * exact[static_cast<size_t>(j)];
    }
  }
  return norm > 0 ? err / norm : err;
}

}  // namespace rptq::quant

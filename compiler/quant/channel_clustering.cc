#include "quant/channel_clustering.h"

#include <algorithm>
#include <numeric>
#include <string>

#include "quant/kmeans.h"
#include "rptq/error.h"

namespace rptq::quant {
namespace {

// K-Means on one group's channels; clusters numbered by increasing centroid range so the order
// does not depend on how k-means++ happened to number them.
void cluster_group(const std::vector<const ChannelRange*>& ranges, int64_t first, int64_t count, int64_t k,
                   uint64_t seed, int64_t align, ChannelClusters& out) {
  const int64_t d = 2 * static_cast<int64_t>(ranges.size());
  std::vector<double> points(static_cast<size_t>(count * d));
  for (int64_t i = 0; i < count; ++i)
    for (size_t r = 0; r < ranges.size(); ++r) {
      points[static_cast<size_t>(i * d) + 2 * r] = ranges[r]->max[static_cast<size_t>(first + i)];
      points[static_cast<size_t>(i * d) + 2 * r + 1] = ranges[r]->min[static_cast<size_t>(first + i)];
    }
  const KMeansResult km = kmeans(points, count, d, k, seed);

  std::vector<double> width(static_cast<size_t>(k), 0.0);
  for (int64_t c = 0; c < k; ++c)
    for (int64_t r = 0; r < d; r += 2)
      width[static_cast<size_t>(c)] += km.centroids[static_cast<size_t>(c * d + r)] - km.centroids[static_cast<size_t>(c * d + r + 1)];
  std::vector<int64_t> rank_of(static_cast<size_t>(k)), by_width(static_cast<size_t>(k));
  std::iota(by_width.begin(), by_width.end(), 0);
  std::stable_sort(by_width.begin(), by_width.end(),
                   [&](int64_t a, int64_t b) { return width[static_cast<size_t>(a)] < width[static_cast<size_t>(b)]; });
  for (int64_t r = 0; r < k; ++r) rank_of[static_cast<size_t>(by_width[static_cast<size_t>(r)])] = r;

  std::vector<int64_t> channels(static_cast<size_t>(count));
  std::iota(channels.begin(), channels.end(), 0);
  auto rank = [&](int64_t i) { return rank_of[static_cast<size_t>(km.assignment[static_cast<size_t>(i)])]; };
  // Aligned, within a cluster by the channel's own width (what aligning moves is the widest);
  // ties, and unaligned clusters, in the original order.
  std::vector<double> own(static_cast<size_t>(count), 0.0);
  if (align > 1)
    for (int64_t i = 0; i < count; ++i)
      for (int64_t r = 0; r < d; r += 2)
        own[static_cast<size_t>(i)] +=
            points[static_cast<size_t>(i * d + r)] - points[static_cast<size_t>(i * d + r + 1)];
  std::stable_sort(channels.begin(), channels.end(), [&](int64_t a, int64_t b) {
    return rank(a) != rank(b) ? rank(a) < rank(b) : own[static_cast<size_t>(a)] < own[static_cast<size_t>(b)];
  });
  std::vector<int64_t> sizes(static_cast<size_t>(k), 0);
  for (int64_t i : channels) {
    out.order.push_back(first + i);
    ++sizes[static_cast<size_t>(rank(i))];
  }
  // Aligned: each cluster's end rounded down to a multiple of `align`, so the widest channels of a
  // cluster move to the next wider one, never into a narrower one (where they would widen the
  // range of every channel there); a cluster left empty merges into the next.
  int64_t end = 0, aligned_end = 0;
  for (int64_t c = 0; c < k; ++c) {
    end += sizes[static_cast<size_t>(c)];
    const int64_t e = c == k - 1 ? end : end / align * align;
    if (e > aligned_end) out.sizes.push_back(e - aligned_end);
    aligned_end = e;
  }
}

}  // namespace

ChannelClusters cluster_channels(const std::vector<const ChannelRange*>& ranges, int64_t groups,
                                 int64_t clusters_per_group, ActGranularity granularity, uint64_t seed,
                                 int64_t align) {
  if (ranges.empty()) fail("clustering", "no activation ranges");
  const int64_t channels = ranges[0]->channels();
  for (const ChannelRange* r : ranges)
    if (r->channels() != channels) fail("clustering", "jointly clustered activations differ in width");
  if (groups <= 0 || channels % groups != 0) fail("clustering", "channels do not split into equal groups");
  const int64_t per_group = channels / groups;
  if (clusters_per_group < 1 || clusters_per_group > per_group)
    fail("clustering", std::to_string(clusters_per_group) + " clusters requested for " + std::to_string(per_group) +
                           " channels (must be 1.." + std::to_string(per_group) + ")");

  if (align < 1 || (granularity == ActGranularity::kReorder && per_group % align != 0))
    fail("clustering", "cluster sizes cannot be multiples of " + std::to_string(align) + " in groups of " +
                           std::to_string(per_group) + " channels");

  ChannelClusters out;
  if (granularity == ActGranularity::kPerTensor) {
    out.order.resize(static_cast<size_t>(channels));
    std::iota(out.order.begin(), out.order.end(), 0);
    out.sizes = {channels};
    return out;
  }
  for (int64_t g = 0; g < groups; ++g) {
    if (granularity == ActGranularity::kReorder) {
      cluster_group(ranges, g * per_group, per_group, clusters_per_group, seed, align, out);
      continue;
    }
    for (int64_t c = 0; c < per_group; ++c) out.order.push_back(g * per_group + c);
    for (int64_t c = 0; c < clusters_per_group; ++c)  // sizes differ by at most one
      out.sizes.push_back((c + 1) * per_group / clusters_per_group - c * per_group / clusters_per_group);
  }
  return out;
}

}  // namespace rptq::quant

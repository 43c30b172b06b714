// RPTQ's channel clustering: channels with similar calibration ranges are grouped so that one
// scale per group fits them all, and reordered so that each group is contiguous.
#pragma once

#include <cstdint>
#include <vector>

#include "quant/act_quant.h"

namespace rptq::quant {

enum class ActGranularity {
  kReorder,    // RPTQ: K-Means clusters on the (max, min) points, channels reordered
  kPerTensor,  // baseline: one range for the whole activation
  kNoReorder,  // baseline: as many clusters, but contiguous channel groups in the original order
};

struct ChannelClusters {
  std::vector<int64_t> order;  // position j holds original channel order[j]
  std::vector<int64_t> sizes;  // contiguous clusters over positions
};

// `ranges` are clustered jointly: each channel is one point (max, min) per range, so Q and K
// (or V and the attention output) get one order that keeps QKᵀ (resp. P·V → out_proj) valid.
// Channels are split into `groups` equal contiguous groups (the attention heads; 1 otherwise)
// and never leave their group; each group gets `clusters_per_group` clusters.
//
// align > 1 (kReorder only): every cluster's size is a multiple of `align`, so that no K step of
// that many channels in a tensor-core kernel spans two clusters. K-Means runs as usual; clusters
// in order of width, each cluster's channels in order of their own width, every cluster's end is
// rounded down to a multiple of `align`: a cluster's widest channels join the next wider cluster,
// never a narrower one (there they would widen the range of every channel). A cluster left empty
// merges into the next: fewer clusters may come back. The group's width must be a multiple of
// `align`.
ChannelClusters cluster_channels(const std::vector<const ChannelRange*>& ranges, int64_t groups,
                                 int64_t clusters_per_group, ActGranularity granularity, uint64_t seed = 0,
                                 int64_t align = 1);

}  // namespace rptq::quant

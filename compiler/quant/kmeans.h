// K-Means over small point sets (one point per activation channel), as RPTQ clusters channels by
// their calibration (min, max) range — 2-D points, or 4-D (Qmax, Qmin, Kmax, Kmin) for Q and K.
//
// Deterministic across runs and platforms: k-means++ seeding from a fixed-seed mt19937_64 with our
// own integer-to-double mapping (std:: distributions are implementation-defined), Lloyd iterations
// in double, ties broken by the lower cluster index.
#pragma once

#include <cstdint>
#include <vector>

namespace rptq::quant {

struct KMeansResult {
  std::vector<int32_t> assignment;  // [n] cluster of each point
  std::vector<double> centroids;    // [k, d] row-major
  double inertia = 0;               // sum of squared distances to the assigned centroid
  int iterations = 0;
};

// points: [n, d] row-major. Requires 1 <= k <= n (rptq::Error otherwise). No cluster is left empty:
// an empty cluster is re-seeded with the point farthest from its centroid, so every cluster holds
// at least one point.
KMeansResult kmeans(const std::vector<double>& points, int64_t n, int64_t d, int64_t k, uint64_t seed = 0,
                    int max_iterations = 300);

}  // namespace rptq::quant

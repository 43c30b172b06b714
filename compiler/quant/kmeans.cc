#include "quant/kmeans.h"

#include <algorithm>
#include <limits>
#include <random>
#include <string>

#include "rptq/error.h"

namespace rptq::quant {
namespace {

double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

double dist2(const double* a, const double* b, int64_t d) {
  double s = 0;
  for (int64_t j = 0; j < d; ++j) s += (a[j] - b[j]) * (a[j] - b[j]);
  return s;
}

// Nearest centroid; the lower index wins ties so results do not depend on evaluation order.
int32_t nearest(const double* p, const std::vector<double>& c, int64_t k, int64_t d, double* best_d2) {
  int32_t best = 0;
  double bd = std::numeric_limits<double>::infinity();
  for (int64_t c_i = 0; c_i < k; ++c_i) {
    const double v = dist2(p, c.data() + c_i * d, d);
    if (v < bd) {
      bd = v;
      best = static_cast<int32_t>(c_i);
    }
  }
  *best_d2 = bd;
  return best;
}

// k-means++: the first centre uniformly, each next one with probability ∝ squared distance to the
// nearest chosen centre.
std::vector<double> seed_plus_plus(const std::vector<double>& x, int64_t n, int64_t d, int64_t k,
                                   std::mt19937_64& rng) {
  std::vector<double> c(static_cast<size_t>(k * d));
  const int64_t first = static_cast<int64_t>(uniform01(rng) * static_cast<double>(n));
  std::copy_n(x.data() + std::min(first, n - 1) * d, d, c.data());
  std::vector<double> d2(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) d2[i] = dist2(x.data() + i * d, c.data(), d);
  for (int64_t m = 1; m < k; ++m) {
    double total = 0;
    for (double v : d2) total += v;
    int64_t pick = n - 1;
    if (total > 0) {
      double r = uniform01(rng) * total;
      for (int64_t i = 0; i < n; ++i) {
        r -= d2[i];
        if (r < 0) {
          pick = i;
          break;
        }
      }
    } else {  // every point coincides with a centre already: any point will do
      pick = m % n;
    }
    std::copy_n(x.data() + pick * d, d, c.data() + m * d);
    for (int64_t i = 0; i < n; ++i) d2[i] = std::min(d2[i], dist2(x.data() + i * d, c.data() + m * d, d));
  }
  return c;
}

}  // namespace

KMeansResult kmeans(const std::vector<double>& points, int64_t n, int64_t d, int64_t k, uint64_t seed,
                    int max_iterations) {
  if (d <= 0 || n <= 0 || static_cast<int64_t>(points.size()) != n * d)
    fail("kmeans", "expected " + std::to_string(n) + " points of dimension " + std::to_string(d));
  if (k < 1 || k > n)
    fail("kmeans", "cannot make " + std::to_string(k) + " clusters of " + std::to_string(n) + " points");
  std::mt19937_64 rng(seed);
  KMeansResult r;
  r.centroids = seed_plus_plus(points, n, d, k, rng);
  r.assignment.assign(static_cast<size_t>(n), -1);
  std::vector<double> pd2(static_cast<size_t>(n));
  std::vector<int64_t> count(static_cast<size_t>(k));

  for (r.iterations = 1; r.iterations <= max_iterations; ++r.iterations) {
    bool changed = false;
    for (int64_t i = 0; i < n; ++i) {
      const int32_t a = nearest(points.data() + i * d, r.centroids, k, d, &pd2[i]);
      changed |= a != r.assignment[i];
      r.assignment[i] = a;
    }
    // Re-seed empty clusters with the point farthest from its own centroid (taken from a cluster
    // of at least two points, so no cluster is emptied in turn).
    std::fill(count.begin(), count.end(), 0);
    for (int32_t a : r.assignment) ++count[a];
    for (int64_t c = 0; c < k; ++c) {
      if (count[c] > 0) continue;
      int64_t far = -1;
      for (int64_t i = 0; i < n; ++i)
        if (count[r.assignment[i]] > 1 && (far < 0 || pd2[i] > pd2[far])) far = i;
      --count[r.assignment[far]];
      r.assignment[far] = static_cast<int32_t>(c);
      count[c] = 1;
      pd2[far] = 0;
      changed = true;
    }
    // Centroids are the means of their members.
    std::fill(r.centroids.begin(), r.centroids.end(), 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < d; ++j) r.centroids[r.assignment[i] * d + j] += points[i * d + j];
    for (int64_t c = 0; c < k; ++c)
      for (int64_t j = 0; j < d; ++j) r.centroids[c * d + j] /= static_cast<double>(count[c]);
    if (!changed) break;
  }
  r.iterations = std::min(r.iterations, max_iterations);
  r.inertia = 0;
  for (int64_t i = 0; i < n; ++i) r.inertia += dist2(points.data() + i * d, r.centroids.data() + r.assignment[i] * d, d);
  return r;
}

}  // namespace rptq::quant

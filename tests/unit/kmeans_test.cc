// K-Means as RPTQ uses it on channel (min, max) points: recovers separated groups, is
// deterministic, never leaves a cluster empty, and rejects impossible requests.
#include <catch2/catch.hpp>
#include <random>
#include <set>

#include "quant/kmeans.h"
#include "rptq/error.h"

namespace {

// `per` points around each centre, in random order; returns points and the true group of each.
std::pair<std::vector<double>, std::vector<int>> blobs(const std::vector<std::vector<double>>& centres, int per,
                                                       double spread, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> nd(0.0, spread);
  std::vector<int> group;
  for (int g = 0; g < static_cast<int>(centres.size()); ++g)
    for (int i = 0; i < per; ++i) group.push_back(g);
  std::shuffle(group.begin(), group.end(), rng);
  std::vector<double> pts;
  for (int g : group)
    for (double c : centres[g]) pts.push_back(c + nd(rng));
  return {pts, group};
}

}  // namespace

TEST_CASE("kmeans recovers well-separated (min, max) groups", "[kmeans]") {
  // Typical channel ranges: a bulk near ±1 and outlier channels near ±20 and ±60.
  auto [pts, group] = blobs({{-1, 1}, {-20, 18}, {-60, 55}, {-3, 6}}, 25, 0.2, 1);
  auto r = rptq::quant::kmeans(pts, 100, 2, 4, /*seed=*/0);
  // Same partition up to relabelling: points share a cluster iff they share a group.
  for (int i = 0; i < 100; ++i)
    for (int j = 0; j < 100; ++j) REQUIRE((group[i] == group[j]) == (r.assignment[i] == r.assignment[j]));
  CHECK(r.inertia < 100 * 2 * 0.2 * 0.2 * 3);
}

TEST_CASE("kmeans in 4-D (Qmax, Qmin, Kmax, Kmin)", "[kmeans]") {
  auto [pts, group] = blobs({{1, -1, 2, -2}, {9, -8, 1, -1}, {1, -1, 12, -15}}, 16, 0.3, 2);
  auto r = rptq::quant::kmeans(pts, 48, 4, 3, 7);
  for (int i = 0; i < 48; ++i)
    for (int j = 0; j < 48; ++j) REQUIRE((group[i] == group[j]) == (r.assignment[i] == r.assignment[j]));
}

TEST_CASE("kmeans is deterministic for a seed", "[kmeans]") {
  auto [pts, group] = blobs({{0, 1}, {2, 3}, {4, 5}, {1, 4}, {3, 1}}, 40, 1.0, 3);
  auto a = rptq::quant::kmeans(pts, 200, 2, 6, 42);
  auto b = rptq::quant::kmeans(pts, 200, 2, 6, 42);
  CHECK(a.assignment == b.assignment);
  CHECK(a.centroids == b.centroids);
  CHECK(a.inertia == b.inertia);
}

TEST_CASE("kmeans leaves no cluster empty, even with duplicate points", "[kmeans]") {
  std::vector<double> pts;
  for (int i = 0; i < 10; ++i) pts.insert(pts.end(), {i < 5 ? 0.0 : 1.0, 0.0});  // two distinct points
  auto r = rptq::quant::kmeans(pts, 10, 2, 4, 0);
  CHECK(std::set<int32_t>(r.assignment.begin(), r.assignment.end()).size() == 4);
  auto all = rptq::quant::kmeans(pts, 10, 2, 10, 0);  // k == n: one point each
  CHECK(std::set<int32_t>(all.assignment.begin(), all.assignment.end()).size() == 10);
}

TEST_CASE("kmeans rejects impossible cluster counts", "[kmeans][bad-input]") {
  std::vector<double> pts{0, 0, 1, 1, 2, 2};
  CHECK_THROWS_WITH(rptq::quant::kmeans(pts, 3, 2, 4), Catch::Contains("cannot make 4 clusters of 3 points"));
  CHECK_THROWS_AS(rptq::quant::kmeans(pts, 3, 2, 0), rptq::Error);
  CHECK_THROWS_AS(rptq::quant::kmeans(pts, 3, 2, -1), rptq::Error);
  CHECK_THROWS_AS(rptq::quant::kmeans(pts, 4, 2, 2), rptq::Error);  // size mismatch
}

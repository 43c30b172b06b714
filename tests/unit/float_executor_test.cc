// The reference executor on a small random model held in memory: the observer sees every
// quantization point with the right shape, the KV cache reproduces the full pass, and bad
// requests are errors rather than out-of-bounds reads.
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <random>

#include "reference/float_executor.h"
#include "rptq/error.h"

namespace {

std::shared_ptr<rptq::OptWeights> random_model(bool pre_ln, int64_t proj_dim) {
  auto w = std::make_shared<rptq::OptWeights>();
  rptq::OptConfig& c = w->config;
  c.vocab_size = 50;
  c.hidden_size = 16;
  c.num_layers = 2;
  c.num_heads = 4;
  c.ffn_dim = 32;
  c.max_positions = 24;
  c.word_embed_proj_dim = proj_dim;
  c.pre_layer_norm = pre_ln;
  c.final_layer_norm = pre_ln;
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 0.3f);
  auto buf = [&](int64_t n, float base = 0.0f) {
    auto v = std::make_shared<std::vector<float>>(n);
    for (auto& x : *v) x = base + nd(rng);
    w->keepalive.push_back(v);
    return v->data();
  };
  auto linear = [&](int64_t out, int64_t in, bool bias = true) {
    return rptq::LinearWeights{buf(out * in), bias ? buf(out) : nullptr, out, in};
  };
  auto norm = [&]() { return rptq::LayerNormWeights{buf(c.hidden_size, 1.0f), buf(c.hidden_size)}; };
  const int64_t D = c.hidden_size, E = c.word_embed_proj_dim;
  w->embed_tokens = buf(c.vocab_size * E);
  w->embed_positions = buf((c.max_positions + 2) * D);
  if (c.has_projections()) {
    w->project_in = linear(D, E, false);
    w->project_out = linear(E, D, false);
  }
  for (int l = 0; l < c.num_layers; ++l) {
    rptq::OptLayerWeights L{norm(), linear(D, D), linear(D, D), linear(D, D), linear(D, D),
                            norm(), linear(c.ffn_dim, D), linear(D, c.ffn_dim)};
    w->layers.push_back(L);
  }
  w->final_norm = norm();
  w->lm_head = buf(c.vocab_size * E);
  return w;
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

}  // namespace

TEST_CASE("executor: the observer sees every quantization point once per layer", "[executor]") {
  rptq::FloatExecutor exec(random_model(true, 16));
  auto cache = exec.new_cache();
  std::map<std::pair<int64_t, rptq::ActivationPoint>, std::pair<int64_t, int64_t>> seen;
  std::vector<int32_t> ids{2, 5, 9, 11, 3};
  exec.forward(ids.data(), 5, cache, [&](const rptq::ActivationView& a) {
    CHECK(seen.emplace(std::make_pair(a.layer, a.point), std::make_pair(a.rows, a.cols)).second);
    for (int64_t i = 0; i < a.rows * a.cols; ++i) REQUIRE(std::isfinite(a.data[i]));
  });
  CHECK(seen.size() == 2 * 7);
  CHECK(seen.at({1, rptq::ActivationPoint::kFc1Out}) == std::make_pair<int64_t, int64_t>(5, 32));
  CHECK(seen.at({0, rptq::ActivationPoint::kQuery}) == std::make_pair<int64_t, int64_t>(5, 16));
}

TEST_CASE("executor: incremental decoding equals the full pass", "[executor]") {
  for (bool pre_ln : {true, false}) {
    for (int64_t proj : {16, 8}) {
      rptq::FloatExecutor exec(random_model(pre_ln, proj));
      std::vector<int32_t> ids{2, 7, 1, 44, 13, 8, 30, 21};
      auto full_cache = exec.new_cache();
      auto full = exec.forward(ids.data(), 8, full_cache);
      auto cache = exec.new_cache();
      auto inc = exec.forward(ids.data(), 3, cache);
      for (int i = 3; i < 8; ++i) {
        auto step = exec.forward(ids.data() + i, 1, cache);
        inc.insert(inc.end(), step.begin(), step.end());
      }
      CHECK(cache.length() == 8);
      CHECK(max_abs_diff(full, inc) < 1e-4f);
    }
  }
}

TEST_CASE("executor: context overflow and bad token ids are errors", "[executor][bad-input]") {
  rptq::FloatExecutor exec(random_model(true, 16));
  auto cache = exec.new_cache();
  std::vector<int32_t> ids(25, 4);
  CHECK_THROWS_WITH(exec.forward(ids.data(), 25, cache), Catch::Contains("exceeds the context of 24"));
  std::vector<int32_t> bad{2, 50};
  CHECK_THROWS_WITH(exec.forward(bad.data(), 2, cache), Catch::Contains("outside the vocabulary"));
  std::vector<int32_t> neg{-1};
  CHECK_THROWS_AS(exec.forward(neg.data(), 1, cache), rptq::Error);
  CHECK_THROWS_WITH(exec.forward(ids.data(), 0, cache), Catch::Contains("no tokens"));
  CHECK(cache.length() == 0);
}

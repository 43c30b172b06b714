// rptq-synth-bundle: a bundle of an OPT shape with random codes and random activation quantizers,
// written by the compiler's own emitter and code generators (native CPU and CUDA code included),
// for speed benches only: its outputs are meaningless. It needs neither a checkpoint nor MLIR at
// run time, so it runs where rptq-compile cannot (the GPU machine, which has nvcc but not this
// project's build dependencies) and makes a 6.7b-shaped bundle in seconds:
//   rptq-synth-bundle --shape 6.7b --wbits 4 --abits 8 --target h100 --tokenizer DIR -o opt-6.7b.rptq
// Speed depends on shapes, bits and cluster counts, not on values (no kernel branches on data),
// which is what makes random weights fine for these benches. For a calibrated bundle of a real or
// random checkpoint, use rptq-compile (--calib-random for speed work).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cpu/host_compiler.h"
#include "cuda/nvcc.h"
#include "emit/bundle_emitter.h"
#include "hf/tokenizer_files.h"
#include "pipeline/layer_tensors.h"
#include "rptq/error.h"
#include "targets/targets.h"

namespace {

using rptq::AffineQuant;

struct Shape {
  const char* name;
  int64_t hidden, layers, heads, ffn;
};
// facebook/opt-* configs.
const Shape kShapes[] = {{"125m", 768, 12, 12, 3072},
                         {"1.3b", 2048, 24, 32, 8192},
                         {"2.7b", 2560, 32, 32, 10240},
                         {"6.7b", 4096, 32, 32, 16384},
                         {"13b", 5120, 40, 40, 20480}};

class Random {
 public:
  explicit Random(uint64_t seed) : rng_(seed) {}
  std::vector<float> floats(size_t n, float lo, float hi) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (float& x : v) x = d(rng_);
    return v;
  }
  std::vector<uint8_t> codes(size_t n, int bits) {
    std::uniform_int_distribution<int> d(0, (1 << bits) - 1);
    std::vector<uint8_t> v(n);
    for (uint8_t& x : v) x = static_cast<uint8_t>(d(rng_));
    return v;
  }
  int64_t integer(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng_); }

 private:
  std::mt19937_64 rng_;
};

// `clusters` clusters of random sizes over `channels` (or per head: `clusters` in each of `heads`
// blocks), each with a random range around zero; sizes in multiples of `align` (rptq-compile's
// --cluster-align; fewer clusters where `align` leaves too few units).
rptq::quant::ActQuantSpec act_quant(Random& r, int64_t channels, int bits, int64_t clusters, int64_t heads = 1,
                                    int64_t align = 1) {
  rptq::quant::ActQuantSpec q;
  if (bits >= 16) return q;
  q.bits = bits;
  const int64_t block = channels / heads, units = block / align;
  if (block % align != 0)
    rptq::fail("--cluster-align", std::to_string(align) + " does not divide " + std::to_string(block));
  clusters = std::min(clusters, units);
  for (int64_t h = 0; h < heads; ++h) {
    int64_t left = units;
    for (int64_t c = 0; c < clusters; ++c) {
      const int64_t size = c + 1 == clusters ? left : r.integer(1, std::max<int64_t>(1, 2 * left / (clusters - c) - 1));
      q.cluster_sizes.push_back(size * align);
      left -= size;
      const std::vector<float> range = r.floats(2, 0.5f, 8.0f);
      q.clusters.push_back(AffineQuant::from_range(-range[0], range[1], bits));
    }
  }
  return q;
}

rptq::pipeline::QuantizedLinear weights(Random& r, const std::string& name, int64_t out, int64_t in, int bits) {
  rptq::pipeline::QuantizedLinear q;
  q.name = name + ".weight";
  q.weight.out = out;
  q.weight.in = in;
  q.weight.group_size = in;
  q.weight.bits = bits;
  q.weight.codes = r.codes(static_cast<size_t>(out * in), bits);
  q.weight.scales = r.floats(static_cast<size_t>(out), 1e-3f, 2e-2f);
  q.weight.zeros.resize(static_cast<size_t>(out), (1 << bits) / 2);
  return q;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rptq-synth-bundle: a random-weight bundle of an OPT shape, for speed benches"};
  std::string shape_name = "125m", output, tokenizer_dir, target_list = "h100", nvcc = rptq::codegen::default_nvcc();
  int wbits = 4, abits = 8, kv_bits = 0;
  int64_t clusters = 32, head_clusters = 4, max_tokens = 2048, context = 2048, cluster_align = 1;
  uint64_t seed = 0;
  app.add_option("--shape", shape_name, "125m, 1.3b, 2.7b, 6.7b or 13b (facebook/opt-* dimensions)");
  app.add_option("-o,--output", output, "bundle to write")->required();
  app.add_option("--tokenizer", tokenizer_dir, "directory with the OPT vocab.json and merges.txt")->required();
  app.add_option("--wbits", wbits, "weight bits (default 4)");
  app.add_option("--abits", abits, "activation bits (default 8)");
  app.add_option("--kv-bits", kv_bits, "KV cache bits (default: --abits)");
  app.add_option("--clusters", clusters, "clusters per LayerNorm / fc1 output (default 32)");
  app.add_option("--head-clusters", head_clusters, "clusters per head (default 4)");
  app.add_option("--cluster-align", cluster_align, "LayerNorm / fc1 output cluster sizes in multiples of this");
  app.add_option("--max-tokens", max_tokens, "tokens per forward call (default 2048)");
  app.add_option("--target", target_list, "as rptq-compile's (default h100)");
  app.add_option("--nvcc", nvcc, "as rptq-compile's");
  bool cuda_wgmma = false;
  app.add_flag("--cuda-wgmma", cuda_wgmma, "as rptq-compile's");
  app.add_option("--seed", seed, "random seed");
  CLI11_PARSE(app, argc, argv);
  try {
    const auto t0 = std::chrono::steady_clock::now();
    const Shape* shape = nullptr;
    for (const Shape& s : kShapes)
      if (shape_name == s.name) shape = &s;
    if (!shape) rptq::fail("--shape", "unknown shape '" + shape_name + "'");
    if (kv_bits <= 0) kv_bits = abits;
    Random r(seed);
    rptq::OptConfig c;
    c.vocab_size = 50272;
    c.hidden_size = c.word_embed_proj_dim = shape->hidden;
    c.num_layers = shape->layers;
    c.num_heads = shape->heads;
    c.ffn_dim = shape->ffn;
    c.max_positions = context;
    c.pre_layer_norm = c.final_layer_norm = c.enable_bias = c.layer_norm_affine = true;
    c.layer_norm_eps = 1e-5f;
    c.bos_token_id = 2;
    c.eos_token_id = 2;
    c.pad_token_id = 1;
    const int64_t D = c.hidden_size, F = c.ffn_dim;

    // Float tensors the bundle keeps: positions, LayerNorms and biases (one set shared by all
    // layers: only their sizes matter here).
    auto W = std::make_shared<rptq::OptWeights>();
    W->config = c;
    auto keep = [&](std::vector<float> v) {
      auto p = std::make_shared<std::vector<float>>(std::move(v));
      W->keepalive.push_back(p);
      return p->data();
    };
    W->embed_positions = keep(r.floats(static_cast<size_t>((context + rptq::OptConfig::kPositionOffset) * D), -0.1f, 0.1f));
    const float* gamma = keep(r.floats(static_cast<size_t>(D), 0.8f, 1.2f));
    const float* beta = keep(r.floats(static_cast<size_t>(D), -0.1f, 0.1f));
    const float* bias_d = keep(r.floats(static_cast<size_t>(D), -0.05f, 0.05f));
    const float* bias_f = keep(r.floats(static_cast<size_t>(F), -0.05f, 0.05f));
    W->final_norm = {gamma, beta, nullptr};
    std::vector<int64_t> identity(static_cast<size_t>(D));
    for (int64_t i = 0; i < D; ++i) identity[static_cast<size_t>(i)] = i;

    rptq::codegen::EmitOptions eo;
    eo.compiler_version = "synthetic";
    eo.source = "random opt-" + shape_name;
    eo.max_tokens = max_tokens;
    eo.add_targets(rptq::targets::parse_targets(target_list),
                   {rptq::codegen::default_host_compiler(), rptq::codegen::default_aarch64_compiler(), nvcc});
    eo.cuda_wgmma = cuda_wgmma;
    rptq::codegen::BundleEmitter emitter(output, *W, eo);

    rptq::pipeline::QuantizedModel qm;
    qm.settings = rptq::pipeline::QuantSettings::parse("W" + std::to_string(wbits) + "A" + std::to_string(abits));
    qm.settings.kv_bits = kv_bits;
    qm.weights = W;
    for (int64_t l = 0; l < c.num_layers; ++l) {
      rptq::pipeline::QuantizedLayer ql;
      using P = rptq::ActivationPoint;
      ql.act[static_cast<size_t>(P::kAttnNormOut)] = act_quant(r, D, abits, clusters, 1, cluster_align);
      // Q and K share clusters (clustered jointly), as do V and the attention output; Q and the
      // attention output are quantized at --abits, K and V (the cache) at --kv-bits.
      auto with_bits = [](rptq::quant::ActQuantSpec q, int bits) {
        if (bits >= 16 || !q.enabled()) return rptq::quant::ActQuantSpec{};
        for (AffineQuant& a : q.clusters) a = AffineQuant::from_range(-a.zero * a.scale, (a.qmax - a.zero) * a.scale, bits);
        q.bits = bits;
        return q;
      };
      const int both = std::min(abits, kv_bits);
      const rptq::quant::ActQuantSpec qk = act_quant(r, D, both, head_clusters, c.num_heads);
      const rptq::quant::ActQuantSpec vo = act_quant(r, D, both, head_clusters, c.num_heads);
      ql.act[static_cast<size_t>(P::kQuery)] = with_bits(qk, abits);
      ql.act[static_cast<size_t>(P::kKey)] = with_bits(qk, kv_bits);
      ql.act[static_cast<size_t>(P::kValue)] = with_bits(vo, kv_bits);
      ql.act[static_cast<size_t>(P::kAttnOut)] = with_bits(vo, abits);
      ql.act[static_cast<size_t>(P::kFfnNormOut)] = act_quant(r, D, abits, clusters, 1, cluster_align);
      ql.act[static_cast<size_t>(P::kFc1Out)] = act_quant(r, F, abits, clusters, 1, cluster_align);
      const std::string p = rptq::pipeline::layer_prefix(l);
      ql.linears = {weights(r, p + "self_attn.q_proj", D, D, wbits), weights(r, p + "self_attn.k_proj", D, D, wbits),
                    weights(r, p + "self_attn.v_proj", D, D, wbits), weights(r, p + "self_attn.out_proj", D, D, wbits),
                    weights(r, p + "fc1", F, D, wbits), weights(r, p + "fc2", D, F, wbits)};
      rptq::OptLayerWeights L;
      L.attn_norm = L.ffn_norm = {gamma, beta, identity.data()};
      L.q = L.k = L.v = L.out = {nullptr, bias_d, D, D};
      L.fc1 = {nullptr, bias_f, F, D};
      L.fc2 = {nullptr, bias_d, D, F};
      emitter.add_layer(l, ql, L);
      std::fprintf(stderr, "\rlayer %lld/%lld", static_cast<long long>(l + 1), static_cast<long long>(c.num_layers));
    }
    std::fprintf(stderr, "\n");
    qm.lm_head = {weights(r, "lm_head", c.vocab_size, D, 8)};
    qm.embed_from_lm_head = true;
    emitter.finish(qm, rptq::hf::load_tokenizer_spec(tokenizer_dir), -1);
    std::fprintf(stderr, "rptq-synth-bundle: %s in %.1f s\n", output.c_str(), seconds_since(t0));
  } catch (const std::exception& e) {
    std::cerr << "rptq-synth-bundle: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

#include "pipeline/rptq_quantizer.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <map>

#include "pipeline/ir_layout.h"
#include "pipeline/layer_tensors.h"
#include "rptq/error.h"

namespace rptq::pipeline {
namespace {

using quant::ActGranularity;
using quant::ActQuantSpec;
using quant::ChannelClusters;
using quant::ChannelRange;
using AP = ActivationPoint;
using Specs = std::array<ActQuantSpec, kNumActivationPoints>;

size_t at(AP p) { return static_cast<size_t>(p); }
bool is_kv(AP p) { return p == AP::kKey || p == AP::kValue; }

// Folding must not change a float layer beyond rounding: a permutation error shows as O(1)
// differences, reassociation in the GEMMs as ~1e-7 of the largest output typically, but up to
// ~1e-5 where outlier channels make terms much larger than the outputs they cancel into (a random
// OPT with planted ×60 outliers measured 1.0e-5). 1e-4 keeps four orders of magnitude from a bug.
constexpr double kFoldTolerance = 1e-4;

// Σ xᵀx over calibration rows: float within one sample (fast GEMM), double across samples.
void accumulate_hessian(Eigen::MatrixXd& h, const float* x, int64_t rows, int64_t cols) {
  using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const RowMat> X(x, rows, cols);
  Eigen::MatrixXf g(cols, cols);
  g.noalias() = X.transpose() * X;
  h += g.cast<double>();
}

void check_cluster_counts(const QuantSettings& s, const OptConfig& c) {
  if (s.granularity == ActGranularity::kPerTensor) return;
  const int64_t narrowest = std::min(c.hidden_size, c.ffn_dim);
  if (s.clusters > narrowest)
    fail("settings", "--clusters " + std::to_string(s.clusters) + " exceeds the " + std::to_string(narrowest) +
                         " channels of the model's activations");
  if (c.hidden_size % s.cluster_align != 0 || c.ffn_dim % s.cluster_align != 0)
    fail("settings", "--cluster-align " + std::to_string(s.cluster_align) + " does not divide the model's " +
                         std::to_string(c.hidden_size) + " hidden and " + std::to_string(c.ffn_dim) + " fc1 channels");
  if (s.head_clusters > c.head_dim())
    fail("settings", "--head-clusters " + std::to_string(s.head_clusters) + " exceeds the " +
                         std::to_string(c.head_dim()) + " channels of an attention head");
}

// Channel order and clusters of each point. Q/K and V/attention-output are clustered jointly
// within heads; each pair gets one order, which the folding passes require.
std::array<ChannelClusters, kNumActivationPoints> cluster_layer(const QuantizedLayer& ql, const QuantSettings& s,
                                                                const OptConfig& c) {
  const ActGranularity g = s.granularity;
  // Post-LN (opt-350m): the LayerNorm output is also the residual stream, so its order cannot
  // change; those two points keep their channel order (groups without reordering).
  const ActGranularity norm_g = (g == ActGranularity::kReorder && !c.pre_layer_norm) ? ActGranularity::kNoReorder : g;
  auto one = [&](AP p, ActGranularity gran) {
    return quant::cluster_channels({&ql.range[at(p)]}, 1, s.clusters, gran, s.seed, s.cluster_align);
  };
  std::array<ChannelClusters, kNumActivationPoints> cl;
  cl[at(AP::kAttnNormOut)] = one(AP::kAttnNormOut, norm_g);
  cl[at(AP::kFfnNormOut)] = one(AP::kFfnNormOut, norm_g);
  cl[at(AP::kFc1Out)] = one(AP::kFc1Out, g);
  cl[at(AP::kQuery)] = cl[at(AP::kKey)] = quant::cluster_channels(
      {&ql.range[at(AP::kQuery)], &ql.range[at(AP::kKey)]}, c.num_heads, s.head_clusters, g, s.seed);
  cl[at(AP::kAttnOut)] = cl[at(AP::kValue)] = quant::cluster_channels(
      {&ql.range[at(AP::kAttnOut)], &ql.range[at(AP::kValue)]}, c.num_heads, s.head_clusters, g, s.seed);
  return cl;
}

// The clusters of one point under a given granularity, as an enabled spec (for error reports).
ActQuantSpec baseline_spec(const QuantizedLayer& ql, AP p, const QuantSettings& s, const OptConfig& c,
                           ActGranularity g) {
  const bool per_head = p == AP::kQuery || p == AP::kKey || p == AP::kValue || p == AP::kAttnOut;
  const ChannelClusters cl = quant::cluster_channels({&ql.range[at(p)]}, per_head ? c.num_heads : 1,
                                                     per_head ? s.head_clusters : s.clusters, g, s.seed,
                                                     per_head ? 1 : s.cluster_align);
  ActQuantSpec spec;
  spec.bits = ql.act[at(p)].bits;
  spec.cluster_sizes = cl.sizes;
  spec.set_ranges(ql.range[at(p)]);
  return spec;
}

bool is_identity(const std::vector<int64_t>& order) {
  for (size_t i = 0; i < order.size(); ++i)
    if (order[i] != static_cast<int64_t>(i)) return false;
  return true;
}

}  // namespace

double max_relative_difference(const std::vector<float>& got, const std::vector<float>& want) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(got[i] - want[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(want[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

ActivationObserver QuantizedModel::simulator() const {
  auto specs = std::make_shared<std::vector<Specs>>();
  for (const QuantizedLayer& l : layers) specs->push_back(l.act);
  return [specs](const ActivationView& v) {
    (*specs)[static_cast<size_t>(v.layer)][at(v.point)].fake_quantize(v.data, v.rows);
  };
}

QuantizedModel quantize_model(mlir::ModuleOp module, std::shared_ptr<const OptWeights> float_weights,
                              const QuantSettings& settings, const CalibrationSet& calibration,
                              const QuantizeHooks& hooks) {
  auto progress = [&](const char* stage, int64_t done, int64_t total) {
    if (hooks.progress) hooks.progress(stage, done, total);
  };
  settings.validate();
  const OptConfig& c = float_weights->config;
  check_cluster_counts(settings, c);
  if (calibration.empty()) fail("calibration", "no calibration samples");
  const auto T = static_cast<int64_t>(calibration[0].size());
  for (const auto& s : calibration)
    if (static_cast<int64_t>(s.size()) != T) fail("calibration", "calibration samples differ in length");
  const bool quantize_weights = settings.wbits < 16;

  QuantizedModel qm;
  qm.settings = settings;
  qm.weights = std::make_shared<OptWeights>(*float_weights);
  qm.weights->keepalive.push_back(float_weights);
  qm.layers.resize(static_cast<size_t>(c.num_layers));
  // The LM head first: when it is tied to the token embeddings (as in OPT) the bundle stores it
  // once, as codes, and embeds tokens from those rows, so calibration and simulation must see the
  // same quantized rows at the input too.
  const bool tied = qm.weights->lm_head == qm.weights->embed_tokens;
  if (settings.lm_head_bits < 16) {
    quant::WeightQuantConfig head;
    head.bits = settings.lm_head_bits;
    QuantizedLinear q{"lm_head.weight", quant::rtn_quantize(qm.weights->lm_head, c.vocab_size, c.word_embed_proj_dim, head)};
    auto rows = std::make_shared<std::vector<float>>(std::move(q.weight.dequantized));
    qm.weights->keepalive.push_back(rows);
    qm.weights->lm_head = rows->data();
    if (tied) qm.weights->embed_tokens = rows->data();
    qm.embed_from_lm_head = tied;
    q.weight.dequantized.clear();
    qm.lm_head.push_back(std::move(q));
  }
  FloatExecutor exec(qm.weights);  // runs whatever qm.weights->layers holds at the time
  mark_quant_points(module);
  if (hooks.ir_after) hooks.ir_after("mark-quant-points", module);

  // Hidden states of every calibration sample entering the current layer.
  std::vector<std::vector<float>> hidden;
  for (const auto& s : calibration) hidden.push_back(exec.embed(s.data(), T, 0));
  KvCache cache = exec.new_cache(T);
  auto run = [&](int64_t l, bool update_hidden, const ActivationObserver& observer, size_t samples) {
    std::vector<float> scratch;
    for (size_t s = 0; s < samples; ++s) {
      float* h = hidden[s].data();
      if (!update_hidden) {
        scratch = hidden[s];
        h = scratch.data();
      }
      cache.clear();
      exec.run_layer(l, h, T, cache, observer);
    }
  };
  // The current layer's folded and dequantized tensors: handed to qm.weights when the model is
  // kept, released after the layer otherwise (peak memory then holds one layer's copies).
  std::vector<std::shared_ptr<const void>> layer_owned;
  auto keep = [&](std::vector<float> v) {
    auto owned = std::make_shared<std::vector<float>>(std::move(v));
    layer_owned.push_back(owned);
    return static_cast<const float*>(owned->data());
  };
  auto keep_index = [&](std::vector<int64_t> v) -> const int64_t* {
    if (v.empty()) return nullptr;
    auto owned = std::make_shared<std::vector<int64_t>>(std::move(v));
    layer_owned.push_back(owned);
    return owned->data();
  };

  for (int64_t l = 0; l < c.num_layers; ++l) {
    QuantizedLayer& ql = qm.layers[static_cast<size_t>(l)];
    OptLayerWeights& slot = qm.weights->layers[static_cast<size_t>(l)];
    if (float_weights->load_layer) layer_owned.push_back(float_weights->load_layer(l, slot));
    const OptLayerWeights original = slot;

    // 1. Per-channel ranges of the float layer on the quantized model's hidden states.
    progress("calibrate", l, c.num_layers);
    for (AP p : {AP::kAttnNormOut, AP::kQuery, AP::kKey, AP::kValue, AP::kAttnOut, AP::kFfnNormOut, AP::kFc1Out})
      ql.range[at(p)] = ChannelRange(p == AP::kFc1Out ? c.ffn_dim : c.hidden_size);
    std::array<quant::MeanChannelRange, kNumActivationPoints> mean;
    const auto use_mean = [&](AP p) {
      const int bits = is_kv(p) ? settings.kv_bits : settings.abits;
      return settings.range == QuantSettings::Range::kSampleMean ||
             (settings.range == QuantSettings::Range::kAuto && !is_kv(p) && bits <= 4);
    };
    run(l, false, [&](const ActivationView& v) {
          if (!use_mean(v.point)) return ql.range[at(v.point)].observe(v.data, v.rows, v.cols);
          ChannelRange sample(v.cols);
          sample.observe(v.data, v.rows, v.cols);
          mean[at(v.point)].add(sample);
        },
        hidden.size());
    for (size_t p = 0; p < kNumActivationPoints; ++p)
      if (use_mean(static_cast<AP>(p))) ql.range[p] = mean[p].mean();

    // 2. Clusters → channel orders and per-cluster ranges.
    const auto clusters = cluster_layer(ql, settings, c);
    std::array<std::vector<int64_t>, kNumActivationPoints> orders;
    for (size_t p = 0; p < kNumActivationPoints; ++p) {
      ActQuantSpec& spec = ql.act[p];
      spec.bits = is_kv(static_cast<AP>(p)) ? settings.kv_bits : settings.abits;
      spec.cluster_sizes = clusters[p].sizes;
      if (!is_identity(clusters[p].order)) spec.order = clusters[p].order;
      spec.set_ranges(ql.range[p]);
    }
    // A pair shares its order; reorder it if either member is quantized.
    auto pair_order = [&](AP a, AP b) {
      if (ql.act[at(a)].enabled() || ql.act[at(b)].enabled()) orders[at(a)] = orders[at(b)] = ql.act[at(a)].order;
    };
    for (AP p : {AP::kAttnNormOut, AP::kFfnNormOut, AP::kFc1Out})
      if (ql.act[at(p)].enabled()) orders[at(p)] = ql.act[at(p)].order;
    pair_order(AP::kQuery, AP::kKey);
    pair_order(AP::kValue, AP::kAttnOut);
    for (size_t p = 0; p < kNumActivationPoints; ++p)
      if (orders[p].empty()) {  // not reordered: the spec sees channels in the original order
        ActQuantSpec& spec = ql.act[p];
        if (!spec.order.empty()) {
          spec.order.clear();
          if (spec.enabled()) fail("internal", "a quantized point lost its channel order");
        }
      }

    // The error each clustering would give, measured on one sample of the float layer.
    Specs no_reorder, per_tensor;
    for (size_t p = 0; p < kNumActivationPoints; ++p)
      if (ql.act[p].enabled()) {
        no_reorder[p] = baseline_spec(ql, static_cast<AP>(p), settings, c, ActGranularity::kNoReorder);
        per_tensor[p] = baseline_spec(ql, static_cast<AP>(p), settings, c, ActGranularity::kPerTensor);
      }
    run(l, false, [&](const ActivationView& v) {
          const size_t p = at(v.point);
          ql.error_chosen[p] = ql.act[p].relative_error(v.data, v.rows);
          ql.error_no_reorder[p] = no_reorder[p].relative_error(v.data, v.rows);
          ql.error_per_tensor[p] = per_tensor[p].relative_error(v.data, v.rows);
        },
        1);

    // 3. Fold the orders into the layer's weights (the IR decides how) and check the folded
    //    float layer still computes the same function.
    const LayerLayout layout = fold_layer_orders(module, l, orders);
    if (hooks.ir_after && l + 1 == c.num_layers) hooks.ir_after("fold-reorders", module);
    std::map<std::string, std::vector<float>> permuted_float;
    for (const LayerTensor& t : layer_tensors(slot, l, c)) {
      auto it = layout.weights.find(t.name);
      if (it == layout.weights.end()) continue;
      permuted_float[t.name] = permuted(*t.slot, t.rows, t.cols, it->second.row_perm, it->second.col_perm);
      *t.slot = permuted_float[t.name].data();
    }
    slot.attn_norm.write_index = keep_index(layout.attn_norm_write_index);
    slot.ffn_norm.write_index = keep_index(layout.ffn_norm_write_index);
    if (!permuted_float.empty() || slot.attn_norm.write_index || slot.ffn_norm.write_index) {
      const OptLayerWeights folded = slot;
      std::vector<float> want = hidden[0], got = hidden[0];
      slot = original;
      cache.clear();
      exec.run_layer(l, want.data(), T, cache);
      slot = folded;
      cache.clear();
      exec.run_layer(l, got.data(), T, cache);
      const double err = max_relative_difference(got, want);
      qm.max_fold_error = std::max(qm.max_fold_error, err);
      if (!(err <= kFoldTolerance))
        fail("folding", "layer " + std::to_string(l) + ": the folded layer's output differs from the original by " +
                            std::to_string(err) + " (relative)");
    }

    // 4. Weights: GPTQ on the folded weights with the Hessians of their (quantized) inputs.
    if (quantize_weights) {
      progress("quantize weights", l, c.num_layers);
      std::map<AP, Eigen::MatrixXd> hessian;
      if (settings.gptq) {
        for (AP p : {AP::kAttnNormOut, AP::kAttnOut, AP::kFfnNormOut, AP::kFc1Out}) {
          const int64_t n = ql.range[at(p)].channels();
          hessian[p] = Eigen::MatrixXd::Zero(n, n);
        }
        run(l, false, [&](const ActivationView& v) {
              ql.act[at(v.point)].fake_quantize(v.data, v.rows);
              auto h = hessian.find(v.point);
              if (h != hessian.end()) accumulate_hessian(h->second, v.data, v.rows, v.cols);
            },
            hidden.size());
      }
      const std::string prefix = layer_prefix(l);
      const std::pair<const char*, std::pair<LinearWeights*, AP>> linears[] = {
          {"self_attn.q_proj", {&slot.q, AP::kAttnNormOut}},  {"self_attn.k_proj", {&slot.k, AP::kAttnNormOut}},
          {"self_attn.v_proj", {&slot.v, AP::kAttnNormOut}},  {"self_attn.out_proj", {&slot.out, AP::kAttnOut}},
          {"fc1", {&slot.fc1, AP::kFfnNormOut}},              {"fc2", {&slot.fc2, AP::kFc1Out}}};
      for (const auto& [name, target] : linears) {
        LinearWeights& w = *target.first;
        QuantizedLinear q{prefix + name + ".weight", {}};
        q.weight = settings.gptq
                       ? quant::gptq_quantize(w.weight, w.out, w.in, hessian.at(target.second).data(),
                                               settings.weight_quant())
                       : quant::rtn_quantize(w.weight, w.out, w.in, settings.weight_quant());
        w.weight = keep(std::move(q.weight.dequantized));
        q.weight.dequantized.clear();  // moved into the model's weights
        permuted_float.erase(q.name);
        ql.linears.push_back(std::move(q));
      }
    }
    // Whatever stays float (biases, LayerNorm parameters, unquantized weights) moves into the model.
    for (const LayerTensor& t : layer_tensors(slot, l, c)) {
      auto it = permuted_float.find(t.name);
      if (it != permuted_float.end()) *t.slot = keep(std::move(it->second));
    }
    annotate_quant_points(module, l, ql.act);

    // 5. The quantized layer's outputs are the next layer's calibration inputs.
    progress("propagate", l, c.num_layers);
    const ActivationObserver quantize_acts = [&](const ActivationView& v) {
      ql.act[at(v.point)].fake_quantize(v.data, v.rows);
    };
    run(l, true, quantize_acts, hidden.size());

    if (hooks.layer_done) hooks.layer_done(l, ql, slot);
    if (hooks.keep_model) {
      for (auto& owned : layer_owned) qm.weights->keepalive.push_back(std::move(owned));
    } else {
      slot = OptLayerWeights{};  // nothing may point into the released copies
      ql.linears.clear();
      ql.linears.shrink_to_fit();
    }
    layer_owned.clear();
  }
  progress("done", c.num_layers, c.num_layers);
  if (hooks.ir_after) hooks.ir_after("quantize", module);
  return qm;
}

}  // namespace rptq::pipeline

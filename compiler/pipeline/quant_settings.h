// What to quantize and how: the WxAy(KVz) settings of the RPTQ paper plus the knobs of each stage.
#pragma once

#include <cstdint>
#include <string>

#include "quant/channel_clustering.h"
#include "quant/weight_quant.h"

namespace rptq::pipeline {

struct QuantSettings {
  int wbits = 4;    // 2..8, or 16: weights stay float
  int abits = 16;   // activations feeding matmuls (not K/V); 2..8, or 16: float
  int kv_bits = 16; // the KV cache (K and V as QKᵀ and P·V read them); 2..8, or 16
  quant::ActGranularity granularity = quant::ActGranularity::kReorder;
  int64_t clusters = 32;      // per LayerNorm output and per fc1 output (paper's R1, R4, R5)
  int64_t head_clusters = 4;  // per attention head for Q/K and V/attention output (R2, R3)
  // Cluster sizes of the LayerNorm and fc1 outputs as multiples of this (1: any): the K step of
  // the CUDA tensor-core linear (32; 64 on int4 tensor cores), whose steps that span two clusters
  // cost a second mma. Per-head clusters (the attention output, 16-32 channels each at 4 per
  // head) are left as they are: aligned, they would merge.
  int64_t cluster_align = 1;
  bool gptq = true;           // false: round-to-nearest weights
  // Activation ranges: the min/max over all calibration tokens, or the mean over samples of each
  // sample's min/max (quant::MeanChannelRange). kAuto: the mean for activations other than K/V at
  // 4 bits and below, where clipping a few extreme tokens buys resolution for all the others; the
  // min/max elsewhere (measured in bench/README.md: at 8 bits, and for the keys and values whose
  // extremes the softmax amplifies, the clipping costs more than it gains).
  enum class Range { kAuto, kMinMax, kSampleMean };
  Range range = Range::kAuto;
  // The LM head (tied to the embedding in OPT): round-to-nearest per row at this many bits with
  // float activations, or 16 to keep it float as the paper does. At 8 bits it costs ~0.1% of
  // perplexity and is what lets decoding beat fp32 by a wide margin: a float head would be 65%
  // of the bytes read per token of a W4 opt-125m.
  int lm_head_bits = 8;
  quant::WeightQuantConfig weight;  // group size, act order, damping; its `bits` is ignored: wbits decides
  uint64_t seed = 0;          // K-Means seeding

  // "W4A8", "W4A4KV" (only the KV cache at 4 bits), "W4A16", "W16A16" ... → bits; other fields kept.
  static QuantSettings parse(const std::string& name, QuantSettings base);
  static QuantSettings parse(const std::string& name);
  std::string name() const;   // the inverse of parse
  void validate() const;      // rptq::Error naming the bad field
  // `weight` with bits = wbits: what the weight quantizers are given.
  quant::WeightQuantConfig weight_quant() const {
    quant::WeightQuantConfig w = weight;
    w.bits = wbits;
    return w;
  }
};

const char* granularity_name(quant::ActGranularity g);
// The inverses of the command-line names: "rptq", "per_tensor", "no_reorder"; "auto", "minmax",
// "mean". rptq::Error for anything else.
quant::ActGranularity parse_granularity(const std::string& name);
QuantSettings::Range parse_range(const std::string& name);

}  // namespace rptq::pipeline

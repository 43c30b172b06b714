#include "pipeline/quant_settings.h"

#include <regex>

#include "rptq/error.h"

namespace rptq::pipeline {
namespace {

void check_bits(const char* what, int bits) {
  if (bits == 16 || (bits >= 2 && bits <= 8)) return;
  fail("settings", std::string(what) + " = " + std::to_string(bits) + " is outside 2..8 (or 16 for float)");
}

}  // namespace

QuantSettings QuantSettings::parse(const std::string& name, QuantSettings base) {
  static const std::regex re("W([0-9]+)A([0-9]+)(KV)?");
  std::smatch m;
  if (!std::regex_match(name, m, re)) fail("settings", "'" + name + "' is not of the form WxAy or WxAyKV");
  base.wbits = std::stoi(m[1].str());
  const int a = std::stoi(m[2].str());
  if (m[3].matched) {  // the paper's KV settings quantize only the cache
    base.abits = 16;
    base.kv_bits = a;
  } else {
    base.abits = a;
    base.kv_bits = a;
  }
  base.validate();
  return base;
}

QuantSettings QuantSettings::parse(const std::string& name) { return parse(name, QuantSettings()); }

std::string QuantSettings::name() const {
  std::string s = "W" + std::to_string(wbits);
  if (abits == 16 && kv_bits < 16) return s + "A" + std::to_string(kv_bits) + "KV";
  s += "A" + std::to_string(abits);
  if (kv_bits != abits) s += "KV" + std::to_string(kv_bits);
  return s;
}

void QuantSettings::validate() const {
  check_bits("weight bits", wbits);
  check_bits("activation bits", abits);
  check_bits("KV-cache bits", kv_bits);
  check_bits("LM-head bits", lm_head_bits);
  if (clusters < 1) fail("settings", "--clusters must be at least 1, got " + std::to_string(clusters));
  if (head_clusters < 1) fail("settings", "--head-clusters must be at least 1, got " + std::to_string(head_clusters));
  if (cluster_align < 1) fail("settings", "--cluster-align must be at least 1, got " + std::to_string(cluster_align));
  if (weight.group_size < 0) fail("settings", "--group-size must be >= 0");
  if (!(weight.damp > 0.0) || weight.damp >= 1.0) fail("settings", "--damp must be in (0, 1)");
}

const char* granularity_name(quant::ActGranularity g) {
  switch (g) {
    case quant::ActGranularity::kReorder: return "rptq";
    case quant::ActGranularity::kPerTensor: return "per_tensor";
    case quant::ActGranularity::kNoReorder: return "no_reorder";
  }
  return "?";
}

quant::ActGranularity parse_granularity(const std::string& name) {
  for (auto g : {quant::ActGranularity::kReorder, quant::ActGranularity::kPerTensor, quant::ActGranularity::kNoReorder})
    if (name == granularity_name(g)) return g;
  fail("settings", "unknown method '" + name + "' (rptq, per_tensor, no_reorder)");
}

QuantSettings::Range parse_range(const std::string& name) {
  if (name == "auto") return QuantSettings::Range::kAuto;
  if (name == "minmax") return QuantSettings::Range::kMinMax;
  if (name == "mean") return QuantSettings::Range::kSampleMean;
  fail("settings", "unknown activation range '" + name + "' (auto, minmax, mean)");
}

}  // namespace rptq::pipeline

// What `rptq-compile --report` shows: per layer and activation the calibration ranges of every
// channel with its cluster, the quantization error with and without reordering, and the
// perplexity of each evaluated setting. Filled by the driver, rendered by html_report.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rptq::report {

struct ActivationReport {
  int64_t layer = 0;
  std::string point;               // "attn_norm_out", "query", ... (rptq.quant_point names)
  int bits = 16;                   // 16: not quantized
  std::vector<float> min, max;     // per channel, original channel order
  std::vector<int32_t> cluster;    // per channel (original order): its cluster index
  int64_t clusters = 0;            // number of clusters
  // Relative quantization error ||x - x̂||² / ||x||² on calibration data, with RPTQ's clusters
  // and with the same number of contiguous groups without reordering (and per-tensor).
  double error_reorder = 0, error_no_reorder = 0, error_per_tensor = 0;
};

struct PerplexityEntry {
  std::string setting;  // "W4A8", ...
  std::string method;   // "rptq", "per_tensor", "no_reorder"
  double perplexity = 0;
};

struct CompileReport {
  std::string model;
  std::string settings;             // the compiled setting, e.g. "W4A4"
  double float_perplexity = 0;      // 0: not evaluated
  std::vector<PerplexityEntry> perplexities;
  std::vector<ActivationReport> activations;
  std::vector<std::pair<std::string, double>> stage_seconds;  // wall time of each stage
};

}  // namespace rptq::report

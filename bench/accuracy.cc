// The accuracy table of the RPTQ paper on one checkpoint: WikiText-2 perplexity of the float
// model and of each WxAy(KV) setting quantized three ways — RPTQ (reordered clusters), per-tensor
// activations, and as many clusters without reordering — with quantization simulated as the
// kernels compute it (integer codes, per-cluster scales, folded weights).
//   rptq-accuracy MODEL_DIR --calib CALIB.txt --eval wiki.test.raw --out accuracy.json
#include <CLI/CLI.hpp>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "hf/checkpoint.h"
#include "hf/opt_weights_loader.h"
#include "hf/text_file.h"
#include "hf/tokenizer_files.h"
#include "import/opt_importer.h"
#include "pipeline/calibration_data.h"
#include "pipeline/rptq_quantizer.h"
#include "reference/perplexity.h"
#include "rptq/error.h"
#include "support/atomic_file.h"

namespace {

using rptq::quant::ActGranularity;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}


// Folding alone must not change the model: the float model with every permutation of an A4
// clustering folded into its weights and LayerNorms, run without any quantization, against the
// float model on one context window of the evaluation text. Returns max |Δlogit| / max |logit|.
double folding_logits_error(const rptq::hf::Checkpoint& ck, std::shared_ptr<const rptq::OptWeights> weights,
                            rptq::pipeline::QuantSettings s, const rptq::pipeline::CalibrationSet& calibration,
                            const rptq::FloatExecutor& float_exec, const std::vector<int32_t>& eval_ids) {
  s.wbits = 16;
  s.lm_head_bits = 16;
  s.abits = s.kv_bits = 4;
  s.granularity = ActGranularity::kReorder;
  mlir::MLIRContext ctx;
  auto module = rptq::import::import_opt(ctx, ck);
  const auto qm = rptq::pipeline::quantize_model(*module, weights, s, calibration);
  const rptq::FloatExecutor folded_exec(qm.weights);
  const int64_t n = std::min<int64_t>(static_cast<int64_t>(eval_ids.size()), weights->config.max_positions);
  rptq::KvCache a = float_exec.new_cache(n), b = folded_exec.new_cache(n);
  const std::vector<float> want = float_exec.forward(eval_ids.data(), n, a);
  const std::vector<float> got = folded_exec.forward(eval_ids.data(), n, b);
  return rptq::pipeline::max_relative_difference(got, want);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Perplexity of RPTQ and its baselines at each quantization setting"};
  std::string model, calib_path, eval_path, out_path, settings_list = "W4A16,W4A8,W4A4,W4A4KV,W4A3KV";
  std::string methods_list = "rptq,per_tensor,no_reorder";
  rptq::pipeline::CalibrationSource calib;
  rptq::pipeline::QuantSettings base;
  int64_t window = 0, max_windows = 0;
  bool rtn = false;
  app.add_option("model", model, "OPT checkpoint directory")->required();
  app.add_option("--calib", calib.path, "calibration text (UTF-8)")->required();
  app.add_option("--eval", eval_path, "evaluation text, e.g. WikiText-2 wiki.test.raw")->required();
  app.add_option("--out", out_path, "JSON output file")->required();
  app.add_option("--settings", settings_list, "comma-separated WxAy / WxAyKV settings");
  app.add_option("--methods", methods_list, "comma-separated: rptq, per_tensor, no_reorder");
  app.add_option("--calib-samples", calib.samples, "calibration samples");
  app.add_option("--calib-seqlen", calib.seqlen, "tokens per calibration sample");
  app.add_option("--clusters", base.clusters, "clusters per LayerNorm / fc1 output");
  app.add_option("--head-clusters", base.head_clusters, "clusters per attention head (Q/K, V)");
  app.add_option("--cluster-align", base.cluster_align, "LayerNorm / fc1 output cluster sizes as multiples of this");
  app.add_option("--group-size", base.weight.group_size, "weight quantization group size (0: per output channel)");
  app.add_flag("--rtn", rtn, "round-to-nearest weights instead of GPTQ");
  std::string range = "auto";
  app.add_option("--act-range", range, "activation ranges: auto (default), minmax, or mean (of per-sample min/max)")
      ->check(CLI::IsMember({"auto", "minmax", "mean"}));
  app.add_option("--lm-head-bits", base.lm_head_bits, "LM head bits (default 8; 16: float as in the paper)");
  app.add_option("--window", window, "evaluation window (default: the model's context)");
  app.add_option("--max-windows", max_windows, "evaluate at most this many windows (0: all)");
  std::vector<std::string> also_eval;
  app.add_option("--also-eval", also_eval, "more evaluation texts (e.g. PTB test), reported under \"other_datasets\"");
  CLI11_PARSE(app, argc, argv);
  base.gptq = !rtn;

  try {
    base.range = rptq::pipeline::parse_range(range);
    const auto t_start = std::chrono::steady_clock::now();
    auto ck = rptq::hf::Checkpoint::open(model);
    auto tok = rptq::hf::load_tokenizer(model);
    auto weights = rptq::hf::load_opt_weights(ck);
    const rptq::OptConfig& cfg = weights->config;
    const std::vector<int32_t> eval_ids = tok.encode(rptq::hf::read_utf8_text(eval_path), /*add_bos=*/true);
    std::vector<std::vector<int32_t>> other_ids;
    for (const auto& path : also_eval) other_ids.push_back(tok.encode(rptq::hf::read_utf8_text(path), true));
    const auto calibration = rptq::pipeline::load_calibration(calib, tok, cfg.vocab_size, cfg.max_positions);
    std::vector<ActGranularity> methods;
    for (const auto& m : split(methods_list)) methods.push_back(rptq::pipeline::parse_granularity(m));
    std::vector<rptq::pipeline::QuantSettings> settings;
    for (const auto& s : split(settings_list)) settings.push_back(rptq::pipeline::QuantSettings::parse(s, base));

    rptq::FloatExecutor float_exec(weights);
    const double fold_error = folding_logits_error(ck, weights, base, calibration, float_exec, eval_ids);
    std::cout << "folding alone (W16A4 clusters, nothing quantized): logits differ by " << std::scientific
              << fold_error << std::fixed << " (max abs / max |logit|)\n";
    const rptq::PerplexityResult fp = rptq::evaluate_perplexity(float_exec, eval_ids, window, max_windows);
    nlohmann::ordered_json out;
    out["model"] = ck.name();
    out["float"] = fp.perplexity();
    out["settings"] = nlohmann::ordered_json::object();
    std::cout << std::fixed << std::setprecision(3) << "float: " << fp.perplexity() << "\n";
    nlohmann::ordered_json others = nlohmann::ordered_json::object();
    for (size_t d = 0; d < also_eval.size(); ++d) {
      others[also_eval[d]]["float"] = rptq::evaluate_perplexity(float_exec, other_ids[d], window, max_windows).perplexity();
      others[also_eval[d]]["settings"] = nlohmann::ordered_json::object();
    }
    double max_fold_error = 0;
    for (const auto& s0 : settings) {
      nlohmann::ordered_json row;
      double weight_only = -1;  // without activation quantization the three methods coincide
      for (ActGranularity g : methods) {
        rptq::pipeline::QuantSettings s = s0;
        s.granularity = g;
        const std::string method = rptq::pipeline::granularity_name(g);
        if (s.abits == 16 && s.kv_bits == 16 && weight_only >= 0) {
          row[method] = weight_only;
          for (const auto& path : also_eval)
            others[path]["settings"][s0.name()][method] = others[path]["settings"][s0.name()].begin().value();
          continue;
        }
        const auto t0 = std::chrono::steady_clock::now();
        mlir::MLIRContext ctx;
        auto module = rptq::import::import_opt(ctx, ck);
        const auto qm = rptq::pipeline::quantize_model(*module, weights, s, calibration);
        max_fold_error = std::max(max_fold_error, qm.max_fold_error);
        rptq::FloatExecutor exec(qm.weights);
        const double ppl = rptq::evaluate_perplexity(exec, eval_ids, window, max_windows, qm.simulator()).perplexity();
        if (s.abits == 16 && s.kv_bits == 16) weight_only = ppl;
        row[method] = ppl;
        std::cout << s.name() << " " << method << ": " << ppl;
        for (size_t d = 0; d < also_eval.size(); ++d) {
          const double other = rptq::evaluate_perplexity(exec, other_ids[d], window, max_windows, qm.simulator()).perplexity();
          others[also_eval[d]]["settings"][s0.name()][method] = other;
          std::cout << " (" << also_eval[d] << ": " << other << ")";
        }
        std::cout << "  (" << seconds_since(t0) << " s)\n" << std::flush;
      }
      out["settings"][s0.name()] = row;
    }
    out["calibration"] = {{"file", calib.path}, {"samples", calib.samples}, {"seqlen", calibration.front().size()}};
    out["evaluation"] = {{"file", eval_path}, {"window", fp.window}, {"windows", fp.windows}};
    if (!also_eval.empty()) out["other_datasets"] = others;
    out["clusters"] = base.clusters;
    out["head_clusters"] = base.head_clusters;
    out["cluster_align"] = base.cluster_align;
    out["weights"] = rtn ? "rtn" : "gptq";
    out["lm_head_bits"] = base.lm_head_bits;
    out["act_range"] = range;
    out["max_fold_error"] = max_fold_error;
    out["fold_logits_error"] = fold_error;
    out["seconds"] = seconds_since(t_start);
    rptq::write_file_atomically(out_path, out.dump(2) + "\n");
  } catch (const rptq::Error& e) {
    std::cerr << "rptq-accuracy: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

// rptq-compile: OPT checkpoint (Hugging Face layout) → quantized model.
//
//   rptq-compile MODEL_DIR --emit mlir -o model.mlir                  import only (float IR)
//   rptq-compile MODEL_DIR --calib calib.txt --wbits 4 --abits 4 --kv-bits 4 --clusters 32
//       [--eval wiki.test.raw] [--report report.html] [--dump-ir-after PASS] -o model.rptq
//
// With calibration data it runs the RPTQ pipeline (mark quantization points → calibrate layer by
// layer → cluster → fold reorders → GPTQ) and emits a bundle (-o *.rptq: weights as codes, the
// activation quantizers, tokenizer, execution and memory plan) or the annotated IR. Every output is written to a temporary file and renamed at the end, so a
// failed compile leaves nothing behind.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <sstream>
#include <cstdio>
#include <iostream>
#include <llvm/Support/raw_ostream.h>
#include <mlir/IR/MLIRContext.h>

#include "cpu/host_compiler.h"
#include "cuda/nvcc.h"
#include "emit/bundle_emitter.h"
#include "hf/checkpoint.h"
#include "hf/opt_weights_loader.h"
#include "hf/text_file.h"
#include "hf/tokenizer_files.h"
#include "import/opt_importer.h"
#include "pipeline/calibration_data.h"
#include "pipeline/report_builder.h"
#include "pipeline/rptq_quantizer.h"
#include "reference/perplexity.h"
#include "report/html_report.h"
#include "rptq/error.h"
#include "support/atomic_file.h"
#include "support/process_memory.h"
#include "targets/targets.h"

namespace {

using Clock = std::chrono::steady_clock;
using rptq::quant::ActGranularity;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string print_ir(mlir::ModuleOp module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module.print(os);
  os.flush();
  return text;
}

// The most private (heap) memory seen at any stage boundary: what must scale with one layer.
uint64_t g_peak_anon = 0;

// One line per stage on a terminal, redrawn as layers complete; plain lines in logs.
void show_progress(const std::string& stage, int64_t done, int64_t total) {
  g_peak_anon = std::max(g_peak_anon, rptq::process_memory().rss_anon);
  static const bool tty = isatty(fileno(stderr));
  constexpr int kWidth = 30;
  const int filled = total > 0 ? static_cast<int>(kWidth * done / total) : kWidth;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kWidth, '.');
  if (tty)
    std::fprintf(stderr, "\r%-17s [%s] layer %lld/%lld\033[K%s", stage.c_str(), bar.c_str(),
                 static_cast<long long>(done), static_cast<long long>(total), done == total ? "\n" : "");
  else
    std::fprintf(stderr, "%s: layer %lld/%lld\n", stage.c_str(), static_cast<long long>(done),
                 static_cast<long long>(total));
}

// Mean relative activation quantization error per point over the layers, for the chosen
// clusters and the two baselines' (measured on one calibration sample).
void print_error_summary(const std::vector<rptq::report::ActivationReport>& acts) {
  struct Sum {
    double chosen = 0, no_reorder = 0, per_tensor = 0;
    int n = 0;
  };
  std::vector<std::pair<std::string, Sum>> rows;
  for (const auto& a : acts) {
    if (a.bits >= 16) continue;
    auto it = std::find_if(rows.begin(), rows.end(), [&](const auto& r) { return r.first == a.point; });
    if (it == rows.end()) it = rows.insert(rows.end(), {a.point, Sum{}});
    it->second.chosen += a.error_reorder;
    it->second.no_reorder += a.error_no_reorder;
    it->second.per_tensor += a.error_per_tensor;
    ++it->second.n;
  }
  if (rows.empty()) return;
  std::fprintf(stderr, "rptq-compile: activation quantization error (|x-q(x)|^2/|x|^2, mean over layers)\n"
                       "  %-14s %12s %12s %12s\n", "point", "chosen", "no_reorder", "per_tensor");
  for (const auto& [point, s] : rows)
    std::fprintf(stderr, "  %-14s %12.3e %12.3e %12.3e\n", point.c_str(), s.chosen / s.n, s.no_reorder / s.n,
                 s.per_tensor / s.n);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rptq-compile: OPT checkpoint (Hugging Face layout) -> RPTQ-quantized model"};
  std::string model, output, emit, dump_after, report_path, eval_path, calib_ids, granularity = "rptq";
  std::string weight_method = "gptq", report_settings;
  rptq::pipeline::CalibrationSource calib;
  rptq::pipeline::QuantSettings s;
  int kv_bits = 0;
  bool calib_random = false;
  int64_t max_windows = 0;
  app.add_option("model", model, "OPT checkpoint directory")->required();
  app.add_option("-o,--output", output, "output file ('-' for stdout)")->required();
  app.add_option("--emit", emit, "bundle (default for -o *.rptq) or mlir (the annotated IR)")
      ->check(CLI::IsMember({"bundle", "mlir"}));
  int64_t max_tokens = 512;
  app.add_option("--max-tokens", max_tokens, "tokens per forward call the bundle's memory plan is sized for "
                                             "(default 512, at most the context)");
  std::string target_list = rptq::targets::default_targets(), host_cxx = rptq::codegen::default_host_compiler(),
              aarch64_cxx = rptq::codegen::default_aarch64_compiler(), nvcc = rptq::codegen::default_nvcc();
  std::string known_targets;
  for (const rptq::targets::TargetInfo& t : rptq::targets::all_targets())
    known_targets += (known_targets.empty() ? "" : ", ") + t.name;
  app.add_option("--target", target_list, "comma-separated devices to build native code for: " + known_targets +
                                              " (generic: none; default: this host's, " + target_list + ")");
  app.add_option("--nvcc", nvcc, "nvcc that builds the CUDA kernels (default: $RPTQ_NVCC, else the CUDA "
                                 "toolkit's in $CUDA_HOME or /usr/local/cuda, else nvcc from PATH)");
  bool cuda_wgmma = false;
  app.add_flag("--cuda-wgmma", cuda_wgmma, "h100: the tensor-core linear on wgmma (an sm_90a cubin; experimental: "
                                           "not yet run on a GPU)");
  app.add_option("--host-cxx", host_cxx, "C++ compiler that builds the CPU kernels (default: $RPTQ_HOST_CXX, "
                                         "$CXX or c++)");
  app.add_option("--aarch64-cxx", aarch64_cxx, "C++ compiler for aarch64 kernels (default: $RPTQ_AARCH64_CXX or "
                                               "aarch64-linux-gnu-g++)");
  auto* calib_text = app.add_option("--calib", calib.path, "calibration text (UTF-8), e.g. WikiText-2 train");
  auto* calib_id_opt = app.add_option("--calib-ids", calib_ids, "calibration token ids (whitespace-separated)");
  auto* calib_rand = app.add_flag("--calib-random", calib_random, "calibrate on uniformly random token ids (speed benches)");
  calib_text->excludes(calib_id_opt)->excludes(calib_rand);
  calib_id_opt->excludes(calib_rand);
  app.add_option("--calib-samples", calib.samples, "calibration samples (default 128)");
  app.add_option("--calib-seqlen", calib.seqlen, "tokens per calibration sample (default 512, or the context if shorter)");
  app.add_option("--seed", calib.seed, "seed for drawing calibration samples and K-Means");
  app.add_option("--wbits", s.wbits, "weight bits: 2..8, 16 = float (default 4)");
  app.add_option("--abits", s.abits, "activation bits: 2..8, 16 = float (default 16)");
  app.add_option("--kv-bits", kv_bits, "KV-cache bits: 2..8, 16 = float (default: --abits)");
  app.add_option("--lm-head-bits", s.lm_head_bits, "LM head bits (per-row round-to-nearest): 2..8, 16 = float "
                                                    "as in the paper (default 8)");
  app.add_option("--clusters", s.clusters, "clusters per LayerNorm and fc1 output (default 32)");
  app.add_option("--head-clusters", s.head_clusters, "clusters per attention head for Q/K and V (default 4)");
  app.add_option("--cluster-align", s.cluster_align,
                 "LayerNorm and fc1 output cluster sizes as multiples of this (default 1: any; 32 or 64: no "
                 "tensor-core K step spans two clusters)");
  std::string act_range = "auto";
  app.add_option("--act-range", act_range, "activation ranges: auto (mean of per-sample min/max for non-KV "
                                           "activations at <= 4 bits, else min/max), minmax, mean")
      ->check(CLI::IsMember({"auto", "minmax", "mean"}));
  app.add_option("--granularity", granularity, "activation clusters: rptq, per_tensor, no_reorder")
      ->check(CLI::IsMember({"rptq", "per_tensor", "no_reorder"}));
  app.add_option("--weight-quant", weight_method, "gptq or rtn")->check(CLI::IsMember({"gptq", "rtn"}));
  app.add_option("--group-size", s.weight.group_size, "weight group size along the input (0: per output channel)");
  app.add_flag("--act-order", s.weight.act_order, "GPTQ: quantize columns by decreasing Hessian diagonal");
  app.add_option("--damp", s.weight.damp, "GPTQ damping, fraction of the mean Hessian diagonal (default 0.01)");
  app.add_option("--eval", eval_path, "evaluation text: report float and simulated perplexity");
  app.add_option("--max-windows", max_windows, "evaluate at most this many context windows (0: all)");
  app.add_option("--report", report_path, "write an HTML report (needs --eval for perplexities)");
  app.add_option("--report-settings", report_settings,
                 "extra settings (e.g. W4A8,W4A4) evaluated for the report with all three methods");
  app.add_option("--dump-ir-after", dump_after, "print the IR to stderr after: import, mark-quant-points, "
                                                 "fold-reorders, quantize")
      ->check(CLI::IsMember({"import", "mark-quant-points", "fold-reorders", "quantize"}));
  CLI11_PARSE(app, argc, argv);

  try {
    const auto t_start = Clock::now();
    s.kv_bits = kv_bits > 0 ? kv_bits : s.abits;
    s.gptq = weight_method == "gptq";
    s.granularity = rptq::pipeline::parse_granularity(granularity);
    s.seed = calib.seed;
    s.range = rptq::pipeline::parse_range(act_range);
    s.validate();
    if (emit.empty()) emit = output.size() > 5 && output.compare(output.size() - 5, 5, ".rptq") == 0 ? "bundle" : "mlir";
    if (max_tokens < 1) rptq::fail("--max-tokens", "must be at least 1");
    const std::vector<rptq::targets::TargetInfo> targets = rptq::targets::parse_targets(target_list);
    const bool quantize = !calib.path.empty() || !calib_ids.empty() || calib_random;
    if (!quantize && emit == "bundle")
      rptq::fail("rptq-compile", "a bundle needs calibration data (--calib, --calib-ids or --calib-random)");
    if (emit == "bundle" && output == "-") rptq::fail("rptq-compile", "a bundle cannot be written to stdout");
    if (!quantize && (!report_path.empty() || !eval_path.empty()))
      rptq::fail("rptq-compile", "--eval and --report need calibration data (--calib, --calib-ids or --calib-random)");

    auto ck = rptq::hf::Checkpoint::open(model);
    mlir::MLIRContext ctx;
    auto module = rptq::import::import_opt(ctx, ck);
    rptq::report::CompileReport report;
    report.model = ck.name();
    report.stage_seconds.push_back({"import", seconds_since(t_start)});
    auto dump = [&](const std::string& stage, mlir::ModuleOp m) {
      if (stage == dump_after) std::cerr << "// ----- IR after " << stage << " -----\n" << print_ir(m);
    };
    dump("import", *module);

    if (quantize) {
      rptq::BpeTokenizerSpec tok_spec = rptq::hf::load_tokenizer_spec(model);
      const rptq::BpeTokenizer tok(tok_spec);
      // Without an evaluation only one layer is needed at a time: f16/bf16 layers are converted on demand.
      auto weights = rptq::hf::load_opt_weights(ck, /*lazy_layers=*/emit == "bundle" && eval_path.empty());
      if (!calib_ids.empty()) {
        calib.kind = rptq::pipeline::CalibrationSource::Kind::kTokenIds;
        calib.path = calib_ids;
      } else if (calib_random) {
        calib.kind = rptq::pipeline::CalibrationSource::Kind::kRandom;
      }
      auto t0 = Clock::now();
      const auto calibration = rptq::pipeline::load_calibration(calib, tok, weights->config.vocab_size,
                                                                weights->config.max_positions);
      std::vector<int32_t> eval_ids;
      if (!eval_path.empty()) eval_ids = tok.encode(rptq::hf::read_utf8_text(eval_path), /*add_bos=*/true);
      report.stage_seconds.push_back({"load calibration", seconds_since(t0)});

      t0 = Clock::now();
      rptq::pipeline::QuantizeHooks hooks;
      hooks.progress = show_progress;
      hooks.ir_after = dump;
      // A bundle is written layer by layer as the layers are quantized; without an evaluation
      // nothing else needs them, so each layer's copies are released and memory holds one layer's.
      std::unique_ptr<rptq::codegen::BundleEmitter> emitter;
      if (emit == "bundle") {
        rptq::codegen::EmitOptions eo;
        eo.compiler_version = RPTQ_VERSION;
        eo.source = ck.name();
        eo.max_tokens = max_tokens;
        eo.add_targets(targets, {host_cxx, aarch64_cxx, nvcc});
        eo.cuda_wgmma = cuda_wgmma;
        emitter = std::make_unique<rptq::codegen::BundleEmitter>(output, *weights, eo);
        hooks.layer_done = [&](int64_t l, const rptq::pipeline::QuantizedLayer& ql, const rptq::OptLayerWeights& w) {
          emitter->add_layer(l, ql, w);
        };
        hooks.keep_model = !eval_ids.empty();
      }
      const auto qm = rptq::pipeline::quantize_model(*module, weights, s, calibration, hooks);
      report.settings = s.name();
      report.stage_seconds.push_back({"quantize (calibrate, cluster, fold, GPTQ)", seconds_since(t0)});
      report.activations = rptq::pipeline::activation_reports(qm);
      std::cerr << "rptq-compile: " << s.name() << " (" << rptq::pipeline::granularity_name(s.granularity)
                << "), folded layers match the float model to " << qm.max_fold_error << " (relative)\n";
      print_error_summary(report.activations);

      if (!eval_ids.empty()) {
        t0 = Clock::now();
        auto evaluate = [&](const rptq::pipeline::QuantizedModel& m) {
          rptq::FloatExecutor exec(m.weights);
          return rptq::evaluate_perplexity(exec, eval_ids, 0, max_windows, m.simulator()).perplexity();
        };
        rptq::FloatExecutor float_exec(weights);
        report.float_perplexity = rptq::evaluate_perplexity(float_exec, eval_ids, 0, max_windows).perplexity();
        const double ppl = evaluate(qm);
        report.perplexities.push_back({s.name(), rptq::pipeline::granularity_name(s.granularity), ppl});
        std::cerr << "rptq-compile: perplexity float " << report.float_perplexity << ", " << s.name() << " " << ppl << "\n";
        // The report's comparison: the compiled setting and any extra ones, under all three methods.
        std::vector<rptq::pipeline::QuantSettings> extra = {s};
        std::stringstream list(report_settings);
        for (std::string name; std::getline(list, name, ',');)
          if (!name.empty()) extra.push_back(rptq::pipeline::QuantSettings::parse(name, s));
        if (!report_path.empty())
          for (const auto& base : extra)
            for (ActGranularity g : {ActGranularity::kReorder, ActGranularity::kPerTensor, ActGranularity::kNoReorder}) {
              auto v = base;
              v.granularity = g;
              if (v.name() == s.name() && g == s.granularity) continue;
              mlir::MLIRContext side_ctx;
              auto side = rptq::import::import_opt(side_ctx, ck);
              const double p = evaluate(rptq::pipeline::quantize_model(*side, weights, v, calibration));
              report.perplexities.push_back({v.name(), rptq::pipeline::granularity_name(g), p});
              std::cerr << "rptq-compile: perplexity " << v.name() << " " << rptq::pipeline::granularity_name(g)
                        << " " << p << "\n";
            }
        report.stage_seconds.push_back({"evaluate", seconds_since(t0)});
      }
      if (emitter) {
        t0 = Clock::now();
        emitter->finish(qm, tok_spec, report.perplexities.empty() ? -1 : report.perplexities.front().perplexity);
        report.stage_seconds.push_back({"finish bundle", seconds_since(t0)});
      }
    }

    if (!report_path.empty()) rptq::write_file_atomically(report_path, rptq::report::render_html_report(report));
    if (emit == "mlir") {
      const std::string text = print_ir(*module);
      if (output == "-")
        std::cout << text;
      else
        rptq::write_file_atomically(output, text);
    }
    const rptq::ProcessMemory mem = rptq::process_memory();
    constexpr double kMiB = 1024.0 * 1024.0;
    std::fprintf(stderr,
                 "rptq-compile: %.1f s, peak resident %.0f MiB (private memory at most %.0f MiB at layer "
                 "boundaries; checkpoint pages mapped now %.0f MiB)\n",
                 seconds_since(t_start), mem.peak_rss / kMiB, std::max(g_peak_anon, mem.rss_anon) / kMiB,
                 mem.rss_file / kMiB);
  } catch (const rptq::Error& e) {
    std::cerr << "rptq-compile: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

// rptq-bench-runtime: prefill and decode speed of a bundle through the public C API, plus what
// bounds decode: the bytes of weights each token reads and this machine's read bandwidth.
//   rptq-bench-runtime model.rptq --text wiki.test.raw [--prefill 512] [--decode 128] [--repeat 5]
//                      [--generic-kernels | --compare-generic]
// Each figure is the best of --repeat runs (shared 2-core machines vary by ±30% between runs).
// --compare-generic also loads the bundle with native code forbidden and interleaves its runs with
// the native ones, so both are measured under the same conditions. Prints one JSON object.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <numeric>
#include <sstream>
#include <vector>

#include "bundle/bundle_reader.h"
#include "rptq/runtime.hpp"
#include "support/process_memory.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Bytes one decode step reads from weights: every linear (codes, scales, zero points, biases or
// float weights) and the LM head; the embedding contributes one row, ignored.
uint64_t weight_bytes_per_token(const rptq::bundle::LoadedBundle& b) {
  uint64_t total = 0;
  auto add = [&](const rptq::bundle::QuantLinear* q) {
    if (!q) return;
    for (int32_t t : {q->codes(), q->scale(), q->zero(), q->weight(), q->bias()})
      if (t >= 0) total += b.tensor_bytes(t).size;
  };
  const rptq::bundle::Model& m = *b.meta().model();
  for (const auto* L : *m.layers())
    for (const auto* q : {L->q_proj(), L->k_proj(), L->v_proj(), L->out_proj(), L->fc1(), L->fc2()}) add(q);
  add(m.project_in());
  add(m.project_out());
  add(m.lm_head());
  return total;
}

// Sustained read bandwidth with all threads: sum a buffer far larger than the caches.
double read_bandwidth_gb_s() {
  const size_t n = size_t{1} << 27;  // 512 MiB of floats
  std::vector<float> buf(n, 1.0f);
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    double sum = 0;
#pragma omp parallel for reduction(+ : sum) schedule(static)
    for (size_t i = 0; i < n; i += 16) {
      float s = 0;
      for (size_t j = 0; j < 16; ++j) s += buf[i + j];
      sum += s;
    }
    const double s = seconds_since(t0);
    if (sum < 0) std::puts("");  // keep the loop
    best = std::max(best, n * sizeof(float) / s / 1e9);
  }
  return best;
}

struct Timing {
  double prefill_s = 1e30, decode_s = 1e30;
};

// One prefill of `prefill` tokens and `decode` single-token steps on a fresh session; keeps the
// best of each in *best.
void measure(const rptq::rt::Model& model, const std::vector<int32_t>& ids, int64_t prefill, int64_t decode,
             Timing* best) {
  rptq::rt::Session session(model);
  std::vector<float> logits(static_cast<size_t>(model.info().vocab_size));
  const auto t0 = std::chrono::steady_clock::now();
  session.prefill(std::vector<int32_t>(ids.begin(), ids.begin() + prefill), logits.data());
  best->prefill_s = std::min(best->prefill_s, seconds_since(t0));
  const auto t1 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < decode; ++i) session.decode_step(ids[static_cast<size_t>(prefill + i)], logits.data());
  best->decode_s = std::min(best->decode_s, seconds_since(t1));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Prefill and decode speed of an rptq bundle"};
  std::string bundle, text_path;
  int64_t prefill = 512, decode = 128;
  int repeat = 5;
  bool generic = false, compare = false;
  app.add_option("bundle", bundle)->required();
  app.add_option("--text", text_path, "text the prompt is taken from")->required();
  app.add_option("--prefill", prefill, "prompt tokens");
  app.add_option("--decode", decode, "tokens decoded one at a time after the prompt (0: prefill only)");
  app.add_option("--repeat", repeat, "runs; each figure is the best (default 5)");
  auto* g = app.add_flag("--generic-kernels", generic, "never run the bundle's native code");
  app.add_flag("--compare-generic", compare, "also measure the generic kernels, interleaved")->excludes(g);
  CLI11_PARSE(app, argc, argv);
  try {
    std::ifstream in(text_path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    rptq_load_options options;
    rptq_load_options_init(&options);
    options.allow_native_code = generic ? 0 : 1;
    const auto t_load = std::chrono::steady_clock::now();
    rptq::rt::Model model(bundle, &options);
    const double load_s = seconds_since(t_load);
    const rptq_model_info info = model.info();
    std::vector<int32_t> ids = model.tokenize(ss.str());
    if (prefill + decode > info.context_length) throw std::runtime_error("--prefill + --decode exceed the context");
    ids.resize(static_cast<size_t>(prefill + decode));
    std::unique_ptr<rptq::rt::Model> generic_model;
    if (compare) {
      rptq_load_options o = options;
      o.allow_native_code = 0;
      generic_model = std::make_unique<rptq::rt::Model>(bundle, &o);
    }
    // One untimed pass each warms caches, page-ins of the mapping and the thread pool.
    Timing timing, generic_timing, warm;
    measure(model, ids, 16, 1, &warm);
    if (generic_model) measure(*generic_model, ids, 16, 1, &warm);
    for (int r = 0; r < std::max(1, repeat); ++r) {
      measure(model, ids, prefill, decode, &timing);
      if (generic_model) measure(*generic_model, ids, prefill, decode, &generic_timing);
    }
    const double prefill_s = timing.prefill_s, decode_s = timing.decode_s;
    std::string compared;
    if (generic_model)
      compared = ", \"generic_backend\": \"" + std::string(generic_model->info().backend) +
                 "\", \"generic_prefill_tokens_per_s\": " + std::to_string(prefill / generic_timing.prefill_s) +
                 ", \"generic_decode_tokens_per_s\": " + std::to_string(decode / generic_timing.decode_s);

    const rptq::ProcessMemory mem = rptq::process_memory();  // before the bandwidth probe's buffer
    const auto loaded = rptq::bundle::LoadedBundle::open(bundle, false);
    const uint64_t bytes = weight_bytes_per_token(*loaded);
    const double bw = read_bandwidth_gb_s();
    std::printf(
        "{\"bundle\": \"%s\", \"settings\": \"%s\", \"backend\": \"%s\", \"threads\": %d, \"load_s\": %.4f, "
        "\"prefill_tokens\": %lld, \"prefill_tokens_per_s\": %.2f, \"decode_tokens\": %lld, "
        "\"decode_tokens_per_s\": %.2f, \"decode_ms_per_token\": %.3f, \"weight_bytes_per_token\": %llu, "
        "\"read_bandwidth_gb_s\": %.2f, \"decode_bound_tokens_per_s\": %.2f, \"peak_rss_bytes\": %llu, "
        "\"repeat\": %d%s}\n",
        bundle.c_str(), info.settings, info.backend, omp_get_max_threads(), load_s, static_cast<long long>(prefill),
        prefill / prefill_s, static_cast<long long>(decode), decode ? decode / decode_s : 0.0,
        decode ? 1e3 * decode_s / decode : 0.0,
        static_cast<unsigned long long>(bytes), bw, bw * 1e9 / bytes, static_cast<unsigned long long>(mem.peak_rss),
        repeat, compared.c_str());
  } catch (const std::exception& e) {
    std::cerr << "rptq-bench-runtime: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

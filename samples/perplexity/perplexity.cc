// rptq-perplexity: WikiText-2-style perplexity of a bundle, computed exactly as the compiler's
// simulation does (non-overlapping windows of the model's context, BOS-prefixed token stream,
// every predicted token counted), so the two figures can be compared.
//   rptq-perplexity model.rptq wiki.test.raw [--max-windows N] [--json out.json]
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "rptq/runtime.hpp"

// The backend string may quote a system error message.
std::string json_escaped(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out;
}

int main(int argc, char** argv) {
  CLI::App app{"Perplexity of an rptq bundle on a text file"};
  std::string bundle, text_path, json_path;
  int64_t max_windows = 0, window = 0;
  bool no_native = false;
  app.add_option("bundle", bundle, "compiled model (.rptq)")->required();
  app.add_option("text", text_path, "evaluation text, e.g. wiki.test.raw")->required();
  app.add_option("--window", window, "tokens per window (default: the model's context)");
  app.add_option("--max-windows", max_windows, "evaluate at most this many windows (0: all)");
  app.add_option("--json", json_path, "also write the result as JSON");
  app.add_flag("--generic-kernels", no_native, "never run the bundle's native code");
  bool cpu_only = false;
  app.add_flag("--cpu", cpu_only, "run on the CPU even where the bundle has CUDA code for this machine's GPU");
  CLI11_PARSE(app, argc, argv);
  try {
    std::ifstream in(text_path, std::ios::binary);
    if (!in) throw std::runtime_error(text_path + ": cannot open");
    std::stringstream ss;
    ss << in.rdbuf();
    rptq_load_options options;
    rptq_load_options_init(&options);
    options.allow_native_code = no_native ? 0 : 1;
    options.allow_gpu = cpu_only ? 0 : 1;
    rptq::rt::Model model(bundle, &options);
    const rptq_model_info info = model.info();
    const std::vector<int32_t> ids = model.tokenize(ss.str(), /*add_bos=*/true);
    if (window <= 0) window = info.context_length;
    if (window > info.context_length) throw std::runtime_error("--window exceeds the model's context");
    const int64_t windows_in_text = static_cast<int64_t>(ids.size()) / window;
    const int64_t windows = max_windows > 0 ? std::min(max_windows, windows_in_text) : windows_in_text;
    if (windows < 1) throw std::runtime_error(text_path + ": fewer tokens than one window");
    rptq::rt::Session session(model);
    std::vector<float> logits(static_cast<size_t>(window * info.vocab_size));
    double nll = 0;
    int64_t predicted = 0;
    for (int64_t w = 0; w < windows; ++w) {
      session.reset();
      const int32_t* x = ids.data() + w * window;
      session.forward_all(x, static_cast<size_t>(window), logits.data());
      for (int64_t t = 0; t + 1 < window; ++t) {
        const float* row = logits.data() + t * info.vocab_size;
        double m = row[0];
        for (int64_t v = 1; v < info.vocab_size; ++v) m = std::max(m, static_cast<double>(row[v]));
        double sum = 0;
        for (int64_t v = 0; v < info.vocab_size; ++v) sum += std::exp(row[v] - m);
        nll += m + std::log(sum) - row[x[t + 1]];
        ++predicted;
      }
    }
    const double ppl = std::exp(nll / static_cast<double>(predicted));
    std::printf("perplexity %.4f over %lld windows of %lld tokens (%s %s; compiler simulated %.4f)\n", ppl,
                static_cast<long long>(windows), static_cast<long long>(window), info.settings, info.method,
                info.simulated_perplexity);
    if (!json_path.empty()) {
      std::ofstream out(json_path);
      out << "{\"perplexity\": " << ppl << ", \"windows\": " << windows << ", \"window\": " << window
          << ", \"settings\": \"" << info.settings << "\", \"simulated_perplexity\": " << info.simulated_perplexity
          << ", \"backend\": \"" << json_escaped(info.backend) << "\"}\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "rptq-perplexity: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

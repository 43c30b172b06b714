// rptq-generate: streams text from a compiled bundle.
//   rptq-generate model.rptq "Once upon a time" [-n 64] [--temperature 0.8 --top-k 40 --top-p 0.95 --seed 1]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "rptq/runtime.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Generate text from an rptq bundle"};
  std::string bundle, prompt;
  rptq_sampling sampling;
  rptq_sampling_init(&sampling);
  bool no_native = false, stats = false, ignore_eos = false;
  app.add_option("bundle", bundle, "compiled model (.rptq)")->required();
  app.add_option("prompt", prompt, "prompt text")->required();
  app.add_option("-n,--max-new-tokens", sampling.max_new_tokens, "tokens to generate (default 64)");
  app.add_option("--temperature", sampling.temperature, "0: greedy (default)");
  app.add_option("--top-k", sampling.top_k, "sample among the k most likely tokens (0: all)");
  app.add_option("--top-p", sampling.top_p, "sample within this probability mass (1: all)");
  app.add_option("--seed", sampling.seed, "sampler seed");
  app.add_flag("--ignore-eos", ignore_eos, "keep generating past the end-of-sequence token");
  app.add_flag("--generic-kernels", no_native, "never run the bundle's native code");
  bool cpu_only = false;
  app.add_flag("--cpu", cpu_only, "run on the CPU even where the bundle has CUDA code for this machine's GPU");
  app.add_flag("--stats", stats, "print timing to stderr");
  CLI11_PARSE(app, argc, argv);
  sampling.stop_at_eos = ignore_eos ? 0 : 1;
  try {
    rptq_load_options options;
    rptq_load_options_init(&options);
    options.allow_native_code = no_native ? 0 : 1;
    options.allow_gpu = cpu_only ? 0 : 1;
    rptq::rt::Model model(bundle, &options);
    rptq::rt::Session session(model);
    std::cout << prompt << std::flush;
    const auto t0 = std::chrono::steady_clock::now();
    int32_t n = 0;
    try {
      n = session.generate(prompt, sampling, [&](int32_t, const std::string& bytes) {
        std::cout << bytes << std::flush;
        ++n;
        return true;
      });
    } catch (const rptq::rt::Error& e) {
      // Running into the end of the context ends the text; anything else is an error.
      if (e.status() != RPTQ_ERR_CONTEXT_FULL || n == 0) throw;
      std::cerr << "\n[stopped: the model's context is full]";
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "\n";
    if (stats) {
      const rptq_model_info info = model.info();
      std::fprintf(stderr, "%d tokens in %.3f s (%.1f tokens/s incl. prefill), %s %s, backend %s\n", n, s, n / s,
                   info.settings, info.method, info.backend);
    }
  } catch (const std::exception& e) {
    std::cerr << "rptq-generate: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

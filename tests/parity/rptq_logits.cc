// Test tool: runs the reference executor on token ids and writes the logits as raw float32, so the
// Python oracle can compare them with transformers.
//   rptq-logits MODEL_DIR --tokens 2,100,200 --out logits.f32 [--prefill N]
// With --prefill N the first N tokens run as one batch and the rest one token at a time through
// the KV cache (incremental decoding); otherwise all tokens run as one batch.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "hf/checkpoint.h"
#include "hf/opt_weights_loader.h"
#include "reference/float_executor.h"
#include "rptq/error.h"

int main(int argc, char** argv) {
  CLI::App app{"Dump reference-executor logits"};
  std::string model, out;
  std::vector<int32_t> tokens;
  int64_t prefill = 0;
  app.add_option("model", model, "OPT checkpoint directory")->required();
  app.add_option("--tokens", tokens, "token ids")->delimiter(',')->required();
  app.add_option("--out", out, "output file (float32 [n, vocab])")->required();
  app.add_option("--prefill", prefill, "tokens to run as one batch before decoding the rest one by one");
  CLI11_PARSE(app, argc, argv);
  try {
    auto ck = rptq::hf::Checkpoint::open(model);
    rptq::FloatExecutor exec(rptq::hf::load_opt_weights(ck));
    auto cache = exec.new_cache();
    const int64_t n = static_cast<int64_t>(tokens.size());
    std::vector<float> logits;
    if (prefill <= 0 || prefill >= n) {
      logits = exec.forward(tokens.data(), n, cache);
    } else {
      logits = exec.forward(tokens.data(), prefill, cache);
      for (int64_t i = prefill; i < n; ++i) {
        auto step = exec.forward(tokens.data() + i, 1, cache);
        logits.insert(logits.end(), step.begin(), step.end());
      }
    }
    std::ofstream f(out, std::ios::binary);
    f.write(reinterpret_cast<const char*>(logits.data()), static_cast<std::streamsize>(logits.size() * sizeof(float)));
    if (!f) rptq::fail(out, "cannot write logits");
  } catch (const rptq::Error& e) {
    std::cerr << "rptq-logits: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

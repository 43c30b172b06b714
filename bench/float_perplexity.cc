// WikiText-2 perplexity and speed of the fp32 reference executor, as the RPTQ/GPTQ papers measure
// it: the whole test text tokenized once (BOS first), cut into non-overlapping windows of the
// model's context, mean next-token NLL over every window.
//   rptq-bench-float MODEL_DIR --text wiki.test.raw [--window N] [--max-windows N] [--decode-tokens N]
// Prints one JSON object: perplexity, tokens, prefill tokens/s, decode tokens/s.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <iostream>
#include <iomanip>

#include "hf/checkpoint.h"
#include "hf/opt_weights_loader.h"
#include "hf/text_file.h"
#include "hf/tokenizer_files.h"
#include "reference/float_executor.h"
#include "reference/perplexity.h"
#include "rptq/error.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Perplexity and speed of the fp32 reference executor"};
  std::string model, text_path;
  int64_t window = 0, max_windows = 0, decode_tokens = 32;
  app.add_option("model", model, "OPT checkpoint directory (with vocab.json and merges.txt)")->required();
  app.add_option("--text", text_path, "evaluation text (e.g. WikiText-2 wiki.test.raw)")->required();
  app.add_option("--window", window, "tokens per window (default: the model's max positions)");
  app.add_option("--max-windows", max_windows, "evaluate at most this many windows (0: all)");
  app.add_option("--decode-tokens", decode_tokens, "tokens to decode one at a time for the decode speed");
  CLI11_PARSE(app, argc, argv);
  try {
    auto ck = rptq::hf::Checkpoint::open(model);
    auto tok = rptq::hf::load_tokenizer(model);
    const std::vector<int32_t> ids = tok.encode(rptq::hf::read_utf8_text(text_path), /*add_bos=*/true);

    rptq::FloatExecutor exec(rptq::hf::load_opt_weights(ck));
    auto t0 = std::chrono::steady_clock::now();
    const rptq::PerplexityResult ppl = rptq::evaluate_perplexity(exec, ids, window, max_windows);
    const double prefill_s = seconds_since(t0);
    window = ppl.window;
    const int64_t windows = ppl.windows;

    // Decode speed: one token at a time after a short prompt, through the KV cache.
    auto cache = exec.new_cache(window);
    const int64_t prompt = std::min<int64_t>(16, window - decode_tokens);
    exec.forward(ids.data(), prompt, cache);
    auto t1 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < decode_tokens; ++i) exec.forward(ids.data() + prompt + i, 1, cache);
    const double decode_s = seconds_since(t1);

    std::cout << std::setprecision(10) << "{\"perplexity\": " << ppl.perplexity() << ", \"text_tokens\": " << ids.size()
              << ", \"window\": " << window << ", \"windows\": " << windows
              << ", \"prefill_tokens_per_s\": " << (windows * window) / prefill_s
              << ", \"decode_tokens_per_s\": " << decode_tokens / decode_s << "}\n";
  } catch (const rptq::Error& e) {
    std::cerr << "rptq-bench-float: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

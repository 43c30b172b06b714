// Generates text from an OPT checkpoint with the fp32 reference executor (greedy decoding).
// This is the float baseline every compiled bundle is compared against.
//   rptq-float-generate MODEL_DIR --prompt "Hello" [--max-new-tokens 32]
#include <CLI/CLI.hpp>
#include <iostream>

#include "hf/checkpoint.h"
#include "hf/opt_weights_loader.h"
#include "hf/tokenizer_files.h"
#include "reference/float_executor.h"
#include "rptq/error.h"

namespace {

// Writes the complete UTF-8 characters of `pending` and keeps a trailing partial one (a token may
// end in the middle of a character) until the next token completes it.
void flush_complete_utf8(std::string& pending, bool final) {
  const size_t bad = rptq::utf8_first_invalid(pending);
  const size_t cut = (!final && bad != std::string::npos && pending.size() - bad < 4) ? bad : pending.size();
  std::cout.write(pending.data(), static_cast<std::streamsize>(cut));
  std::cout.flush();
  pending.erase(0, cut);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Greedy text generation with the fp32 reference executor"};
  std::string model, prompt;
  int64_t max_new = 32;
  app.add_option("model", model, "OPT checkpoint directory (Hugging Face layout)")->required();
  app.add_option("--prompt", prompt, "prompt text")->required();
  app.add_option("--max-new-tokens", max_new, "tokens to generate")->check(CLI::Range(1, 1 << 20));
  CLI11_PARSE(app, argc, argv);
  try {
    auto ck = rptq::hf::Checkpoint::open(model);
    auto tok = rptq::hf::load_tokenizer(model);
    rptq::FloatExecutor exec(rptq::hf::load_opt_weights(ck));
    if (prompt.empty()) rptq::fail("--prompt", "the prompt is empty");
    if (rptq::utf8_first_invalid(prompt) != std::string::npos) rptq::fail("--prompt", "the prompt is not valid UTF-8");
    std::vector<int32_t> ids = tok.encode(prompt, /*add_bos=*/true);
    const int64_t context = exec.config().max_positions;
    if (static_cast<int64_t>(ids.size()) >= context)
      rptq::fail("--prompt", "the prompt has " + std::to_string(ids.size()) + " tokens; the model's context is " +
                                 std::to_string(context));
    auto cache = exec.new_cache();
    std::cout << prompt << std::flush;
    std::vector<float> logits = exec.forward(ids.data(), static_cast<int64_t>(ids.size()), cache);
    const int64_t vocab = exec.config().vocab_size;
    std::string pending;
    for (int64_t step = 0; step < max_new && cache.length() < context; ++step) {
      const float* last = logits.data() + (logits.size() / vocab - 1) * vocab;
      int32_t next = static_cast<int32_t>(std::max_element(last, last + vocab) - last);
      if (next == exec.config().eos_token_id) break;
      pending += tok.decode({next});
      flush_complete_utf8(pending, /*final=*/false);
      logits = exec.forward(&next, 1, cache);
    }
    flush_complete_utf8(pending, /*final=*/true);
    std::cout << "\n";
  } catch (const rptq::Error& e) {
    std::cerr << "rptq-float-generate: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

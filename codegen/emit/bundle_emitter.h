// The last stage of rptq-compile: a quantized model (compiler/pipeline) → a bundle file
// (runtime/schema/bundle.fbs): weights as codes with their scales, the activation quantizers,
// the tokenizer, and the execution plan with its static memory plan.
#pragma once

#include <cstdint>
#include <string>

#include "pipeline/rptq_quantizer.h"
#include "tokenizer/bpe_tokenizer.h"

namespace rptq::codegen {

struct EmitOptions {
  std::string compiler_version;
  std::string source;              // model directory name, for rptq-inspect
  int64_t max_tokens = 512;        // tokens per forward call the memory plan is sized for (clamped to the context)
  double simulated_perplexity = -1;
};

// Writes atomically: on any error `path` is untouched and no temporary file remains.
void emit_bundle(const std::string& path, const pipeline::QuantizedModel& model, const BpeTokenizerSpec& tokenizer,
                 const EmitOptions& options);

}  // namespace rptq::codegen

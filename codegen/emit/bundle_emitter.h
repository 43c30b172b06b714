// The last stage of rptq-compile: a quantized model (compiler/pipeline) → a bundle file
// (runtime/schema/bundle.fbs): weights as codes with their scales, the activation quantizers,
// the tokenizer, and the execution plan with its static memory plan.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/rptq_quantizer.h"
#include "schema/bundle_generated.h"
#include "targets/targets.h"
#include "tokenizer/bpe_tokenizer.h"

namespace rptq::codegen {

struct EmitOptions {
  std::string compiler_version;
  std::string source;              // model directory name, for rptq-inspect
  int64_t max_tokens = 512;        // tokens per forward call the memory plan is sized for (clamped to the context)
  // Native CPU code to build (codegen/cpu), one kernel section per (target, instruction set);
  // empty: the bundle carries none and runs the runtime's generic kernels everywhere.
  struct NativeCode {
    bundle::Target target;           // CpuX86_64 or CpuAarch64
    std::vector<std::string> isas;   // "avx512vnni", "avx2" / "neon-dotprod"
    std::string cxx;                 // the compiler that builds it
  };
  std::vector<NativeCode> native;
  // CUDA code to build (codegen/cuda), one kernel section (a fatbin) per GPU architecture.
  struct CudaCode {
    bundle::Target target;  // CudaSm87 or CudaSm90
    int sm = 0;             // 87, 90
    bool ptx = true;        // also PTX for newer GPUs
    std::string nvcc;
  };
  std::vector<CudaCode> cuda;
  // The tensor-core linear on wgmma (Hopper; the sm_90 section's cubin built for sm_90a, its PTX
  // as without). Off by default until a GPU has checked and timed it (bench/README.md).
  bool cuda_wgmma = false;

  // The code sections `targets` (--target) ask for, built by these compilers; rptq::Error for a
  // GPU the bundle format has no section for.
  struct Compilers {
    std::string host_cxx, aarch64_cxx, nvcc;
  };
  void add_targets(const std::vector<targets::TargetInfo>& targets, const Compilers& compilers);
};

// Streams a bundle as the compiler produces it: the embeddings at construction, each layer as
// soon as it is quantized (pipeline::QuantizeHooks::layer_done), the rest at finish(). Nothing is
// published unless finish() succeeds: on any error, or if the emitter is destroyed unfinished,
// `path` is untouched and no temporary file remains.
class BundleEmitter {
 public:
  BundleEmitter(const std::string& path, const OptWeights& float_weights, const EmitOptions& options);
  ~BundleEmitter();
  BundleEmitter(const BundleEmitter&) = delete;
  BundleEmitter& operator=(const BundleEmitter&) = delete;

  void add_layer(int64_t layer, const pipeline::QuantizedLayer& quantized, const OptLayerWeights& folded);
  // `model` supplies the settings, the LM head and the final LayerNorm; every layer must have been added.
  void finish(const pipeline::QuantizedModel& model, const BpeTokenizerSpec& tokenizer, double simulated_perplexity);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// The whole model at once (it must have been quantized with keep_model).
void emit_bundle(const std::string& path, const pipeline::QuantizedModel& model, const BpeTokenizerSpec& tokenizer,
                 const EmitOptions& options);

}  // namespace rptq::codegen

// A verified bundle's tensors bound to the kernels' parameter structs, once per loaded model.
// The bundle reader has already checked every shape, index, quantizer and plan operand against
// the config (runtime/bundle/verify_*.cc), so binding only copies pointers and sizes.
#pragma once

#include <array>
#include <memory>
#include <cstdint>
#include <string>
#include <vector>

#include "bundle/bundle_reader.h"
#include "engine/native_module.h"
#include "kernels/cpu/kernels.h"
#include "rptq/opt_config.h"
#include "schema/bundle_generated.h"

namespace rptq::engine {

class CudaModel;  // engine/cuda_backend.h

struct NormBinding {
  const float* gamma = nullptr;
  const float* beta = nullptr;
  const int32_t* write_index = nullptr;
};

struct LayerBinding {
  NormBinding attn_norm, ffn_norm;
  std::array<cpu::LinearParams, 6> linear;  // by bundle::LinearId (QProj .. Fc2)
  std::array<cpu::ActQuantParams, 7> act;   // by bundle::ActPoint
};

// One op of the execution plan, copied out of the flatbuffer (checked once, read every call).
struct PlanStep {
  bundle::OpKind kind;
  int layer = -1;
  bundle::LinearId linear = bundle::LinearId::QProj;
  int norm = 0;
  int act = -1, out_act = -1;
  uint32_t flags = 0;         // bundle::OpFlags bits
  std::vector<int> inputs, outputs;
};

struct ArenaBuffer {
  bundle::DType dtype;
  int64_t row_elems;
  uint64_t offset;
};

struct ModelBinding {
  OptConfig config;
  const float* embed_tokens = nullptr;     // [vocab, word_embed_proj_dim]; null: rows of lm_head's codes
  const float* embed_positions = nullptr;  // [max_positions + 2, hidden]
  cpu::LinearParams project_in, project_out, lm_head;  // project_*: only with has_projections()
  NormBinding final_norm;
  std::vector<LayerBinding> layers;
  std::vector<PlanStep> plan;
  // Weights repacked once at load into the kernels' tile layout (LinearParams::packed points here).
  std::vector<std::shared_ptr<const cpu::PackedWeights>> packed;
  std::vector<ArenaBuffer> buffers;
  int64_t max_tokens = 0;
  uint64_t arena_bytes = 0;
  // The bundle's native code for this host when it has usable code and the caller allows it;
  // null: every step runs the generic kernels.
  std::shared_ptr<const NativeModule> native;
  // The model on a GPU when the bundle has CUDA code for this machine's and the caller allows it;
  // then the CPU fields above other than the plan's are unused (no packed weights, no native code).
  std::shared_ptr<const CudaModel> cuda;
  std::string backend;  // what runs the plan, for rptq_model_info: "cpu native (avx512vnni) ..."
};

// Throws rptq::Error naming the bundle for what this runtime cannot run (post-LN models).
// allow_native: load the bundle's native code for this host when it has some. allow_gpu: run on
// the GPU when the bundle has CUDA code for it and the driver loads; otherwise `backend` says why not.
ModelBinding bind_model(const bundle::LoadedBundle& bundle, bool allow_native, bool allow_gpu);

}  // namespace rptq::engine

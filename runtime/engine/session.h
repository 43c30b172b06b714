// One conversation with a loaded model: its KV cache, its activation arena and the position it
// has reached. Sessions of one model share the (read-only) weights and run concurrently; a
// session itself is not thread-safe.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "engine/cuda_backend.h"
#include "engine/model_binding.h"
#include "rptq/error.h"

namespace rptq::engine {

// The tokens of a call do not fit in the context left; nothing was run. what(): "N tokens do not
// fit: R of the model's C positions are left".
class ContextFull : public Error {
 public:
  explicit ContextFull(const std::string& problem) : Error("", problem) {}
};

class Session {
 public:
  // `model` must outlive the session (the C API keeps it alive with a reference count).
  explicit Session(std::shared_ptr<const ModelBinding> model);

  int64_t position() const { return position_; }
  int64_t capacity() const { return model_->config.max_positions; }
  void reset() { position_ = 0; }

  // Runs n tokens after the ones already seen. logits: [n, vocab] when all_rows, else [vocab] for
  // the last token (may be null: prefill without logits). Prompts longer than max_tokens run in
  // chunks. Throws ContextFull if the context would overflow, rptq::Error if an id is out of range
  // (nothing changes either way).
  void forward(const int32_t* ids, int64_t n, float* logits, bool all_rows);

 private:
  void run_chunk(const int32_t* ids, int64_t n, float* logits, bool all_rows);
  // Runs plan step i with the bundle's native code if it has code for it and takes the call;
  // false: the generic kernels must run it.
  bool run_native(size_t i, int64_t n);
  uint8_t* buffer(int id) { return arena_.get() + model_->buffers[static_cast<size_t>(id)].offset; }

  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  using AlignedBytes = std::unique_ptr<uint8_t[], Free>;
  static AlignedBytes allocate(uint64_t bytes, const char* what);

  std::shared_ptr<const ModelBinding> model_;
  AlignedBytes arena_;
  std::vector<cpu::KvLayer> kv_;
  std::vector<AlignedBytes> kv_storage_;
  std::vector<float> scratch_;  // project_in output when word_embed_proj_dim != hidden
  AlignedBytes native_scratch_;  // the native steps' scratch, for max_tokens rows
  CudaSessionPtr cuda_;          // the device state when the model runs on a GPU; then none of the above
  int64_t position_ = 0;
};

}  // namespace rptq::engine

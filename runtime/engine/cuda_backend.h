// Running a bundle's plan on an NVIDIA GPU with the bundle's CUDA code (codegen/cuda).
//
// The driver is loaded at run time (kernels/cuda/cuda_driver.h), so the runtime loads and runs on
// machines without a GPU or driver: there CudaModel::load says why and the model runs on the CPU.
// A CudaModel holds the device copy of the bundle's data segment (weights in the bundle's own
// layout) and the loaded module; each CudaSession has its own activation arena, KV cache and
// staging buffers on the device, sized once from the bundle's static memory plan, a stream per
// lane of the plan's schedule (engine/step_schedule.h: steps that touch no common buffer, as Q, K
// and V, run at once), and the decode step captured as a CUDA graph on its first use (the lanes
// become its parallel branches).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bundle/bundle_reader.h"
#include "engine/device_steps.h"
#include "engine/model_binding.h"

namespace rptq::engine {

class CudaModel;
class CudaSession;

// Null, with `why` saying why (no CUDA code in the bundle, no driver, no GPU, no code for this
// GPU's architecture, a module that does not match the bundle), when the model cannot run on a GPU
// here. Throws rptq::Error for failures past that point (out of device memory, a failing upload).
std::shared_ptr<const CudaModel> load_cuda_model(const bundle::LoadedBundle& bundle, const ModelBinding& binding,
                                                 std::string* why);

// What rptq_model_info reports: "cuda sm_90 (NVIDIA H100 80GB HBM3)".
std::string cuda_backend_name(const CudaModel& model);

struct CudaSessionDeleter {
  void operator()(CudaSession* s) const;
};
using CudaSessionPtr = std::unique_ptr<CudaSession, CudaSessionDeleter>;

// One conversation's device state for `model`, whose `cuda` is set (load_cuda_model). Not
// thread-safe; sessions of one model may run concurrently.
CudaSessionPtr make_cuda_session(std::shared_ptr<const ModelBinding> model);

// Runs n <= max_tokens tokens at position `past` (the Session checked ids, context and chunking):
// logits as Session::forward's chunk (all rows, the last row, or none).
void cuda_forward(CudaSession& session, const int32_t* ids, int64_t n, int64_t past, float* logits, bool all_rows);

}  // namespace rptq::engine

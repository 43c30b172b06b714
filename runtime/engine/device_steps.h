// What a bundle's CUDA code does at each plan step, and how each of its kernels is launched: the
// one rule that the code generator (codegen/cuda) and the runtime's CUDA backend both apply to a
// ModelBinding. The generated module carries device_fingerprint() of the steps it was made for;
// the runtime recomputes it and refuses a module that disagrees.
//
// Unlike native CPU code, which takes only the steps that work on codes, CUDA code runs every step
// of the plan: the whole forward pass stays on the device.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model_binding.h"
#include "kernels/cuda/abi.h"

namespace rptq::engine {

enum class DeviceOp : uint8_t { Embed = 0, Norm = 1, Linear = 2, Attention = 3, LmHead = 4 };

struct DeviceStep {
  DeviceOp op = DeviceOp::Embed;
  int layer = -1;
  // Embed:     token rows of `in` channels (+ positions) -> [rows, out] F32; `table`: an F32 token
  //            table, else rows of the LM head's codes (bits, group_size).
  // Norm:      LayerNorm over `in` = `out` channels -> codes quantized by `output`, or F32.
  // Linear:    [rows, in] codes quantized by `input` (or F32) x [out, in] weights (codes of `bits`
  //            in groups of `group_size`, or F32 when bits == 16) + bias, ReLU; the result is
  //            stored (=, += with accumulate) as F32 or quantized by `output`.
  // Attention: `heads` heads of `out` channels over `in` = hidden: Q quantized by `input` (or
  //            F32), the cache by `key` / `value` (or F32), the output by `output` (or F32);
  //            `context` positions.
  // LmHead:    as Linear with F32 input, F32 logits.
  int64_t in = 0, out = 0, heads = 0, context = 0;
  int bits = 16;
  int64_t group_size = 0;
  float eps = 0;
  bool gamma = false, beta = false, write_index = false, bias = false, table = false;
  bool relu = false, accumulate = false;
  cpu::ActQuantParams input, output, key, value;  // point into the binding's quantizers
};

// One per plan step of m. Throws rptq::Error for a model the CUDA code cannot run (projections,
// widths the kernels' vector loads do not divide).
std::vector<DeviceStep> device_steps(const ModelBinding& m);

uint64_t device_fingerprint(const std::vector<DeviceStep>& steps);

// Kernel geometry, fixed here so that the generated kernels may take it as constants (a change is
// a change of RPTQ_CUDA_ABI_VERSION).
constexpr int kDeviceThreads = 256;        // every kernel but attention's
constexpr int kLinearWarps = 8;            // outputs per block of the linear kernel (a warp each)
constexpr int kLinearRows = 8;             // activation rows per pass over a block's weights
constexpr int kLinearChunk = 1024;         // input channels of those rows staged in shared memory
constexpr int kLinearStagedRow = kLinearChunk + kLinearChunk / 8;  // floats per staged row, padded against bank conflicts
// A call over one row (decode) runs "_decode", over 2 .. kManyRows - 1 rows "_rows" (blocks of
// kLinearRows rows): on activation codes with weight codes (has_mma_kernel) integer
// dot products over the rows' codes, staged kDecodeChunk channels at a time; else (one row) the
// linear kernel for one row, staging this many input channels at a time (fewer barriers in the
// weight stream), or (more rows) the linear kernel.
constexpr int kDecodeChunk = 4096;
constexpr int kDecodeStagedRow = kDecodeChunk + kDecodeChunk / 8;  // floats (float path)
constexpr int kRowCodesStaging = kDecodeChunk + kDecodeChunk / 8;  // bytes per row: codes + a 4-byte sum per 32
constexpr int kAttentionThreads = 128;
// Attention over many rows ("_prefill"): blocks of kPrefillQueries query rows, the cache staged
// kPrefillKeys rows at a time; on tensor cores (has_mma_attention), blocks of kMmaQueries rows and
// kMmaKeys cache rows at a time.
constexpr int kPrefillQueries = 32;
constexpr int kPrefillKeys = 32;
constexpr int kMmaQueries = 64;
constexpr int kMmaKeys = 64;
// Attention over fewer rows (decode): a block per row, head and part of kSplitKeys cache rows
// (all parts the context can have, so that a captured decode graph fits every position; parts
// past the row's position return at once), then "_combine" per row and head.
constexpr int kSplitKeys = 128;
// The tensor-core linear kernel ("_mma"): blocks of kMmaThreads over kMmaRows rows x kMmaCols
// outputs, kMmaChunk input channels per pipeline stage; used from kManyRows rows on (fewer rows
// leave most of each 16-row mma empty; one row is the decode kernel's case).
constexpr int kMmaThreads = 128;
constexpr int kMmaRows = 64;
constexpr int kMmaCols = 128;
constexpr int kMmaChunk = 64;
// From this many rows on, a call is "many rows": the tensor-core linear and the tiled attention.
constexpr int64_t kManyRows = 16;

// Whether step s has the tensor-core kernel and its fold: a linear step on activation codes with
// weight codes (u8 x u8 products, int32 sums flushed within kExactRun channels), over whole k32
// steps.
bool has_mma_kernel(const DeviceStep& s);

// Floats of args.scratch that attention step s needs (0 for other steps).
uint64_t attention_scratch_floats(const DeviceStep& s);

// Whether attention step s runs its many-row calls on tensor cores: K and V codes, heads of a
// multiple of 16 channels, at most 128 (the registers of a warp's 16 query rows).
bool has_mma_attention(const DeviceStep& s);

struct DeviceLaunch {
  std::string kernel;      // "rptq_step_<i>", or with a suffix: "_kv", "_decode", "_rows", "_mma", "_prefill", "_fold"
  uint32_t grid[3] = {1, 1, 1};
  uint32_t block = kDeviceThreads;
  uint32_t shared_bytes = 0;  // dynamic shared memory
};

// The kernels of step i for a call over `rows` tokens, in launch order.
std::vector<DeviceLaunch> device_launches(const DeviceStep& step, size_t i, int64_t rows);

// The kernels of step i to run once, when the weights are on the device: "rptq_step_<i>_fold"
// (writes the step's fold, [out] floats, to args.out[0]) for a step with the tensor-core kernel.
std::vector<DeviceLaunch> device_setup_launches(const DeviceStep& step, size_t i);

// Every kernel name a module for these steps defines ("rptq_step_<i>" and its suffixes).
std::vector<std::string> device_kernel_names(const std::vector<DeviceStep>& steps);

}  // namespace rptq::engine

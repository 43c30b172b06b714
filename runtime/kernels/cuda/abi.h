/* The interface between the runtime and a bundle's CUDA code (a fatbin the compiler built for one
 * model, codegen/cuda): plain C types only, shared by host code and the generated device code.
 *
 * Plan step i of the bundle runs as one or two kernels, "rptq_step_<i>" and, for attention,
 * "rptq_step_<i>_kv" first (it appends the new rows' K and V to the cache). Each takes one
 * rptq_cuda_args by value; engine/device_steps.h says which fields a step reads and how it is
 * launched. The module also defines the globals "rptq_cuda_abi_version" (uint32) and
 * "rptq_cuda_fingerprint" (uint64, engine::device_fingerprint of the steps it was generated
 * for): the runtime refuses a module whose values differ from its own.
 *
 * Bump RPTQ_CUDA_ABI_VERSION with any change to this struct, to the step semantics or to the
 * launch rule (engine/device_steps.cc).
 */
#ifndef RPTQ_KERNELS_CUDA_ABI_H_
#define RPTQ_KERNELS_CUDA_ABI_H_

#include <stdint.h>

#define RPTQ_CUDA_ABI_VERSION 4

typedef struct rptq_cuda_args {
  int64_t rows;            /* tokens of this call */
  const int64_t* past;     /* device: the position before this call (device memory, so that a
                              captured decode graph replays unchanged) */
  const int32_t* ids;      /* device: the call's token ids (Embed) */
  const void* in[3];
  void* out[1];
  const float* gamma;      /* LayerNorm, in output-column order; may be NULL */
  const float* beta;
  const int32_t* write_index;
  const uint8_t* codes;    /* weights: U4 [out, (in + 1) / 2] or U8 [out, in] row-major, as in the bundle */
  const float* w_scale;    /* [out, in / group] */
  const uint8_t* w_zero;   /* [out, in / group] */
  const float* weight;     /* F32 [out, in] (16-bit "weights") */
  const float* bias;       /* [out] or NULL */
  const float* table;      /* Embed: F32 token table, or NULL for rows of the LM head's codes */
  const float* positions;  /* Embed: [max_positions + 2, hidden] */
  void* k_cache;           /* Attention: this layer's [context, hidden] codes (U8) or F32 */
  void* v_cache;
  const float* fold;       /* "_mma": [out], what the activation zero points add to each output,
                              subtracted in the epilogue (written by "_fold") */
  float* scratch;          /* Attention over few rows: each part of the cache's softmax sums
                              (attention_scratch_floats), written by the step's kernel and
                              merged by "_combine" */
} rptq_cuda_args;

#endif /* RPTQ_KERNELS_CUDA_ABI_H_ */

/* The interface between the runtime and a bundle's native CPU code (a shared object the compiler
 * built for one model, codegen/cpu): plain C, so that the two sides share no C++ ABI.
 *
 * The object exports one symbol, rptq_native_module_v1, returning the table below. Its steps
 * parallel the bundle's execution plan: step i runs plan op i, or is NULL where the runtime's
 * generic kernel runs that op. The object was generated from the bundle's own quantizers and
 * shapes; `fingerprint` hashes what it assumed (runtime/kernels/native/native_steps.h), and the
 * runtime refuses an object whose fingerprint differs from the one it computes for the bundle.
 *
 * Bump RPTQ_NATIVE_ABI_VERSION with any change to these structs, to the step semantics, or to the
 * packed weight layout (runtime/kernels/cpu/packed_weights.h) that native linear steps read.
 */
#ifndef RPTQ_KERNELS_NATIVE_ABI_H_
#define RPTQ_KERNELS_NATIVE_ABI_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RPTQ_NATIVE_ABI_VERSION 1
#define RPTQ_NATIVE_ENTRY_POINT "rptq_native_module_v1"

/* One call of a step over `rows` tokens. Which fields a step reads depends on its op:
 *   NormQuant (LayerNorm + quantize): in[0] F32 [rows, hidden] -> out[0] codes; gamma, beta,
 *                                     write_index (each may be NULL).
 *   Linear (activation codes x weight codes): in[0] codes -> out[0] F32 (=, or += for the
 *       residual add) or codes (when the op quantizes its output); the packed weights: tiles,
 *       w_scale and w_zero [tiles][groups][16], w_sums [tiles][spans][16]; bias (may be NULL);
 *       scratch for the activations' span rows.
 *   Attention (decode): in = [q, k, v] F32 [rows, hidden] at positions past .. past+rows-1; appends
 *       K and V codes to k_cache / v_cache (this layer's [context, hidden] codes) -> out[0] codes
 *       or F32. A step may decline a call (return non-zero: the runtime runs its generic kernel),
 *       which native attention does for more rows than its in-place path takes (prefill). */
/* The runtime's threads: runs body(ctx, begin, end) over chunks of [0, n) that cover it, in
 * parallel (on the caller alone when `on` is 0). Native code has no threads of its own. */
typedef void (*rptq_native_range_fn)(void* ctx, int64_t begin, int64_t end);
typedef void (*rptq_native_parallel_fn)(int64_t n, rptq_native_range_fn body, void* ctx, int on);

typedef struct rptq_native_args {
  int64_t rows;
  const void* in[3];
  void* out[2];
  const float* gamma;
  const float* beta;
  const int32_t* write_index;
  const uint8_t* tiles;
  const float* w_scale;
  const int32_t* w_zero;
  const int32_t* w_sums;
  const float* bias;
  uint8_t* scratch; /* 64-byte aligned, rows * scratch_bytes_per_row bytes */
  int64_t past;
  uint8_t* k_cache;
  uint8_t* v_cache;
  rptq_native_parallel_fn parallel_for;
} rptq_native_args;

/* 0: done; non-zero: declined, nothing was written. */
typedef int (*rptq_native_step_fn)(const rptq_native_args* args);

typedef struct rptq_native_module {
  uint32_t abi_version;       /* RPTQ_NATIVE_ABI_VERSION of the generator */
  const char* isa;            /* instruction set it was built for: "avx512vnni", "avx2", ... */
  uint64_t fingerprint;       /* of the steps it was generated for */
  int32_t num_steps;          /* == the plan's op count */
  const rptq_native_step_fn* steps;
  uint64_t scratch_bytes_per_row;
} rptq_native_module;

typedef const rptq_native_module* (*rptq_native_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* RPTQ_KERNELS_NATIVE_ABI_H_ */

// Generic (shape-agnostic) CPU kernels of the runtime: what a bundle runs when it carries no
// native code for the host, and the reference the specialized kernels must agree with.
//
// Numerics are those of the compiler's simulation (compiler/quant/act_quant.h, weight_quant.h):
//   activation code  q = clamp(nearbyint(x / s_c) + z_c, 0, 2^bits - 1), per cluster c of channels
//   weight value     Ŵ[o, i] = (code[o, i] - zw[o, g]) * sw[o, g],  g = i / group_size
//   linear           y[r, o] = Σ_i x̂[r, i] Ŵ[o, i] + b[o]
// computed in integers where both sides are codes:
//   y[r, o] = Σ_c Σ_{g} s_c · sw[o, g] · Σ_{i ∈ c ∩ g} (q[r, i] - z_c)(code[o, i] - zw[o, g]) + b[o]
// i.e. int32 accumulation within each (cluster ∩ group) span and one float multiply-add per span.
// Results equal the float simulation up to float summation order.
//
// All matrices are row-major. Channels are in the folded order throughout: the compiler has
// already permuted weights and LayerNorm write indices, so no kernel reorders anything except
// LayerNorm, which writes channel c to column write_index[c].
//
// Threading: kernels parallelize over rows, heads or output features on the runtime's thread pool
// (thread_pool.h); a call is otherwise independent of any other call (no global state but the ISA
// choice below and the pool, which a concurrent caller skips), so sessions may run concurrently on
// disjoint outputs.
#pragma once

#include <cstdint>
#include <memory>

namespace rptq::cpu {

struct PackedWeights;  // see pack_weights()

// A static per-cluster activation quantizer (one ActQuant of the bundle).
struct ActQuantParams {
  int bits = 16;                       // 2..8; 16: not quantized (kernels use the float path)
  int32_t num_clusters = 0;
  const int32_t* cluster_end = nullptr;  // [num_clusters], ascending, last == channels
  const float* scale = nullptr;          // [num_clusters]
  const int32_t* zero = nullptr;         // [num_clusters], in 0 .. 2^bits - 1
  bool enabled() const { return bits < 16; }
};

// A linear layer's weights, rows = out_features, cols = in_features, already folded.
struct LinearParams {
  int64_t out = 0, in = 0;
  int bits = 16;                  // 2..4: codes packed U4; 5..8: U8 codes; 16: float `weight`
  int64_t group_size = 0;         // divides `in`; == in (or <= 0): one scale per row
  const uint8_t* codes = nullptr; // U4: [out, (in + 1) / 2] bytes, column 2j in the low nibble; U8: [out, in]
  const float* scale = nullptr;   // [out, in / group_size]
  const uint8_t* zero = nullptr;  // [out, in / group_size]
  const float* weight = nullptr;  // bits == 16: F32 [out, in]
  const float* bias = nullptr;    // [out] or null
  // Optional: the codes repacked by pack_weights(*this). Without it the integer path repacks each
  // tile of 16 output features on every call (same results, slower).
  const PackedWeights* packed = nullptr;
};

// The integer kernels read weights in tiles of 16 output features laid out for 4-byte dot
// products (VNNI / maddubs / sdot order), with scales and zero points per tile. Packing is a
// one-time cost at load; the codes keep their size (U4 stays 4 bits), scale and zero point take
// 8 bytes per (output, group), and the layout does not depend on the ISA. Returns null for float
// weights (bits > 8). The LinearParams pointers need not outlive the result.
// `input`: the quantizer of the activations the layer will be called with, when known. The integer
// path needs Σ w' over every (cluster ∩ group) span of it; given here, those sums are taken once
// (64 bytes per tile and span) instead of on every call. A call with another quantizer still works.
std::shared_ptr<const PackedWeights> pack_weights(const LinearParams& w, const ActQuantParams& input = {});

enum EpilogueFlags : uint32_t {
  kRelu = 1u << 0,        // y = max(0, y) after the bias
  kAccumulate = 1u << 1,  // out[r, o] += y (residual add), else out[r, o] = y
};

// An activation tensor [rows, cols] that is either codes (quantized by `quant`) or float.
struct ActTensor {
  const uint8_t* codes = nullptr;  // when quant.enabled()
  const float* f32 = nullptr;      // otherwise
  ActQuantParams quant;
};

// ---- Elementwise / normalization ----

// Quantizes x [rows, cols] per cluster into codes [rows, cols].
void quantize_rows(const float* x, int64_t rows, int64_t cols, const ActQuantParams& q, uint8_t* codes);
// codes -> x̂ (for tests and for float fallbacks).
void dequantize_rows(const uint8_t* codes, int64_t rows, int64_t cols, const ActQuantParams& q, float* x);

// LayerNorm over each row of x [rows, cols] (biased variance, eps inside the sqrt), then
// gamma/beta (in output-column order; null: 1 / 0), normalized channel c written to column
// write_index[c] (null: c). With q.enabled() the result is quantized into `codes`, else written
// to `out`. x and out may not alias.
void layer_norm_quant(const float* x, int64_t rows, int64_t cols, const float* gamma, const float* beta,
                      const int32_t* write_index, float eps, const ActQuantParams& q, uint8_t* codes,
                      float* out);

// ---- Linear ----

// out [rows, w.out] (=, or += with kAccumulate) x [rows, w.in] · Ŵᵀ + bias, then ReLU.
// Integer path when x is codes and w.bits <= 8; otherwise x̂ and/or Ŵ are reconstructed in float.
// Each output tile's weights are read from memory once per call (rows are the inner loop), so
// rows == 1 streams the weights once. Integer sums are exact (int32 per span of at most 16384
// channels), so results differ from the float simulation only by float summation order.
void linear(const ActTensor& x, int64_t rows, const LinearParams& w, uint32_t flags, float* out);

// ---- Attention over a (possibly quantized) KV cache ----

// One layer's cache: positions [0, capacity), row stride = hidden channels (folded V order for
// values, folded Q/K order for keys; heads stay contiguous blocks of head_dim).
struct KvLayer {
  uint8_t* k_codes = nullptr;  // [capacity, hidden] when k_quant.enabled()
  float* k_f32 = nullptr;      // otherwise
  uint8_t* v_codes = nullptr;
  float* v_f32 = nullptr;
  ActQuantParams k_quant, v_quant;
  int64_t capacity = 0;
};

// Writes the keys and values of n new tokens [n, hidden] at positions past .. past+n-1 (quantized
// when the cache is), then computes causal multi-head attention of the n queries over positions
// 0 .. past+n-1: scores = (q̂ · k̂) * scale, softmax, · v̂. q̂ = q quantized by q_quant when enabled
// (the Query point is quantized before the scale). The output [n, hidden] is quantized by
// out_quant into out_codes when enabled, else written to out_f32. past + n <= cache.capacity
// (checked by the caller).
void attention(const float* q, const float* k, const float* v, int64_t n, int64_t past, int64_t num_heads,
               int64_t head_dim, float scale, const ActQuantParams& q_quant, KvLayer& cache,
               const ActQuantParams& out_quant, uint8_t* out_codes, float* out_f32);

// ---- Embedding ----

// out[r] = table[ids[r]] for r < n; table [vocab, dim] F32. ids must be in range (checked by the caller).
void embedding(const int32_t* ids, int64_t n, const float* table, int64_t dim, float* out);
// The same from a quantized table (the LM head's codes, [vocab, dim], bits <= 8): out[r] = row
// ids[r] reconstructed as the compiler reconstructs it, (code - zero) * scale.
void embedding_from_codes(const int32_t* ids, int64_t n, const LinearParams& table, float* out);

// Which instruction set the dispatcher picked on this machine: "avx512vnni", "avx2", "scalar" on
// x86-64; "neon-dotprod", "scalar" on aarch64. Chosen once at first use from cpuid (x86-64) or
// the kernel's HWCAP_ASIMDDP bit (aarch64); RPTQ_CPU_ISA=<one of these names> in the environment
// forces a lower level (a higher one than the machine has is ignored).
const char* active_isa();

// The dispatcher's level of `isa` in this build (0 = scalar, higher = more capable), whether or not
// this machine has it; -1 when the build has no such level (e.g. "avx2" on aarch64).
int isa_level(const char* isa);

// Switches the dispatcher to `isa` (a name as above) for the calls that follow; for tests and
// benchmarks, not to be called while kernels run. Returns false, changing nothing, when the
// machine lacks it or the name is unknown.
bool force_isa(const char* isa);

}  // namespace rptq::cpu

// The decode path of attention, shared by the generic kernel (attention.cc) and bundles' native
// code: a few queries against a quantized KV cache read in place, never dequantized to memory:
//   score_j = scale · Σ_d (q̂_d ks_d)(k_jd - kz_d),   out_d = vs_d · Σ_j p_j (v_jd - vz_d)
// with ks/kz and vs/vz the per-channel scale and zero point of the K and V quantizers. Softmax
// follows the float reference executor: float exp of (score - max), the sum in double.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace rptq::cpu::detail {

// Up to this many queries per call read a quantized cache in place; more dequantize each head's
// keys and values once (attention.cc).
inline constexpr int64_t kInPlaceQueries = 8;
// Below this many cache bytes read per call, one thread does all heads.
inline constexpr int64_t kAttendParallelBytes = int64_t{1} << 15;

// p[0..visible) = softmax of the scores in place; p[visible..total) = 0.
inline void softmax(float* p, int64_t visible, int64_t total) {
  const float mx = *std::max_element(p, p + visible);
  double sum = 0;
  for (int64_t j = 0; j < visible; ++j) {
    p[j] = std::exp(p[j] - mx);
    sum += p[j];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < visible; ++j) p[j] *= inv;
  std::fill(p + visible, p + total, 0.0f);
}

// Queries q̂ [n, hidden] at positions past .. past+n-1 over cache rows 0 .. past+n-1 (causal),
// all heads; out [n, hidden] float. `kernels` supplies codes_dot and codes_axpy with the
// signatures of isa.h (an IsaKernels, or native code's inline ones); `parallel_for(n, body, on)`
// runs body(begin, end) over chunks of [0, n) (thread_pool.h, or the runtime's pool as native code
// reaches it).
template <class Kernels, class ParallelFor>
inline void attend_in_place(const Kernels& kernels, const ParallelFor& parallel_for, const float* q_hat, int64_t n, int64_t past, int64_t num_heads,
                            int64_t head_dim, float scale, const float* ks, const float* kz, const float* vs,
                            const float* vz, const uint8_t* k_codes, const uint8_t* v_codes, bool parallel,
                            float* out) {
  const int64_t hidden = num_heads * head_dim, total = past + n;
  parallel_for(num_heads, [&](int64_t h0, int64_t h1) {
    std::vector<float> a(static_cast<size_t>(head_dim)), acc(static_cast<size_t>(head_dim));
    std::vector<float> probs(static_cast<size_t>(total));
    for (int64_t h = h0; h < h1; ++h) {
      const int64_t c0 = h * head_dim;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t visible = past + i + 1;
        for (int64_t d = 0; d < head_dim; ++d) a[static_cast<size_t>(d)] = q_hat[i * hidden + c0 + d] * ks[c0 + d];
        kernels.codes_dot(a.data(), kz + c0, head_dim, k_codes + c0, hidden, visible, probs.data());
        for (int64_t j = 0; j < visible; ++j) probs[static_cast<size_t>(j)] *= scale;
        softmax(probs.data(), visible, visible);
        std::fill(acc.begin(), acc.end(), 0.0f);
        kernels.codes_axpy(probs.data(), visible, v_codes + c0, hidden, vz + c0, head_dim, acc.data());
        for (int64_t d = 0; d < head_dim; ++d) out[i * hidden + c0 + d] = acc[static_cast<size_t>(d)] * vs[c0 + d];
      }
    }
  }, parallel);
}

}  // namespace rptq::cpu::detail

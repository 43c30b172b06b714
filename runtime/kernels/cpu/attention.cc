// Causal multi-head attention over the KV cache. For many queries (prefill) each head's keys and
// values are dequantized once per call into float scratch (values transposed), so that scores and
// the weighted sum are both tiles of float dot products (dot_f32). For a few queries over a
// quantized cache (decode) that copy would cost more than the attention itself, so the codes are
// read in place: score_j = Σ_d (q̂_d s_d)(code_jd - z_d), out_d = s_d Σ_j p_j (code_jd - z_d)
// (codes_dot / codes_axpy). Softmax follows the float reference executor: float exp of
// (score - max), the sum in double.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/attention_decode.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/quantize.h"
#include "kernels/cpu/thread_pool.h"

namespace rptq::cpu {
namespace {

constexpr int kDot = 4;  // queries and keys (or channels) per dot_f32 call

// Stores n rows of `hidden` channels at position `past` of one side (K or V) of the cache.
void append(const float* x, int64_t n, int64_t hidden, int64_t past, const ActQuantParams& q, uint8_t* codes,
            float* f32) {
  if (q.enabled())
    quantize_rows(x, n, hidden, q, codes + past * hidden);
  else
    std::copy_n(x, n * hidden, f32 + past * hidden);
}

// Channels [c0, c0 + width) of cache position j as float.
void read_cache(const uint8_t* codes, const float* f32, const ActQuantParams& q, int64_t hidden, int64_t j, int64_t c0,
                int64_t width, float* dst) {
  if (q.enabled())
    detail::dequantize_channels(codes + j * hidden, c0, c0 + width, q, dst);
  else
    std::copy_n(f32 + j * hidden + c0, width, dst);
}

// The decode path (attention_decode.h) with the per-channel parameters of this cache.
void attention_in_place(const float* q_hat, int64_t n, int64_t past, int64_t num_heads, int64_t head_dim,
                        float scale, const KvLayer& cache, float* out) {
  const int64_t hidden = num_heads * head_dim, total = past + n;
  std::vector<float> ks, kz, vs, vz;
  detail::channel_params(cache.k_quant, hidden, &ks, &kz);
  detail::channel_params(cache.v_quant, hidden, &vs, &vz);
  const auto pool = [](int64_t count, const auto& body, bool on) { parallel_for(count, body, on); };
  detail::attend_in_place(detail::isa_kernels(), pool, q_hat, n, past, num_heads, head_dim, scale, ks.data(), kz.data(),
                          vs.data(), vz.data(), cache.k_codes, cache.v_codes,
                          2 * n * total * hidden > detail::kAttendParallelBytes, out);
}

}  // namespace

void attention(const float* q, const float* k, const float* v, int64_t n, int64_t past, int64_t num_heads,
               int64_t head_dim, float scale, const ActQuantParams& q_quant, KvLayer& cache,
               const ActQuantParams& out_quant, uint8_t* out_codes, float* out_f32) {
  const int64_t hidden = num_heads * head_dim, total = past + n;
  append(k, n, hidden, past, cache.k_quant, cache.k_codes, cache.k_f32);
  append(v, n, hidden, past, cache.v_quant, cache.v_codes, cache.v_f32);

  // q̂: the Query point is quantized before the 1/√d scale (the compiler's simulation order).
  std::vector<float> q_hat(q, q + n * hidden);
  if (q_quant.enabled()) {
    std::vector<uint8_t> codes(static_cast<size_t>(n * hidden));
    quantize_rows(q, n, hidden, q_quant, codes.data());
    dequantize_rows(codes.data(), n, hidden, q_quant, q_hat.data());
  }
  std::vector<float> out_buf(out_quant.enabled() ? static_cast<size_t>(n * hidden) : 0);
  float* out = out_quant.enabled() ? out_buf.data() : out_f32;
  if (n <= detail::kInPlaceQueries && cache.k_quant.enabled() && cache.v_quant.enabled()) {
    attention_in_place(q_hat.data(), n, past, num_heads, head_dim, scale, cache, out);
    if (out_quant.enabled()) quantize_rows(out, n, hidden, out_quant, out_codes);
    return;
  }
  const detail::IsaKernels& kernels = detail::isa_kernels();

  parallel_for(num_heads, [&](int64_t h0, int64_t h1) {
    std::vector<float> keys(static_cast<size_t>(total * head_dim));      // [total][head_dim]
    std::vector<float> values_t(static_cast<size_t>(head_dim * total));  // [head_dim][total]
    std::vector<float> row(static_cast<size_t>(head_dim)), probs(static_cast<size_t>(kDot * total));
    const float* a[kDot];
    const float* b[kDot];
    float y[kDot * kDot];

    for (int64_t h = h0; h < h1; ++h) {
      const int64_t c0 = h * head_dim;
      for (int64_t j = 0; j < total; ++j) {
        read_cache(cache.k_codes, cache.k_f32, cache.k_quant, hidden, j, c0, head_dim, keys.data() + j * head_dim);
        read_cache(cache.v_codes, cache.v_f32, cache.v_quant, hidden, j, c0, head_dim, row.data());
        for (int64_t d = 0; d < head_dim; ++d) values_t[static_cast<size_t>(d * total + j)] = row[static_cast<size_t>(d)];
      }
      for (int64_t i0 = 0; i0 < n; i0 += kDot) {
        const int nq = static_cast<int>(std::min<int64_t>(kDot, n - i0));
        const int64_t seen = past + i0 + nq;  // keys visible to the last query of the block
        // Scores of the block's queries against keys 0 .. seen-1.
        for (int r = 0; r < nq; ++r) a[r] = q_hat.data() + (i0 + r) * hidden + c0;
        for (int64_t j0 = 0; j0 < seen; j0 += kDot) {
          const int nk = static_cast<int>(std::min<int64_t>(kDot, seen - j0));
          for (int c = 0; c < nk; ++c) b[c] = keys.data() + (j0 + c) * head_dim;
          kernels.dot_f32(a, nq, b, nk, head_dim, y);
          for (int r = 0; r < nq; ++r)
            for (int c = 0; c < nk; ++c) probs[static_cast<size_t>(r * total + j0 + c)] = y[r * nk + c] * scale;
        }
        for (int r = 0; r < nq; ++r) detail::softmax(probs.data() + r * total, past + i0 + r + 1, seen);
        // out[i, c0 + d] = Σ_j p[i, j] v̂[j, c0 + d].
        for (int r = 0; r < nq; ++r) a[r] = probs.data() + r * total;
        for (int64_t d0 = 0; d0 < head_dim; d0 += kDot) {
          const int nd = static_cast<int>(std::min<int64_t>(kDot, head_dim - d0));
          for (int c = 0; c < nd; ++c) b[c] = values_t.data() + (d0 + c) * total;
          kernels.dot_f32(a, nq, b, nd, seen, y);
          for (int r = 0; r < nq; ++r)
            for (int c = 0; c < nd; ++c) out[(i0 + r) * hidden + c0 + d0 + c] = y[r * nd + c];
        }
      }
    }
  });
  if (out_quant.enabled()) quantize_rows(out, n, hidden, out_quant, out_codes);
}

}  // namespace rptq::cpu

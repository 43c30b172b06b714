// Float linear: float × float, float × weight codes for more than kFloatCodesMaxRows rows (each
// tile of weights dequantized to float once per block of rows; fewer rows go to
// linear_float_codes.cc) and activation codes × float weights (activations dequantized).
// These paths serve layers the compiler left unquantized (e.g. lm_head) and weight-only modes, so
// they favour simplicity: float dot products of whole rows in tiles of 4 × 4.
#include <algorithm>
#include <vector>

#include "kernels/cpu/isa.h"
#include "kernels/cpu/linear_internal.h"
#include "kernels/cpu/weight_codes.h"
#include "kernels/cpu/thread_pool.h"

namespace rptq::cpu::detail {
namespace {

constexpr int64_t kTile = 16;       // outputs whose weights are prepared together
constexpr int64_t kRowBlock = 128;  // rows run against a prepared tile before moving on
constexpr int kDot = 4;             // rows and outputs per dot_f32 call

}  // namespace

void linear_float(const ActTensor& x, int64_t rows, const LinearParams& w, uint32_t flags, float* out) {
  const int64_t in = w.in;
  std::vector<float> x_hat;
  const float* xf = x.f32;
  if (x.quant.enabled()) {
    x_hat.resize(static_cast<size_t>(rows * in));
    dequantize_rows(x.codes, rows, in, x.quant, x_hat.data());
    xf = x_hat.data();
  }
  const bool float_weights = w.bits > 8;
  const int64_t tiles = (w.out + kTile - 1) / kTile, row_blocks = (rows + kRowBlock - 1) / kRowBlock;
  const IsaKernels& kernels = isa_kernels();

  // Over (row block, tile) pairs, row blocks outermost (OpenMP's collapse(2) order).
  parallel_for(row_blocks * tiles, [&](int64_t k0, int64_t k1) {
    std::vector<float> w_hat(float_weights ? 0 : static_cast<size_t>(kTile * in));
    const float* w_rows[kTile];
    const float* x_rows[kDot];
    float y[kDot * kDot];

    for (int64_t k = k0; k < k1; ++k) {
        const int64_t rb = k / tiles, t = k % tiles;
        const int64_t o0 = t * kTile, outs = std::min(kTile, w.out - o0);
        for (int64_t o = 0; o < outs; ++o) {
          if (float_weights) {
            w_rows[o] = w.weight + (o0 + o) * in;
          } else {
            dequantize_weight_row(w, o0 + o, w_hat.data() + o * in);
            w_rows[o] = w_hat.data() + o * in;
          }
        }
        const int64_t r_end = std::min(rows, (rb + 1) * kRowBlock);
        for (int64_t r0 = rb * kRowBlock; r0 < r_end; r0 += kDot) {
          const int nr = static_cast<int>(std::min<int64_t>(kDot, r_end - r0));
          for (int r = 0; r < nr; ++r) x_rows[r] = xf + (r0 + r) * in;
          for (int64_t oo = 0; oo < outs; oo += kDot) {
            const int no = static_cast<int>(std::min<int64_t>(kDot, outs - oo));
            kernels.dot_f32(x_rows, nr, w_rows + oo, no, in, y);
            store_outputs(y, no, nr, o0 + oo, no, w, flags, out + r0 * w.out);
          }
        }
      }
  });
}

}  // namespace rptq::cpu::detail

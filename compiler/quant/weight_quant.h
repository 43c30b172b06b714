// Weight quantization of linear layers: round-to-nearest (RTN) and GPTQ (Frantar et al. 2022).
//
// Both use the project's one affine quantizer (rptq::AffineQuant: asymmetric min-max over a row or
// a group of input columns, range widened to include 0, round-half-to-even), so the codes, scales
// and zero points returned here are exactly what the kernels read back.
//
// Layout is nn.Linear's: y = x Wᵀ with W [out, in] row-major; groups run along `in`.
#pragma once

#include <cstdint>
#include <vector>

namespace rptq::quant {

struct WeightQuantConfig {
  int bits = 4;               // 2..8
  int64_t group_size = 0;     // 0: one scale per output row; else groups of this many input columns (divides `in`)
  bool act_order = false;     // GPTQ: process columns by decreasing Hessian diagonal
  double damp = 0.01;         // GPTQ: add damp * mean(diag(H)) to the diagonal
  int64_t block_size = 128;   // GPTQ lazy-batch block (speed only: results do not depend on it)
};

struct QuantizedWeight {
  int64_t out = 0, in = 0, group_size = 0;  // group_size == in when per-row
  int bits = 0;
  std::vector<uint8_t> codes;      // [out, in] row-major, code of each weight (0 .. 2^bits-1), original column order
  std::vector<float> scales;       // [out, in / group_size]
  std::vector<int32_t> zeros;      // [out, in / group_size]
  std::vector<float> dequantized;  // [out, in]: (code - zero) * scale, exactly what a kernel reconstructs
};

// Each row (or group) quantized independently to its own min-max range.
QuantizedWeight rtn_quantize(const float* W, int64_t out, int64_t in, const WeightQuantConfig& cfg);

// GPTQ: columns quantized one at a time, the rounding error of each pushed onto the columns not yet
// quantized so as to minimise the layer's output error on the calibration inputs.
// H: [in, in] row-major, Σ over calibration rows of xᵀx (any positive scaling; used as (H + Hᵀ)/2).
// Columns with H_ii == 0 never see input: their weights become 0.
// Group scales are taken at each group boundary from the error-updated weights, as the reference
// does (it matches the reference exactly when block_size divides group_size; for smaller groups the
// reference's blocked code reads weights that lack the current block's updates, which we do not copy,
// so results never depend on block_size). With act_order and groups, every group's scale comes from
// the original weights of its (contiguous, original-order) columns before the loop ("static
// groups"), which kernels need. Per-row scales come from the weights after dead columns are zeroed
// (the reference takes them before).
QuantizedWeight gptq_quantize(const float* W, int64_t out, int64_t in, const double* H, const WeightQuantConfig& cfg);

// Σ_rows (x (W - Ŵ)ᵀ)² over the calibration set, = trace((W - Ŵ) H (W - Ŵ)ᵀ).
double output_error(const float* W, const float* W_hat, int64_t out, int64_t in, const double* H);

}  // namespace rptq::quant

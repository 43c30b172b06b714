#include "quant/weight_quant.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "rptq/error.h"
#include "rptq/quant_math.h"

namespace rptq::quant {
namespace {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

std::string dims(int64_t r, int64_t c) { return "[" + std::to_string(r) + ", " + std::to_string(c) + "]"; }

// Checks shared by RTN and GPTQ; returns the effective group size (`in` when per-row).
int64_t check_inputs(const char* where, const float* W, int64_t out, int64_t in, const WeightQuantConfig& cfg) {
  if (cfg.bits < 2 || cfg.bits > 8) fail(where, "bits must be in 2..8, got " + std::to_string(cfg.bits));
  if (out <= 0 || in <= 0) fail(where, "weight shape " + dims(out, in) + " is empty");
  if (cfg.group_size < 0 || (cfg.group_size > 0 && in % cfg.group_size != 0))
    fail(where, "group_size " + std::to_string(cfg.group_size) + " does not divide in = " + std::to_string(in));
  if (W == nullptr) fail(where, "weights are null");
  for (int64_t i = 0; i < out * in; ++i)
    if (!std::isfinite(W[i]))
      fail(where, "weight " + dims(i / in, i % in) + " is " + (std::isnan(W[i]) ? "NaN" : "infinite"));
  return cfg.group_size > 0 ? cfg.group_size : in;
}

// Min-max quantizer of n values. Taking min/max before rounding doubles to float gives the same
// range as rounding first (rounding is monotonic), so GPTQ's doubles and RTN's floats agree.
template <typename T>
AffineQuant min_max(const T* x, int64_t n, int bits) {
  T lo = x[0], hi = x[0];
  for (int64_t i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  return AffineQuant::from_range(static_cast<float>(lo), static_cast<float>(hi), bits);
}

// Codes (original column order) and the quantizer of each (row, group) -> the returned weight.
// `dequantized` is recomputed from the codes with AffineQuant::dequantize, as a kernel would.
QuantizedWeight assemble(int64_t out, int64_t in, int64_t gs, int bits, std::vector<uint8_t> codes,
                         const std::vector<AffineQuant>& q) {
  const int64_t ng = in / gs;
  QuantizedWeight r;
  r.out = out;
  r.in = in;
  r.group_size = gs;
  r.bits = bits;
  r.codes = std::move(codes);
  r.scales.resize(q.size());
  r.zeros.resize(q.size());
  for (size_t i = 0; i < q.size(); ++i) {
    r.scales[i] = q[i].scale;
    r.zeros[i] = q[i].zero;
  }
  r.dequantized.resize(static_cast<size_t>(out * in));
  for (int64_t row = 0; row < out; ++row)
    for (int64_t c = 0; c < in; ++c)
      r.dequantized[row * in + c] = q[row * ng + c / gs].dequantize(r.codes[row * in + c]);
  return r;
}

// How the rounding error of earlier columns moves each later column. The reference GPTQ takes the
// upper Cholesky factor U of H⁻¹ (Cholesky, inverse, Cholesky again) and updates
// w_k -= (w'_j - q_j) / U_jj · U_jk. Writing H = R Rᵀ with R upper triangular (the Cholesky factor
// of H with rows and columns reversed), U = R⁻¹, and those updates add up to
//     w'_j = w_j + Σ_{k<j} R̃_kj · (w_k - q_k),   R̃ = R with column j divided by R_jj,
// (w: original weights, q: quantized, w'_j: the value column j is rounded from) — the same numbers
// from one factorization and no explicit inverse: a third of the flops, which is most of GPTQ's
// time on wide layers. Only the complete sum agrees: see group_range() for partial ones.
// The oracle test checks this against the reference's way.
//
// H: [n, n] row-major as given; the factored matrix is its symmetrized form in processing order
// (position p holds column perm[p]), dead columns' diagonal set to 1, damped. Returns R̃ (unit upper
// triangular; the lower triangle is 0).
RowMatrix error_feedback(const double* H, int64_t n, const std::vector<int64_t>& perm, double damp) {
  double mean_diag = 0;
  for (int64_t i = 0; i < n; ++i) mean_diag += H[i * n + i] == 0 ? 1.0 : H[i * n + i];
  mean_diag /= static_cast<double>(n);
  Eigen::MatrixXd L(n, n);
  double rel = damp;
  for (int attempt = 0; attempt < 4; ++attempt) {  // damp, then 10x, 100x, 1000x
    // Lower triangle of J Hp J (Hp: H in processing order, J reverses it): L(a, b) = Hp(n-1-a, n-1-b). Built directly,
    // as H can be large (3072² doubles = 75 MB) and copies cost as much as the products.
#pragma omp parallel for schedule(dynamic, 32)
    for (int64_t b = 0; b < n; ++b) {
      const int64_t j = perm[n - 1 - b];
      const double hjj = H[j * n + j];
      L(b, b) = (hjj == 0 ? 1.0 : hjj) + rel * mean_diag;
      for (int64_t a = b + 1; a < n; ++a) {
        const int64_t i = perm[n - 1 - a];
        L(a, b) = 0.5 * (H[i * n + j] + H[j * n + i]);
      }
    }
    Eigen::LLT<Eigen::Ref<Eigen::MatrixXd>> llt(L);  // in place, lower triangle
    if (llt.info() == Eigen::Success) {
      // R = J L J, so R̃(p, q) = L(n-1-p, n-1-q) / L(n-1-q, n-1-q).
      RowMatrix Rt(n, n);
      bool finite = true;
#pragma omp parallel for schedule(dynamic, 32) reduction(&& : finite)
      for (int64_t p = 0; p < n; ++p) {
        double* row = &Rt(p, 0);
        std::fill(row, row + p, 0.0);
        for (int64_t q = p; q < n; ++q) row[q] = L(n - 1 - p, n - 1 - q) / L(n - 1 - q, n - 1 - q);
        finite = finite && Eigen::Map<const Eigen::VectorXd>(row + p, n - p).allFinite();
      }
      if (finite) return Rt;
    }
    // Not positive definite in floating point (collinear inputs, too few calibration rows): damp harder.
    rel = rel > 0 ? rel * 10 : 0.01;
  }
  fail("gptq_quantize", "the Hessian is not positive definite even with damping " + std::to_string(rel / 10) +
                            " x mean(diag(H)); too few or degenerate calibration rows?");
}

// Range of a dynamic group starting at column j. The reference takes it from the weights as they
// stand once columns < j are quantized, i.e. w + δ with δ the optimal compensation of those columns'
// errors (over the remaining columns r, given the quantized ones d: δ_r = H_rr⁻¹ H_rd (w - q)_d).
// The partial sums c = Σ_{k<j} R̃_k·(w_k - q_k) that Wcur holds equal δ only at column j itself:
// with H = R Rᵀ, H_rr⁻¹ H_rd = R_rr⁻ᵀ R_drᵀ, and R_rr⁻ᵀ is lower triangular, so on the group's
// columns δ = R̃_ggᵀ⁻¹ c with R̃_gg the group's diagonal block of R̃ (unit upper triangular):
// a forward substitution, g²/2 per row and group.
AffineQuant group_range(const double* w0, const double* wcur, const RowMatrix& Rt, int64_t j, int64_t g, int bits,
                        std::vector<double>& x) {
  for (int64_t t = 0; t < g; ++t) x[t] = wcur[j + t] - w0[j + t];
  for (int64_t s = 0; s < g; ++s) {
    const double* f = &Rt(j + s, j);
    const double xs = x[s];
#pragma omp simd
    for (int64_t t = s + 1; t < g; ++t) x[t] -= f[t] * xs;
  }
  for (int64_t t = 0; t < g; ++t) x[t] += w0[j + t];
  return min_max(x.data(), g, bits);
}

}  // namespace

QuantizedWeight rtn_quantize(const float* W, int64_t out, int64_t in, const WeightQuantConfig& cfg) {
  const int64_t gs = check_inputs("rtn_quantize", W, out, in, cfg);
  const int64_t ng = in / gs;
  std::vector<AffineQuant> q(static_cast<size_t>(out * ng));
  std::vector<uint8_t> codes(static_cast<size_t>(out * in));
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < out; ++r)
    for (int64_t g = 0; g < ng; ++g) {
      const float* w = W + r * in + g * gs;
      const AffineQuant aq = q[r * ng + g] = min_max(w, gs, cfg.bits);
      for (int64_t c = 0; c < gs; ++c) codes[r * in + g * gs + c] = static_cast<uint8_t>(aq.quantize(w[c]));
    }
  return assemble(out, in, gs, cfg.bits, std::move(codes), q);
}

QuantizedWeight gptq_quantize(const float* W, int64_t out, int64_t in, const double* H, const WeightQuantConfig& cfg) {
  const char* where = "gptq_quantize";
  const int64_t gs = check_inputs(where, W, out, in, cfg);
  if (H == nullptr) fail(where, "the Hessian is null");
  if (!(cfg.damp >= 0) || !std::isfinite(cfg.damp)) fail(where, "damp must be finite and >= 0");
  if (cfg.block_size < 1) fail(where, "block_size must be >= 1, got " + std::to_string(cfg.block_size));
  const int64_t n = in, ng = in / gs;
  for (int64_t i = 0; i < n * n; ++i)
    if (!std::isfinite(H[i])) fail(where, "Hessian entry " + dims(i / n, i % n) + " is not finite");
  for (int64_t i = 0; i < n; ++i)
    if (H[i * n + i] < 0) fail(where, "Hessian diagonal " + dims(i, i) + " is negative: not a sum of xᵀx");

  // Dead columns (H_ii == 0): their input is always 0, so any weight will do; 0 keeps it out of the
  // ranges. The Hessian is taken as 1 there (error_feedback), as the reference does.
  RowMatrix Wp = Eigen::Map<const RowMatrixF>(W, out, in).cast<double>();
  for (int64_t i = 0; i < n; ++i)
    if (H[i * n + i] == 0) Wp.col(i).setZero();

  // One quantizer per (row, group). Per-row and static groups are fixed before the loop; dynamic
  // groups are taken at each group boundary from the error-updated weights.
  const bool static_groups = cfg.act_order && cfg.group_size > 0;
  const bool dynamic_groups = cfg.group_size > 0 && !static_groups;
  std::vector<AffineQuant> q(static_cast<size_t>(out * ng));
  if (!dynamic_groups)
    for (int64_t r = 0; r < out; ++r)
      for (int64_t g = 0; g < ng; ++g) q[r * ng + g] = min_max(&Wp(r, g * gs), gs, cfg.bits);

  // Processing order: position j holds column perm[j]; act_order puts large H_ii (columns with the
  // most input energy) first, while there are still many columns left to absorb their error.
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  if (cfg.act_order) {
    auto diag = [&](int64_t i) { return H[i * n + i] == 0 ? 1.0 : H[i * n + i]; };
    std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return diag(a) > diag(b); });
    const RowMatrix Wd = Wp;
    for (int64_t j = 0; j < n; ++j) Wp.col(j) = Wd.col(perm[j]);
  }
  const RowMatrix Rt = error_feedback(H, n, perm, cfg.damp);

  // Wcur: original weights plus the feedback summed so far; Wp stays the original weights.
  RowMatrix Wcur = Wp;
  const int64_t bs = std::min(cfg.block_size, n);
  RowMatrix D(out, bs);  // w - q of the current block, pushed onto the later blocks in one product
  std::vector<uint8_t> codes_p(static_cast<size_t>(out * n));
  for (int64_t i1 = 0, i2 = 0; i1 < n; i1 = i2) {
    i2 = std::min(i1 + bs, n);
    // A dynamic group starts a block, so every later column holds the feedback of all earlier ones
    // when its range is taken (the result then does not depend on block_size).
    if (dynamic_groups) i2 = std::min(i2, (i1 / gs + 1) * gs);
#pragma omp parallel
    {
      std::vector<double> scratch(dynamic_groups ? static_cast<size_t>(gs) : 0);
#pragma omp for schedule(static)
      for (int64_t r = 0; r < out; ++r) {
        double* w = &Wcur(r, 0);
        const double* w0 = &Wp(r, 0);
        for (int64_t j = i1; j < i2; ++j) {
          if (dynamic_groups && j % gs == 0) q[r * ng + j / gs] = group_range(w0, w, Rt, j, gs, cfg.bits, scratch);
          const AffineQuant& aq = q[r * ng + perm[j] / gs];
          const int32_t code = aq.quantize(static_cast<float>(w[j]));
          codes_p[r * n + j] = static_cast<uint8_t>(code);
          const double d = w0[j] - static_cast<double>(aq.dequantize(code));
          D(r, j - i1) = d;
          const double* f = &Rt(j, 0);
#pragma omp simd
          for (int64_t k = j + 1; k < i2; ++k) w[k] += d * f[k];
        }
      }
    }
    if (i2 < n) Wcur.rightCols(n - i2).noalias() += D.leftCols(i2 - i1) * Rt.block(i1, i2, i2 - i1, n - i2);
  }

  std::vector<uint8_t> codes(codes_p.size());
  for (int64_t r = 0; r < out; ++r)
    for (int64_t j = 0; j < n; ++j) codes[r * n + perm[j]] = codes_p[r * n + j];
  return assemble(out, in, gs, cfg.bits, std::move(codes), q);
}

double output_error(const float* W, const float* W_hat, int64_t out, int64_t in, const double* H) {
  if (W == nullptr || W_hat == nullptr || H == nullptr) fail("output_error", "null input");
  const RowMatrix Dm = Eigen::Map<const RowMatrixF>(W, out, in).cast<double>() -
                       Eigen::Map<const RowMatrixF>(W_hat, out, in).cast<double>();
  const Eigen::Map<const RowMatrix> Hm(H, in, in);
  return (Dm * Hm).cwiseProduct(Dm).sum();
}

}  // namespace rptq::quant

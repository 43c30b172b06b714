// The runtime's generic CPU kernels (runtime/kernels/cpu/kernels.h) against straightforward
// double-precision references written here from the formulas: fake-quantize with
// rptq::AffineQuant, then plain float math. Inputs are fresh random data every run (the seed is
// printed; RPTQ_TEST_SEED=<seed> repeats a run), shapes are odd on purpose, outputs are poisoned
// with NaN before each call (except where the call accumulates), and every test runs once per
// ISA level this machine has (scalar, avx2, avx512vnni on x86-64; scalar, neon-dotprod on aarch64).
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/isa.h"  // kMaxSpanChannels
#include "kernels/cpu/kernels.h"
#include "kernel_test_data.h"
#include "rptq/quant_math.h"

namespace cpu = rptq::cpu;
using rptq::AffineQuant;
using namespace rptq::test;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Runs `body` once per ISA level of this machine, restoring the dispatcher afterwards.
void for_each_isa(const std::function<void()>& body) {
  const std::string original = cpu::active_isa();
  for (const char* isa : {"scalar", "avx2", "avx512vnni", "neon-dotprod"}) {
    if (!cpu::force_isa(isa)) continue;
    INFO("isa " << isa);
    body();
  }
  REQUIRE(cpu::force_isa(original.c_str()));
}

// ---- Weights ----

// A LinearParams with its storage, and Ŵ as the compiler reconstructs it: (code - zero) * scale.
struct Weights {
  int64_t out = 0, in = 0, group = 0;
  int bits = 16;
  std::vector<uint8_t> codes, zero;
  std::vector<float> scale, weight, bias, w_hat;
  std::shared_ptr<const cpu::PackedWeights> packed;

  cpu::LinearParams params(bool use_packed) const {
    cpu::LinearParams p;
    p.out = out;
    p.in = in;
    p.bits = bits;
    p.group_size = group;
    p.codes = codes.empty() ? nullptr : codes.data();
    p.scale = scale.empty() ? nullptr : scale.data();
    p.zero = zero.empty() ? nullptr : zero.data();
    p.weight = weight.empty() ? nullptr : weight.data();
    p.bias = bias.empty() ? nullptr : bias.data();
    p.packed = use_packed ? packed.get() : nullptr;
    return p;
  }
};

// group 0: one group per row.
Weights make_weights(std::mt19937& rng, int64_t out, int64_t in, int bits, int64_t group, bool bias) {
  Weights w;
  w.out = out;
  w.in = in;
  w.bits = bits;
  w.group = group;
  w.w_hat.resize(static_cast<size_t>(out * in));
  if (bias) w.bias = random_floats(rng, static_cast<size_t>(out), 1.0f);
  if (bits > 8) {
    w.weight = random_floats(rng, static_cast<size_t>(out * in), 0.2f);
    w.w_hat = w.weight;
    return w;
  }
  const int64_t gs = group > 0 ? group : in, groups = in / gs;
  const int qmax = (1 << bits) - 1;
  const bool u4 = bits <= 4;
  const int64_t row_bytes = u4 ? (in + 1) / 2 : in;
  w.codes.assign(static_cast<size_t>(out * row_bytes), 0);  // exactly the documented size
  for (int64_t g = 0; g < out * groups; ++g) {
    w.scale.push_back(uniform(rng, 0.002f, 0.05f));
    w.zero.push_back(static_cast<uint8_t>(uniform_int(rng, 0, qmax)));
  }
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) {
      const int code = static_cast<int>(uniform_int(rng, 0, qmax));
      uint8_t& byte = w.codes[static_cast<size_t>(o * row_bytes + (u4 ? i / 2 : i))];
      byte = static_cast<uint8_t>(u4 ? byte | code << (4 * (i % 2)) : code);
      const size_t g = static_cast<size_t>(o * groups + i / gs);
      w.w_hat[static_cast<size_t>(o * in + i)] = static_cast<float>(code - w.zero[g]) * w.scale[g];
    }
  w.packed = cpu::pack_weights(w.params(false));
  return w;
}

// y = x̂ Ŵᵀ + b, ReLU, then = or += prev; in double. bound[r, o] is the scale of the terms
// (Σ |x̂ Ŵ| + |b| + |prev|), against which the float results are judged.
void reference_linear(const std::vector<double>& x_hat, int64_t rows, const Weights& w, uint32_t flags,
                      const std::vector<float>& prev, std::vector<double>* y, std::vector<double>* bound) {
  y->assign(static_cast<size_t>(rows * w.out), 0.0);
  bound->assign(y->size(), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < w.out; ++o) {
      double s = 0, mag = 0;
      for (int64_t i = 0; i < w.in; ++i) {
        const double t = x_hat[static_cast<size_t>(r * w.in + i)] * w.w_hat[static_cast<size_t>(o * w.in + i)];
        s += t;
        mag += std::fabs(t);
      }
      if (!w.bias.empty()) {
        s += w.bias[static_cast<size_t>(o)];
        mag += std::fabs(w.bias[static_cast<size_t>(o)]);
      }
      if (flags & cpu::kRelu) s = std::max(s, 0.0);
      const size_t k = static_cast<size_t>(r * w.out + o);
      if (flags & cpu::kAccumulate) {
        s += prev[k];
        mag += std::fabs(prev[k]);
      }
      (*y)[k] = s;
      (*bound)[k] = mag;
    }
}

// Tolerance of every linear path: 1e-5 of the scale of the terms. The integer path is exact in its
// dot products (int32 per span) and only rounds when scaling each span's sum and adding the spans
// in float (~1e-7 relative per span), so it sits far inside this; the float paths sum `in`
// products in float over 16 (AVX-512), 8 (AVX2) or 4 (scalar) partial sums, an error of about
// √(in / lanes) · 6e-8 of the terms' scale for random signs, < 1e-6 at in = 768.
constexpr double kLinearTolerance = 1e-5;

void check_linear(const std::vector<float>& got, const std::vector<double>& want, const std::vector<double>& bound) {
  for (size_t k = 0; k < got.size(); ++k) {
    INFO("output " << k << ": got " << got[k] << ", want " << want[k] << ", scale " << bound[k]);
    REQUIRE(std::isfinite(got[k]));
    REQUIRE(std::fabs(got[k] - want[k]) <= kLinearTolerance * bound[k] + 1e-30);
  }
}

std::vector<double> dequantized(const std::vector<uint8_t>& codes, int64_t cols, const ActQuant& q) {
  const std::vector<AffineQuant> ch = q.per_channel();
  std::vector<double> x(codes.size());
  for (size_t k = 0; k < codes.size(); ++k) x[k] = ch[k % static_cast<size_t>(cols)].dequantize(codes[k]);
  return x;
}

}  // namespace

TEST_CASE("the dispatcher names its level and refuses unknown or missing ones", "[cpu_kernels]") {
  const std::string isa = cpu::active_isa();
  CHECK((isa == "scalar" || isa == "avx2" || isa == "avx512vnni" || isa == "neon-dotprod"));
  CHECK_FALSE(cpu::force_isa("bogus"));
  CHECK_FALSE(cpu::force_isa(nullptr));
  CHECK(cpu::active_isa() == isa);
  CHECK(cpu::force_isa("scalar"));  // every machine has it
  CHECK(std::string(cpu::active_isa()) == "scalar");
  REQUIRE(cpu::force_isa(isa.c_str()));
}

TEST_CASE("quantize_rows gives AffineQuant's codes bit for bit, dequantize_rows their values", "[cpu_kernels]") {
  std::mt19937 rng = make_rng("quantize_rows");
  for_each_isa([&] {
    for (int64_t cols : {1, 3, 17, 64, 100, 768})
      for (int bits = 2; bits <= 8; ++bits)
        for (Clusters mode : kAllClusterModes) {
          INFO("cols " << cols << ", bits " << bits << ", clusters " << name(mode));
          const int64_t rows = uniform_int(rng, 1, 5);
          const ActQuant q = make_act_quant(rng, cols, bits, mode);
          const std::vector<AffineQuant> ch = q.per_channel();
          // Values around each cluster's range, with exact ties (k + 0.5) · scale mixed in.
          std::vector<float> x = random_floats(rng, static_cast<size_t>(rows * cols), 6.0f);
          for (size_t k = 0; k < x.size(); k += 3)
            x[k] = (static_cast<float>(uniform_int(rng, -300, 300)) + 0.5f) * ch[k % static_cast<size_t>(cols)].scale;
          std::vector<uint8_t> codes(x.size(), 0xA5);
          cpu::quantize_rows(x.data(), rows, cols, q.params(), codes.data());
          std::vector<float> back(x.size(), kNaN);
          cpu::dequantize_rows(codes.data(), rows, cols, q.params(), back.data());
          for (size_t k = 0; k < x.size(); ++k) {
            const AffineQuant& a = ch[k % static_cast<size_t>(cols)];
            REQUIRE(int{codes[k]} == a.quantize(x[k]));
            REQUIRE(back[k] == a.dequantize(codes[k]));
          }
        }
  });
}

TEST_CASE("layer_norm_quant equals the reference executor's LayerNorm and its codes", "[cpu_kernels]") {
  std::mt19937 rng = make_rng("layer_norm_quant");
  for_each_isa([&] {
    for (int64_t cols : {1, 3, 17, 64, 100, 768})
      for (int variant = 0; variant < 8; ++variant) {
        const bool permuted = variant & 1, affine = variant & 2, quantized = variant & 4;
        const int bits = static_cast<int>(uniform_int(rng, 2, 8));
        const Clusters mode = kAllClusterModes[uniform_int(rng, 0, 3)];
        INFO("cols " << cols << ", permuted " << permuted << ", gamma/beta " << affine << ", quantized "
                     << quantized << " (" << bits << " bits, clusters " << name(mode) << ")");
        const int64_t rows = uniform_int(rng, 1, 6);
        std::vector<float> x = random_floats(rng, static_cast<size_t>(rows * cols), 3.0f);
        for (size_t k = 0; k < x.size(); ++k) x[k] += 0.5f * static_cast<float>(k % 7);  // a non-zero mean
        std::vector<int32_t> index(static_cast<size_t>(cols));
        std::iota(index.begin(), index.end(), 0);
        if (permuted) std::shuffle(index.begin(), index.end(), rng);
        const std::vector<float> gamma = random_floats(rng, static_cast<size_t>(cols), 2.0f);
        const std::vector<float> beta = random_floats(rng, static_cast<size_t>(cols), 1.0f);
        const float eps = 1e-5f;
        const ActQuant q = quantized ? make_act_quant(rng, cols, bits, mode) : ActQuant{};

        // Reference: torch.nn.LayerNorm with statistics in double (the float executor's order).
        std::vector<float> want(x.size());
        for (int64_t r = 0; r < rows; ++r) {
          const float* xr = x.data() + r * cols;
          double mean = 0, var = 0;
          for (int64_t i = 0; i < cols; ++i) mean += xr[i];
          mean /= static_cast<double>(cols);
          for (int64_t i = 0; i < cols; ++i) var += (xr[i] - mean) * (xr[i] - mean);
          var /= static_cast<double>(cols);
          const double inv = 1.0 / std::sqrt(var + static_cast<double>(eps));
          for (int64_t i = 0; i < cols; ++i) {
            const int64_t col = index[static_cast<size_t>(i)];
            double v = (xr[i] - mean) * inv;
            if (affine) v = v * gamma[static_cast<size_t>(col)] + beta[static_cast<size_t>(col)];
            want[static_cast<size_t>(r * cols + col)] = static_cast<float>(v);
          }
        }
        std::vector<float> out(x.size(), kNaN);
        std::vector<uint8_t> codes(x.size(), 0xA5);
        cpu::layer_norm_quant(x.data(), rows, cols, affine ? gamma.data() : nullptr, affine ? beta.data() : nullptr,
                              permuted ? index.data() : nullptr, eps, q.params(), quantized ? codes.data() : nullptr,
                              quantized ? nullptr : out.data());
        if (quantized) {
          // Bit-identical: the kernel takes the same double statistics, so the float row and
          // hence the codes are the simulation's.
          const std::vector<AffineQuant> ch = q.per_channel();
          for (size_t k = 0; k < x.size(); ++k) REQUIRE(int{codes[k]} == ch[k % static_cast<size_t>(cols)].quantize(want[k]));
        } else {
          for (size_t k = 0; k < x.size(); ++k) REQUIRE(out[k] == want[k]);
        }
      }
  });
}

TEST_CASE("integer linear equals the fake-quantized reference for every shape, bit width and cluster layout",
          "[cpu_kernels]") {
  std::mt19937 rng = make_rng("linear_int");
  for_each_isa([&] {
    for (int64_t in : {1, 3, 17, 64, 100, 768})
      for (int64_t group : {0, 32, 128})
        for (int wbits : {2, 3, 4, 5, 6, 7, 8})
          for (Clusters mode : kAllClusterModes) {
            if (group != 0 && (group >= in || in % group != 0)) continue;  // groups divide `in`
            const int abits = static_cast<int>(uniform_int(rng, 2, 8));
            const int64_t rows = std::vector<int64_t>{1, 1, 2, 5, 9, 17}[static_cast<size_t>(uniform_int(rng, 0, 5))];
            const int64_t out = std::vector<int64_t>{1, 5, 16, 33}[static_cast<size_t>(uniform_int(rng, 0, 3))];
            const uint32_t flags = static_cast<uint32_t>(uniform_int(rng, 0, 3));
            const bool bias = uniform_int(rng, 0, 1), packed = uniform_int(rng, 0, 1);
            INFO("rows " << rows << ", in " << in << ", out " << out << ", group " << group << ", W" << wbits << "A"
                         << abits << ", clusters " << name(mode) << ", flags " << flags << ", bias " << bias
                         << ", packed " << packed);
            const ActQuant q = make_act_quant(rng, in, abits, mode);
            const std::vector<uint8_t> codes = random_codes(rng, static_cast<size_t>(rows * in), abits);
            const Weights w = make_weights(rng, out, in, wbits, group, bias);
            std::vector<float> y = (flags & cpu::kAccumulate) ? random_floats(rng, static_cast<size_t>(rows * out), 2.0f)
                                                             : std::vector<float>(static_cast<size_t>(rows * out), kNaN);
            const std::vector<float> prev = y;
            std::vector<double> want, bound;
            reference_linear(dequantized(codes, in, q), rows, w, flags, prev, &want, &bound);
            cpu::ActTensor x;
            x.codes = codes.data();
            x.quant = q.params();
            cpu::linear(x, rows, w.params(packed), flags, y.data());
            check_linear(y, want, bound);
          }
  });
}

TEST_CASE("integer linear on layer-sized shapes: packed and unpacked agree exactly, one row or many",
          "[cpu_kernels]") {
  std::mt19937 rng = make_rng("linear_int_large");
  for_each_isa([&] {
    for (int wbits : {4, 8}) {
      const int64_t in = 768, out = 100, rows = 41;
      const ActQuant q = make_act_quant(rng, in, 8, Clusters::kRandom);
      const std::vector<uint8_t> codes = random_codes(rng, static_cast<size_t>(rows * in), 8);
      const Weights w = make_weights(rng, out, in, wbits, 128, true);
      cpu::ActTensor x;
      x.codes = codes.data();
      x.quant = q.params();
      std::vector<float> a(static_cast<size_t>(rows * out), kNaN), b = a, c = a;
      cpu::linear(x, rows, w.params(true), 0, a.data());
      cpu::linear(x, rows, w.params(false), 0, b.data());
      for (int64_t r = 0; r < rows; ++r) {  // the decode path, row by row
        cpu::ActTensor xr = x;
        xr.codes = codes.data() + r * in;
        cpu::linear(xr, 1, w.params(true), 0, c.data() + r * out);
      }
      CHECK(a == b);
      CHECK(a == c);
      std::vector<double> want, bound;
      reference_linear(dequantized(codes, in, q), rows, w, 0, {}, &want, &bound);
      check_linear(a, want, bound);
    }
  });
}

TEST_CASE("float linear paths: float x float, float x weight codes, activation codes x float", "[cpu_kernels]") {
  std::mt19937 rng = make_rng("linear_float");
  for_each_isa([&] {
    for (int64_t in : {1, 3, 17, 64, 100, 768})
      for (int path = 0; path < 4; ++path) {
        // 0: float x float; 1: float x W4 codes; 2: float x W8 codes; 3: codes x float weights.
        const int wbits = path == 1 ? 4 : path == 2 ? 8 : 16;
        const int64_t group = (path == 1 && in % 32 == 0) ? 32 : 0;
        const int64_t rows = std::vector<int64_t>{1, 3, 6, 130}[static_cast<size_t>(uniform_int(rng, 0, 3))];
        const int64_t out = std::vector<int64_t>{1, 7, 33}[static_cast<size_t>(uniform_int(rng, 0, 2))];
        const uint32_t flags = static_cast<uint32_t>(uniform_int(rng, 0, 3));
        INFO("path " << path << ", rows " << rows << ", in " << in << ", out " << out << ", flags " << flags);
        const Weights w = make_weights(rng, out, in, wbits, group, uniform_int(rng, 0, 1));
        cpu::ActTensor x;
        std::vector<float> xf;
        std::vector<uint8_t> codes;
        ActQuant q;
        std::vector<double> x_hat;
        if (path == 3) {
          q = make_act_quant(rng, in, static_cast<int>(uniform_int(rng, 2, 8)), Clusters::kRandom);
          codes = random_codes(rng, static_cast<size_t>(rows * in), q.bits);
          x.codes = codes.data();
          x.quant = q.params();
          x_hat = dequantized(codes, in, q);
        } else {
          xf = random_floats(rng, static_cast<size_t>(rows * in), 2.0f);
          x.f32 = xf.data();
          x_hat.assign(xf.begin(), xf.end());
        }
        std::vector<float> y = (flags & cpu::kAccumulate) ? random_floats(rng, static_cast<size_t>(rows * out), 2.0f)
                                                         : std::vector<float>(static_cast<size_t>(rows * out), kNaN);
        const std::vector<float> prev = y;
        std::vector<double> want, bound;
        reference_linear(x_hat, rows, w, flags, prev, &want, &bound);
        cpu::linear(x, rows, w.params(false), flags, y.data());
        check_linear(y, want, bound);
      }
  });
}

TEST_CASE("integer linear: weight sums packed for the input quantizer give identical results, others still work",
          "[cpu_kernels]") {
  std::mt19937 rng = make_rng("linear_int_packed_sums");
  for_each_isa([&] {
    for (int64_t in : {3, 17, 100, 768})
      for (int wbits : {2, 4, 5, 7, 8})
        for (int64_t group : {0, 32}) {
          if (group != 0 && (group >= in || in % group != 0)) continue;
          const int64_t out = std::vector<int64_t>{1, 16, 37}[static_cast<size_t>(uniform_int(rng, 0, 2))];
          const int64_t rows = uniform_int(rng, 1, 10);
          INFO("rows " << rows << ", in " << in << ", out " << out << ", group " << group << ", W" << wbits);
          const ActQuant q = make_act_quant(rng, in, static_cast<int>(uniform_int(rng, 2, 8)), Clusters::kRandom);
          const ActQuant other = make_act_quant(rng, in, q.bits, Clusters::kRandom);
          Weights w = make_weights(rng, out, in, wbits, group, true);
          const std::vector<uint8_t> codes = random_codes(rng, static_cast<size_t>(rows * in), q.bits);
          const std::shared_ptr<const cpu::PackedWeights> plain = w.packed;
          const std::shared_ptr<const cpu::PackedWeights> with_sums = cpu::pack_weights(w.params(false), q.params());
          for (const ActQuant* aq : {&q, &other}) {
            cpu::ActTensor x;
            x.codes = codes.data();
            x.quant = aq->params();
            std::vector<float> a(static_cast<size_t>(rows * out), kNaN), b = a;
            w.packed = plain;
            cpu::linear(x, rows, w.params(true), 0, a.data());
            w.packed = with_sums;
            cpu::linear(x, rows, w.params(true), 0, b.data());
            CHECK(a == b);
            std::vector<double> want, bound;
            reference_linear(dequantized(codes, in, *aq), rows, w, 0, {}, &want, &bound);
            check_linear(b, want, bound);
          }
        }
  });
}

TEST_CASE("integer linear: every ISA's integer sums equal the scalar kernel's, extreme codes and 16384-channel spans",
          "[cpu_kernels]") {
  // With every scale 1 an output is Σ_spans float(I) of exact int32 span sums I, rounded the same
  // way by every ISA, so any difference is an integer error (overflow, a lost or wrong product).
  // Codes at their extremes (activations 0/255, weights 0/qmax) and one cluster and group over
  // 2 · 16384 + 24 channels give the largest partials isa.h allows.
  std::mt19937 rng = make_rng("linear_int_exact");
  const int64_t in = 2 * rptq::cpu::detail::kMaxSpanChannels + 24, out = 33, rows = 9;
  for (int wbits : {4, 7, 8})
    for (bool one_cluster : {true, false}) {
      INFO("W" << wbits << "A8, " << (one_cluster ? "one cluster" : "random clusters"));
      ActQuant q = make_act_quant(rng, in, 8, Clusters::kRandom);
      if (one_cluster) {
        q.ends = {static_cast<int32_t>(in)};
        q.zero = {static_cast<int32_t>(uniform_int(rng, 0, 255))};
        q.scale = {1.0f};
      }
      std::fill(q.scale.begin(), q.scale.end(), 1.0f);
      const int qmax = (1 << wbits) - 1;
      // Mostly 0 or `top`, some anywhere in between.
      const auto extreme = [&](int top) {
        return static_cast<int>(uniform_int(rng, 0, 3) ? (uniform_int(rng, 0, 1) ? top : 0) : uniform_int(rng, 0, top));
      };
      std::vector<uint8_t> codes(static_cast<size_t>(rows * in));
      for (uint8_t& c : codes) c = static_cast<uint8_t>(extreme(255));
      Weights w = make_weights(rng, out, in, wbits, 0, false);
      const bool u4 = wbits <= 4;
      const int64_t row_bytes = u4 ? (in + 1) / 2 : in;
      std::fill(w.scale.begin(), w.scale.end(), 1.0f);
      for (int64_t o = 0; o < out; ++o) {
        w.zero[static_cast<size_t>(o)] = static_cast<uint8_t>(o % 3 == 0 ? 0 : o % 3 == 1 ? qmax : extreme(qmax));
        for (int64_t i = 0; i < in; ++i) {
          const int code = extreme(qmax);
          uint8_t& byte = w.codes[static_cast<size_t>(o * row_bytes + (u4 ? i / 2 : i))];
          byte = static_cast<uint8_t>(u4 ? (byte & (0xF0 >> (4 * (i % 2)))) | code << (4 * (i % 2)) : code);
          w.w_hat[static_cast<size_t>(o * in + i)] = static_cast<float>(code - w.zero[static_cast<size_t>(o)]);
        }
      }
      cpu::ActTensor x;
      x.codes = codes.data();
      x.quant = q.params();
      const std::string original = cpu::active_isa();
      REQUIRE(cpu::force_isa("scalar"));
      std::vector<float> want(static_cast<size_t>(rows * out), kNaN);
      cpu::linear(x, rows, w.params(false), 0, want.data());
      REQUIRE(cpu::force_isa(original.c_str()));
      std::vector<double> ref, bound;
      reference_linear(dequantized(codes, in, q), rows, w, 0, {}, &ref, &bound);
      check_linear(want, ref, bound);
      for_each_isa([&] {
        w.packed = cpu::pack_weights(w.params(false), q.params());  // Σ w' by this ISA's tile_sums
        std::vector<float> a(want.size(), kNaN), b = a;
        cpu::linear(x, rows, w.params(false), 0, a.data());
        cpu::linear(x, rows, w.params(true), 0, b.data());
        CHECK(a == want);
        CHECK(b == want);
      });
    }
}

TEST_CASE("float activations x weight codes, few rows (decode): every bit width, group and odd shape",
          "[cpu_kernels]") {
  std::mt19937 rng = make_rng("linear_float_codes");
  for_each_isa([&] {
    for (int64_t in : {1, 3, 8, 17, 64, 100, 768})
      for (int64_t group : {0, 4, 32, 128})
        for (int wbits : {2, 3, 4, 5, 6, 7, 8}) {
          if (group != 0 && (group >= in || in % group != 0)) continue;
          const int64_t rows = uniform_int(rng, 1, 4);  // the in-register path; more rows dequantize tiles
          const int64_t out = std::vector<int64_t>{1, 5, 16, 33}[static_cast<size_t>(uniform_int(rng, 0, 3))];
          const uint32_t flags = static_cast<uint32_t>(uniform_int(rng, 0, 3));
          const bool bias = uniform_int(rng, 0, 1), packed = uniform_int(rng, 0, 1);
          INFO("rows " << rows << ", in " << in << ", out " << out << ", group " << group << ", W" << wbits
                       << ", flags " << flags << ", bias " << bias << ", packed " << packed);
          const Weights w = make_weights(rng, out, in, wbits, group, bias);
          const std::vector<float> xf = random_floats(rng, static_cast<size_t>(rows * in), 2.0f);
          cpu::ActTensor x;
          x.f32 = xf.data();
          std::vector<float> y = (flags & cpu::kAccumulate) ? random_floats(rng, static_cast<size_t>(rows * out), 2.0f)
                                                           : std::vector<float>(static_cast<size_t>(rows * out), kNaN);
          const std::vector<float> prev = y;
          std::vector<double> want, bound;
          reference_linear(std::vector<double>(xf.begin(), xf.end()), rows, w, flags, prev, &want, &bound);
          cpu::linear(x, rows, w.params(packed), flags, y.data());
          check_linear(y, want, bound);
        }
  });
}

TEST_CASE("pack_weights: none for float weights", "[cpu_kernels]") {
  std::mt19937 rng = make_rng("pack_weights");
  const Weights w = make_weights(rng, 3, 5, 16, 0, false);
  CHECK(cpu::pack_weights(w.params(false)) == nullptr);
}

TEST_CASE("embedding copies the rows of the table", "[cpu_kernels]") {
  std::mt19937 rng = make_rng("embedding");
  const int64_t vocab = 37, dim = 19, n = 11;
  const std::vector<float> table = random_floats(rng, static_cast<size_t>(vocab * dim), 1.0f);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int32_t& id : ids) id = static_cast<int32_t>(uniform_int(rng, 0, vocab - 1));
  std::vector<float> out(static_cast<size_t>(n * dim), kNaN);
  cpu::embedding(ids.data(), n, table.data(), dim, out.data());
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < dim; ++j)
      REQUIRE(out[static_cast<size_t>(r * dim + j)] == table[static_cast<size_t>(ids[static_cast<size_t>(r)] * dim + j)]);
}

namespace {

// One layer's KV cache with its storage. Positions not yet written hold poison.
struct Cache {
  ActQuant k_quant, v_quant;
  std::vector<AffineQuant> k_channels, v_channels;
  std::vector<uint8_t> k_codes, v_codes;
  std::vector<float> k_f32, v_f32;
  cpu::KvLayer layer;

  Cache(std::mt19937& rng, int64_t capacity, int64_t hidden, int bits) {
    const size_t n = static_cast<size_t>(capacity * hidden);
    if (bits < 16) {
      k_quant = make_act_quant(rng, hidden, bits, Clusters::kRandom, 3.0f);
      v_quant = make_act_quant(rng, hidden, bits, Clusters::kRandom, 3.0f);
      k_channels = k_quant.per_channel();
      v_channels = v_quant.per_channel();
      k_codes.assign(n, 0xA5);
      v_codes.assign(n, 0x5A);
      layer.k_codes = k_codes.data();
      layer.v_codes = v_codes.data();
    } else {
      k_f32.assign(n, kNaN);
      v_f32.assign(n, kNaN);
      layer.k_f32 = k_f32.data();
      layer.v_f32 = v_f32.data();
    }
    layer.k_quant = k_quant.params();
    layer.v_quant = v_quant.params();
    layer.capacity = capacity;
  }
  bool quantized() const { return k_quant.bits < 16; }
  // K̂ or V̂ of position j, channel c.
  double key(int64_t j, int64_t c, int64_t hidden) const { return value_of(k_channels, k_codes, k_f32, j, c, hidden); }
  double value(int64_t j, int64_t c, int64_t hidden) const { return value_of(v_channels, v_codes, v_f32, j, c, hidden); }

 private:
  double value_of(const std::vector<AffineQuant>& channels, const std::vector<uint8_t>& codes,
                  const std::vector<float>& f32, int64_t j, int64_t c, int64_t hidden) const {
    const size_t k = static_cast<size_t>(j * hidden + c);
    return quantized() ? channels[static_cast<size_t>(c)].dequantize(codes[k]) : f32[k];
  }
};

}  // namespace

TEST_CASE("attention over a quantized or float KV cache equals the fake-quantized reference", "[cpu_kernels]") {
  std::mt19937 rng = make_rng("attention");
  struct Shape {
    int64_t heads, head_dim, past, n;
  };
  // n <= 8 over a quantized cache reads the codes in place (decode); head_dim 80 and 37 cover the
  // vector kernels' chunks and tails there.
  const Shape shapes[] = {{1, 1, 0, 1}, {2, 3, 4, 3}, {3, 17, 0, 9}, {2, 64, 7, 1}, {4, 16, 30, 5}, {1, 8, 0, 13},
                          {3, 80, 40, 1}, {2, 37, 21, 8}};
  for_each_isa([&] {
    for (const Shape& s : shapes)
      for (int kv_bits : {16, 8, 4, 2})
        for (int variant = 0; variant < 4; ++variant) {
          const bool q_quantized = variant & 1, out_quantized = variant & 2;
          INFO("heads " << s.heads << ", head_dim " << s.head_dim << ", past " << s.past << ", n " << s.n
                        << ", kv bits " << kv_bits << ", q quantized " << q_quantized << ", out quantized "
                        << out_quantized);
          const int64_t hidden = s.heads * s.head_dim, total = s.past + s.n, capacity = total + 3;
          Cache cache(rng, capacity, hidden, kv_bits);
          // Earlier positions: what previous calls left.
          for (int64_t k = 0; k < s.past * hidden; ++k) {
            if (cache.quantized()) {
              cache.k_codes[static_cast<size_t>(k)] = static_cast<uint8_t>(uniform_int(rng, 0, (1 << kv_bits) - 1));
              cache.v_codes[static_cast<size_t>(k)] = static_cast<uint8_t>(uniform_int(rng, 0, (1 << kv_bits) - 1));
            } else {
              cache.k_f32[static_cast<size_t>(k)] = uniform(rng, -3, 3);
              cache.v_f32[static_cast<size_t>(k)] = uniform(rng, -3, 3);
            }
          }
          const Cache before = cache;
          const std::vector<float> q = random_floats(rng, static_cast<size_t>(s.n * hidden), 3.0f);
          const std::vector<float> k = random_floats(rng, static_cast<size_t>(s.n * hidden), 3.0f);
          const std::vector<float> v = random_floats(rng, static_cast<size_t>(s.n * hidden), 3.0f);
          const ActQuant q_quant = q_quantized ? make_act_quant(rng, hidden, 8, Clusters::kRandom, 3.0f) : ActQuant{};
          const ActQuant out_quant = out_quantized ? make_act_quant(rng, hidden, 8, Clusters::kRandom, 3.0f) : ActQuant{};
          const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
          std::vector<float> out_f32(static_cast<size_t>(s.n * hidden), kNaN);
          std::vector<uint8_t> out_codes(out_f32.size(), 0xA5);
          cpu::attention(q.data(), k.data(), v.data(), s.n, s.past, s.heads, s.head_dim, scale, q_quant.params(),
                         cache.layer, out_quant.params(), out_quantized ? out_codes.data() : nullptr,
                         out_quantized ? nullptr : out_f32.data());

          // The cache: old positions and those past the new tokens untouched, new ones = K / V
          // (quantized exactly as quantize_rows / AffineQuant would).
          for (int64_t j = 0; j < capacity; ++j)
            for (int64_t c = 0; c < hidden; ++c) {
              const size_t idx = static_cast<size_t>(j * hidden + c);
              const bool fresh = j >= s.past && j < total;
              const size_t src = static_cast<size_t>((j - s.past) * hidden + c);
              if (cache.quantized()) {
                REQUIRE(int{cache.k_codes[idx]} ==
                        (fresh ? cache.k_channels[static_cast<size_t>(c)].quantize(k[src]) : before.k_codes[idx]));
                REQUIRE(int{cache.v_codes[idx]} ==
                        (fresh ? cache.v_channels[static_cast<size_t>(c)].quantize(v[src]) : before.v_codes[idx]));
              } else if (fresh) {
                REQUIRE(cache.k_f32[idx] == k[src]);
                REQUIRE(cache.v_f32[idx] == v[src]);
              } else if (j < s.past) {
                REQUIRE(cache.k_f32[idx] == before.k_f32[idx]);
              } else {
                REQUIRE(std::isnan(cache.k_f32[idx]));
              }
            }

          // Reference: q̂ = fake-quantized q, scores (q̂ · k̂) · scale, softmax, Σ p v̂; in double.
          const std::vector<AffineQuant> qch = q_quant.per_channel(), och = out_quant.per_channel();
          for (int64_t i = 0; i < s.n; ++i)
            for (int64_t h = 0; h < s.heads; ++h) {
              const int64_t visible = s.past + i + 1, c0 = h * s.head_dim;
              std::vector<double> p(static_cast<size_t>(visible));
              double mx = -1e300, max_terms = 0, max_v = 0;
              for (int64_t j = 0; j < visible; ++j) {
                double dot = 0, terms = 0;
                for (int64_t d = 0; d < s.head_dim; ++d) {
                  const float qv = q[static_cast<size_t>(i * hidden + c0 + d)];
                  const double qh = q_quantized ? qch[static_cast<size_t>(c0 + d)].fake_quantize(qv) : qv;
                  dot += qh * cache.key(j, c0 + d, hidden);
                  terms += std::fabs(qh * cache.key(j, c0 + d, hidden));
                  max_v = std::max(max_v, std::fabs(cache.value(j, c0 + d, hidden)));
                }
                p[static_cast<size_t>(j)] = dot * scale;
                mx = std::max(mx, dot * scale);
                max_terms = std::max(max_terms, terms * scale);
              }
              double sum = 0;
              for (double& e : p) sum += e = std::exp(e - mx);
              // Float scores err by ~1e-7 of the terms' scale; softmax passes that on to the
              // output times max |v̂|; the weighted sum adds ~1e-7 of max |v̂|.
              const double tol = 1e-5 * max_v * (1.0 + max_terms);
              for (int64_t d = 0; d < s.head_dim; ++d) {
                double o = 0;
                for (int64_t j = 0; j < visible; ++j) o += p[static_cast<size_t>(j)] / sum * cache.value(j, c0 + d, hidden);
                const size_t idx = static_cast<size_t>(i * hidden + c0 + d);
                INFO("query " << i << ", channel " << c0 + d << ": want " << o);
                if (out_quantized) {
                  // A correct rounding of some value within tol of the reference.
                  const AffineQuant& a = och[static_cast<size_t>(c0 + d)];
                  REQUIRE(int{out_codes[idx]} >= a.quantize(static_cast<float>(o - tol)));
                  REQUIRE(int{out_codes[idx]} <= a.quantize(static_cast<float>(o + tol)));
                } else {
                  REQUIRE(std::fabs(out_f32[idx] - o) <= tol);
                }
              }
            }
        }
  });
}

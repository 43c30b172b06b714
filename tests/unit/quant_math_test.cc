// Affine quantization: exactness where it must be exact, error bounds where it cannot be.
#include <catch2/catch.hpp>
#include <cmath>

#include "rptq/quant_math.h"

TEST_CASE("affine quant: codes span the range and zero is exact", "[quant]") {
  for (int bits : {2, 3, 4, 8}) {
    auto q = rptq::AffineQuant::from_range(-1.5f, 3.0f, bits);
    CHECK(q.qmax == (1 << bits) - 1);
    CHECK(q.dequantize(q.quantize(-1.5f)) == Approx(-1.5f).margin(q.scale * 0.5f));
    CHECK(q.quantize(-100.0f) == 0);
    CHECK(q.quantize(100.0f) == q.qmax);
    CHECK(q.fake_quantize(0.0f) == 0.0f);
    // Inside the range the error is at most half a step.
    for (float x = -1.5f; x <= 3.0f; x += 0.01f) REQUIRE(std::fabs(q.fake_quantize(x) - x) <= q.scale * 0.5f + 1e-6f);
  }
}

TEST_CASE("affine quant: one-sided and degenerate ranges", "[quant]") {
  auto relu = rptq::AffineQuant::from_range(0.0f, 6.0f, 4);  // ReLU output: zero point 0
  CHECK(relu.zero == 0);
  CHECK(relu.scale == Approx(6.0f / 15));
  auto neg = rptq::AffineQuant::from_range(-8.0f, -2.0f, 4);  // widened to include 0
  CHECK(neg.zero == 15);
  CHECK(neg.fake_quantize(0.0f) == 0.0f);
  auto zero = rptq::AffineQuant::from_range(0.0f, 0.0f, 8);  // no range at all: identity on 0
  CHECK(zero.scale == 1.0f);
  CHECK(zero.fake_quantize(0.0f) == 0.0f);
}

TEST_CASE("affine quant rounds half to even like torch.round", "[quant]") {
  auto q = rptq::AffineQuant::from_range(0.0f, 15.0f, 4);  // scale 1, zero 0
  CHECK(q.quantize(2.5f) == 2);
  CHECK(q.quantize(3.5f) == 4);
}

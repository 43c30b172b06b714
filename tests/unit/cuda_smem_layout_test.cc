// The tensor-core kernels' shared-memory layouts (codegen/cuda/cuda_kernels.cuh: the linear's
// swizzled(), the prefill attention's row strides): every access a kernel makes at once (a warp's
// fragment loads, the copies of its cp.async) falls in distinct banks. Numbers cannot show this (the emulation and the GPU give the same results with
// or without the swizzle); conflicts would only cost time, so it is checked here, on the access
// patterns the kernel uses, with the hardware's rule: 32 banks of 4 bytes, and a request of 8- or
// 16-byte accesses served per half or quarter warp (128 bytes at a time).
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "../cuda/host_emulation.h"
#include "../../codegen/cuda/cuda_kernels.cuh"

using rptq::cuda::kAttentionKRow;
using rptq::cuda::kAttentionVRow;
using rptq::cuda::kMmaChunk;
using rptq::cuda::kMmaCols;
using rptq::cuda::kMmaRows;
using rptq::cuda::kMmaThreads;
using rptq::cuda::swizzled;

namespace {

// The lanes of a warp access bytes at address(lane), `width` bytes each: the lanes served together
// (128 bytes' worth) must touch every bank at most once.
template <class Address>
void check_conflict_free(int width, Address address, const std::string& what) {
  const int together = 128 / width;
  for (int first = 0; first < 32; first += together) {
    std::set<int> banks;
    for (int lane = first; lane < first + together; ++lane)
      for (int w = 0; w < width / 4; ++w) banks.insert((address(lane) / 4 + w) % 32);
    INFO(what << ", lanes " << first << ".." << first + together - 1);
    CHECK(banks.size() == 32);
  }
}

}  // namespace

TEST_CASE("tensor-core kernel: fragment loads are free of bank conflicts", "[cuda]") {
  constexpr int kXRow = kMmaChunk, kU4Row = kMmaChunk / 2, kU8Row = kMmaChunk;
  for (int ks : {0, 32})
    for (int wm : {0, 32})
      for (int row : {0, 8, 16, 24})  // m16 tile mi, rows g or g + 8
        check_conflict_free(
            8, [&](int lane) { return swizzled<kXRow>(wm + row + lane / 4, ks + 8 * (lane % 4)); },
            "A, k step " + std::to_string(ks) + ", rows from " + std::to_string(wm + row));
  for (int ks : {0, 32})
    for (int n0 = 0; n0 < kMmaCols; n0 += 8) {
      check_conflict_free(
          4, [&](int lane) { return swizzled<kU4Row>(n0 + lane / 4, ks / 2 + 4 * (lane % 4)); },
          "U4 weights, k step " + std::to_string(ks) + ", columns from " + std::to_string(n0));
      check_conflict_free(
          8, [&](int lane) { return swizzled<kU8Row>(n0 + lane / 4, ks + 8 * (lane % 4)); },
          "U8 weights, k step " + std::to_string(ks) + ", columns from " + std::to_string(n0));
    }
}

TEST_CASE("tensor-core kernel, int4 path: fragment loads are free of bank conflicts", "[cuda]") {
  // RPTQ_INT4_TENSOR_CORES: a k64 step per stage; A as 16 bytes of rows g and g + 8 at unit t, U4
  // weights as words 2t, 2t + 1 of column g.
  constexpr int kXRow = kMmaChunk, kU4Row = kMmaChunk / 2;
  for (int wm : {0, 32})
    for (int row : {0, 8, 16, 24})
      check_conflict_free(
          16, [&](int lane) { return swizzled<kXRow>(wm + row + lane / 4, 16 * (lane % 4)); },
          "A, rows from " + std::to_string(wm + row));
  for (int n0 = 0; n0 < kMmaCols; n0 += 8)
    check_conflict_free(
        8, [&](int lane) { return swizzled<kU4Row>(n0 + lane / 4, 8 * (lane % 4)); },
        "U4 weights, columns from " + std::to_string(n0));
}

TEST_CASE("tensor-core kernel: cp.async copies into shared memory are free of bank conflicts", "[cuda]") {
  auto copies = [](int row_bytes, int rows, const std::string& what) {
    const int units = row_bytes / 16;
    for (int i = 0; i < rows * units / kMmaThreads; ++i)
      for (int warp = 0; warp < kMmaThreads / 32; ++warp)
        check_conflict_free(
            16,
            [&](int lane) {
              const int idx = warp * 32 + lane + i * kMmaThreads;
              return row_bytes == 64 ? swizzled<64>(idx / units, idx % units * 16)
                                     : swizzled<32>(idx / units, idx % units * 16);
            },
            what + ", copy " + std::to_string(i) + ", warp " + std::to_string(warp));
  };
  copies(kMmaChunk, kMmaRows, "A");
  copies(kMmaChunk / 2, kMmaCols, "U4 weights");
  copies(kMmaChunk, kMmaCols, "U8 weights");
}

TEST_CASE("tensor-core kernel: the swizzle keeps each row's bytes in the row", "[cuda]") {
  for (int r = 0; r < 16; ++r) {
    std::set<int> at64, at32;
    for (int b = 0; b < 64; ++b) at64.insert(swizzled<64>(r, b));
    for (int b = 0; b < 32; ++b) at32.insert(swizzled<32>(r, b));
    CHECK(at64.size() == 64);
    CHECK(*at64.begin() == 64 * r);
    CHECK(*at64.rbegin() == 64 * r + 63);
    CHECK(at32.size() == 32);
    CHECK(*at32.begin() == 32 * r);
    CHECK(*at32.rbegin() == 32 * r + 31);
  }
}

namespace {

template <int kD>
void check_attention_loads() {
  // K fragments: lane (g, t) reads 4 codes of key 8 n + g at channel 16 kk + 4 t; V fragments: 4
  // codes of channel 8 dn + g at slot 16 i + 4 t of the transposed tile.
  for (int n = 0; n < 8; ++n)
    for (int kk = 0; kk < kD / 16; ++kk)
      check_conflict_free(
          4, [&](int lane) { return (8 * n + lane / 4) * kAttentionKRow<kD> + 16 * kk + 4 * (lane % 4); },
          "K, head " + std::to_string(kD) + ", keys from " + std::to_string(8 * n));
  for (int dn = 0; dn < kD / 8; ++dn)
    for (int i = 0; i < 4; ++i)
      check_conflict_free(
          4, [&](int lane) { return (8 * dn + lane / 4) * kAttentionVRow + 16 * i + 4 * (lane % 4); },
          "V, head " + std::to_string(kD) + ", channels from " + std::to_string(8 * dn));
}

}  // namespace

TEST_CASE("tensor-core attention: K and V fragment loads are free of bank conflicts at every head width",
          "[cuda]") {
  check_attention_loads<16>();
  check_attention_loads<32>();
  check_attention_loads<48>();
  check_attention_loads<64>();
  check_attention_loads<96>();
  check_attention_loads<112>();
  check_attention_loads<128>();
}

// The fatbin reader (runtime/bundle/fatbin.h) on containers built here byte by byte in nvcc's
// layout: entries and cubin architectures read back, and every truncation or lie about a size
// refused with the name given, never read past the end. (Real nvcc output is checked by
// cuda_codegen_test and the cuda.bundle test.)
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "bundle/fatbin.h"
#include "rptq/error.h"

using rptq::bundle::cubin_sm;
using rptq::bundle::FatbinEntry;
using rptq::bundle::parse_fatbin;

namespace {

template <class T>
void put(std::vector<uint8_t>& b, size_t at, T v) {
  if (b.size() < at + sizeof v) b.resize(at + sizeof v);
  std::memcpy(b.data() + at, &v, sizeof v);
}

// An ELF64 header of a cubin for `sm` (e_machine 190, e_flags as nvcc 13 writes them).
std::vector<uint8_t> cubin(int sm, uint16_t machine = 190) {
  std::vector<uint8_t> e(96, 0);
  std::memcpy(e.data(), "\x7f" "ELF", 4);
  e[4] = 2;
  e[5] = 1;
  put<uint16_t>(e, 18, machine);
  put<uint32_t>(e, 48, 0x6000004u | (static_cast<uint32_t>(sm) << 8));
  return e;
}

void add_entry(std::vector<uint8_t>& b, uint16_t kind, int sm, const std::vector<uint8_t>& payload, uint64_t flags) {
  const size_t at = b.size();
  const uint32_t header = kind == 1 ? 80 : 64;
  b.resize(at + header, 0);
  put<uint16_t>(b, at, kind);
  put<uint16_t>(b, at + 2, 0x0101);
  put<uint32_t>(b, at + 4, header);
  put<uint64_t>(b, at + 8, payload.size());
  put<uint32_t>(b, at + 28, static_cast<uint32_t>(sm));
  put<uint64_t>(b, at + 40, flags);
  b.insert(b.end(), payload.begin(), payload.end());
}

std::vector<uint8_t> container() {
  std::vector<uint8_t> b(16, 0);
  add_entry(b, 1, 90, std::vector<uint8_t>(40, 'p'), 0x8011);  // compressed PTX
  add_entry(b, 2, 90, cubin(90), 0x11);
  add_entry(b, 2, 87, cubin(87), 0x11);
  put<uint32_t>(b, 0, 0xBA55ED50u);
  put<uint16_t>(b, 4, 1);
  put<uint16_t>(b, 6, 16);
  put<uint64_t>(b, 8, b.size() - 16);
  return b;
}

}  // namespace

TEST_CASE("fatbin entries and cubin architectures are read back", "[fatbin]") {
  const std::vector<uint8_t> b = container();
  const std::vector<FatbinEntry> e = parse_fatbin(b.data(), b.size(), "x.fatbin");
  REQUIRE(e.size() == 3);
  CHECK(e[0].kind == FatbinEntry::Ptx);
  CHECK(e[0].sm == 90);
  CHECK(e[0].compressed);
  CHECK(e[0].size == 40);
  CHECK(e[1].kind == FatbinEntry::Elf);
  CHECK_FALSE(e[1].compressed);
  CHECK(cubin_sm(e[1].data, e[1].size, "cubin") == 90);
  CHECK(cubin_sm(e[2].data, e[2].size, "cubin") == 87);
  // Padding after the container (section alignment) is ignored.
  std::vector<uint8_t> padded = b;
  padded.resize(b.size() + 48, 0);
  CHECK(parse_fatbin(padded.data(), padded.size(), "x").size() == 3);
}

TEST_CASE("every truncation of a fatbin is refused with its name", "[fatbin]") {
  const std::vector<uint8_t> b = container();
  for (size_t n = 0; n < b.size(); ++n) {
    // A copy of exactly n bytes, so that a read past it is an ASan error, not a silent pass.
    std::vector<uint8_t> cut(b.begin(), b.begin() + static_cast<long>(n));
    CHECK_THROWS_WITH(parse_fatbin(cut.data(), cut.size(), "cut.fatbin"), Catch::Contains("cut.fatbin"));
  }
}

TEST_CASE("lying sizes and foreign bytes are refused", "[fatbin]") {
  const std::vector<uint8_t> good = container();
  auto refused = [](std::vector<uint8_t> b, const std::string& why) {
    CHECK_THROWS_WITH(parse_fatbin(b.data(), b.size(), "bad.fatbin"),
                      Catch::Contains("bad.fatbin") && Catch::Contains(why));
  };
  std::vector<uint8_t> b = good;
  b[0] ^= 1;
  refused(b, "bad magic");
  b = good;
  put<uint16_t>(b, 4, 2);
  refused(b, "version");
  b = good;
  put<uint64_t>(b, 8, good.size());  // body larger than the buffer
  refused(b, "past its end");
  b = good;
  put<uint64_t>(b, 16 + 8, 1ull << 40);  // first entry's payload
  refused(b, "runs past");
  b = good;
  put<uint32_t>(b, 16 + 4, 8);  // entry header too small
  refused(b, "runs past");
  b = good;
  put<uint16_t>(b, 16, 7);
  refused(b, "unknown kind");
  b = good;
  put<uint64_t>(b, 8, 0);
  refused(b, "no entries");
}

TEST_CASE("a cubin must be CUDA ELF64", "[fatbin]") {
  const std::vector<uint8_t> x86 = cubin(90, 62);
  CHECK_THROWS_WITH(cubin_sm(x86.data(), x86.size(), "c"), Catch::Contains("EM_CUDA"));
  std::vector<uint8_t> elf32 = cubin(90);
  elf32[4] = 1;
  CHECK_THROWS_WITH(cubin_sm(elf32.data(), elf32.size(), "c"), Catch::Contains("ELF64"));
  CHECK_THROWS_WITH(cubin_sm(elf32.data(), 10, "c"), Catch::Contains("ELF64"));
}

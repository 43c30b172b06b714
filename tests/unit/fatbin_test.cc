// The fatbin reader (runtime/bundle/fatbin.h) on containers built here byte by byte in nvcc's
// layout and on a real one nvcc built for this test (RPTQ_TEST_FATBIN, where the toolkit is
// installed): entries and cubin architectures read back, and every truncation or lie about a size
// refused with the name given, never read past the end (run it under ASan). Also the CUDA driver
// loader (kernels/cuda/cuda_driver.h) where there is no driver, as on the build machines.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bundle/fatbin.h"
#include "kernels/cuda/cuda_driver.h"
#include "rptq/error.h"
#include "test_util.h"

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

#ifdef RPTQ_TEST_FATBIN
TEST_CASE("nvcc's fatbin: sm_87 and sm_90 cubins and compute_90 PTX", "[fatbin]") {
  const std::string file = rptq::test::read_file(RPTQ_TEST_FATBIN);
  const std::vector<uint8_t> b(file.begin(), file.end());
  const std::vector<FatbinEntry> e = parse_fatbin(b.data(), b.size(), "tiny.fatbin");
  std::vector<std::string> seen;
  for (const FatbinEntry& x : e) {
    CHECK_FALSE(x.compressed);  // built with -Xfatbin -compress=false
    REQUIRE(x.data >= b.data());
    REQUIRE(x.data + x.size <= b.data() + b.size());
    if (x.kind == FatbinEntry::Elf) {
      CHECK(cubin_sm(x.data, x.size, "cubin") == x.sm);
      seen.push_back("sm_" + std::to_string(x.sm));
    } else {
      CHECK(std::string(reinterpret_cast<const char*>(x.data), x.size).find(".target sm_90") != std::string::npos);
      seen.push_back("compute_" + std::to_string(x.sm));
    }
  }
  std::sort(seen.begin(), seen.end());  // (nvcc 13 writes sm_87, sm_90, compute_90)
  CHECK(seen == std::vector<std::string>{"compute_90", "sm_87", "sm_90"});
}

TEST_CASE("truncated or corrupted nvcc fatbins are refused with their name", "[fatbin]") {
  const std::string file = rptq::test::read_file(RPTQ_TEST_FATBIN);
  const std::vector<uint8_t> good(file.begin(), file.end());
  // Parsed (then each uncompressed cubin's header read) or refused naming the file: nothing else,
  // and, on an exact-size copy under ASan, no read past the end.
  auto parsed_or_refused = [](const std::vector<uint8_t>& b) {
    try {
      for (const FatbinEntry& e : parse_fatbin(b.data(), b.size(), "tiny.fatbin"))
        if (e.kind == FatbinEntry::Elf && !e.compressed) cubin_sm(e.data, e.size, "tiny.fatbin cubin");
      return true;
    } catch (const rptq::Error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find("tiny.fatbin") != std::string::npos);
      return false;
    }
  };
  std::vector<size_t> cuts;
  for (size_t n = 0; n < 200; ++n) cuts.push_back(n);  // the headers, byte by byte
  for (size_t n = 200; n < good.size(); n += 97) cuts.push_back(n);
  for (size_t n = 1; n <= 16; ++n) cuts.push_back(good.size() - n);
  for (size_t n : cuts) {
    INFO("first " << n << " bytes");
    const std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<long>(n));
    CHECK_FALSE(parsed_or_refused(cut));  // the container header's size always reaches past a cut
  }
  std::vector<uint8_t> b = good;
  b[3] ^= 0x80;  // magic
  CHECK_FALSE(parsed_or_refused(b));
  for (uint64_t lie : {uint64_t{1} << 40, uint64_t{good.size()}, ~uint64_t{0}}) {
    b = good;
    put<uint64_t>(b, 16 + 8, lie);  // the first entry's payload size
    CHECK_FALSE(parsed_or_refused(b));
    b = good;
    put<uint32_t>(b, 16 + 4, static_cast<uint32_t>(lie));  // its header size
    CHECK_FALSE(parsed_or_refused(b));
  }
  b = good;
  b[16 + 64 + 18] = 62;  // the first cubin's e_machine: x86-64
  CHECK_FALSE(parsed_or_refused(b));
}
#else
TEST_CASE("nvcc's fatbin (needs the CUDA toolkit at configure time)", "[fatbin]") {
  WARN("skipped: CMake found no CUDA toolkit, so there is no nvcc-built fatbin to read");
  SUCCEED();
}
#endif

namespace {

// load_driver() in a child process, whose environment and once-per-process driver are its own:
// true when it exited normally (no crash or abort); `loaded` and `why` as the child saw them.
bool probe_driver(const char* env, bool* loaded, std::string* why) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    if (env) ::setenv("RPTQ_CUDA_DRIVER", env, 1);
    else ::unsetenv("RPTQ_CUDA_DRIVER");
    std::string w;
    const std::string out = (rptq::cuda::load_driver(&w) ? "1" : "0") + w;
    ssize_t unused = ::write(fds[1], out.data(), out.size());
    (void)unused;
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  *loaded = !out.empty() && out[0] == '1';
  *why = out.empty() ? "" : out.substr(1);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 && !out.empty();
}

}  // namespace

TEST_CASE("a missing CUDA driver is reported, not fatal", "[cuda_driver]") {
  bool loaded = true;
  std::string why;
  REQUIRE(probe_driver("/nonexistent/libcuda.so.1", &loaded, &why));
  CHECK_FALSE(loaded);
  CHECK(why.find("no CUDA driver") != std::string::npos);
  CHECK(why.find("/nonexistent/libcuda.so.1") != std::string::npos);

  // A library that is not a driver: the first entry point is missing.
  REQUIRE(probe_driver("libm.so.6", &loaded, &why));
  CHECK_FALSE(loaded);
  CHECK(why.find("cuInit") != std::string::npos);

  // The machine's own libcuda.so.1: none on the build machines; a GPU machine loads it.
  REQUIRE(probe_driver(nullptr, &loaded, &why));
  INFO("default driver: " << (loaded ? std::string("loaded") : why));
  CHECK((loaded ? why.empty() : !why.empty()));
}

TEST_CASE("check() names the call and the driver's error", "[cuda_driver]") {
  rptq::cuda::Driver d{};
  d.cuGetErrorName = [](rptq::cuda::CUresult r, const char** s) {
    *s = r == 2 ? "CUDA_ERROR_OUT_OF_MEMORY" : nullptr;
    return r == 2 ? 0 : 1;
  };
  d.cuGetErrorString = [](rptq::cuda::CUresult r, const char** s) {
    *s = r == 2 ? "out of memory" : nullptr;
    return r == 2 ? 0 : 1;
  };
  CHECK_NOTHROW(rptq::cuda::check(d, rptq::cuda::CUDA_SUCCESS, "cuMemAlloc"));
  CHECK_THROWS_WITH(rptq::cuda::check(d, 2, "cuMemAlloc(weights)"),
                    Catch::Contains("cuMemAlloc(weights)") && Catch::Contains("CUDA_ERROR_OUT_OF_MEMORY") &&
                        Catch::Contains("out of memory"));
  CHECK_THROWS_AS(rptq::cuda::check(d, 999, "x"), rptq::Error);  // unknown codes still throw
}

#include "cpu/host_compiler.h"

#include <cstdlib>

#include "external_tool.h"
#include "rptq/error.h"

namespace rptq::codegen {
namespace {

namespace fs = std::filesystem;

#include "cpu/native_headers.inc"

// Flags that change no result: the same -std as the runtime (which also keeps float contraction
// off, as -ffp-contract=off states explicitly), no fast-math, hidden symbols but the entry point.
// -frandom-seed and -s keep the object free of anything that varies between runs or directories.
std::vector<std::string> isa_flags(const std::string& isa) {
  if (isa == "avx512vnni")
    return {"-DRPTQ_NATIVE_ISA_AVX512VNNI", "-mavx2", "-mfma", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq",
            "-mavx512vnni"};
  if (isa == "avx2") return {"-DRPTQ_NATIVE_ISA_AVX2", "-mavx2", "-mfma"};
  if (isa == "neon-dotprod") return {"-DRPTQ_NATIVE_ISA_NEON_DOTPROD", "-march=armv8.2-a+dotprod"};
  fail("native code", "unknown instruction set '" + isa + "'");
}

}  // namespace

const std::vector<std::string>& native_x86_isas() {
  static const std::vector<std::string> isas = {"avx512vnni", "avx2"};
  return isas;
}

std::string default_host_compiler() {
  for (const char* var : {"RPTQ_HOST_CXX", "CXX"})
    if (const char* v = std::getenv(var); v && *v) return v;
  return "c++";
}

std::string default_aarch64_compiler() {
  if (const char* v = std::getenv("RPTQ_AARCH64_CXX"); v && *v) return v;
#if defined(__aarch64__)
  return default_host_compiler();
#else
  return "aarch64-linux-gnu-g++";  // Debian's g++-aarch64-linux-gnu
#endif
}

std::vector<uint8_t> build_native_object(const std::string& source, const std::string& isa, const std::string& cxx) {
  const TempDir dir("rptq-native");
  for (const EmbeddedFile& f : kEmbeddedFiles) write_file(dir.path() / f.name, f.bytes);
  const fs::path src = dir.path() / "model_kernels.cc", obj = dir.path() / "model_kernels.so",
                 log = dir.path() / "compiler.log";
  write_file(src, source);
  std::vector<std::string> argv = {cxx, "-std=c++17", "-O3", "-fPIC", "-shared", "-fvisibility=hidden",
                                   "-ffp-contract=off", "-fno-ident", "-frandom-seed=rptq", "-s", "-w"};
  for (const std::string& f : isa_flags(isa)) argv.push_back(f);
  argv.insert(argv.end(), {"-I", dir.path().string(), src.string(), "-o", obj.string()});
  return build_with_tool(argv, obj, log, "native code (" + isa + ")",
                         "set --host-cxx / --aarch64-cxx, or --target generic");
}

}  // namespace rptq::codegen

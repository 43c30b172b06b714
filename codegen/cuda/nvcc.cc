#include "cuda/nvcc.h"

#include <cstdlib>
#include <filesystem>

#include "external_tool.h"

namespace rptq::codegen {
namespace {

namespace fs = std::filesystem;

#include "cuda/cuda_headers.inc"

}  // namespace

std::string default_nvcc() {
  if (const char* v = std::getenv("RPTQ_NVCC"); v && *v) return v;
  for (const char* var : {"CUDA_HOME", "CUDA_PATH"})
    if (const char* home = std::getenv(var); home && *home && fs::exists(fs::path(home) / "bin/nvcc"))
      return (fs::path(home) / "bin/nvcc").string();
  if (fs::exists("/usr/local/cuda/bin/nvcc")) return "/usr/local/cuda/bin/nvcc";
  return "nvcc";
}

std::vector<uint8_t> build_cuda_fatbin(const std::string& source, int sm, bool ptx, const std::string& nvcc,
                                       bool arch_specific, std::string* notes) {
  const TempDir dir("rptq-cuda");
  for (const EmbeddedFile& f : kEmbeddedFiles) write_file(dir.path() / f.name, f.bytes);
  const std::string arch = std::to_string(sm);
  const fs::path src = dir.path() / "model_kernels.cu", out = dir.path() / "model_kernels.fatbin",
                 log = dir.path() / "nvcc.log";
  write_file(src, source);
  // No -lineinfo or -G: nothing of the source's path or the directory reaches the code.
  // -frandom-seed: nvcc's documented switch for identical PTX and objects (it fixes the random
  // numbers nvcc puts in generated names; today's code has none, the bytes are the same with it).
  // nvcc compresses the PTX (about 5x) and leaves the cubin as it is, which keeps it checkable.
  const std::string cubin_arch = arch + (arch_specific ? "a" : "");
  std::vector<std::string> argv = {nvcc, "-fatbin", "-std=c++17", "-O3", "-w", "-frandom-seed=20260101", "-gencode",
                                   "arch=compute_" + cubin_arch + ",code=sm_" + cubin_arch};
  if (ptx) argv.insert(argv.end(), {"-gencode", "arch=compute_" + arch + ",code=compute_" + arch});
  argv.insert(argv.end(), {"-I", dir.path().string(), src.string(), "-o", out.string()});
  std::vector<uint8_t> fatbin =
      build_with_tool(argv, out, log, "CUDA code (sm_" + cubin_arch + ")",
                      "install the CUDA toolkit, set --nvcc or $RPTQ_NVCC, or leave out the CUDA targets");
  if (notes) *notes = read_file(log);
  return fatbin;
}

}  // namespace rptq::codegen

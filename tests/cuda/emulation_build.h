// Builds a CUDA module's generated source for the CPU with the host compiler and
// tests/cuda/host_emulation.h: a shared object exporting the kernels and rptq_emu_launch.
#pragma once

#include <string>

#include "cpu/host_compiler.h"
#include "external_tool.h"

namespace rptq::test {

inline void build_emulation_module(const std::string& source, const std::string& so) {
  const codegen::TempDir dir("rptq-cuda-emulation");
  const std::string src = (dir.path() / "model_kernels.cu").string(), root = RPTQ_SOURCE_DIR;
  codegen::write_file(src, source);
  codegen::build_with_tool({codegen::default_host_compiler(), "-std=c++17", "-O1", "-fPIC", "-shared", "-w",
                            "-include", root + "/tests/cuda/host_emulation.h", "-I", root + "/codegen/cuda", "-I",
                            root + "/runtime", "-x", "c++", src, "-o", so, "-lpthread"},
                           so, dir.path() / "compiler.log", "emulated CUDA code", "set $RPTQ_HOST_CXX");
}

}  // namespace rptq::test

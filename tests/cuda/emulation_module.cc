// cuda_emulation_module BUNDLE OUT.so [--wgmma | --int4-mma]: the bundle's CUDA code, regenerated
// from its own metadata (the same rule the compiler used: engine/device_steps.h) and built for the
// CPU, for the fake driver (fake_driver.cc) to load in place of the bundle's fatbin. --wgmma: as
// rptq-compile --cuda-wgmma generated it (the bundle does not say; its sm_90a cubin does);
// --int4-mma: with the int4 tensor-core path that sm_87 code takes.
#include <cstdio>
#include <string>

#include "bundle/bundle_reader.h"
#include "cuda/cuda_source.h"
#include "emulation_build.h"
#include "engine/device_steps.h"
#include "engine/model_binding.h"

int main(int argc, char** argv) {
  const std::string option = argc == 4 ? argv[3] : "";
  const bool wgmma = option == "--wgmma", int4 = option == "--int4-mma";
  if (argc != 3 && !wgmma && !int4) {
    std::fprintf(stderr, "usage: cuda_emulation_module BUNDLE OUT.so [--wgmma | --int4-mma]\n");
    return 2;
  }
  try {
    const auto bundle = rptq::bundle::LoadedBundle::open(argv[1]);
    const rptq::engine::ModelBinding m = rptq::engine::bind_model(*bundle, false, false);
    const std::string source = rptq::codegen::cuda_kernel_source(rptq::engine::device_steps(m), wgmma);
    rptq::test::build_emulation_module((int4 ? "#define RPTQ_INT4_TENSOR_CORES 1\n" : "") + source, argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_emulation_module: %s\n", e.what());
    return 1;
  }
  return 0;
}

// cuda_emulation_module BUNDLE OUT.so [--wgmma]: the bundle's CUDA code, regenerated from its own
// metadata (the same rule the compiler used: engine/device_steps.h) and built for the CPU, for the
// fake driver (fake_driver.cc) to load in place of the bundle's fatbin. --wgmma: as rptq-compile
// --cuda-wgmma generated it (the bundle does not say; its sm_90a cubin does).
#include <cstdio>
#include <string>

#include "bundle/bundle_reader.h"
#include "cuda/cuda_source.h"
#include "emulation_build.h"
#include "engine/device_steps.h"
#include "engine/model_binding.h"

int main(int argc, char** argv) {
  const bool wgmma = argc == 4 && std::string(argv[3]) == "--wgmma";
  if (argc != 3 && !wgmma) {
    std::fprintf(stderr, "usage: cuda_emulation_module BUNDLE OUT.so [--wgmma]\n");
    return 2;
  }
  try {
    const auto bundle = rptq::bundle::LoadedBundle::open(argv[1]);
    const rptq::engine::ModelBinding m = rptq::engine::bind_model(*bundle, false, false);
    rptq::test::build_emulation_module(rptq::codegen::cuda_kernel_source(rptq::engine::device_steps(m), wgmma),
                                       argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_emulation_module: %s\n", e.what());
    return 1;
  }
  return 0;
}

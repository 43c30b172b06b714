// Builds a bundle's CUDA code (cuda_source.h) into a fatbin with nvcc. The headers it needs travel
// inside rptq-compile (cmake/EmbedFiles.cmake), so an installed compiler needs no source tree.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rptq::codegen {

// The fatbin of `source` for compute capability `sm` (90, 87): a cubin for sm_<sm> and, with
// `ptx`, PTX for compute_<sm> that newer GPUs' drivers compile at load. nvcc compresses the PTX
// but not the cubin, so the bundle's cubins can be checked without NVIDIA's tools
// (runtime/bundle/fatbin.h). Built in a private temporary directory; same source, flags and nvcc:
// same bytes. Throws rptq::Error quoting nvcc's messages when it fails or is missing.
// `arch_specific`: the cubin for sm_<sm>a (Hopper's wgmma; runs on that architecture only), the
// PTX still for compute_<sm> (forward-compatible; the source keeps mma.sync there).
// `notes`, when given, receives what nvcc printed on success: ptxas's notes such as "(C7517)
// warpgroup.wait is injected", which say that it changed a wgmma pipeline the code laid out.
std::vector<uint8_t> build_cuda_fatbin(const std::string& source, int sm, bool ptx, const std::string& nvcc,
                                       bool arch_specific = false, std::string* notes = nullptr);

// The nvcc to use when the caller names none: $RPTQ_NVCC, else nvcc from $CUDA_HOME or
// /usr/local/cuda when it exists there, else "nvcc" (from PATH).
std::string default_nvcc();

}  // namespace rptq::codegen

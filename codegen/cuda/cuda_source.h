// The translation unit of a bundle's CUDA code: per plan step a class of constants (shapes, bits,
// epilogue) with its per-channel quantizer tables, and the step's kernels instantiated from
// cuda_kernels.cuh under the names engine/device_steps.h gives them.
#pragma once

#include <string>
#include <vector>

#include "engine/device_steps.h"

namespace rptq::codegen {

// Deterministic: same steps, same text (floats as exact hexadecimal literals, tables shared by
// content in order of first use). `wgmma`: the tensor-core linear on Hopper's wgmma where the code
// is built for sm_90a (RPTQ_WGMMA; build_cuda_fatbin's arch_specific), mma.sync elsewhere.
std::string cuda_kernel_source(const std::vector<engine::DeviceStep>& steps, bool wgmma = false);

}  // namespace rptq::codegen

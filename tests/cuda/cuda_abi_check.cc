// The driver API types and constants the runtime declares itself (kernels/cuda/cuda_driver.h, so
// that it builds without the CUDA toolkit) against cuda.h, where the toolkit is installed: a
// mismatch fails the build of this file.
#include <cuda.h>

#include <cstdio>
#include <type_traits>

#include "kernels/cuda/cuda_driver.h"

namespace c = rptq::cuda;

static_assert(sizeof(c::CUdeviceptr) == sizeof(CUdeviceptr), "CUdeviceptr");
static_assert(sizeof(c::CUresult) == sizeof(CUresult), "CUresult");
static_assert(sizeof(c::CUdevice) == sizeof(CUdevice), "CUdevice");
static_assert(c::CUDA_SUCCESS == CUDA_SUCCESS, "CUDA_SUCCESS");
static_assert(c::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT == CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, "attribute");
static_assert(c::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
              "attribute");
static_assert(c::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
              "attribute");
static_assert(c::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN ==
                  CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
              "attribute");
static_assert(c::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
              "attribute");
static_assert(c::CU_STREAM_NON_BLOCKING == CU_STREAM_NON_BLOCKING, "stream flag");
static_assert(c::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL == CU_STREAM_CAPTURE_MODE_THREAD_LOCAL, "capture mode");

// cuda.h's CUresult is an enum of int's size, returned in the same register as our int; handles
// are opaque pointers and CUdeviceptr is the same 64-bit integer.
static_assert(std::is_enum_v<CUresult> && sizeof(CUresult) == sizeof(int), "CUresult");
static_assert(std::is_same_v<c::CUdeviceptr, CUdeviceptr>, "CUdeviceptr");
static_assert(std::is_pointer_v<CUmodule> && std::is_pointer_v<CUstream> && std::is_pointer_v<CUgraphExec>, "handles");

int main() {
  std::printf("driver API declarations match cuda.h (CUDA %d)\n", CUDA_VERSION);
  return 0;
}

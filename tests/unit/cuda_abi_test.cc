// The driver API types, constants and entry-point signatures the runtime declares itself
// (kernels/cuda/cuda_driver.h, which must build without the toolkit) against cuda.h: a mismatch
// fails this file's compilation. Built only where CMake finds the CUDA toolkit; nothing here calls
// the driver (decltype of cuda.h's functions is unevaluated: no libcuda at link or run time).
#include <cuda.h>

#include <catch2/catch.hpp>
#include <type_traits>

#include "kernels/cuda/cuda_driver.h"

namespace c = rptq::cuda;

static_assert(std::is_same_v<c::CUdeviceptr, CUdeviceptr>, "CUdeviceptr");
static_assert(std::is_same_v<c::CUdevice, CUdevice>, "CUdevice");
// cuda.h's CUresult is an enum of int's size, returned in the same register as our int.
static_assert(std::is_enum_v<CUresult> && sizeof(CUresult) == sizeof(c::CUresult), "CUresult");
static_assert(std::is_pointer_v<CUcontext> && std::is_pointer_v<CUmodule> && std::is_pointer_v<CUfunction> &&
                  std::is_pointer_v<CUstream> && std::is_pointer_v<CUevent> && std::is_pointer_v<CUgraph> &&
                  std::is_pointer_v<CUgraphExec>,
              "handles");
static_assert(c::CUDA_SUCCESS == CUDA_SUCCESS);
static_assert(c::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT == CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
static_assert(c::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
static_assert(c::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
static_assert(c::CU_EVENT_DISABLE_TIMING == CU_EVENT_DISABLE_TIMING);
static_assert(c::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN ==
              CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
static_assert(c::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES);
static_assert(c::CU_STREAM_NON_BLOCKING == CU_STREAM_NON_BLOCKING);
static_assert(c::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL == CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);

namespace {

// How an argument is passed: pointers, integers/enums and floats of a size. Our declarations use
// their own handle types and int for enums, so the types differ but this must not.
template <class T>
constexpr int passing() {
  return (std::is_pointer_v<T> ? 1000 : std::is_floating_point_v<T> ? 2000 : 3000) + static_cast<int>(sizeof(T));
}

template <class F, class G>
struct SameAbi : std::false_type {};
template <class R1, class... A1, class R2, class... A2>
struct SameAbi<R1 (*)(A1...), R2 (*)(A2...)> {
  static constexpr bool same_args() {
    if constexpr (sizeof...(A1) == sizeof...(A2)) return ((passing<A1>() == passing<A2>()) && ...);
    else return false;
  }
  static constexpr bool value = passing<R1>() == passing<R2>() && same_args();
};

// cuda.h's macros turn e.g. ::cuMemAlloc into ::cuMemAlloc_v2: the versions load_driver resolves.
#define RPTQ_SAME_ABI(fn) static_assert(SameAbi<decltype(c::Driver::fn), decltype(&::fn)>::value, #fn)
RPTQ_SAME_ABI(cuInit);
RPTQ_SAME_ABI(cuDriverGetVersion);
RPTQ_SAME_ABI(cuGetErrorName);
RPTQ_SAME_ABI(cuGetErrorString);
RPTQ_SAME_ABI(cuDeviceGetCount);
RPTQ_SAME_ABI(cuDeviceGet);
RPTQ_SAME_ABI(cuDeviceGetName);
RPTQ_SAME_ABI(cuDeviceGetAttribute);
RPTQ_SAME_ABI(cuDeviceTotalMem);
RPTQ_SAME_ABI(cuDevicePrimaryCtxRetain);
RPTQ_SAME_ABI(cuDevicePrimaryCtxRelease);
RPTQ_SAME_ABI(cuCtxSetCurrent);
RPTQ_SAME_ABI(cuCtxSynchronize);
RPTQ_SAME_ABI(cuModuleLoadData);
RPTQ_SAME_ABI(cuModuleUnload);
RPTQ_SAME_ABI(cuModuleGetFunction);
RPTQ_SAME_ABI(cuModuleGetGlobal);
RPTQ_SAME_ABI(cuFuncSetAttribute);
RPTQ_SAME_ABI(cuMemAlloc);
RPTQ_SAME_ABI(cuMemFree);
RPTQ_SAME_ABI(cuMemHostAlloc);
RPTQ_SAME_ABI(cuMemFreeHost);
RPTQ_SAME_ABI(cuMemcpyHtoD);
RPTQ_SAME_ABI(cuMemcpyDtoH);
RPTQ_SAME_ABI(cuMemcpyHtoDAsync);
RPTQ_SAME_ABI(cuMemcpyDtoHAsync);
RPTQ_SAME_ABI(cuMemsetD8);
RPTQ_SAME_ABI(cuStreamCreate);
RPTQ_SAME_ABI(cuStreamDestroy);
RPTQ_SAME_ABI(cuStreamSynchronize);
RPTQ_SAME_ABI(cuStreamWaitEvent);
RPTQ_SAME_ABI(cuStreamBeginCapture);
RPTQ_SAME_ABI(cuStreamEndCapture);
RPTQ_SAME_ABI(cuGraphInstantiateWithFlags);
RPTQ_SAME_ABI(cuGraphLaunch);
RPTQ_SAME_ABI(cuGraphExecDestroy);
RPTQ_SAME_ABI(cuGraphDestroy);
RPTQ_SAME_ABI(cuLaunchKernel);
RPTQ_SAME_ABI(cuEventCreate);
RPTQ_SAME_ABI(cuEventRecord);
RPTQ_SAME_ABI(cuEventSynchronize);
RPTQ_SAME_ABI(cuEventElapsedTime);
RPTQ_SAME_ABI(cuEventDestroy);
#undef RPTQ_SAME_ABI

}  // namespace

TEST_CASE("driver API declarations match cuda.h", "[cuda]") {
  INFO("checked at compile time against CUDA " << CUDA_VERSION);
  SUCCEED();
}

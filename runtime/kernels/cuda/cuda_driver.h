// The CUDA driver API, loaded at run time with dlopen("libcuda.so.1"): the runtime never links
// libcuda (a binary linked against it does not start where there is no driver) and never includes
// cuda.h (it builds where the toolkit is absent, the aarch64 cross build included). The types and
// constants below are the driver API's own ABI; tests/unit/cuda_abi_test.cc checks them against
// cuda.h where the toolkit is installed. Entry points are resolved by the versioned names cuda.h
// maps them to (cuMemAlloc -> cuMemAlloc_v2, ...), the names a program built against cuda.h calls.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace rptq::cuda {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st*;
using CUmodule = struct CUmod_st*;
using CUfunction = struct CUfunc_st*;
using CUstream = struct CUstream_st*;
using CUevent = struct CUevent_st*;
using CUgraph = struct CUgraph_st*;
using CUgraphExec = struct CUgraphExec_st*;

constexpr CUresult CUDA_SUCCESS = 0;
constexpr int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
constexpr int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;
constexpr int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
constexpr unsigned CU_STREAM_NON_BLOCKING = 1;
constexpr unsigned CU_EVENT_DISABLE_TIMING = 2;
constexpr int CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1;

struct Driver {
  int version = 0;  // cuDriverGetVersion: 13000 for CUDA 13.0
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDriverGetVersion)(int*);
  CUresult (*cuGetErrorName)(CUresult, const char**);
  CUresult (*cuGetErrorString)(CUresult, const char**);
  CUresult (*cuDeviceGetCount)(int*);
  CUresult (*cuDeviceGet)(CUdevice*, int);
  CUresult (*cuDeviceGetName)(char*, int, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int*, int, CUdevice);
  CUresult (*cuDeviceTotalMem)(size_t*, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext*, CUdevice);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuCtxSynchronize)();
  CUresult (*cuModuleLoadData)(CUmodule*, const void*);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction*, CUmodule, const char*);
  CUresult (*cuModuleGetGlobal)(CUdeviceptr*, size_t*, CUmodule, const char*);
  CUresult (*cuFuncSetAttribute)(CUfunction, int, int);
  CUresult (*cuMemAlloc)(CUdeviceptr*, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemHostAlloc)(void**, size_t, unsigned);
  CUresult (*cuMemFreeHost)(void*);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void*, size_t);
  CUresult (*cuMemcpyDtoH)(void*, CUdeviceptr, size_t);
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr, const void*, size_t, CUstream);
  CUresult (*cuMemcpyDtoHAsync)(void*, CUdeviceptr, size_t, CUstream);
  CUresult (*cuMemsetD8)(CUdeviceptr, unsigned char, size_t);
  // May be null: every driver has it, the tests' stand-in driver (tests/cuda/fake_driver.cc) not.
  CUresult (*cuStreamCreate)(CUstream*, unsigned);
  CUresult (*cuStreamDestroy)(CUstream);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuStreamWaitEvent)(CUstream, CUevent, unsigned);
  CUresult (*cuStreamBeginCapture)(CUstream, int);
  CUresult (*cuStreamEndCapture)(CUstream, CUgraph*);
  CUresult (*cuGraphInstantiateWithFlags)(CUgraphExec*, CUgraph, unsigned long long);
  CUresult (*cuGraphLaunch)(CUgraphExec, CUstream);
  CUresult (*cuGraphExecDestroy)(CUgraphExec);
  CUresult (*cuGraphDestroy)(CUgraph);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                             CUstream, void**, void**);
  CUresult (*cuEventCreate)(CUevent*, unsigned);
  CUresult (*cuEventRecord)(CUevent, CUstream);
  CUresult (*cuEventSynchronize)(CUevent);
  CUresult (*cuEventElapsedTime)(float*, CUevent, CUevent);  // _v2 (CUDA 12.8+), else the 2.0 entry
  CUresult (*cuEventDestroy)(CUevent);
};

// The process's driver, loaded and initialized once (thread-safe); null, with `why` a sentence
// for a person ("no CUDA driver: libcuda.so.1: cannot open shared object file ..."), when there is
// none, it lacks an entry point, or cuInit fails (e.g. no device). Never aborts.
// RPTQ_CUDA_DRIVER=<path> loads another library instead (tests).
const Driver* load_driver(std::string* why);

// "CUDA_ERROR_OUT_OF_MEMORY (out of memory)".
std::string error_text(const Driver& d, CUresult r);

// Throws rptq::Error at "cuda" naming `what` and the error, unless r is CUDA_SUCCESS.
void check(const Driver& d, CUresult r, const char* what);

struct DeviceInfo {
  int ordinal = 0;
  int sm = 0;  // major * 10 + minor: 90 (H100, H200), 87 (Orin)
  int sm_count = 0;
  size_t total_memory = 0;
  size_t shared_memory_optin = 0;  // per block
  std::string name;
};

std::vector<DeviceInfo> list_devices(const Driver& d);

// The driver and its first device (for tests and benches), or null with the reason in *why.
const Driver* first_device(DeviceInfo* info, std::string* why);

}  // namespace rptq::cuda

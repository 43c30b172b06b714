// A stand-in for libcuda.so.1 that runs a bundle's CUDA steps on the CPU, so that the runtime's
// CUDA backend (engine/cuda_backend.cc: device selection, module checks, the device memory plan,
// argument assembly, streams, the captured decode graph) is tested end to end without a GPU:
//   RPTQ_CUDA_DRIVER=librptq_fake_cuda.so RPTQ_FAKE_CUDA_MODULE=model-emulated.so rptq-perplexity ...
// cuModuleLoadData ignores the fatbin it is given and loads RPTQ_FAKE_CUDA_MODULE instead: the
// bundle's generated source built for the CPU with host_emulation.h (cuda_emulation_module). Device
// memory is host memory; work runs synchronously in issue order; a stream capture records the
// work it sees and a graph launch replays it. It reports one device, "emulated sm_90".
#include <dlfcn.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "kernels/cuda/abi.h"

namespace {

using Op = std::function<void()>;
using Graph = std::vector<Op>;

int g_capture_depth = 0;  // one capturing stream at a time is all the backend uses
Graph* g_capture = nullptr;

// Runs op now, or records it while a stream is being captured.
int issue(Op op) {
  if (g_capture)
    g_capture->push_back(std::move(op));
  else
    op();
  return 0;
}

using LaunchFn = void (*)(void (*)(rptq_cuda_args), unsigned, unsigned, unsigned, unsigned, unsigned,
                          const rptq_cuda_args*);
LaunchFn g_launch = nullptr;

const char* kNoModule = "RPTQ_FAKE_CUDA_MODULE is not set or does not load";

}  // namespace

#define API extern "C" __attribute__((visibility("default"))) int

API cuInit(unsigned) { return 0; }
API cuDriverGetVersion(int* v) { return *v = 13000, 0; }
API cuGetErrorName(int r, const char** s) { return *s = r ? "CUDA_ERROR_FAKE" : "CUDA_SUCCESS", 0; }
API cuGetErrorString(int r, const char** s) { return *s = r ? kNoModule : "no error", 0; }
API cuDeviceGetCount(int* n) { return *n = 1, 0; }
API cuDeviceGet(int* d, int i) { return *d = i, 0; }
API cuDeviceGetName(char* name, int len, int) {
  std::strncpy(name, "emulated sm_90", static_cast<size_t>(len));
  return 0;
}
API cuDeviceGetAttribute(int* v, int attribute, int) {
  *v = attribute == 75 ? 9 : attribute == 76 ? 0 : attribute == 16 ? 1 : attribute == 97 ? 232448 : 0;
  return 0;
}
API cuDeviceTotalMem_v2(size_t* bytes, int) { return *bytes = size_t(1) << 34, 0; }
API cuDevicePrimaryCtxRetain(void** ctx, int) { return *ctx = &g_capture_depth, 0; }
API cuDevicePrimaryCtxRelease_v2(int) { return 0; }
API cuCtxSetCurrent(void*) { return 0; }
API cuCtxSynchronize() { return 0; }
API cuModuleLoadData(void** module, const void*) {
  const char* path = std::getenv("RPTQ_FAKE_CUDA_MODULE");
  void* lib = path ? ::dlopen(path, RTLD_NOW | RTLD_LOCAL) : nullptr;
  if (!lib) return 1;
  g_launch = reinterpret_cast<LaunchFn>(::dlsym(lib, "rptq_emu_launch"));
  *module = lib;
  return g_launch ? 0 : 1;
}
API cuModuleUnload(void*) { return 0; }  // kept loaded: its threads' thread_locals
API cuModuleGetFunction(void** f, void* module, const char* name) {
  *f = ::dlsym(module, name);
  return *f ? 0 : 1;
}
API cuModuleGetGlobal_v2(unsigned long long* p, size_t* bytes, void* module, const char* name) {
  void* sym = ::dlsym(module, name);
  if (!sym) return 1;
  *p = reinterpret_cast<uintptr_t>(sym);
  *bytes = std::strcmp(name, "rptq_cuda_abi_version") == 0 ? 4 : 8;  // the only globals the runtime reads
  return 0;
}
API cuFuncSetAttribute(void*, int, int) { return 0; }
API cuMemAlloc_v2(unsigned long long* p, size_t bytes) {
  *p = reinterpret_cast<uintptr_t>(std::aligned_alloc(256, (bytes + 255) / 256 * 256));
  return *p ? 0 : 2;
}
API cuMemFree_v2(unsigned long long p) { return std::free(reinterpret_cast<void*>(p)), 0; }
API cuMemHostAlloc(void** p, size_t bytes, unsigned) { return (*p = std::malloc(bytes)) ? 0 : 2; }
API cuMemFreeHost(void* p) { return std::free(p), 0; }
API cuMemcpyHtoD_v2(unsigned long long dst, const void* src, size_t n) {
  return std::memcpy(reinterpret_cast<void*>(dst), src, n), 0;
}
API cuMemcpyDtoH_v2(void* dst, unsigned long long src, size_t n) {
  return std::memcpy(dst, reinterpret_cast<const void*>(src), n), 0;
}
API cuMemcpyHtoDAsync_v2(unsigned long long dst, const void* src, size_t n, void*) {
  return issue([=] { std::memcpy(reinterpret_cast<void*>(dst), src, n); });
}
API cuMemcpyDtoHAsync_v2(void* dst, unsigned long long src, size_t n, void*) {
  return issue([=] { std::memcpy(dst, reinterpret_cast<const void*>(src), n); });
}
API cuMemsetD8_v2(unsigned long long dst, unsigned char v, size_t n) {
  return std::memset(reinterpret_cast<void*>(dst), v, n), 0;
}
API cuStreamCreate(void** s, unsigned) { return *s = &g_capture, 0; }
API cuStreamDestroy_v2(void*) { return 0; }
API cuStreamSynchronize(void*) { return 0; }
API cuStreamBeginCapture_v2(void*, int) {
  g_capture = new Graph;
  return 0;
}
API cuStreamEndCapture(void*, void** graph) {
  *graph = g_capture;
  g_capture = nullptr;
  return *graph ? 0 : 1;
}
API cuGraphInstantiateWithFlags(void** exec, void* graph, unsigned long long) {
  *exec = new Graph(*static_cast<Graph*>(graph));
  return 0;
}
API cuGraphLaunch(void* exec, void*) {
  for (const Op& op : *static_cast<Graph*>(exec)) op();
  return 0;
}
API cuGraphExecDestroy(void* exec) { return delete static_cast<Graph*>(exec), 0; }
API cuGraphDestroy(void* graph) { return delete static_cast<Graph*>(graph), 0; }
API cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned, unsigned, unsigned shared,
                   void*, void** params, void**) {
  const rptq_cuda_args args = *static_cast<const rptq_cuda_args*>(params[0]);  // copied, as the driver does
  auto kernel = reinterpret_cast<void (*)(rptq_cuda_args)>(f);
  return issue([=] { g_launch(kernel, gx, gy, gz, bx, shared, &args); });
}
API cuEventCreate(void** e, unsigned) { return *e = &g_capture_depth, 0; }
API cuEventRecord(void*, void*) { return 0; }
API cuEventSynchronize(void*) { return 0; }
API cuEventElapsedTime(float* ms, void*, void*) { return *ms = 0, 0; }
API cuEventDestroy_v2(void*) { return 0; }

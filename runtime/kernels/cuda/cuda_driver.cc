#include "kernels/cuda/cuda_driver.h"

#include <dlfcn.h>

#include <cstdlib>
#include <initializer_list>
#include <mutex>

#include "rptq/error.h"

namespace rptq::cuda {
namespace {

struct Loaded {
  Driver driver;
  bool ok = false;
  std::string why;
};

template <class F>
bool resolve(void* lib, const char* name, F* fn, std::string* why) {
  void* p = ::dlsym(lib, name);
  if (!p) {
    *why = std::string("the CUDA driver lacks the entry point ") + name + " (driver too old?)";
    return false;
  }
  *fn = reinterpret_cast<F>(p);
  return true;
}

// The first of `names` the driver has (newest version first).
template <class F>
bool resolve_any(void* lib, std::initializer_list<const char*> names, F* fn, std::string* why) {
  for (const char* name : names) {
    if (void* p = ::dlsym(lib, name)) {
      *fn = reinterpret_cast<F>(p);
      return true;
    }
  }
  return resolve(lib, *names.begin(), fn, why);
}

Loaded load() {
  Loaded l;
  const char* env = std::getenv("RPTQ_CUDA_DRIVER");
  const std::string path = env && *env ? env : "libcuda.so.1";
  // RTLD_LOCAL: the driver's symbols stay out of the application's namespace. Never closed: the
  // driver does not support being unloaded while contexts may exist.
  void* lib = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* e = ::dlerror();
    l.why = "no CUDA driver: " + std::string(e ? e : path + ": cannot be loaded");
    return l;
  }
  Driver& d = l.driver;
  std::string& why = l.why;
  const bool all =
      resolve(lib, "cuInit", &d.cuInit, &why) && resolve(lib, "cuDriverGetVersion", &d.cuDriverGetVersion, &why) &&
      resolve(lib, "cuGetErrorName", &d.cuGetErrorName, &why) &&
      resolve(lib, "cuGetErrorString", &d.cuGetErrorString, &why) &&
      resolve(lib, "cuDeviceGetCount", &d.cuDeviceGetCount, &why) &&
      resolve(lib, "cuDeviceGet", &d.cuDeviceGet, &why) && resolve(lib, "cuDeviceGetName", &d.cuDeviceGetName, &why) &&
      resolve(lib, "cuDeviceGetAttribute", &d.cuDeviceGetAttribute, &why) &&
      resolve(lib, "cuDeviceTotalMem_v2", &d.cuDeviceTotalMem, &why) &&
      resolve(lib, "cuDevicePrimaryCtxRetain", &d.cuDevicePrimaryCtxRetain, &why) &&
      resolve(lib, "cuDevicePrimaryCtxRelease_v2", &d.cuDevicePrimaryCtxRelease, &why) &&
      resolve(lib, "cuCtxSetCurrent", &d.cuCtxSetCurrent, &why) &&
      resolve(lib, "cuCtxSynchronize", &d.cuCtxSynchronize, &why) &&
      resolve(lib, "cuModuleLoadData", &d.cuModuleLoadData, &why) &&
      resolve(lib, "cuModuleUnload", &d.cuModuleUnload, &why) &&
      resolve(lib, "cuModuleGetFunction", &d.cuModuleGetFunction, &why) &&
      resolve(lib, "cuModuleGetGlobal_v2", &d.cuModuleGetGlobal, &why) &&
      resolve(lib, "cuFuncSetAttribute", &d.cuFuncSetAttribute, &why) &&
      resolve(lib, "cuMemAlloc_v2", &d.cuMemAlloc, &why) && resolve(lib, "cuMemFree_v2", &d.cuMemFree, &why) &&
      resolve(lib, "cuMemHostAlloc", &d.cuMemHostAlloc, &why) &&
      resolve(lib, "cuMemFreeHost", &d.cuMemFreeHost, &why) &&
      resolve(lib, "cuMemcpyHtoD_v2", &d.cuMemcpyHtoD, &why) &&
      resolve(lib, "cuMemcpyDtoH_v2", &d.cuMemcpyDtoH, &why) &&
      resolve(lib, "cuMemcpyHtoDAsync_v2", &d.cuMemcpyHtoDAsync, &why) &&
      resolve(lib, "cuMemcpyDtoHAsync_v2", &d.cuMemcpyDtoHAsync, &why) &&
      resolve(lib, "cuMemsetD8_v2", &d.cuMemsetD8, &why) && resolve(lib, "cuStreamCreate", &d.cuStreamCreate, &why) &&
      resolve(lib, "cuStreamDestroy_v2", &d.cuStreamDestroy, &why) &&
      resolve(lib, "cuStreamSynchronize", &d.cuStreamSynchronize, &why) &&
      resolve(lib, "cuStreamWaitEvent", &d.cuStreamWaitEvent, &why) &&
      resolve(lib, "cuStreamBeginCapture_v2", &d.cuStreamBeginCapture, &why) &&
      resolve(lib, "cuStreamEndCapture", &d.cuStreamEndCapture, &why) &&
      resolve(lib, "cuGraphInstantiateWithFlags", &d.cuGraphInstantiateWithFlags, &why) &&
      resolve(lib, "cuGraphLaunch", &d.cuGraphLaunch, &why) &&
      resolve(lib, "cuGraphExecDestroy", &d.cuGraphExecDestroy, &why) &&
      resolve(lib, "cuGraphDestroy", &d.cuGraphDestroy, &why) &&
      resolve(lib, "cuLaunchKernel", &d.cuLaunchKernel, &why) &&
      resolve(lib, "cuEventCreate", &d.cuEventCreate, &why) && resolve(lib, "cuEventRecord", &d.cuEventRecord, &why) &&
      resolve(lib, "cuEventSynchronize", &d.cuEventSynchronize, &why) &&
      // cuda.h 13 maps cuEventElapsedTime to _v2 (same signature), which drivers before 12.8
      // (JetPack 6 on Orin) lack.
      resolve_any(lib, {"cuEventElapsedTime_v2", "cuEventElapsedTime"}, &d.cuEventElapsedTime, &why) &&
      resolve(lib, "cuEventDestroy_v2", &d.cuEventDestroy, &why);
  if (!all) return l;
  if (const CUresult r = d.cuInit(0); r != CUDA_SUCCESS) {
    l.why = "cuInit failed: " + error_text(d, r);
    return l;
  }
  d.cuDriverGetVersion(&d.version);
  l.ok = true;
  return l;
}

}  // namespace

const Driver* load_driver(std::string* why) {
  static const Loaded loaded = load();  // thread-safe initialization, once per process
  if (!loaded.ok) {
    if (why) *why = loaded.why;
    return nullptr;
  }
  return &loaded.driver;
}

std::string error_text(const Driver& d, CUresult r) {
  const char* name = nullptr;
  const char* text = nullptr;
  d.cuGetErrorName(r, &name);
  d.cuGetErrorString(r, &text);
  return std::string(name ? name : "CUDA error " + std::to_string(r)) + " (" + (text ? text : "no description") + ")";
}

void check(const Driver& d, CUresult r, const char* what) {
  if (r != CUDA_SUCCESS) fail("cuda", std::string(what) + ": " + error_text(d, r));
}

std::vector<DeviceInfo> list_devices(const Driver& d) {
  std::vector<DeviceInfo> out;
  int count = 0;
  if (d.cuDeviceGetCount(&count) != CUDA_SUCCESS) return out;
  for (int i = 0; i < count; ++i) {
    CUdevice dev = 0;
    if (d.cuDeviceGet(&dev, i) != CUDA_SUCCESS) continue;
    DeviceInfo info;
    info.ordinal = dev;
    int major = 0, minor = 0, smem = 0;
    d.cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
    d.cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
    d.cuDeviceGetAttribute(&info.sm_count, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev);
    d.cuDeviceGetAttribute(&smem, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, dev);
    info.sm = major * 10 + minor;
    info.shared_memory_optin = static_cast<size_t>(smem);
    d.cuDeviceTotalMem(&info.total_memory, dev);
    char name[256] = {};
    d.cuDeviceGetName(name, sizeof name - 1, dev);
    info.name = name;
    out.push_back(info);
  }
  return out;
}

const Driver* first_device(DeviceInfo* info, std::string* why) {
  const Driver* d = load_driver(why);
  if (!d) return nullptr;
  const std::vector<DeviceInfo> devices = list_devices(*d);
  if (devices.empty()) {
    *why = "no CUDA device";
    return nullptr;
  }
  *info = devices[0];
  return d;
}

}  // namespace rptq::cuda

// A stand-in for libcuda.so.1 that runs a bundle's CUDA steps on the CPU, so that the runtime's
// CUDA backend (engine/cuda_backend.cc: device selection, module checks, the device memory plan,
// argument assembly, streams and events, the captured decode graph) is tested end to end without
// a GPU:
//   RPTQ_CUDA_DRIVER=librptq_fake_cuda.so RPTQ_FAKE_CUDA_MODULE=model-emulated.so rptq-perplexity ...
// cuModuleLoadData ignores the fatbin it is given and loads RPTQ_FAKE_CUDA_MODULE instead: the
// bundle's generated source built for the CPU with host_emulation.h (cuda_emulation_module). Device
// memory is host memory. It reports one device, "emulated sm_90".
//
// Work is ordered as the driver orders it, and no more: each operation runs after the previous one
// on its stream and after the work recorded in the events its stream waited for; nothing runs
// until something synchronizes, and then the latest-issued operation that is free to run goes
// first. So a missing wait between streams makes the later step run before the one it needed, and
// the numbers come out wrong. Stream capture follows the driver too: a stream joins a capture by
// waiting for an event recorded in it, and ending a capture that has not joined every such stream
// back into its origin (CUDA_ERROR_STREAM_CAPTURE_UNJOINED from the driver) aborts the test; a graph
// launch runs the graph's operations in the same adversarial order.
#include <dlfcn.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "kernels/cuda/abi.h"

namespace {

using Op = std::function<void()>;

// Operations and what each must wait for (indices of earlier operations of the same list).
struct Dag {
  struct Node {
    Op op;
    std::vector<int> after;
  };
  std::vector<Node> nodes;

  int add(Op op, std::vector<int> after) {
    nodes.push_back({std::move(op), std::move(after)});
    return static_cast<int>(nodes.size()) - 1;
  }
  // Every node, each after those it waits for, the latest-added free node first.
  void run() const {
    std::vector<bool> done(nodes.size(), false);
    for (size_t left = nodes.size(); left > 0; --left)
      for (size_t i = nodes.size(); i-- > 0;) {
        if (done[i]) continue;
        bool free = true;
        for (int a : nodes[i].after) free = free && done[static_cast<size_t>(a)];
        if (!free) continue;
        if (nodes[i].op) nodes[i].op();
        done[i] = true;
        break;
      }
  }
  // Whether node `last` comes after every node (transitively).
  bool reaches_all(int last) const {
    std::vector<bool> seen(nodes.size(), false);
    std::vector<int> todo;
    if (last >= 0) todo.push_back(last);
    while (!todo.empty()) {
      const int i = todo.back();
      todo.pop_back();
      if (seen[static_cast<size_t>(i)]) continue;
      seen[static_cast<size_t>(i)] = true;
      for (int a : nodes[static_cast<size_t>(i)].after) todo.push_back(a);
    }
    for (bool s : seen)
      if (!s) return false;
    return true;
  }
};

// Where an operation lies: in the pending work of one generation (each synchronize runs that work
// and starts the next generation, after which waiting for it waits for nothing), or in a capture
// (each capture its own generation).
struct Ref {
  const void* dag = nullptr;
  uint64_t generation = 0;
  int node = -1;
};

Dag g_pending;  // issued work that has not run yet
Dag* g_capture = nullptr;  // the graph being captured
uint64_t g_pending_generation = 1, g_capture_generation = 1;

struct Stream {
  bool capturing = false;
  Ref last;                // its last operation
  Ref before_capture;      // `last` when it joined the capture it is in
  std::vector<Ref> waits;  // what its next operation waits for besides `last`
};
struct Event {
  Ref done;  // the operation that completes it
};
std::vector<Stream*> g_streams;  // every stream created (stream 0 apart)
Stream g_null_stream;            // stream 0 (the backend's setup launches)
int g_context = 0;               // its address is the one context

Stream& stream(void* s) { return s ? *static_cast<Stream*>(s) : g_null_stream; }

Dag& dag_of(const Stream& s) { return s.capturing ? *g_capture : g_pending; }
uint64_t generation(const Dag& dag) { return &dag == &g_pending ? g_pending_generation : g_capture_generation; }
Ref here(const Stream& s, int node) { return {&dag_of(s), generation(dag_of(s)), node}; }
// The node r refers to in dag, or -1 where the work has run (or lies elsewhere).
int node_in(const Ref& r, const Dag& dag) {
  return r.dag == &dag && r.generation == generation(dag) ? r.node : -1;
}

// The driver returns an error here (the backend would then run without its graph, unnoticed by
// tests that compare numbers): stop the test instead.
[[noreturn]] void backend_bug(const char* what) {
  std::fprintf(stderr, "fake CUDA driver: %s\n", what);
  std::abort();
}

int issue(void* s, Op op) {
  Stream& st = stream(s);
  Dag& dag = dag_of(st);
  std::vector<int> after;
  for (const Ref& r : st.waits)
    if (const int n = node_in(r, dag); n >= 0) after.push_back(n);
  if (const int n = node_in(st.last, dag); n >= 0) after.push_back(n);
  st.waits.clear();
  st.last = here(st, dag.add(std::move(op), std::move(after)));
  return 0;
}

// A node that completes when the stream's work so far does (what an event records).
Ref mark(Stream& st) {
  issue(&st == &g_null_stream ? nullptr : &st, nullptr);
  return st.last;
}

void synchronize() {
  const Dag work = std::move(g_pending);
  g_pending = {};
  ++g_pending_generation;
  work.run();
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
API cuDevicePrimaryCtxRetain(void** ctx, int) { return *ctx = &g_context, 0; }
API cuDevicePrimaryCtxRelease_v2(int) { return 0; }
API cuCtxSetCurrent(void*) { return 0; }
API cuCtxSynchronize() { return synchronize(), 0; }
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
  synchronize();
  return std::memcpy(reinterpret_cast<void*>(dst), src, n), 0;
}
API cuMemcpyDtoH_v2(void* dst, unsigned long long src, size_t n) {
  synchronize();
  return std::memcpy(dst, reinterpret_cast<const void*>(src), n), 0;
}
API cuMemcpyHtoDAsync_v2(unsigned long long dst, const void* src, size_t n, void* s) {
  return issue(s, [=] { std::memcpy(reinterpret_cast<void*>(dst), src, n); });
}
API cuMemcpyDtoHAsync_v2(void* dst, unsigned long long src, size_t n, void* s) {
  return issue(s, [=] { std::memcpy(dst, reinterpret_cast<const void*>(src), n); });
}
API cuMemsetD8_v2(unsigned long long dst, unsigned char v, size_t n) {
  synchronize();
  return std::memset(reinterpret_cast<void*>(dst), v, n), 0;
}
API cuStreamCreate(void** s, unsigned) {
  g_streams.push_back(new Stream);
  return *s = g_streams.back(), 0;
}
API cuStreamDestroy_v2(void* s) {
  g_streams.erase(std::find(g_streams.begin(), g_streams.end(), s));
  return delete static_cast<Stream*>(s), 0;
}
API cuStreamSynchronize(void*) { return synchronize(), 0; }  // all streams: more than asked, never less
API cuStreamWaitEvent(void* s, void* e, unsigned) {
  Stream& st = stream(s);
  const Ref& done = static_cast<Event*>(e)->done;
  const bool captured = g_capture && node_in(done, *g_capture) >= 0;
  if (captured && !st.capturing) {  // the stream joins the capture
    st.capturing = true;
    st.before_capture = st.last;
    st.last = {};
  } else if (st.capturing && !captured && done.node >= 0) {
    backend_bug("a stream in a capture waits for an event recorded outside it");
  }
  st.waits.push_back(done);
  return 0;
}
API cuStreamBeginCapture_v2(void* s, int) {
  Stream& st = stream(s);
  if (g_capture || !s) return 900;
  g_capture = new Dag;
  ++g_capture_generation;
  st.capturing = true;
  st.before_capture = st.last;
  st.last = {};
  return 0;
}
API cuStreamEndCapture(void* s, void** graph) {
  Stream& st = stream(s);
  if (!g_capture || !st.capturing) return 901;  // CUDA_ERROR_STREAM_CAPTURE_INVALIDATED
  Dag* dag = g_capture;
  const int end = node_in(mark(st), *dag);  // the origin's last point
  g_capture = nullptr;
  for (Stream* other : g_streams)
    if (other->capturing) {  // leaves the capture
      other->capturing = false;
      other->last = other->before_capture;
      other->waits.clear();
    }
  if (!dag->reaches_all(end)) backend_bug("a capture ends with a stream not joined back into its origin");
  *graph = dag;
  return 0;
}
API cuGraphInstantiateWithFlags(void** exec, void* graph, unsigned long long) {
  *exec = new Dag(*static_cast<Dag*>(graph));
  return 0;
}
API cuGraphLaunch(void* exec, void* s) {
  const Dag* graph = static_cast<Dag*>(exec);
  return issue(s, [graph] { graph->run(); });
}
API cuGraphExecDestroy(void* exec) { return delete static_cast<Dag*>(exec), 0; }
API cuGraphDestroy(void* graph) { return delete static_cast<Dag*>(graph), 0; }
API cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned, unsigned, unsigned shared,
                   void* s, void** params, void**) {
  const rptq_cuda_args args = *static_cast<const rptq_cuda_args*>(params[0]);  // copied, as the driver does
  auto kernel = reinterpret_cast<void (*)(rptq_cuda_args)>(f);
  return issue(s, [=] { g_launch(kernel, gx, gy, gz, bx, shared, &args); });
}
API cuEventCreate(void** e, unsigned) { return *e = new Event, 0; }
API cuEventRecord(void* e, void* s) {
  static_cast<Event*>(e)->done = mark(stream(s));
  return 0;
}
API cuEventSynchronize(void*) { return synchronize(), 0; }
API cuEventElapsedTime(float* ms, void*, void*) { return *ms = 0, 0; }
API cuEventDestroy_v2(void* e) { return delete static_cast<Event*>(e), 0; }

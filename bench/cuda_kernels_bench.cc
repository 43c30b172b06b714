// GPU speed of the generated linear kernels on OPT shapes (the GEMM table of the CUDA issue):
//   rptq-bench-cuda-kernels [--shapes 125m,1.3b,6.7b] [--rows 1,8,512,2048] [--out FILE.json]
// For each shape's four linear layers (q/k/v/out_proj share one shape), W4A8 and W4A4 (RPTQ-style
// activation clusters of random sizes, one weight scale per row or --group), one module is
// generated and built with nvcc for this GPU, and each kernel the launch rule picks for a call of
// `rows` rows is timed with CUDA events: the tensor-core kernel from 16 rows on, the SIMT kernel
// below, decode's kernel for one row. Reports TOPS (2·rows·in·out per second) and the weight
// stream (code, scale and zero bytes per second); calls rotate over enough copies of the weights
// (>= 256 MiB) that each streams them from HBM, not from L2. Calls are plain back-to-back launches
// (the runtime replays decode as a graph): a kernel shorter than the host's launch rate, a few
// microseconds, reads as launch-bound here. bench/cuda_bench.py runs this next to
// cuBLASLt's int8 GEMM on the same shapes. The tensor-core kernel is also timed with the cluster
// boundaries rounded to multiples of 32 ("aligned"): the price of splitting k32 steps at
// unaligned boundaries, which decides whether the compiler should align clusters. Needs nvcc and
// a GPU: exits 77 (skip) without.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cuda/cuda_source.h"
#include "cuda/nvcc.h"
#include "engine/device_steps.h"
#include "kernels/cuda/abi.h"
#include "kernels/cuda/cuda_driver.h"
#include "random_clusters.h"
#include "rptq/error.h"

namespace cuda = rptq::cuda;
using rptq::engine::DeviceLaunch;
using rptq::engine::DeviceOp;
using rptq::engine::DeviceStep;

namespace {

constexpr int kSkip = 77;
constexpr uint64_t kStreamBytes = uint64_t{256} << 20;

struct Layer {
  std::string shape, name;
  int64_t out, in;
};

std::vector<Layer> layers_of(const std::string& shape) {
  // facebook/opt-* hidden sizes and FFN widths.
  const std::map<std::string, std::pair<int64_t, int64_t>> dims = {
      {"125m", {768, 3072}}, {"1.3b", {2048, 8192}}, {"2.7b", {2560, 10240}}, {"6.7b", {4096, 16384}},
      {"13b", {5120, 20480}}};
  std::pair<int64_t, int64_t> hf;
  if (const auto it = dims.find(shape); it != dims.end()) {
    hf = it->second;
  } else if (const size_t colon = shape.find(':'); colon != std::string::npos) {
    hf = {std::stoll(shape.substr(0, colon)), std::stoll(shape.substr(colon + 1))};  // hidden:ffn
  } else {
    rptq::fail("--shapes", "unknown shape " + shape + " (125m, 1.3b, 2.7b, 6.7b, 13b or hidden:ffn)");
  }
  const auto [h, f] = hf;
  return {{shape, "qkv/out_proj", h, h}, {shape, "fc1", f, h}, {shape, "fc2", h, f}};
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

class Gpu {
 public:
  Gpu(const cuda::Driver& d, const cuda::DeviceInfo& info) : d_(d) {
    cuda::check(d, d.cuDevicePrimaryCtxRetain(&ctx_, info.ordinal), "cuDevicePrimaryCtxRetain");
    cuda::check(d, d.cuCtxSetCurrent(ctx_), "cuCtxSetCurrent");
  }
  ~Gpu() {
    for (cuda::CUdeviceptr p : owned_) d_.cuMemFree(p);
  }
  template <class T>
  T* upload(const std::vector<T>& v) {
    cuda::CUdeviceptr p = 0;
    cuda::check(d_, d_.cuMemAlloc(&p, v.size() * sizeof(T)), "cuMemAlloc");
    owned_.push_back(p);
    cuda::check(d_, d_.cuMemcpyHtoD(p, v.data(), v.size() * sizeof(T)), "upload");
    return reinterpret_cast<T*>(static_cast<uintptr_t>(p));
  }
  cuda::CUfunction function(cuda::CUmodule module, const std::string& name) {
    cuda::CUfunction f = nullptr;
    cuda::check(d_, d_.cuModuleGetFunction(&f, module, name.c_str()), name.c_str());
    return f;
  }
  void launch(cuda::CUfunction f, const DeviceLaunch& l, rptq_cuda_args* a) {
    void* params[] = {a};
    cuda::check(d_, d_.cuLaunchKernel(f, l.grid[0], l.grid[1], l.grid[2], l.block, 1, 1, l.shared_bytes, nullptr,
                                      params, nullptr),
                l.kernel.c_str());
  }
  // Seconds per call of `body(i)` (which launches the i-th call), from events around `reps` calls.
  template <class F>
  double time(int reps, F body) {
    cuda::CUevent start = nullptr, stop = nullptr;
    cuda::check(d_, d_.cuEventCreate(&start, 0), "cuEventCreate");
    cuda::check(d_, d_.cuEventCreate(&stop, 0), "cuEventCreate");
    cuda::check(d_, d_.cuEventRecord(start, nullptr), "cuEventRecord");
    for (int i = 0; i < reps; ++i) body(i);
    cuda::check(d_, d_.cuEventRecord(stop, nullptr), "cuEventRecord");
    cuda::check(d_, d_.cuEventSynchronize(stop), "running the kernels");
    float ms = 0;
    cuda::check(d_, d_.cuEventElapsedTime(&ms, start, stop), "cuEventElapsedTime");
    d_.cuEventDestroy(start);
    d_.cuEventDestroy(stop);
    return ms / 1e3 / reps;
  }

 private:
  const cuda::Driver& d_;
  cuda::CUcontext ctx_ = nullptr;
  std::vector<cuda::CUdeviceptr> owned_;
};

struct Case {
  Layer layer;
  int abits;
  int64_t group;
  rptq::bench::Clusters clusters;
  bool aligned;  // cluster boundaries moved to multiples of 32 (no k32 step spans two clusters)
  DeviceStep step;
};

// The clusters with each boundary rounded up to a multiple of 32 (merging clusters that meet):
// what the compiler could enforce so that the tensor-core kernel never splits a k32 step.
rptq::bench::Clusters aligned_to_32(rptq::bench::Clusters c) {
  rptq::bench::Clusters out;
  for (size_t i = 0; i < c.ends.size(); ++i) {
    const int32_t end = std::min(c.ends.back(), (c.ends[i] + 31) / 32 * 32);
    if (!out.ends.empty() && out.ends.back() == end) continue;
    out.ends.push_back(end);
    out.scale.push_back(c.scale[i]);
    out.zero.push_back(c.zero[i]);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"GPU speed of the generated linear kernels on OPT shapes"};
  std::string shapes = "125m,1.3b,6.7b", rows_list = "1,8,512,2048", out_path, source_path;
  int64_t group = 0, clusters = 32;
  double min_time = 0.2;
  int max_reps = 10000;
  app.add_option("--shapes", shapes, "OPT shapes, comma-separated");
  app.add_option("--rows", rows_list, "rows per call, comma-separated");
  app.add_option("--group", group, "weight group size (0: one scale per row)");
  app.add_option("--clusters", clusters, "activation clusters per input");
  app.add_option("--min-time", min_time, "seconds to repeat each measurement for");
  app.add_option("--max-reps", max_reps, "at most this many timed calls per measurement");
  app.add_option("--out", out_path, "JSON output file");
  app.add_option("--emit-source", source_path, "also write the module's CUDA source here");
  bool wgmma = false;
  app.add_flag("--wgmma", wgmma, "the tensor-core linear on wgmma (sm_90a), as rptq-compile --cuda-wgmma");
  CLI11_PARSE(app, argc, argv);

  try {
    std::vector<int64_t> rows;
    for (const std::string& r : split(rows_list)) rows.push_back(std::stoll(r));

    std::mt19937 rng(7);
    std::vector<Case> cases;
    for (const std::string& shape : split(shapes))
      for (const Layer& l : layers_of(shape))
        for (int abits : {8, 4})
          for (bool aligned : {false, true}) {
            rptq::bench::Clusters cl = rptq::bench::make_clusters(rng, l.in, clusters, abits);
            if (aligned) cl = aligned_to_32(std::move(cl));
            cases.push_back({l, abits, group > 0 && l.in % group == 0 ? group : l.in, std::move(cl), aligned, {}});
          }
    std::vector<DeviceStep> steps;
    for (Case& c : cases) {
      c.step.op = DeviceOp::Linear;
      c.step.in = c.layer.in;
      c.step.out = c.layer.out;
      c.step.bits = 4;
      c.step.group_size = c.group;
      c.step.bias = true;
      c.step.input = c.clusters.params(c.abits);
      steps.push_back(c.step);
    }
    // The source first: --emit-source works without a GPU (for ptxas -v and cuobjdump -sass).
    const std::string source = rptq::codegen::cuda_kernel_source(steps, wgmma);
    if (!source_path.empty()) std::ofstream(source_path) << source;
    std::string why;
    cuda::DeviceInfo info;
    const cuda::Driver* d = cuda::first_device(&info, &why);
    if (!d) {
      std::printf("SKIP: %s\n", why.c_str());
      return kSkip;
    }
    std::printf("GPU: %s (sm_%d, %d SMs); building %zu kernels' module with nvcc\n", info.name.c_str(), info.sm,
                info.sm_count, steps.size());
    std::vector<uint8_t> fatbin;
    try {
      fatbin = rptq::codegen::build_cuda_fatbin(source, info.sm, false, rptq::codegen::default_nvcc(),
                                                wgmma && info.sm == 90);
    } catch (const rptq::Error& e) {
      std::printf("SKIP: cannot build the kernels here: %s\n", e.what());
      return kSkip;
    }
    Gpu gpu(*d, info);
    cuda::CUmodule module = nullptr;
    cuda::check(*d, d->cuModuleLoadData(&module, fatbin.data()), "cuModuleLoadData");

    const int64_t max_rows = *std::max_element(rows.begin(), rows.end());
    nlohmann::json results = nlohmann::json::array();
    std::printf("%-5s %-13s %-13s %6s %6s %5s %-28s %10s %8s %10s\n", "shape", "layer", "conf", "in", "out", "rows",
                "kernel", "time (us)", "TOPS", "weight GB/s");
    for (size_t i = 0; i < cases.size(); ++i) {
      const Case& c = cases[i];
      const DeviceStep& s = c.step;
      std::vector<uint8_t> codes(static_cast<size_t>(s.out * s.in / 2));
      for (uint8_t& b : codes) b = static_cast<uint8_t>(rng());
      const size_t groups = static_cast<size_t>(s.out * (s.in / s.group_size));
      std::vector<float> scale(groups, 0.01f), bias(static_cast<size_t>(s.out), 0.5f);
      std::vector<uint8_t> zero(groups, 8);
      std::vector<uint8_t> x(static_cast<size_t>(max_rows * s.in));
      for (uint8_t& b : x) b = static_cast<uint8_t>(rng() % (1u << c.abits));
      const uint64_t weight_bytes = codes.size() + groups * (sizeof(float) + 1);
      // Copies of the weights, so that decode's rotation streams from HBM (the fold is the same).
      const int copies = static_cast<int>(std::max<uint64_t>(1, kStreamBytes / weight_bytes));
      std::vector<rptq_cuda_args> args(static_cast<size_t>(copies));
      std::memset(args.data(), 0, args.size() * sizeof(rptq_cuda_args));
      const float* y = gpu.upload(std::vector<float>(static_cast<size_t>(max_rows * s.out)));
      const uint8_t* xd = gpu.upload(x);
      const float* fold = gpu.upload(std::vector<float>(static_cast<size_t>(s.out)));
      const int64_t* past = gpu.upload(std::vector<int64_t>{0});
      for (rptq_cuda_args& a : args) {
        a.past = past;
        a.in[0] = xd;
        a.out[0] = const_cast<float*>(y);
        a.codes = gpu.upload(codes);
        a.w_scale = gpu.upload(scale);
        a.w_zero = gpu.upload(zero);
        a.bias = gpu.upload(bias);
        a.fold = fold;
      }
      rptq_cuda_args setup = args[0];
      setup.out[0] = const_cast<float*>(fold);
      for (const DeviceLaunch& l : rptq::engine::device_setup_launches(s, i))
        gpu.launch(gpu.function(module, l.kernel), l, &setup);
      for (int64_t n : rows) {
        if (c.aligned && n < rptq::engine::kManyRows) continue;  // only the tensor-core kernel splits steps
        for (rptq_cuda_args& a : args) a.rows = n;
        const std::vector<DeviceLaunch> launches = rptq::engine::device_launches(s, i, n);
        std::vector<cuda::CUfunction> fns;  // resolved before timing: only launches are timed
        for (const DeviceLaunch& l : launches) fns.push_back(gpu.function(module, l.kernel));
        auto call = [&](int k) {
          for (size_t j = 0; j < launches.size(); ++j)
            gpu.launch(fns[j], launches[j], &args[static_cast<size_t>(k % copies)]);
        };
        gpu.time(std::min(3, max_reps), call);  // warm-up (module load, clocks)
        const double once = gpu.time(1, call);
        const int reps = static_cast<int>(std::clamp(min_time / std::max(once, 1e-7), 1.0, static_cast<double>(max_reps)));
        const double t = gpu.time(reps, call);
        const double tops = 2.0 * static_cast<double>(n * s.in * s.out) / t / 1e12;
        const double gbs = static_cast<double>(weight_bytes) / t / 1e9;
        std::printf("%-5s %-13s W4A%d%-8s %6lld %6lld %5lld %-28s %10.1f %8.2f %10.1f\n", c.layer.shape.c_str(),
                    c.layer.name.c_str(), c.abits, c.aligned ? " aligned" : "", static_cast<long long>(s.in), static_cast<long long>(s.out),
                    static_cast<long long>(n), launches[0].kernel.c_str(), t * 1e6, tops, gbs);
        std::fflush(stdout);
        results.push_back({{"shape", c.layer.shape},
                           {"layer", c.layer.name},
                           {"config", "W4A" + std::to_string(c.abits)},
                           {"in", s.in},
                           {"out", s.out},
                           {"rows", n},
                           {"kernel", launches[0].kernel},
                           {"weight_group", c.group},
                           {"act_clusters", c.clusters.ends.size()},
                           {"clusters_aligned_to_32", c.aligned},
                           {"weight_copies", copies},
                           {"seconds", t},
                           {"tops", tops},
                           {"weight_bytes", weight_bytes},
                           {"weight_gbs", gbs}});
      }
    }
    d->cuModuleUnload(module);
    if (!out_path.empty()) {
      nlohmann::json doc = {{"gpu", info.name}, {"sm", info.sm}, {"sm_count", info.sm_count}, {"wgmma", wgmma},
                            {"results", results}};
      std::ofstream(out_path) << doc.dump(2) << "\n";
    }
  } catch (const rptq::Error& e) {
    std::fprintf(stderr, "rptq-bench-cuda-kernels: %s\n", e.what());
    return 1;
  }
  return 0;
}

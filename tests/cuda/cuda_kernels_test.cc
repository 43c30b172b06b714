// Every kind of step the CUDA code generator emits, built with nvcc for this machine's GPU, run on
// fresh random inputs, and compared with the runtime's CPU kernels (the reference the compiler's
// simulation is checked against). Outputs are poisoned (all bytes 0xFF: NaN floats, code 255)
// before each launch, so an element a kernel forgets to write fails the comparison.
//
// Tolerances, and why:
//   float outputs of linear steps: |gpu - cpu| <= 1e-5 · Σ_k |x̂_k ŵ_k| + 1e-6 per output. Both
//     sides sum the same products in float but in another order (the CPU's integer path is exact
//     per span and rounds once per span); float32 reassociation over K terms is bounded by
//     K · 2^-24 · Σ|terms| and is in practice ~√K · 2^-24 · Σ|terms|, far below 1e-5 · Σ|terms|
//     for K <= 16384. The integer kernels (activation codes and weight codes) add
//     Σ q s_x ŵ and the zero points' Σ z_x s_x ŵ as separate float terms, so theirs is relative to
//     Σ_k (q_k + z_x) s_x |ŵ_k| (x̂ = 0 where q = z_x, yet both terms are large).
//   LayerNorm and embeddings: |Δ| <= 1e-5 · (|cpu| + 1) (double statistics on both sides, one
//     float rounding; only the order of the double sums differs).
//   attention: |Δ| <= 2e-5 · max |v̂| (a convex combination of v̂ rows; exp and the score sums
//     differ by float rounding, ~1e-6 · max |v̂| seen). The tensor-core prefill carries its float
//     operands (scaled Q, P) as two f16 terms, ~22 bits, and sums in f32; with one f16 term (11
//     bits) errors reach ~1e-4 · max |v̂|, which this bound refuses.
//   codes: the KV cache codes must be identical (same IEEE division and rounding of the same
//     floats); other codes may differ by 1 at a rounding boundary for at most 1% of elements.
//
// Exits 77 (ctest's skip code) without a CUDA driver, GPU or nvcc: runs on the device machine.
// --emit-source FILE writes the kernels' CUDA source (for ptxas -v) and exits.
// With --emulate the same kernels run on the CPU instead (tests/cuda/host_emulation.h): built by
// the host compiler, the blocks' threads as real threads; it runs everywhere and checks the
// kernels' logic, not nvcc's code or the GPU's timing.
#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bundle/fatbin.h"
#include "cuda/cuda_source.h"
#include "cuda/nvcc.h"
#include "emulation_build.h"
#include "engine/device_steps.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cuda/abi.h"
#include "kernels/cuda/cuda_driver.h"
#include "../unit/kernel_test_data.h"
#include "rptq/error.h"

namespace {

namespace cpu = rptq::cpu;
namespace cuda = rptq::cuda;
using rptq::engine::DeviceOp;
using rptq::engine::DeviceStep;
using namespace rptq::test;

constexpr int kSkip = 77;
int g_failures = 0;

void expect(bool ok, const std::string& what) {
  if (ok) return;
  ++g_failures;
  std::printf("FAIL: %s\n", what.c_str());
}

// Where the kernels run: a GPU through the driver, or the CPU through tests/cuda/host_emulation.h.
class Gpu {
 public:
  virtual ~Gpu() = default;
  virtual void* alloc(size_t bytes) = 0;
  virtual void release(void* p) = 0;
  virtual void copy_in(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_out(void* dst, const void* src, size_t bytes) = 0;
  virtual void fill(void* dst, uint8_t byte, size_t bytes) = 0;
  // Runs one kernel to completion.
  virtual void launch(const rptq::engine::DeviceLaunch& l, rptq_cuda_args* args) = 0;
};

class DriverGpu : public Gpu {
 public:
  DriverGpu(const cuda::Driver& d, const cuda::DeviceInfo& gpu, const std::vector<uint8_t>& fatbin) : d_(d) {
    cuda::check(d, d.cuDevicePrimaryCtxRetain(&ctx_, gpu.ordinal), "cuDevicePrimaryCtxRetain");
    cuda::check(d, d.cuCtxSetCurrent(ctx_), "cuCtxSetCurrent");
    cuda::check(d, d.cuModuleLoadData(&module_, fatbin.data()), "cuModuleLoadData");
  }
  ~DriverGpu() override { d_.cuModuleUnload(module_); }
  void* alloc(size_t bytes) override {
    cuda::CUdeviceptr p = 0;
    cuda::check(d_, d_.cuMemAlloc(&p, bytes), "cuMemAlloc");
    return reinterpret_cast<void*>(static_cast<uintptr_t>(p));
  }
  void release(void* p) override { d_.cuMemFree(reinterpret_cast<uintptr_t>(p)); }
  void copy_in(void* dst, const void* src, size_t n) override {
    cuda::check(d_, d_.cuMemcpyHtoD(reinterpret_cast<uintptr_t>(dst), src, n), "upload");
  }
  void copy_out(void* dst, const void* src, size_t n) override {
    cuda::check(d_, d_.cuMemcpyDtoH(dst, reinterpret_cast<uintptr_t>(src), n), "download");
  }
  void fill(void* dst, uint8_t byte, size_t n) override {
    cuda::check(d_, d_.cuMemsetD8(reinterpret_cast<uintptr_t>(dst), byte, n), "poison");
  }
  void launch(const rptq::engine::DeviceLaunch& l, rptq_cuda_args* a) override {
    cuda::CUfunction f = nullptr;
    cuda::check(d_, d_.cuModuleGetFunction(&f, module_, l.kernel.c_str()), l.kernel.c_str());
    void* params[] = {a};
    cuda::check(d_, d_.cuLaunchKernel(f, l.grid[0], l.grid[1], l.grid[2], l.block, 1, 1, l.shared_bytes, nullptr,
                                      params, nullptr),
                l.kernel.c_str());
    cuda::check(d_, d_.cuCtxSynchronize(), l.kernel.c_str());
  }

 private:
  const cuda::Driver& d_;
  cuda::CUcontext ctx_ = nullptr;
  cuda::CUmodule module_ = nullptr;
};

// The module's source built by the host compiler with the emulation header, loaded with dlopen.
class EmulatedGpu : public Gpu {
 public:
  explicit EmulatedGpu(const std::string& source) {
    const rptq::codegen::TempDir dir("rptq-cuda-emulated-module");
    const std::string so = (dir.path() / "model.so").string();
    rptq::test::build_emulation_module(source, so);
    lib_ = ::dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib_) rptq::fail("emulated CUDA code", ::dlerror());
    launch_ = reinterpret_cast<LaunchFn>(::dlsym(lib_, "rptq_emu_launch"));
    if (!launch_) rptq::fail("emulated CUDA code", "no rptq_emu_launch");
  }
  void* alloc(size_t bytes) override { return std::aligned_alloc(64, (bytes + 63) / 64 * 64); }
  void release(void* p) override { std::free(p); }
  void copy_in(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  void copy_out(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  void fill(void* dst, uint8_t byte, size_t n) override { std::memset(dst, byte, n); }
  void launch(const rptq::engine::DeviceLaunch& l, rptq_cuda_args* a) override {
    using Kernel = void (*)(rptq_cuda_args);
    auto kernel = reinterpret_cast<Kernel>(::dlsym(lib_, l.kernel.c_str()));
    if (!kernel) rptq::fail("emulated CUDA code", "no kernel " + l.kernel);
    launch_(kernel, l.grid[0], l.grid[1], l.grid[2], l.block, l.shared_bytes, a);
  }

 private:
  using LaunchFn = void (*)(void (*)(rptq_cuda_args), unsigned, unsigned, unsigned, unsigned, unsigned,
                            const rptq_cuda_args*);
  void* lib_ = nullptr;  // kept loaded: its threads' thread_locals may outlive a dlclose
  LaunchFn launch_ = nullptr;
};

// Device memory for one case, freed at exit of the case.
class Device {
 public:
  explicit Device(Gpu& g) : g_(g) {}
  ~Device() {
    for (void* p : owned_) g_.release(p);
  }
  template <class T>
  T* upload(const std::vector<T>& v) {
    if (v.empty()) return nullptr;
    void* p = alloc(v.size() * sizeof(T));
    g_.copy_in(p, v.data(), v.size() * sizeof(T));
    return static_cast<T*>(p);
  }
  // `bytes` of 0xFF.
  void* poisoned(size_t bytes) {
    void* p = alloc(bytes);
    g_.fill(p, 0xFF, bytes);
    return p;
  }
  template <class T>
  std::vector<T> download(const void* p, size_t n) {
    std::vector<T> v(n);
    g_.copy_out(v.data(), p, n * sizeof(T));
    return v;
  }

 private:
  void* alloc(size_t bytes) {
    owned_.push_back(g_.alloc(bytes));
    return owned_.back();
  }
  Gpu& g_;
  std::vector<void*> owned_;
};

// One step and everything to run it on both sides.
struct Case {
  std::string name;
  DeviceStep step;
  int64_t rows = 1, past = 0;
  int64_t weight_rows = 0;  // rows of the weight matrix (the vocabulary for embeddings from codes)
  ActQuant input, output, key, value;
  std::vector<uint8_t> codes, zero, in_codes, k_cache, v_cache;
  std::vector<float> scale, weight, bias, gamma, beta, in_f32, k_in, v_in, table, positions, k_cache_f32,
      v_cache_f32, out_init;
  std::vector<int32_t> write_index, ids;

  cpu::LinearParams weights() const {
    cpu::LinearParams w;
    w.out = weight_rows;
    w.in = step.in;
    w.bits = step.bits;
    w.group_size = step.group_size;
    w.codes = codes.empty() ? nullptr : codes.data();
    w.scale = scale.empty() ? nullptr : scale.data();
    w.zero = zero.empty() ? nullptr : zero.data();
    w.weight = weight.empty() ? nullptr : weight.data();
    w.bias = bias.empty() ? nullptr : bias.data();
    return w;
  }
};

// Weights of `bits` (16: float) for [out, in] in groups of `group`.
void make_weights(std::mt19937& rng, Case& c, int64_t out, int64_t in, int bits, int64_t group, bool bias) {
  c.step.in = in;
  c.step.out = out;
  c.weight_rows = out;
  c.step.bits = bits;
  c.step.group_size = group;
  c.step.bias = bias;
  if (bits == 16) {
    c.weight = random_floats(rng, static_cast<size_t>(out * in), 0.1f);
  } else {
    if (bits <= 4) {
      // U4: random bytes are two random codes each (the low nibble is the even column).
      c.codes = random_codes(rng, static_cast<size_t>(out * ((in + 1) / 2)), 8);
      for (uint8_t& b : c.codes) b &= static_cast<uint8_t>(((1 << bits) - 1) * 0x11);
    } else {
      c.codes = random_codes(rng, static_cast<size_t>(out * in), bits);
    }
    const size_t groups = static_cast<size_t>(out * (in / group));
    c.scale = random_floats(rng, groups, 0.02f);
    for (float& s : c.scale) s = std::fabs(s) + 1e-3f;
    c.zero = random_codes(rng, groups, bits);
  }
  if (bias) c.bias = random_floats(rng, static_cast<size_t>(out), 1.0f);
}

Case linear_case(std::mt19937& rng, const std::string& name, int64_t rows, int64_t out, int64_t in, int wbits,
                 int64_t group, int abits, int out_bits, bool relu, bool accumulate,
                 Clusters clusters = Clusters::kRandom) {
  Case c;
  c.name = name;
  c.rows = rows;
  c.step.op = DeviceOp::Linear;
  make_weights(rng, c, out, in, wbits, group, true);
  c.step.relu = relu;
  c.step.accumulate = accumulate;
  if (abits < 16) {
    c.input = make_act_quant(rng, in, abits, clusters);
    c.in_codes = random_codes(rng, static_cast<size_t>(rows * in), abits);
  } else {
    c.in_f32 = random_floats(rng, static_cast<size_t>(rows * in), 2.0f);
  }
  if (out_bits < 16) c.output = make_act_quant(rng, out, out_bits, Clusters::kRandom, 8.0f);
  if (accumulate) c.out_init = random_floats(rng, static_cast<size_t>(rows * out), 3.0f);
  return c;
}

// The largest integer sums the tensor-core kernel can meet: every activation code and every
// weight at its largest code with zero point 0, over one cluster and one weight group, so that a
// run of constant scales longer than the kernel's exact int -> float range must be split.
Case extreme_linear_case(std::mt19937& rng, const std::string& name, int64_t rows, int64_t out, int64_t in, int wbits,
                         int abits = 8) {
  Case c = linear_case(rng, name, rows, out, in, wbits, in, abits, 16, false, false, Clusters::kWhole);
  const int top = (1 << wbits) - 1;
  for (uint8_t& b : c.codes) b = static_cast<uint8_t>(wbits <= 4 ? top * 0x11 : top);
  for (uint8_t& z : c.zero) z = 0;
  for (uint8_t& q : c.in_codes) q = static_cast<uint8_t>((1 << abits) - 1);
  return c;
}

// Whether a case runs linear_mma on 4-bit activation and weight codes: on Ampere-class GPUs
// (RPTQ_INT4_TENSOR_CORES) that is the int4 mma path, which this test also runs forced on.
bool int4_mma_case(const Case& c) {
  return rptq::engine::has_mma_kernel(c.step) && c.step.bits <= 4 && c.step.input.enabled() &&
         c.step.input.bits <= 4 && c.rows >= rptq::engine::kManyRows;
}

Case norm_case(std::mt19937& rng, const std::string& name, int64_t rows, int64_t cols, int bits) {
  Case c;
  c.name = name;
  c.rows = rows;
  c.step.op = DeviceOp::Norm;
  c.step.in = c.step.out = cols;
  c.step.eps = 1e-5f;
  c.step.gamma = c.step.beta = c.step.write_index = true;
  c.gamma = random_floats(rng, static_cast<size_t>(cols), 2.0f);
  c.beta = random_floats(rng, static_cast<size_t>(cols), 1.0f);
  c.write_index.resize(static_cast<size_t>(cols));
  for (int64_t i = 0; i < cols; ++i) c.write_index[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  std::shuffle(c.write_index.begin(), c.write_index.end(), rng);
  c.in_f32 = random_floats(rng, static_cast<size_t>(rows * cols), 5.0f);
  for (int64_t r = 0; r < rows; ++r) c.in_f32[static_cast<size_t>(r * cols)] += 40.0f;  // an outlier channel
  if (bits < 16) c.output = make_act_quant(rng, cols, bits, Clusters::kRandom, 3.0f);
  return c;
}

Case attention_case(std::mt19937& rng, const std::string& name, int64_t rows, int64_t past, int kv_bits, int q_bits,
                    int out_bits, int64_t heads = 4, int64_t head_dim = 64) {
  Case c;
  c.name = name;
  c.rows = rows;
  c.past = past;
  c.step.op = DeviceOp::Attention;
  c.step.heads = heads;
  c.step.out = head_dim;
  c.step.in = c.step.heads * c.step.out;
  c.step.context = std::max<int64_t>(96, past + rows);
  const int64_t H = c.step.in, cells = c.step.context * H;
  if (kv_bits < 16) {
    c.key = make_act_quant(rng, H, kv_bits, Clusters::kRandom, 3.0f);
    c.value = make_act_quant(rng, H, kv_bits, Clusters::kRandom, 3.0f);
    c.k_cache = random_codes(rng, static_cast<size_t>(cells), kv_bits);
    c.v_cache = random_codes(rng, static_cast<size_t>(cells), kv_bits);
  } else {
    c.k_cache_f32 = random_floats(rng, static_cast<size_t>(cells), 2.0f);
    c.v_cache_f32 = random_floats(rng, static_cast<size_t>(cells), 2.0f);
  }
  if (q_bits < 16) c.input = make_act_quant(rng, H, q_bits, Clusters::kRandom, 3.0f);
  if (out_bits < 16) c.output = make_act_quant(rng, H, out_bits, Clusters::kRandom, 2.0f);
  c.in_f32 = random_floats(rng, static_cast<size_t>(rows * H), 2.0f);
  c.k_in = random_floats(rng, static_cast<size_t>(rows * H), 2.0f);
  c.v_in = random_floats(rng, static_cast<size_t>(rows * H), 2.0f);
  return c;
}

Case embed_case(std::mt19937& rng, const std::string& name, int64_t rows, int64_t past, int bits) {
  Case c;
  c.name = name;
  c.rows = rows;
  c.past = past;
  c.step.op = DeviceOp::Embed;
  const int64_t vocab = 64, dim = 128;
  c.step.in = c.step.out = dim;
  c.step.table = bits == 16;
  if (bits == 16) {
    c.table = random_floats(rng, static_cast<size_t>(vocab * dim), 1.0f);
  } else {
    make_weights(rng, c, vocab, dim, bits, dim, false);
    c.step.out = dim;
  }
  c.positions = random_floats(rng, static_cast<size_t>((past + rows + 2) * dim), 1.0f);
  for (int64_t r = 0; r < rows; ++r) c.ids.push_back(static_cast<int32_t>(uniform_int(rng, 0, vocab - 1)));
  return c;
}

// Ties each Case's quantizers to its step (pointers into the Case, so after the Case is in place).
void bind(Case& c) {
  c.step.input = c.input.params();
  c.step.output = c.output.params();
  c.step.key = c.key.params();
  c.step.value = c.value.params();
}

void compare_floats(const std::string& name, const std::vector<float>& gpu, const std::vector<float>& cpu,
                    const std::function<double(size_t)>& tolerance) {
  size_t bad = 0, first = 0;
  double worst = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    const double d = std::fabs(static_cast<double>(gpu[i]) - cpu[i]);
    if (!(d <= tolerance(i))) {
      if (!bad) first = i;
      ++bad;
    }
    if (std::isfinite(d)) worst = std::max(worst, d);
  }
  std::printf("  %s: %zu floats, max |diff| %.3g, %zu outside tolerance\n", name.c_str(), cpu.size(), worst, bad);
  expect(bad == 0, name + ": element " + std::to_string(first) + " gpu " + std::to_string(gpu[first]) + " cpu " +
                       std::to_string(cpu[first]));
}

void compare_codes(const std::string& name, const std::vector<uint8_t>& gpu, const std::vector<uint8_t>& cpu,
                   bool exact) {
  size_t off_by_one = 0, worse = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    const int d = std::abs(static_cast<int>(gpu[i]) - cpu[i]);
    if (d == 1) ++off_by_one;
    if (d > 1 || (exact && d)) ++worse;
  }
  std::printf("  %s: %zu codes, %zu off by one, %zu worse\n", name.c_str(), cpu.size(), off_by_one, worse);
  expect(worse == 0 && off_by_one * 100 <= cpu.size(), name + ": codes differ");
}

// Σ_k |x̂_k ŵ_k| for each (row, output): the scale of a linear output's rounding error.
std::vector<double> magnitude(const Case& c) {
  std::vector<float> x(static_cast<size_t>(c.rows * c.step.in));
  if (rptq::engine::has_mma_kernel(c.step)) {
    // The integer kernels add Σ q s_x ŵ and the fold's Σ z_x s_x ŵ separately: their rounding is
    // relative to (q + z_x) s_x, not to |x̂| = |q - z_x| s_x (which is 0 where q = z_x).
    const std::vector<AffineQuant> per_channel = c.input.per_channel();
    for (int64_t r = 0; r < c.rows; ++r)
      for (int64_t k = 0; k < c.step.in; ++k) {
        const AffineQuant& q = per_channel[static_cast<size_t>(k)];
        x[static_cast<size_t>(r * c.step.in + k)] =
            static_cast<float>(c.in_codes[static_cast<size_t>(r * c.step.in + k)] + q.zero) * q.scale;
      }
  } else if (c.step.input.enabled()) {
    cpu::dequantize_rows(c.in_codes.data(), c.rows, c.step.in, c.step.input, x.data());
  } else {
    x = c.in_f32;
  }
  std::vector<double> m(static_cast<size_t>(c.rows * c.step.out), 0.0);
  std::vector<float> row(static_cast<size_t>(c.step.in));
  for (int64_t o = 0; o < c.step.out; ++o) {
    // Ŵ row o as the CPU reconstructs it.
    for (int64_t k = 0; k < c.step.in; ++k) {
      if (c.step.bits == 16) {
        row[static_cast<size_t>(k)] = c.weight[static_cast<size_t>(o * c.step.in + k)];
      } else {
        const int64_t g = o * (c.step.in / c.step.group_size) + k / c.step.group_size;
        const int code = c.step.bits <= 4 ? (c.codes[static_cast<size_t>(o * ((c.step.in + 1) / 2) + k / 2)] >>
                                             ((k & 1) * 4)) & 0xF
                                          : c.codes[static_cast<size_t>(o * c.step.in + k)];
        row[static_cast<size_t>(k)] = static_cast<float>(code - c.zero[static_cast<size_t>(g)]) *
                                      c.scale[static_cast<size_t>(g)];
      }
    }
    for (int64_t r = 0; r < c.rows; ++r) {
      double s = 0;
      for (int64_t k = 0; k < c.step.in; ++k)
        s += std::fabs(static_cast<double>(x[static_cast<size_t>(r * c.step.in + k)]) * row[static_cast<size_t>(k)]);
      m[static_cast<size_t>(r * c.step.out + o)] = s;
    }
  }
  return m;
}

// Runs case i of the module on the GPU and checks it against the CPU kernels.
void run_case(Gpu& gpu, size_t i, Case& c) {
  std::printf("%s (%lld rows, past %lld)\n", c.name.c_str(), static_cast<long long>(c.rows),
              static_cast<long long>(c.past));
  Device dev(gpu);
  const DeviceStep& s = c.step;
  rptq_cuda_args a;
  std::memset(&a, 0, sizeof a);
  a.rows = c.rows;
  a.past = dev.upload(std::vector<int64_t>{c.past});
  a.ids = dev.upload(c.ids);
  a.codes = dev.upload(c.codes);
  a.w_scale = dev.upload(c.scale);
  a.w_zero = dev.upload(c.zero);
  a.weight = dev.upload(c.weight);
  a.bias = dev.upload(c.bias);
  a.gamma = dev.upload(c.gamma);
  a.beta = dev.upload(c.beta);
  a.write_index = dev.upload(c.write_index);
  a.table = dev.upload(c.table);
  a.positions = dev.upload(c.positions);
  const bool codes_in = s.op == DeviceOp::Linear && s.input.enabled();
  a.in[0] = codes_in ? static_cast<const void*>(dev.upload(c.in_codes)) : dev.upload(c.in_f32);
  a.in[1] = dev.upload(c.k_in);
  a.in[2] = dev.upload(c.v_in);
  const bool codes_out = s.output.enabled();
  const size_t out_n = static_cast<size_t>(c.rows * (s.op == DeviceOp::Attention ? s.in : s.out));
  if (!c.out_init.empty())
    a.out[0] = dev.upload(c.out_init);
  else
    a.out[0] = dev.poisoned(out_n * (codes_out ? 1 : 4));
  const bool kv_codes = s.key.enabled();
  if (s.op == DeviceOp::Attention) {
    a.k_cache = kv_codes ? static_cast<void*>(dev.upload(c.k_cache)) : dev.upload(c.k_cache_f32);
    a.v_cache = kv_codes ? static_cast<void*>(dev.upload(c.v_cache)) : dev.upload(c.v_cache_f32);
    a.scratch = reinterpret_cast<float*>(dev.poisoned(rptq::engine::attention_scratch_floats(s) * sizeof(float)));
  }
  // The tensor-core kernel's fold, as the runtime computes it once at load.
  const std::vector<rptq::engine::DeviceLaunch> setup = rptq::engine::device_setup_launches(s, i);
  if (!setup.empty()) {
    rptq_cuda_args fold_args = a;
    fold_args.out[0] = dev.poisoned(static_cast<size_t>(s.out) * sizeof(float));
    for (const rptq::engine::DeviceLaunch& l : setup) gpu.launch(l, &fold_args);
    a.fold = static_cast<const float*>(fold_args.out[0]);
  }
  for (const rptq::engine::DeviceLaunch& l : rptq::engine::device_launches(s, i, c.rows)) {
    std::printf("  %s\n", l.kernel.c_str());
    gpu.launch(l, &a);
  }

  // The CPU reference.
  std::vector<float> ref_f32(out_n);
  std::vector<uint8_t> ref_codes(codes_out ? out_n : 0);
  std::function<double(size_t)> tolerance;
  switch (s.op) {
    case DeviceOp::Embed: {
      if (s.table)
        cpu::embedding(c.ids.data(), c.rows, c.table.data(), s.in, ref_f32.data());
      else
        cpu::embedding_from_codes(c.ids.data(), c.rows, c.weights(), ref_f32.data());
      for (int64_t r = 0; r < c.rows; ++r)
        for (int64_t k = 0; k < s.out; ++k)
          ref_f32[static_cast<size_t>(r * s.out + k)] += c.positions[static_cast<size_t>((c.past + r + 2) * s.out + k)];
      tolerance = [&](size_t j) { return 1e-5 * (std::fabs(ref_f32[j]) + 1); };
      break;
    }
    case DeviceOp::Norm:
      cpu::layer_norm_quant(c.in_f32.data(), c.rows, s.in, c.gamma.data(), c.beta.data(), c.write_index.data(), s.eps,
                            s.output, codes_out ? ref_codes.data() : nullptr, codes_out ? nullptr : ref_f32.data());
      tolerance = [&](size_t j) { return 1e-5 * (std::fabs(ref_f32[j]) + 1); };
      break;
    case DeviceOp::Linear:
    case DeviceOp::LmHead: {
      cpu::ActTensor x;
      x.quant = s.input;
      if (s.input.enabled()) x.codes = c.in_codes.data(); else x.f32 = c.in_f32.data();
      uint32_t flags = (s.relu ? cpu::kRelu : 0u) | (s.accumulate ? cpu::kAccumulate : 0u);
      if (s.accumulate) ref_f32 = c.out_init;
      cpu::linear(x, c.rows, c.weights(), flags, ref_f32.data());
      if (codes_out) cpu::quantize_rows(ref_f32.data(), c.rows, s.out, s.output, ref_codes.data());
      const std::vector<double> m = magnitude(c);
      tolerance = [m](size_t j) { return 1e-5 * m[j] + 1e-6; };
      break;
    }
    case DeviceOp::Attention: {
      cpu::KvLayer kv;
      kv.k_quant = s.key;
      kv.v_quant = s.value;
      kv.capacity = s.context;
      if (kv_codes) {
        kv.k_codes = c.k_cache.data();
        kv.v_codes = c.v_cache.data();
      } else {
        kv.k_f32 = c.k_cache_f32.data();
        kv.v_f32 = c.v_cache_f32.data();
      }
      cpu::attention(c.in_f32.data(), c.k_in.data(), c.v_in.data(), c.rows, c.past, s.heads, s.out,
                     1.0f / std::sqrt(static_cast<float>(s.out)), s.input, kv, s.output,
                     codes_out ? ref_codes.data() : nullptr, codes_out ? nullptr : ref_f32.data());
      const size_t visible = static_cast<size_t>((c.past + c.rows) * s.in);
      std::vector<float> v_hat(c.v_cache_f32.begin(), c.v_cache_f32.begin() + (kv_codes ? 0 : static_cast<long>(visible)));
      if (kv_codes) {
        v_hat.resize(visible);
        cpu::dequantize_rows(c.v_cache.data(), c.past + c.rows, s.in, s.value, v_hat.data());
        compare_codes("K cache", dev.download<uint8_t>(a.k_cache, visible), {c.k_cache.begin(), c.k_cache.begin() + static_cast<long>(visible)}, true);
        compare_codes("V cache", dev.download<uint8_t>(a.v_cache, visible), {c.v_cache.begin(), c.v_cache.begin() + static_cast<long>(visible)}, true);
      } else {
        compare_floats("K cache", dev.download<float>(a.k_cache, visible),
                       {c.k_cache_f32.begin(), c.k_cache_f32.begin() + static_cast<long>(visible)},
                       [](size_t) { return 0.0; });
      }
      double vmax = 0;
      for (float x : v_hat) vmax = std::max<double>(vmax, std::fabs(x));
      tolerance = [vmax](size_t) { return 2e-5 * vmax + 1e-6; };
      break;
    }
  }
  if (codes_out)
    compare_codes("output", dev.download<uint8_t>(a.out[0], out_n), ref_codes, false);
  else
    compare_floats("output", dev.download<float>(a.out[0], out_n), ref_f32, tolerance);
}

// Every kind of step and epilogue, with shapes that leave partial warps, chunks and row blocks.
std::vector<Case> make_cases(std::mt19937& rng) {
  std::vector<Case> cases;
  cases.push_back(embed_case(rng, "embed, F32 table", 7, 3, 16));
  cases.push_back(embed_case(rng, "embed, 8-bit head codes", 5, 0, 8));
  cases.push_back(embed_case(rng, "embed, 4-bit head codes", 1, 11, 4));
  cases.push_back(norm_case(rng, "LayerNorm -> 8-bit codes", 9, 768, 8));
  cases.push_back(norm_case(rng, "LayerNorm -> 4-bit codes", 1, 1024, 4));
  cases.push_back(norm_case(rng, "final LayerNorm -> F32", 3, 256, 16));
  cases.push_back(linear_case(rng, "W4 x A8, one chunk, += (out_proj)", 1, 200, 768, 4, 768, 8, 16, false, true));
  cases.push_back(linear_case(rng, "W4 x A8, two chunks, 19 rows (tensor cores)", 19, 136, 1536, 4, 1536, 8, 16, false,
                              false));
  cases.push_back(linear_case(rng, "W4 g128 x A4, ReLU -> 4-bit codes, 70 rows (tensor cores)", 70, 100, 384, 4, 128, 4,
                              4, true, false));
  cases.push_back(linear_case(rng, "W6 g64 x A8, +=, 33 rows (tensor cores)", 33, 72, 320, 6, 64, 8, 16, false, true));
  cases.push_back(linear_case(rng, "W3 x A8, clusters of one channel, 16 rows (tensor cores)", 16, 64, 96, 3, 96, 8, 16,
                              false, false, Clusters::kOnes));
  cases.push_back(linear_case(rng, "W4 x A6, clusters of five, 130 rows (tensor cores)", 130, 136, 160, 4, 160, 6, 16,
                              false, false, Clusters::kFives));
  cases.push_back(linear_case(rng, "W4 x A4, clusters of five, 160 inputs (a last k64 step of 32), 40 rows", 40, 136,
                              160, 4, 160, 4, 16, false, false, Clusters::kFives));
  cases.push_back(linear_case(rng, "W3 g32 x A3, clusters of one, +=, 17 rows (tensor cores)", 17, 72, 192, 3, 32, 3,
                              16, false, true, Clusters::kOnes));
  cases.push_back(extreme_linear_case(rng, "W4 x A4 at the largest codes, one cluster of 4096 (tensor cores)", 18, 40,
                                      4096, 4, 4));
  // Random codes over one long cluster: runs of many stages between flushes, where a pipeline that
  // reuses a stage's shared memory too early reads another stage's codes.
  cases.push_back(linear_case(rng, "W4 x A8, one cluster of 2048, random codes, 24 rows (tensor cores)", 24, 136, 2048,
                              4, 2048, 8, 16, false, false, Clusters::kWhole));
  cases.push_back(extreme_linear_case(rng, "W7 x A8 at the largest codes, one cluster of 1024 (tensor cores)", 20, 136,
                                      1024, 7));
  cases.push_back(extreme_linear_case(rng, "W4 x A8 at the largest codes, one cluster of 3072 (tensor cores)", 17, 40,
                                      3072, 4));
  cases.push_back(extreme_linear_case(rng, "W8 x A8 at the largest codes, one cluster of 1024 (tensor cores)", 24, 72,
                                      1024, 8));
  cases.push_back(linear_case(rng, "W8 g64 x A8, +=, 40 rows (tensor cores)", 40, 136, 512, 8, 64, 8, 16, false, true));
  cases.push_back(linear_case(rng, "decode: W8 x A6, clusters of five", 1, 72, 384, 8, 384, 6, 16, false, false,
                              Clusters::kFives));
  cases.push_back(linear_case(rng, "decode: W4 g128 x A8, two chunks -> 8-bit codes", 1, 40, 5120, 4, 128, 8, 8, false,
                              false));
  cases.push_back(linear_case(rng, "decode: W4 x F32 (LM head)", 1, 300, 256, 4, 256, 16, 16, false, false));
  cases.push_back(linear_case(rng, "decode: W6 g64 x A4, clusters of one, ReLU", 1, 70, 256, 6, 64, 4, 16, true, false,
                              Clusters::kOnes));
  cases.push_back(linear_case(rng, "decode: W3 g32 x A6, clusters of five, +=", 1, 100, 640, 3, 32, 6, 16, false, true,
                              Clusters::kFives));
  cases.push_back(linear_case(rng, "W4 x A4, ReLU -> 4-bit codes (fc1)", 5, 512, 256, 4, 256, 4, 4, true, false));
  cases.push_back(linear_case(rng, "W4 g128 x A8", 3, 64, 512, 4, 128, 8, 16, false, false));
  cases.push_back(linear_case(rng, "W6 x A8, clusters of one, 12 rows (two row blocks), 4160 inputs (two chunks)", 12,
                              24, 4160, 6, 4160, 8, 16, false, true, Clusters::kOnes));
  cases.push_back(linear_case(rng, "W6 g16 x A8, 5 rows (two groups per 32-channel block)", 5, 40, 256, 6, 16, 8, 16,
                              false, false));
  cases.push_back(linear_case(rng, "W6 g16 x A8, 20 rows (tensor cores, two groups per k32 step)", 20, 40, 256, 6, 16, 8,
                              16, false, false));
  cases.push_back(linear_case(rng, "decode: W5 g16 x A4, clusters of five", 1, 40, 256, 5, 16, 4, 16, false, false,
                              Clusters::kFives));
  cases.push_back(linear_case(rng, "W8 x A8 -> 8-bit codes", 8, 72, 384, 8, 384, 8, 8, true, false));
  cases.push_back(linear_case(rng, "W4 x F32 (W4A16)", 4, 96, 256, 4, 256, 16, 16, false, false));
  cases.push_back(linear_case(rng, "W8 x F32 (LM head)", 2, 260, 128, 8, 128, 16, 16, false, false));
  cases.push_back(linear_case(rng, "F32 weights x F32", 3, 40, 128, 16, 128, 16, 16, false, true));
  cases.push_back(attention_case(rng, "attention K8V8, Q8, out 8-bit (prefill)", 19, 0, 8, 8, 8));
  cases.push_back(attention_case(rng, "attention K4V4, Q4, out F32, 2 query tiles after past (prefill)", 45, 20, 4, 4, 16));
  cases.push_back(attention_case(rng, "attention F32 cache, out 8-bit (prefill)", 17, 3, 16, 16, 8));
  cases.push_back(attention_case(rng, "attention K8V8, heads of 128, Q8, 70 rows after 30 (prefill, two query blocks)",
                                 70, 30, 8, 8, 16, 2, 128));
  cases.push_back(attention_case(rng, "attention K4V4, heads of 40 (prefill without tensor cores)", 20, 5, 4, 16, 8, 3,
                                 40));
  cases.push_back(attention_case(rng, "attention K4V4, out F32 (decode)", 1, 37, 4, 16, 16));
  cases.push_back(attention_case(rng, "attention K8V8, Q8, out 8-bit (decode after 300: three parts)", 1, 300, 8, 8, 8));
  cases.push_back(attention_case(rng, "attention F32 cache (decode after 200: two parts)", 1, 200, 16, 16, 16));
  cases.push_back(attention_case(rng, "attention K4V4 (decode after 128: a last part of one key)", 1, 128, 4, 16, 16));
  cases.push_back(attention_case(rng, "attention K4V4, heads of 40 (5 rows after 250, across a part boundary)", 5, 250,
                                 4, 16, 16, 3, 40));
  cases.push_back(attention_case(rng, "attention K4V4, Q4 (chunk after past)", 5, 10, 4, 4, 4));
  cases.push_back(attention_case(rng, "attention F32 cache", 3, 6, 16, 16, 16));
  return cases;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const bool emulate = mode == "--emulate";
  std::mt19937 rng = make_rng("cuda_kernels");
  std::vector<Case> cases = make_cases(rng);
  for (Case& c : cases) bind(c);
  std::vector<DeviceStep> steps;
  for (const Case& c : cases) steps.push_back(c.step);
  const std::string source = rptq::codegen::cuda_kernel_source(steps);
  if (mode == "--emit-source" && argc > 2) {  // for ptxas -v on every kind of kernel
    rptq::codegen::write_file(argv[2], source);
    return 0;
  }
  // The tensor-core paths this machine's build would not take, forced on, each over the cases it
  // runs, in a module of its own: int4 mma (what sm_87 builds: W4A4 cases; m16n8k64 .u4 is valid
  // PTX on sm_90 too) and wgmma (opt-in, sm_90a: every tensor-core case; on a GPU only on sm_90).
  struct Variant {
    std::string name, define;
    bool wgmma;
    std::vector<Case> cases;
    std::string source;
  };
  std::vector<Variant> variants = {{"int4 mma", "#define RPTQ_INT4_TENSOR_CORES 1\n", false, {}, {}},
                                   {"wgmma", "", true, {}, {}}};
  for (const Case& c : cases) {
    if (int4_mma_case(c)) variants[0].cases.push_back(c);
    if (rptq::engine::has_mma_kernel(c.step) && c.rows >= rptq::engine::kManyRows) variants[1].cases.push_back(c);
  }
  for (Variant& v : variants) {
    expect(v.cases.size() >= 4, "the " + v.name + " path has its cases");
    std::vector<DeviceStep> steps_of;
    for (Case& c : v.cases) {
      c.name += " [" + v.name + "]";
      steps_of.push_back(c.step);
    }
    v.source = v.define + rptq::codegen::cuda_kernel_source(steps_of, v.wgmma);
  }
  try {
    std::unique_ptr<Gpu> gpu;
    // The module of `src`; `wgmma`: built for the architecture-specific target (sm_90a) it needs.
    std::function<std::unique_ptr<Gpu>(const std::string& src, bool wgmma)> make_gpu;
    if (emulate) {
      std::printf("the kernels on the CPU (tests/cuda/host_emulation.h)\n");
      make_gpu = [](const std::string& src, bool) -> std::unique_ptr<Gpu> {
        return std::make_unique<EmulatedGpu>(src);
      };
      gpu = make_gpu(source, false);
    } else {
      std::string why;
      cuda::DeviceInfo info;
      const cuda::Driver* d = cuda::first_device(&info, &why);
      if (!d) {
        std::printf("SKIP: %s\n", why.c_str());
        return kSkip;
      }
      std::printf("GPU: %s (sm_%d)\n", info.name.c_str(), info.sm);
      auto build = [sm = info.sm](const std::string& src, bool wgmma) {
        return rptq::codegen::build_cuda_fatbin(src, sm, false, rptq::codegen::default_nvcc(), wgmma);
      };
      std::vector<uint8_t> fatbin;
      try {
        fatbin = build(source, false);
      } catch (const rptq::Error& e) {
        std::printf("SKIP: cannot build the kernels here: %s\n", e.what());
        return kSkip;
      }
      gpu = std::make_unique<DriverGpu>(*d, info, fatbin);
      make_gpu = [d, info, build](const std::string& src, bool wgmma) -> std::unique_ptr<Gpu> {
        return std::make_unique<DriverGpu>(*d, info, build(src, wgmma));
      };
      if (info.sm != 90) variants.pop_back();  // sm_90a code runs on sm_90 only
    }
    for (size_t i = 0; i < cases.size(); ++i) run_case(*gpu, i, cases[i]);
    for (Variant& v : variants) {
      std::printf("the tensor-core cases on the %s path\n", v.name.c_str());
      gpu = make_gpu(v.source, v.wgmma);
      for (size_t i = 0; i < v.cases.size(); ++i) run_case(*gpu, i, v.cases[i]);
    }
  } catch (const rptq::Error& e) {
    std::printf("FAIL: %s\n", e.what());
    return 1;
  }
  std::printf("%d failure(s)\n", g_failures);
  return g_failures ? 1 : 0;
}

// A bundle's native CPU code (codegen/cpu) against the runtime's generic kernels: steps of every
// kind the generator emits are built with the host compiler for each instruction set this machine
// runs, loaded, and called on fresh random data; their outputs must equal the generic kernels'
// bit for bit (same integer sums, same float operations in the same order). Also: the fingerprint
// the runtime checks changes with any quantizer constant.
#include <catch2/catch.hpp>
#include <dlfcn.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "cpu/host_compiler.h"
#include "cpu/native_source.h"
#include "engine/native_steps.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/packed_weights.h"
#include "kernels/cpu/thread_pool.h"
#include "kernel_test_data.h"
#include "kernels/native/abi.h"

namespace cpu = rptq::cpu;
using namespace rptq::test;
using rptq::engine::NativeOp;
using rptq::engine::NativeStep;

namespace {

// One step with the data to run it.
struct Case {
  NativeStep step;
  ActQuant input, output, key, value;
  std::vector<uint8_t> codes, zero;  // weights
  std::vector<float> scale, bias, gamma, beta;
  std::vector<int32_t> write_index;
  std::shared_ptr<const cpu::PackedWeights> packed;

  cpu::LinearParams weights() const {
    cpu::LinearParams w;
    w.out = step.out;
    w.in = step.in;
    w.bits = step.bits;
    w.group_size = step.group_size;
    w.codes = codes.data();
    w.scale = scale.data();
    w.zero = zero.data();
    w.bias = bias.empty() ? nullptr : bias.data();
    w.packed = packed.get();
    return w;
  }
};

Case norm_case(std::mt19937& rng, int64_t cols, int bits) {
  Case c;
  c.output = make_act_quant(rng, cols, bits, Clusters::kRandom, 3.0f);
  c.gamma = random_floats(rng, static_cast<size_t>(cols), 2.0f);
  c.beta = random_floats(rng, static_cast<size_t>(cols), 0.5f);
  for (int64_t i = 0; i < cols; ++i) c.write_index.push_back(static_cast<int32_t>((i * 7 + 3) % cols));
  if (cols % 7 == 0) std::iota(c.write_index.begin(), c.write_index.end(), 0);  // keep it a permutation
  NativeStep& s = c.step;
  s.op = NativeOp::NormQuant;
  s.in = s.out = cols;
  s.eps = 1e-5f;
  s.gamma = s.beta = s.write_index = true;
  s.output = c.output.params();
  return c;
}

Case linear_case(std::mt19937& rng, int64_t in, int64_t out, int wbits, int abits, int64_t group, bool relu,
                 bool accumulate, bool quantize_output) {
  Case c;
  c.input = make_act_quant(rng, in, abits, Clusters::kRandom, 4.0f);
  if (quantize_output) c.output = make_act_quant(rng, out, abits, Clusters::kRandom, 4.0f);
  const int64_t groups = in / group;
  const bool u4 = wbits <= 4;
  const int64_t row_bytes = u4 ? (in + 1) / 2 : in;
  c.codes.resize(static_cast<size_t>(out * row_bytes));
  for (uint8_t& b : c.codes) b = static_cast<uint8_t>(uniform_int(rng, 0, u4 ? 255 : (1 << wbits) - 1));
  if (u4 && wbits < 4)
    for (uint8_t& b : c.codes) b &= static_cast<uint8_t>(((1 << wbits) - 1) * 0x11);
  for (int64_t g = 0; g < out * groups; ++g) {
    c.scale.push_back(uniform(rng, 0.002f, 0.05f));
    c.zero.push_back(static_cast<uint8_t>(uniform_int(rng, 0, (1 << wbits) - 1)));
  }
  c.bias = random_floats(rng, static_cast<size_t>(out), 1.0f);
  NativeStep& s = c.step;
  s.op = NativeOp::LinearInt;
  s.in = in;
  s.out = out;
  s.bits = wbits;
  s.group_size = group;
  s.bias = true;
  s.relu = relu;
  s.accumulate = accumulate;
  s.input = c.input.params();
  if (quantize_output) s.output = c.output.params();
  c.packed = cpu::pack_weights(c.weights(), s.input);
  return c;
}

Case attention_case(std::mt19937& rng, int64_t heads, int64_t head_dim, bool quantize_query, bool quantize_output) {
  Case c;
  const int64_t hidden = heads * head_dim;
  c.input = make_act_quant(rng, hidden, 8, Clusters::kRandom, 3.0f);
  c.output = make_act_quant(rng, hidden, 8, Clusters::kRandom, 2.0f);
  c.key = make_act_quant(rng, hidden, 4, Clusters::kRandom, 3.0f);
  c.value = make_act_quant(rng, hidden, 6, Clusters::kRandom, 3.0f);
  NativeStep& s = c.step;
  s.op = NativeOp::Attention;
  s.in = hidden;
  s.heads = heads;
  s.out = head_dim;
  if (quantize_query) s.input = c.input.params();
  if (quantize_output) s.output = c.output.params();
  s.key = c.key.params();
  s.value = c.value.params();
  return c;
}

// What the runtime passes native code as its threads (engine/native_module.cc does the same).
void pool_parallel_for(int64_t n, rptq_native_range_fn body, void* ctx, int on) {
  cpu::parallel_for(n, [&](int64_t begin, int64_t end) { body(ctx, begin, end); }, on != 0);
}

// The object built and opened from a file that is removed at once.
struct Loaded {
  void* handle = nullptr;
  const rptq_native_module* module = nullptr;
  ~Loaded() {
    if (handle) dlclose(handle);
  }
};

void load(const std::vector<uint8_t>& object, Loaded* out) {
  char path[] = "/tmp/rptq-native-test-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, object.data(), object.size()) == static_cast<ssize_t>(object.size()));
  close(fd);
  out->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  unlink(path);
  INFO(dlerror());
  REQUIRE(out->handle);
  auto entry = reinterpret_cast<rptq_native_entry_fn>(dlsym(out->handle, RPTQ_NATIVE_ENTRY_POINT));
  REQUIRE(entry);
  out->module = entry();
}

// Native attention over a cache with `past` positions filled against cpu::attention on a copy of
// it: same appended codes, same outputs; more rows than the in-place path takes are declined.
void check_attention(rptq_native_step_fn fn, const Case& c, int64_t rows, std::mt19937& rng) {
  const NativeStep& s = c.step;
  const int64_t hidden = s.in, past = uniform_int(rng, 0, 40), capacity = past + rows;
  std::vector<uint8_t> k_cache(static_cast<size_t>(capacity * hidden)), v_cache(k_cache.size());
  for (uint8_t& b : k_cache) b = static_cast<uint8_t>(uniform_int(rng, 0, (1 << c.key.bits) - 1));
  for (uint8_t& b : v_cache) b = static_cast<uint8_t>(uniform_int(rng, 0, (1 << c.value.bits) - 1));
  std::vector<uint8_t> k_want = k_cache, v_want = v_cache;
  const std::vector<float> q = random_floats(rng, static_cast<size_t>(rows * hidden), 3.0f),
                           k = random_floats(rng, q.size(), 3.0f), v = random_floats(rng, q.size(), 3.0f);
  std::vector<uint8_t> codes_got(q.size(), 0xAB), codes_want(q.size(), 0xCD);
  std::vector<float> f_got(q.size(), -1.0f), f_want(q.size(), -2.0f);
  rptq_native_args a{};
  a.parallel_for = pool_parallel_for;
  a.rows = rows;
  a.past = past;
  a.in[0] = q.data();
  a.in[1] = k.data();
  a.in[2] = v.data();
  a.out[0] = s.output.enabled() ? static_cast<void*>(codes_got.data()) : f_got.data();
  a.k_cache = k_cache.data();
  a.v_cache = v_cache.data();
  const int declined = fn(&a);
  if (rows > 8) {
    CHECK(declined != 0);
    CHECK(k_cache == k_want);  // nothing written
    return;
  }
  REQUIRE(declined == 0);
  cpu::KvLayer kv;
  kv.k_codes = k_want.data();
  kv.v_codes = v_want.data();
  kv.k_quant = c.key.params();
  kv.v_quant = c.value.params();
  kv.capacity = capacity;
  cpu::attention(q.data(), k.data(), v.data(), rows, past, s.heads, s.out,
                 1.0f / std::sqrt(static_cast<float>(s.out)), s.input, kv, s.output,
                 s.output.enabled() ? codes_want.data() : nullptr, s.output.enabled() ? nullptr : f_want.data());
  CHECK(k_cache == k_want);
  CHECK(v_cache == v_want);
  if (s.output.enabled())
    CHECK(codes_got == codes_want);
  else
    CHECK(std::memcmp(f_got.data(), f_want.data(), f_got.size() * sizeof(float)) == 0);
}

}  // namespace

TEST_CASE("native steps equal the generic kernels bit for bit, for every instruction set this machine has",
          "[native]") {
#if !defined(__x86_64__)
  WARN("native CPU code is generated for x86-64 only; nothing to test on this architecture");
  return;
#endif
  std::mt19937 rng = make_rng("native_steps");
  std::vector<Case> cases;
  cases.push_back(norm_case(rng, 192, 8));
  cases.push_back(norm_case(rng, 100, 4));
  cases.push_back(linear_case(rng, 192, 48, 4, 8, 192, false, false, false));
  cases.push_back(linear_case(rng, 192, 33, 3, 6, 64, false, true, false));   // residual add, odd out
  cases.push_back(linear_case(rng, 100, 64, 8, 8, 100, true, false, true));   // 8-bit weights, fc1-like
  cases.push_back(linear_case(rng, 256, 40, 6, 4, 32, true, false, false));   // groups, W6A4
  cases.push_back(linear_case(rng, 768, 32, 4, 4, 128, false, true, false));  // layer width, W4A4
  cases.push_back(attention_case(rng, 4, 16, true, true));
  cases.push_back(attention_case(rng, 3, 12, false, false));                  // float Q and output
  // A step native code does not run, to check the table leaves it to the generic kernels.
  cases.emplace_back();
  std::vector<NativeStep> steps;
  for (const Case& c : cases) steps.push_back(c.step);

  const std::string original = cpu::active_isa();
  int isas_run = 0;
  for (const std::string& isa : rptq::codegen::native_x86_isas()) {
    if (!cpu::force_isa(isa.c_str())) continue;  // this machine lacks it
    ++isas_run;
    INFO("isa " << isa);
    const std::vector<uint8_t> object = rptq::codegen::build_native_object(
        rptq::codegen::native_kernel_source(steps, isa), isa, rptq::codegen::default_host_compiler());
    Loaded so;
    load(object, &so);
    const rptq_native_module& m = *so.module;
    REQUIRE(m.abi_version == RPTQ_NATIVE_ABI_VERSION);
    REQUIRE(std::string(m.isa) == isa);
    REQUIRE(m.num_steps == static_cast<int32_t>(steps.size()));
    REQUIRE(m.fingerprint == rptq::engine::native_fingerprint(steps));
    CHECK(m.steps[steps.size() - 1] == nullptr);
    for (size_t i = 0; i + 1 < cases.size(); ++i) {
      const Case& c = cases[i];
      const NativeStep& s = c.step;
      REQUIRE(m.steps[i] != nullptr);
      REQUIRE(m.scratch_bytes_per_row >= rptq::engine::native_scratch(s).bytes_per_row());
      for (int64_t rows : {1, 3, 8, 13}) {
        INFO("step " << i << ", rows " << rows);
        if (s.op == NativeOp::Attention) {
          check_attention(m.steps[i], c, rows, rng);
          continue;
        }
        std::vector<uint8_t> scratch(static_cast<size_t>(m.scratch_bytes_per_row * rows) + 64);
        rptq_native_args a{};
        a.parallel_for = pool_parallel_for;
        a.rows = rows;
        a.scratch = scratch.data() + (64 - reinterpret_cast<uintptr_t>(scratch.data()) % 64) % 64;
        if (s.op == NativeOp::NormQuant) {
          const std::vector<float> x = random_floats(rng, static_cast<size_t>(rows * s.in), 3.0f);
          std::vector<uint8_t> got(static_cast<size_t>(rows * s.in), 0xAB), want(got.size(), 0xCD);
          a.in[0] = x.data();
          a.out[0] = got.data();
          a.gamma = c.gamma.data();
          a.beta = c.beta.data();
          a.write_index = c.write_index.data();
          m.steps[i](&a);
          cpu::layer_norm_quant(x.data(), rows, s.in, c.gamma.data(), c.beta.data(), c.write_index.data(), s.eps,
                                c.output.params(), want.data(), nullptr);
          CHECK(got == want);
          continue;
        }
        std::vector<uint8_t> x(static_cast<size_t>(rows * s.in));
        for (uint8_t& v : x) v = static_cast<uint8_t>(uniform_int(rng, 0, (1 << c.input.bits) - 1));
        a.in[0] = x.data();
        a.tiles = c.packed->codes.data();
        a.w_scale = c.packed->sw.data();
        a.w_zero = c.packed->zw.data();
        a.w_sums = c.packed->wsum.data();
        a.bias = c.bias.data();
        cpu::ActTensor xt;
        xt.codes = x.data();
        xt.quant = c.input.params();
        const uint32_t flags = (s.relu ? cpu::kRelu : 0u) | (s.accumulate ? cpu::kAccumulate : 0u);
        if (s.output.enabled()) {
          std::vector<uint8_t> got(static_cast<size_t>(rows * s.out), 0xAB), want(got.size(), 0xCD);
          std::vector<float> y(got.size());
          a.out[0] = got.data();
          m.steps[i](&a);
          cpu::linear(xt, rows, c.weights(), flags, y.data());
          cpu::quantize_rows(y.data(), rows, s.out, c.output.params(), want.data());
          CHECK(got == want);
        } else {
          const std::vector<float> prev = random_floats(rng, static_cast<size_t>(rows * s.out), 2.0f);
          std::vector<float> got = prev, want = prev;
          a.out[0] = got.data();
          m.steps[i](&a);
          cpu::linear(xt, rows, c.weights(), flags, want.data());
          CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
        }
      }
    }
  }
  REQUIRE(cpu::force_isa(original.c_str()));
  if (isas_run == 0) WARN("this machine has neither AVX2 nor AVX-512 VNNI: no native code to run");
}

TEST_CASE("the native fingerprint changes with every constant the generated code assumes", "[native]") {
  std::mt19937 rng = make_rng("native_fingerprint");
  Case c = linear_case(rng, 64, 16, 4, 8, 64, true, false, true);
  const std::vector<NativeStep> base = {c.step};
  const uint64_t fp = rptq::engine::native_fingerprint(base);
  CHECK(rptq::engine::native_fingerprint(base) == fp);
  auto changed = [&](auto&& edit) {
    Case d = c;
    d.input = c.input;
    d.output = c.output;
    d.step.input = d.input.params();
    d.step.output = d.output.params();
    edit(d);
    return rptq::engine::native_fingerprint({d.step}) != fp;
  };
  CHECK(changed([](Case& d) { d.input.scale[0] = std::nextafter(d.input.scale[0], 1.0f); }));
  CHECK(changed([](Case& d) { d.input.zero.back() += 1; }));
  CHECK(changed([](Case& d) { d.output.scale.back() *= 2; }));
  CHECK(changed([](Case& d) { d.step.relu = false; }));
  CHECK(changed([](Case& d) { d.step.bits = 3; }));
  CHECK(changed([](Case& d) { d.step.out = 17; }));
  CHECK(changed([](Case& d) { d.step.op = NativeOp::Generic; }));
}

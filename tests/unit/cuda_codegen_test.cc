// The CUDA code generator without a GPU: every kind of step it emits compiles with nvcc for both
// architectures the bundle carries (sm_87, sm_90 with PTX), the fatbin holds what it should, the
// same steps give the same bytes, and the fingerprint the runtime checks follows the constants.
// (Running the kernels against the CPU reference is tests/cuda/cuda_kernels_test.cc, on a GPU.)
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "bundle/fatbin.h"
#include "cuda/cuda_source.h"
#include "cuda/nvcc.h"
#include "engine/device_steps.h"
#include "kernel_test_data.h"
#include "rptq/error.h"

using rptq::engine::DeviceOp;
using rptq::engine::DeviceStep;
using namespace rptq::test;

namespace {

// Quantizers and one step of each kind (and each epilogue) over them.
struct Model {
  ActQuant a8, a4, kv4, out8;
  std::vector<DeviceStep> steps;

  explicit Model(std::mt19937& rng) {
    a8 = make_act_quant(rng, 256, 8, Clusters::kRandom);
    a4 = make_act_quant(rng, 256, 4, Clusters::kFives);
    kv4 = make_act_quant(rng, 256, 4, Clusters::kRandom);
    out8 = make_act_quant(rng, 1024, 8, Clusters::kRandom);
    DeviceStep s;
    s.op = DeviceOp::Embed;
    s.in = s.out = 256;
    s.bits = 8;
    s.group_size = 256;
    steps.push_back(s);
    s = {};
    s.op = DeviceOp::Norm;
    s.in = s.out = 256;
    s.eps = 1e-5f;
    s.gamma = s.beta = s.write_index = true;
    s.output = a8.params();
    steps.push_back(s);
    s = {};
    s.op = DeviceOp::Linear;
    s.in = 256;
    s.out = 1024;
    s.bits = 4;
    s.group_size = 256;
    s.bias = s.relu = true;
    s.input = a8.params();
    s.output = out8.params();
    steps.push_back(s);
    s.output = {};
    s.relu = false;
    s.accumulate = true;
    s.input = a4.params();
    steps.push_back(s);
    s = {};
    s.op = DeviceOp::Attention;
    s.in = 256;
    s.heads = 4;
    s.out = 64;
    s.context = 128;
    s.input = a8.params();
    s.key = s.value = kv4.params();
    s.output = a8.params();
    steps.push_back(s);
    s = {};
    s.op = DeviceOp::Norm;
    s.in = s.out = 256;
    s.gamma = s.beta = true;
    steps.push_back(s);
    s = {};
    s.op = DeviceOp::LmHead;
    s.in = 256;
    s.out = 5000;
    s.bits = 8;
    s.group_size = 256;
    steps.push_back(s);
  }
};

bool have_nvcc() {
  const std::string nvcc = rptq::codegen::default_nvcc();
  return nvcc.find('/') == std::string::npos ? std::system("command -v nvcc >/dev/null 2>&1") == 0
                                             : std::filesystem::exists(nvcc);
}

}  // namespace

TEST_CASE("CUDA source names every kernel the launch rule asks for, deterministically", "[cuda]") {
  std::mt19937 rng = make_rng("cuda source");
  const Model m(rng);
  const std::string source = rptq::codegen::cuda_kernel_source(m.steps);
  for (const std::string& k : rptq::engine::device_kernel_names(m.steps)) CHECK(source.find(" " + k + "(") != std::string::npos);
  CHECK(source == rptq::codegen::cuda_kernel_source(m.steps));
  CHECK(source.find("rptq_cuda_fingerprint") != std::string::npos);
}

TEST_CASE("the device fingerprint follows every constant", "[cuda]") {
  std::mt19937 rng = make_rng("cuda fingerprint");
  Model m(rng);
  const uint64_t base = rptq::engine::device_fingerprint(m.steps);
  const float kept = m.a8.scale[3];
  m.a8.scale[3] *= 1.5f;  // the steps point at the quantizers' storage
  CHECK(rptq::engine::device_fingerprint(m.steps) != base);
  m.a8.scale[3] = kept;
  CHECK(rptq::engine::device_fingerprint(m.steps) == base);
  m.steps[3].accumulate = false;
  CHECK(rptq::engine::device_fingerprint(m.steps) != base);
}

TEST_CASE("steps the kernels cannot take are refused with a reason", "[cuda]") {
  rptq::engine::ModelBinding m;
  m.config.vocab_size = 10;
  m.config.hidden_size = 48;  // 48 inputs are not whole 16-byte loads of U4 weights (32 codes)
  m.config.word_embed_proj_dim = 48;
  m.config.num_heads = 4;
  m.config.num_layers = 1;
  m.config.max_positions = 16;
  m.lm_head.out = 10;
  m.lm_head.in = 48;
  m.lm_head.bits = 4;
  m.lm_head.group_size = 48;
  rptq::engine::PlanStep head;
  head.kind = rptq::bundle::OpKind::LmHead;
  m.plan.push_back(head);
  CHECK_THROWS_WITH(rptq::engine::device_steps(m), Catch::Contains("not whole 32-element loads"));
  m.config.word_embed_proj_dim = 40;
  m.plan[0].kind = rptq::bundle::OpKind::Embed;
  CHECK_THROWS_WITH(rptq::engine::device_steps(m), Catch::Contains("project_in"));
}

TEST_CASE("nvcc builds the kernels for sm_87 and sm_90 (+PTX), the same bytes every time", "[cuda]") {
  if (!have_nvcc()) {
    WARN("no nvcc here (" << rptq::codegen::default_nvcc() << "): the kernels are not compiled");
    return;
  }
  std::mt19937 rng = make_rng("cuda nvcc");
  const Model m(rng);
  const std::string source = rptq::codegen::cuda_kernel_source(m.steps);
  const std::string nvcc = rptq::codegen::default_nvcc();
  for (int sm : {87, 90}) {
    const std::vector<uint8_t> fatbin = rptq::codegen::build_cuda_fatbin(source, sm, true, nvcc);
    const std::vector<rptq::bundle::FatbinEntry> entries =
        rptq::bundle::parse_fatbin(fatbin.data(), fatbin.size(), "fatbin");
    bool cubin = false, ptx = false;
    for (const rptq::bundle::FatbinEntry& e : entries) {
      if (e.kind == rptq::bundle::FatbinEntry::Elf && e.sm == sm) {
        cubin = true;
        REQUIRE_FALSE(e.compressed);
        CHECK(rptq::bundle::cubin_sm(e.data, e.size, "cubin") == sm);
      }
      if (e.kind == rptq::bundle::FatbinEntry::Ptx && e.sm == sm) ptx = true;
    }
    CHECK(cubin);
    CHECK(ptx);
    if (sm == 90) CHECK(rptq::codegen::build_cuda_fatbin(source, sm, true, nvcc) == fatbin);
  }
}

TEST_CASE("wgmma code (--cuda-wgmma): an sm_90a cubin beside the same compute_90 PTX, the same bytes every time",
          "[cuda]") {
  if (!have_nvcc()) {
    WARN("no nvcc here (" << rptq::codegen::default_nvcc() << "): the kernels are not compiled");
    return;
  }
  std::mt19937 rng = make_rng("cuda nvcc wgmma");
  Model m(rng);
  // Beside the model's two U4 linears (one weight group per row): 8-bit weights (one B tile, a
  // full wait per stage by design) and weight groups (the other flush).
  DeviceStep w8 = m.steps[2];
  w8.bits = 8;
  m.steps.push_back(w8);
  DeviceStep grouped = m.steps[2];
  grouped.group_size = 64;
  m.steps.push_back(grouped);
  const std::string nvcc = rptq::codegen::default_nvcc();
  const std::string plain = rptq::codegen::cuda_kernel_source(m.steps);
  const std::string wgmma = rptq::codegen::cuda_kernel_source(m.steps, true);
  CHECK(wgmma.find("#define RPTQ_WGMMA 1") != std::string::npos);
  CHECK(plain.find("RPTQ_WGMMA") == std::string::npos);
  const std::vector<uint8_t> a = rptq::codegen::build_cuda_fatbin(plain, 90, true, nvcc);
  std::string notes;
  const std::vector<uint8_t> b = rptq::codegen::build_cuda_fatbin(wgmma, 90, true, nvcc, true, &notes);
  CHECK(rptq::codegen::build_cuda_fatbin(wgmma, 90, true, nvcc, true) == b);
  // ptxas kept the wgmma pipeline as written: it injected no wait (C7517: one at the stage loop's
  // back edge serialized every stage before) or fence (C7519), and serialized nothing (C7510,
  // C7515). Its notes are printed whatever the warning flags.
  INFO(notes);
  CHECK(notes.find("(C75") == std::string::npos);
  auto entry = [](const std::vector<uint8_t>& fatbin, rptq::bundle::FatbinEntry::Kind kind, bool arch_specific) {
    for (const rptq::bundle::FatbinEntry& e : rptq::bundle::parse_fatbin(fatbin.data(), fatbin.size(), "fatbin"))
      if (e.kind == kind && e.sm == 90 && e.arch_specific == arch_specific)
        return std::vector<uint8_t>(e.data, e.data + e.size);
    return std::vector<uint8_t>();
  };
  const std::vector<uint8_t> cubin_a = entry(a, rptq::bundle::FatbinEntry::Elf, false),
                             cubin_b = entry(b, rptq::bundle::FatbinEntry::Elf, true);  // marked sm_90a
  REQUIRE_FALSE(cubin_a.empty());
  REQUIRE_FALSE(cubin_b.empty());
  CHECK(rptq::bundle::cubin_sm(cubin_b.data(), cubin_b.size(), "cubin") == 90);  // sm_90a's ELF header says 90
  CHECK(cubin_b != cubin_a);  // the tensor-core linear is another kernel there
  // The PTX (what newer GPUs compile) is built without the sm_90a features: mma.sync, as before.
  const std::vector<uint8_t> ptx = entry(a, rptq::bundle::FatbinEntry::Ptx, false);
  CHECK_FALSE(ptx.empty());
  CHECK(entry(b, rptq::bundle::FatbinEntry::Ptx, false) == ptx);
}

TEST_CASE("a missing nvcc is a clear error", "[cuda]") {
  CHECK_THROWS_WITH(rptq::codegen::build_cuda_fatbin("", 90, true, "/nonexistent/nvcc"),
                    Catch::Contains("cannot run '/nonexistent/nvcc'") && Catch::Contains("sm_90"));
}

// Speed of the runtime's integer linear kernel on OPT-125m shapes, per ISA level:
//   rptq-bench-kernels [--out FILE.json] [--group 128] [--clusters 32] [--min-time 0.5]
// For each of 768→768, 768→3072 and 3072→768, W4A8 and W4A4 codes (RPTQ-style activation
// clusters of random sizes, weight groups along the input), it times
//   - decode: one row (GEMV), rotating over enough packed copies of the weights (>= 256 MiB) that
//     every call streams them from memory, as decoding a whole model does;
//   - prefill: 512 rows against one copy;
//   - decode again without packed weights (linear() packs each tile on the fly), best ISA only.
// and reports GOPS (2·rows·in·out per second) and the effective weight bandwidth (bytes of packed
// codes, scales and zero points per second), next to the machine's streaming read bandwidth
// measured here the same way (a 256 MiB buffer, all threads).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/cpu/kernels.h"
#include "random_clusters.h"

namespace cpu = rptq::cpu;
using rptq::bench::Clusters;
using rptq::bench::make_clusters;

namespace {

constexpr int64_t kStreamBytes = int64_t{256} << 20;

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Runs `fn` until min_time has passed (and at least 3 times); returns the fastest call in seconds.
template <class F>
double best_time(double min_time, F&& fn) {
  double best = 1e30;
  const double start = now();
  for (int i = 0; i < 3 || now() - start < min_time; ++i) {
    const double t0 = now();
    fn(i);
    best = std::min(best, now() - t0);
  }
  return best;
}

// GB/s of a parallel read of a 256 MiB buffer (the best of several passes).
double stream_read_bandwidth(double min_time) {
  std::vector<uint64_t> buf(static_cast<size_t>(kStreamBytes / 8));
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = i;
  volatile uint64_t sink = 0;
  const double t = best_time(min_time, [&](int) {
    uint64_t sum = 0;
#pragma omp parallel for schedule(static) reduction(+ : sum)
    for (size_t i = 0; i < buf.size(); ++i) sum += buf[i];
    sink = sink + sum;
  });
  return static_cast<double>(kStreamBytes) / t / 1e9;
}

struct Shape {
  int64_t in, out;
};

struct Layer {
  std::vector<uint8_t> codes, zero;
  std::vector<float> scale, bias;
  cpu::LinearParams params;
  int64_t packed_bytes = 0;  // codes + scales + zero points as the kernel reads them
};

Layer make_layer(std::mt19937& rng, Shape s, int bits, int64_t group) {
  Layer L;
  const int64_t row_bytes = bits <= 4 ? (s.in + 1) / 2 : s.in, groups = s.in / group;
  L.codes.resize(static_cast<size_t>(s.out * row_bytes));
  for (uint8_t& c : L.codes) c = static_cast<uint8_t>(rng());
  if (bits > 4)
    for (uint8_t& c : L.codes) c = static_cast<uint8_t>(c & ((1 << bits) - 1));
  L.zero.resize(static_cast<size_t>(s.out * groups));
  for (uint8_t& z : L.zero) z = static_cast<uint8_t>(rng() % (1u << bits));
  L.scale.assign(static_cast<size_t>(s.out * groups), 0.01f);
  L.bias.assign(static_cast<size_t>(s.out), 0.1f);
  L.params.out = s.out;
  L.params.in = s.in;
  L.params.bits = bits;
  L.params.group_size = group;
  L.params.codes = L.codes.data();
  L.params.scale = L.scale.data();
  L.params.zero = L.zero.data();
  L.params.bias = L.bias.data();
  const int64_t tiles = (s.out + 15) / 16, blocks = (s.in + 7) / 8;
  L.packed_bytes = tiles * blocks * (bits <= 4 ? 64 : 128) + tiles * groups * 16 * 8;
  return L;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Speed of the CPU integer linear kernels on OPT-125m shapes"};
  std::string out_path;
  int64_t group = 128, clusters = 32, prefill_rows = 512;
  double min_time = 0.5;
  app.add_option("--out", out_path, "JSON output file");
  app.add_option("--group", group, "weight group size (0: one group per row)");
  app.add_option("--clusters", clusters, "activation clusters per input");
  app.add_option("--prefill-rows", prefill_rows, "rows of the prefill case");
  app.add_option("--min-time", min_time, "seconds to repeat each measurement for");
  CLI11_PARSE(app, argc, argv);

#ifdef _OPENMP
  const int threads = omp_get_max_threads();
#else
  const int threads = 1;
#endif
  const std::string best_isa = cpu::active_isa();
  // Measured before and after the kernels: other load on the machine moves it.
  const double bandwidth_before = stream_read_bandwidth(min_time);
  std::printf("threads %d, ISA %s, streaming read bandwidth %.1f GB/s\n", threads, best_isa.c_str(), bandwidth_before);
  std::printf("%-11s %-5s %-10s %5s %12s %9s %9s %8s\n", "isa", "conf", "shape", "rows", "time (us)", "GOPS",
              "weight GB/s", "of bw (before)");

  nlohmann::json results = nlohmann::json::array();
  std::mt19937 rng(42);
  const Shape shapes[] = {{768, 768}, {768, 3072}, {3072, 768}};
  const struct {
    const char* name;
    int wbits, abits;
  } configs[] = {{"W4A8", 4, 8}, {"W4A4", 4, 4}};

  for (const Shape& s : shapes)
    for (const auto& conf : configs) {
      const int64_t g = group > 0 && s.in % group == 0 ? group : s.in;
      const Layer layer = make_layer(rng, s, conf.wbits, g);
      const Clusters cl = make_clusters(rng, s.in, clusters, conf.abits);
      // Enough packed copies that the decode loop streams from memory.
      const int64_t copies = std::max<int64_t>(1, kStreamBytes / layer.packed_bytes);
      std::vector<std::shared_ptr<const cpu::PackedWeights>> packed;
      for (int64_t i = 0; i < copies; ++i) packed.push_back(cpu::pack_weights(layer.params));
      std::vector<uint8_t> act(static_cast<size_t>(prefill_rows * s.in));
      for (uint8_t& a : act) a = static_cast<uint8_t>(rng() % (1u << conf.abits));
      std::vector<float> y(static_cast<size_t>(prefill_rows * s.out));
      cpu::ActTensor x;
      x.codes = act.data();
      x.quant = cl.params(conf.abits);

      for (const char* isa : {"scalar", "avx2", "avx512vnni"}) {
        if (!cpu::force_isa(isa)) continue;
        // The last case: decode without pack_weights (each tile packed on the fly), best ISA only.
        for (int run = 0; run < 3; ++run) {
          const bool use_packed = run < 2;
          const int64_t rows = run == 1 ? prefill_rows : 1;
          if (!use_packed && isa != best_isa) continue;
          cpu::LinearParams w = layer.params;
          const double t = best_time(min_time, [&](int i) {
            w.packed = use_packed ? packed[static_cast<size_t>(rows == 1 ? i % copies : 0)].get() : nullptr;
            cpu::linear(x, rows, w, 0, y.data());
          });
          const double gops = 2.0 * static_cast<double>(rows * s.in * s.out) / t / 1e9;
          const double weight_gbs = static_cast<double>(layer.packed_bytes) / t / 1e9;
          char shape[32];
          std::snprintf(shape, sizeof shape, "%lldx%lld", static_cast<long long>(s.in), static_cast<long long>(s.out));
          std::printf("%-11s %-5s %-10s %5lld %12.1f %9.1f %9.2f %7.0f%%%s\n", isa, conf.name, shape,
                      static_cast<long long>(rows), t * 1e6, gops, weight_gbs, 100.0 * weight_gbs / bandwidth_before,
                      use_packed ? "" : "  (not packed)");
          std::fflush(stdout);
          results.push_back({{"isa", isa},
                             {"config", conf.name},
                             {"in", s.in},
                             {"out", s.out},
                             {"rows", rows},
                             {"packed", use_packed},
                             {"weight_group", g},
                             {"act_clusters", clusters},
                             {"seconds", t},
                             {"gops", gops},
                             {"weight_bytes", layer.packed_bytes},
                             {"weight_gbs", weight_gbs},
                             {"fraction_of_bandwidth_before", weight_gbs / bandwidth_before}});
        }
      }
      cpu::force_isa(best_isa.c_str());
    }

  const double bandwidth_after = stream_read_bandwidth(min_time);
  std::printf("streaming read bandwidth after the kernels: %.1f GB/s\n", bandwidth_after);
  if (!out_path.empty()) {
    nlohmann::json doc = {{"threads", threads},
                          {"best_isa", best_isa},
                          {"stream_read_gbs_before", bandwidth_before},
                          {"stream_read_gbs_after", bandwidth_after},
                          {"stream_bytes", kStreamBytes},
                          {"results", results}};
    std::ofstream(out_path) << doc.dump(2) << "\n";
  }
  return 0;
}

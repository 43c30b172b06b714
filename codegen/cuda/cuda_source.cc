#include "cuda/cuda_source.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "kernels/cuda/abi.h"
#include "rptq/opt_config.h"
#include "source_text.h"

namespace rptq::codegen {
namespace {

using engine::DeviceOp;
using engine::DeviceStep;

// The per-channel tables of the module, each defined once however many steps read it (q/k/v_proj
// read one quantizer; layers often repeat nothing, but identical tables are free to share).
class Tables {
 public:
  // The name of a __device__ table holding `literals` of C type `type`.
  std::string table(const std::string& type, const std::string& literals) {
    const std::string key = type + ":" + literals;
    auto it = names_.find(key);
    if (it != names_.end()) return it->second;
    const std::string name = "kTable" + std::to_string(names_.size());
    text_ << "__device__ " << type << " " << name << "[] = {" << literals << "};\n";
    names_.emplace(key, name);
    return name;
  }
  std::string text() const { return text_.str(); }

 private:
  std::map<std::string, std::string> names_;
  std::ostringstream text_;
};

// Members k<Flag> (whether q is on), k<Max> (its largest code) and `<prefix>_scale(c)`,
// `<prefix>_zero(c)`: the scale and zero point of channel c's cluster, read through a table of
// cluster indices (a byte per channel, not a float and an int: the source and the module stay small).
std::string quantizer(Tables& t, const std::string& prefix, const std::string& flag, const std::string& max,
                      const cpu::ActQuantParams& q, int64_t channels) {
  std::ostringstream o;
  o << "  static constexpr bool k" << flag << " = " << bool_literal(q.enabled()) << ";\n"
    << "  static constexpr int k" << max << " = " << (q.enabled() ? (1 << q.bits) - 1 : 0) << ";\n";
  if (!q.enabled()) {
    o << "  static __device__ __forceinline__ float " << prefix << "_scale(int64_t) { return 0.0f; }\n"
      << "  static __device__ __forceinline__ int " << prefix << "_zero(int64_t) { return 0; }\n";
    return o.str();
  }
  std::vector<int32_t> cluster(static_cast<size_t>(channels));
  int64_t begin = 0;
  for (int32_t c = 0; c < q.num_clusters && begin < channels; ++c) {
    const int64_t end = std::min<int64_t>(q.cluster_end[c], channels);
    std::fill(cluster.begin() + begin, cluster.begin() + end, c);
    begin = end;
  }
  const std::string index =
      t.table(q.num_clusters <= 256 ? "uint8_t" : "uint16_t", int_literals(cluster.data(), channels));
  const std::string scale = t.table("float", float_literals(q.scale, q.num_clusters));
  const std::string zero = t.table("int32_t", int_literals(q.zero, q.num_clusters));
  o << "  static __device__ __forceinline__ float " << prefix << "_scale(int64_t c) { return " << scale << "["
    << index << "[c]]; }\n"
    << "  static __device__ __forceinline__ int " << prefix << "_zero(int64_t c) { return " << zero << "[" << index
    << "[c]]; }\n";
  return o.str();
}

std::string shape(const char* name, int64_t v) {
  return "  static constexpr int64_t " + std::string(name) + " = " + std::to_string(v) + ";\n";
}
std::string flag(const char* name, bool v) {
  return "  static constexpr bool " + std::string(name) + " = " + bool_literal(v) + ";\n";
}

struct StepText {
  std::string comment, members, kernel;  // kernel: the template in cuda_kernels.cuh
};

StepText embed(const DeviceStep& s) {
  return {std::string("embedding from ") + (s.table ? "an F32 table" : "the LM head's codes"),
          shape("kIn", s.in) + shape("kOut", s.out) + flag("kTable", s.table) +
              "  static constexpr int kBits = " + std::to_string(s.bits) + ";\n" + shape("kGroup", s.group_size),
          "embed"};
}

StepText norm(Tables& t, const DeviceStep& s) {
  return {"LayerNorm" + (s.output.enabled() ? " + " + std::to_string(s.output.bits) + "-bit codes" : std::string()),
          shape("kCols", s.in) + "  static constexpr float kEps = " + hex_float(s.eps) + ";\n" +
              flag("kGamma", s.gamma) + flag("kBeta", s.beta) + flag("kWriteIndex", s.write_index) +
              quantizer(t, "col", "Quantize", "QMax", s.output, s.out),
          "norm"};
}

// The segments of the tensor-core and integer decode kernels: the input quantizer's clusters cut
// at weight-group boundaries, as kSegments, segment_end(i) (exclusive ends, the last = in) and
// segment_at(b) (the segment of channel 32 b).
std::string mma_segments(Tables& t, const DeviceStep& s) {
  std::vector<int64_t> ends;
  for (int32_t c = 0; c < s.input.num_clusters; ++c) ends.push_back(std::min<int64_t>(s.input.cluster_end[c], s.in));
  for (int64_t g = s.group_size; g <= s.in; g += s.group_size) ends.push_back(g);
  ends.push_back(s.in);
  std::sort(ends.begin(), ends.end());
  ends.erase(std::unique(ends.begin(), ends.end()), ends.end());
  ends.erase(std::remove(ends.begin(), ends.end(), int64_t{0}), ends.end());
  std::vector<int32_t> narrow(ends.begin(), ends.end());
  // The segment holding channel 32 b, for each 32-channel block b (decode's unit of work).
  std::vector<int32_t> at;
  for (int64_t k = 0, seg = 0; k < s.in; k += 32) {
    while (ends[static_cast<size_t>(seg)] <= k) ++seg;
    at.push_back(static_cast<int32_t>(seg));
  }
  const std::string table = t.table("int32_t", int_literals(narrow.data(), static_cast<int64_t>(narrow.size())));
  const std::string at_table =
      t.table(narrow.size() <= 256 ? "uint8_t" : "uint16_t", int_literals(at.data(), static_cast<int64_t>(at.size())));
  return "  static constexpr int kSegments = " + std::to_string(narrow.size()) + ";\n" +
         "  static __device__ __forceinline__ int64_t segment_end(int i) { return " + table + "[i]; }\n" +
         "  static __device__ __forceinline__ int segment_at(int64_t block) { return " + at_table + "[block]; }\n";
}

StepText linear(Tables& t, const DeviceStep& s) {
  const std::string in = s.input.enabled() ? std::to_string(s.input.bits) + "-bit codes" : "F32";
  return {"[" + std::to_string(s.out) + " x " + std::to_string(s.in) + "] " + std::to_string(s.bits) +
              "-bit weights x " + in,
          shape("kIn", s.in) + shape("kOut", s.out) + "  static constexpr int kBits = " + std::to_string(s.bits) +
              ";\n" + shape("kGroup", s.group_size) + flag("kBias", s.bias) + flag("kRelu", s.relu) +
              flag("kAccumulate", s.accumulate) + quantizer(t, "in", "InCodes", "InMax", s.input, s.in) +
              quantizer(t, "out", "Quantize", "QMax", s.output, s.out) + flag("kMma", engine::has_mma_kernel(s)) +
              (engine::has_mma_kernel(s) ? mma_segments(t, s) : std::string()),
          "linear"};
}

StepText attention(Tables& t, const DeviceStep& s) {
  // The CPU kernels' scale, computed the same way (session.cc).
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.out));
  return {std::to_string(s.heads) + " heads of " + std::to_string(s.out) + ", K" + std::to_string(s.key.bits) + "V" +
              std::to_string(s.value.bits) + " cache",
          shape("kHidden", s.in) + shape("kHeads", s.heads) + shape("kHeadDim", s.out) +
              shape("kContext", s.context) + "  static constexpr float kScale = " + hex_float(scale) + ";\n" +
              quantizer(t, "q", "QueryCodes", "QMax", s.input, s.in) +
              quantizer(t, "k", "KeyCodes", "KMax", s.key, s.in) +
              quantizer(t, "v", "ValueCodes", "VMax", s.value, s.in) +
              quantizer(t, "o", "OutCodes", "OMax", s.output, s.in) +
              flag("kMmaAttention", engine::has_mma_attention(s)),
          "attend"};
}

}  // namespace

std::string cuda_kernel_source(const std::vector<DeviceStep>& steps, bool wgmma) {
  Tables tables;
  std::ostringstream structs, kernels;
  // Steps with equal constants share a class (q/k/v_proj differ only in the weights they are given).
  std::map<std::string, size_t> first_with;
  for (size_t i = 0; i < steps.size(); ++i) {
    const DeviceStep& s = steps[i];
    StepText text;
    switch (s.op) {
      case DeviceOp::Embed: text = embed(s); break;
      case DeviceOp::Norm: text = norm(tables, s); break;
      case DeviceOp::Linear:
      case DeviceOp::LmHead: text = linear(tables, s); break;
      case DeviceOp::Attention: text = attention(tables, s); break;
    }
    structs << "// step " << i << ", layer " << s.layer << ": " << text.comment << "\n";
    const std::string key = text.kernel + text.members;
    if (auto it = first_with.find(key); it != first_with.end()) {
      structs << "using Step" << i << " = Step" << it->second << ";\n\n";
    } else {
      first_with.emplace(key, i);
      structs << "struct Step" << i << " {\n" << text.members << "};\n\n";
    }
    const int threads = s.op == DeviceOp::Attention ? engine::kAttentionThreads : engine::kDeviceThreads;
    auto kernel = [&](const std::string& suffix, const std::string& fn, int block) {
      kernels << "extern \"C\" __global__ void __launch_bounds__(" << block << ") rptq_step_" << i << suffix
              << "(rptq_cuda_args a) { rptq::cuda::" << fn << "<rptq_model::Step" << i << ">(a); }\n";
    };
    if (s.op == DeviceOp::Attention) kernel("_kv", "append_kv", engine::kDeviceThreads);
    // A linear step with integer kernels never launches the SIMT one (device_launches): not built.
    if (!engine::has_mma_kernel(s)) kernel("", text.kernel, threads);
    if (s.op == DeviceOp::Attention) {
      kernel("_combine", "attend_combine", engine::kAttentionThreads);
      kernel("_prefill", "attend_prefill", engine::kAttentionThreads);
    }
    if (s.op == DeviceOp::Linear || s.op == DeviceOp::LmHead) kernel("_decode", "linear_decode", threads);
    if (engine::has_mma_kernel(s)) {
      kernel("_rows", "linear_rows", engine::kDeviceThreads);
      kernel("_mma", "linear_mma", engine::kMmaThreads);
      kernel("_fold", "linear_fold", engine::kDeviceThreads);
    }
  }
  char fingerprint[32];
  std::snprintf(fingerprint, sizeof fingerprint, "0x%016" PRIx64 "ull", engine::device_fingerprint(steps));
  std::ostringstream o;
  o << "// Generated by rptq-compile: the CUDA code of one bundle. Do not edit.\n"
    << (wgmma ? "#define RPTQ_WGMMA 1  // rptq-compile --cuda-wgmma\n" : "") << "#include \"cuda_kernels.cuh\"\n\n"
    << "// The geometry engine/device_steps.cc launches with.\n"
    << "static_assert(rptq::cuda::kThreads == " << engine::kDeviceThreads << ", \"launch geometry\");\n"
    << "static_assert(rptq::cuda::kLinearWarps == " << engine::kLinearWarps << ", \"launch geometry\");\n"
    << "static_assert(rptq::cuda::kLinearRows == " << engine::kLinearRows << ", \"launch geometry\");\n"
    << "static_assert(rptq::cuda::kLinearChunk == " << engine::kLinearChunk << ", \"launch geometry\");\n"
    << "static_assert(rptq::cuda::kStagedRow == " << engine::kLinearStagedRow << ", \"launch geometry\");\n"
    << "static_assert(rptq::cuda::kDecodeChunk == " << engine::kDecodeChunk << ", \"launch geometry\");\n"
    << "static_assert(rptq::cuda::kStaged<rptq::cuda::kDecodeChunk> == " << engine::kDecodeStagedRow
    << ", \"launch geometry\");\n"
    << "static_assert(rptq::cuda::kAttentionThreads == " << engine::kAttentionThreads << ", \"launch geometry\");\n"
    << "static_assert(rptq::cuda::kPrefillQueries == " << engine::kPrefillQueries << ", \"launch geometry\");\n"
    << "static_assert(rptq::cuda::kPrefillKeys == " << engine::kPrefillKeys << ", \"launch geometry\");\n"
    << "static_assert(rptq::cuda::kMmaQueries == " << engine::kMmaQueries << ", \"launch geometry\");\n"
    << "static_assert(rptq::cuda::kMmaKeys == " << engine::kMmaKeys << ", \"launch geometry\");\n"
    << "static_assert(rptq::cuda::kSplitKeys == " << engine::kSplitKeys << ", \"launch geometry\");\n"
    << "static_assert(rptq::cuda::kMmaThreads == " << engine::kMmaThreads << ", \"launch geometry\");\n"
    << "static_assert(rptq::cuda::kMmaRows == " << engine::kMmaRows << ", \"launch geometry\");\n"
    << "static_assert(rptq::cuda::kMmaCols == " << engine::kMmaCols << ", \"launch geometry\");\n"
    << "static_assert(rptq::cuda::kMmaChunk == " << engine::kMmaChunk << ", \"launch geometry\");\n"
    << "static_assert(rptq::cuda::kPositionOffset == " << OptConfig::kPositionOffset << ", \"OPT positions\");\n\n"
    // Nothing has internal linkage (no anonymous namespace, no namespace-scope const): nvcc names
    // such symbols after a hash of the source file's path, which would make the bytes depend on
    // the temporary directory.
    << "namespace rptq_model {\n\n"
    << tables.text() << "\n"
    << structs.str() << "}  // namespace rptq_model\n\n"
    << kernels.str() << "\n"
    << "__device__ uint32_t rptq_cuda_abi_version = " << RPTQ_CUDA_ABI_VERSION << ";\n"
    << "__device__ uint64_t rptq_cuda_fingerprint = " << fingerprint << ";\n";
  return o.str();
}

}  // namespace rptq::codegen

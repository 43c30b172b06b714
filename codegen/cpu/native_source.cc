#include "cpu/native_source.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "kernels/cpu/packed_weights.h"
#include "kernels/cpu/quantize.h"
#include "kernels/cpu/spans.h"
#include "kernels/native/abi.h"
#include "rptq/error.h"
#include "source_text.h"

namespace rptq::codegen {
namespace {

using engine::NativeOp;
using engine::NativeStep;

// The members of a step's class of constants, and what it is in a comment.
struct StepText {
  std::string comment, members;
};

StepText norm_quant(const NativeStep& s) {
  const cpu::ActQuantParams& q = s.output;
  std::ostringstream o;
  o << "  static constexpr int64_t kCols = " << s.in << ";\n"
    << "  static constexpr float kEps = " << hex_float(s.eps) << ";\n"
    << "  static constexpr int32_t kEnd[] = {" << int_literals(q.cluster_end, q.num_clusters) << "};\n"
    << "  static constexpr float kScale[] = {" << float_literals(q.scale, q.num_clusters) << "};\n"
    << "  static constexpr int32_t kZero[] = {" << int_literals(q.zero, q.num_clusters) << "};\n"
    << "  static constexpr ActQuantParams kQuant = {" << q.bits << ", " << q.num_clusters << ", kEnd, kScale, kZero};\n";
  return {"LayerNorm + " + std::to_string(q.bits) + "-bit codes, " + std::to_string(q.num_clusters) + " clusters",
          o.str()};
}

StepText linear_int(const NativeStep& s) {
  cpu::LinearParams w;
  w.out = s.out;
  w.in = s.in;
  w.bits = s.bits;
  w.group_size = s.group_size;
  const cpu::detail::PackLayout L = cpu::detail::pack_layout(w);
  const cpu::detail::SpanTable t = cpu::detail::make_span_table(s.input, s.in, L.group_size);
  const engine::NativeScratch scratch = engine::native_scratch(s);
  const int64_t spans = static_cast<int64_t>(t.spans.size());
  std::ostringstream o;
  o << "  static constexpr int64_t kIn = " << s.in << ", kOut = " << s.out << ", kGroups = " << L.groups
    << ", kTiles = " << L.tiles << ", kTileBytes = " << L.tile_bytes << ";\n"
    << "  static constexpr int64_t kRowStride = " << scratch.row_stride << ", kSumStride = " << scratch.sum_stride
    << ";\n"
    << "  static constexpr bool kU4 = " << bool_literal(L.u4) << ", kWide = " << bool_literal(s.bits == 8)
    << ", kRelu = " << bool_literal(s.relu) << ", kAccumulate = " << bool_literal(s.accumulate)
    << ", kQuantizeOutput = " << bool_literal(s.output.enabled()) << ";\n"
    << "  static constexpr int32_t kNumSpans = " << spans << ";\n"
    << "  static constexpr Span kSpans[] = {\n";
  for (const cpu::detail::Span& sp : t.spans)
    o << "      {" << sp.block_begin << ", " << sp.blocks << ", " << sp.act_block << ", " << sp.group << ", " << sp.za
      << ", " << hex_float(sp.sa) << "},\n";
  o << "  };\n"
    << "  static constexpr int64_t kSpanBegin[] = {"
    << literal_list(t.begin.data(), spans, [](int64_t x) { return std::to_string(x); }) << "};\n"
    << "  static constexpr int64_t kSpanEnd[] = {"
    << literal_list(t.end.data(), spans, [](int64_t x) { return std::to_string(x); }) << "};\n";
  if (s.output.enabled()) {
    // Per output channel: its cluster's quantizer.
    std::vector<float> scale, zero;
    cpu::detail::channel_params(s.output, s.out, &scale, &zero);
    o << "  static constexpr float kOutScale[] = {" << float_literals(scale.data(), s.out) << "};\n"
      << "  static constexpr int32_t kOutZero[] = {" << integral_float_literals(zero.data(), static_cast<int64_t>(zero.size())) << "};\n"
      << "  static constexpr int32_t kOutMax = " << ((1 << s.output.bits) - 1) << ";\n";
  }
  return {"[" + std::to_string(s.out) + " x " + std::to_string(s.in) + "] " + std::to_string(s.bits) +
              "-bit weights x " + std::to_string(s.input.bits) + "-bit activations, " + std::to_string(spans) +
              " spans",
          o.str()};
}

// A quantizer as constexpr members kName{End,Scale,Zero} and an ActQuantParams kName.
std::string quant_members(const std::string& name, const cpu::ActQuantParams& q) {
  std::ostringstream o;
  o << "  static constexpr int32_t k" << name << "End[] = {" << int_literals(q.cluster_end, q.num_clusters) << "};\n"
    << "  static constexpr float k" << name << "Scale[] = {" << float_literals(q.scale, q.num_clusters) << "};\n"
    << "  static constexpr int32_t k" << name << "Zero[] = {" << int_literals(q.zero, q.num_clusters) << "};\n"
    << "  static constexpr ActQuantParams k" << name << " = {" << q.bits << ", " << q.num_clusters << ", k" << name
    << "End, k" << name << "Scale, k" << name << "Zero};\n";
  return o.str();
}

StepText attention(const NativeStep& s) {
  std::ostringstream o;
  std::vector<float> scale, zero;
  // The generic kernel's scale, computed the same way (session.cc).
  const float softmax_scale = 1.0f / std::sqrt(static_cast<float>(s.out));
  o << "  static constexpr int64_t kHidden = " << s.in << ", kHeads = " << s.heads << ", kHeadDim = " << s.out << ";\n"
    << "  static constexpr float kScale = " << hex_float(softmax_scale) << ";\n"
    << "  static constexpr bool kQuantizeQuery = " << bool_literal(s.input.enabled())
    << ", kQuantizeOutput = " << bool_literal(s.output.enabled()) << ";\n"
    << quant_members("KeyQuant", s.key) << quant_members("ValueQuant", s.value);
  cpu::detail::channel_params(s.key, s.in, &scale, &zero);
  o << "  static constexpr float kKs[] = {" << float_literals(scale.data(), s.in) << "};\n"
    << "  static constexpr float kKz[] = {" << float_literals(zero.data(), s.in) << "};\n";
  cpu::detail::channel_params(s.value, s.in, &scale, &zero);
  o << "  static constexpr float kVs[] = {" << float_literals(scale.data(), s.in) << "};\n"
    << "  static constexpr float kVz[] = {" << float_literals(zero.data(), s.in) << "};\n";
  if (s.input.enabled()) {
    cpu::detail::channel_params(s.input, s.in, &scale, &zero);
    o << "  static constexpr float kQs[] = {" << float_literals(scale.data(), s.in) << "};\n"
      << "  static constexpr int32_t kQz[] = {" << integral_float_literals(zero.data(), static_cast<int64_t>(zero.size())) << "};\n"
      << "  static constexpr int32_t kQMax = " << ((1 << s.input.bits) - 1) << ";\n";
  }
  if (s.output.enabled()) o << quant_members("OutQuant", s.output);
  return {std::to_string(s.heads) + " heads of " + std::to_string(s.out) + ", K" + std::to_string(s.key.bits) + "V" +
              std::to_string(s.value.bits) + " cache",
          o.str()};
}

}  // namespace

std::string native_kernel_source(const std::vector<NativeStep>& steps, const std::string& isa) {
  std::ostringstream o;
  o << "// Generated by rptq-compile: the native CPU code of one bundle. Do not edit.\n"
    << "#include \"native_kernels.h\"\n\n"
    << "namespace {\n\nusing rptq::cpu::ActQuantParams;\nusing rptq::cpu::detail::Span;\n\n";
  uint64_t scratch = 0;
  // Steps with equal constants share a class, hence one instantiation (q/k/v_proj read the same
  // activations with the same shapes).
  std::map<std::string, size_t> first_with;
  for (size_t i = 0; i < steps.size(); ++i) {
    const NativeStep& s = steps[i];
    scratch = std::max(scratch, engine::native_scratch(s).bytes_per_row());
    if (s.op == NativeOp::Generic) continue;
    if (!s.output.enabled() && s.op == NativeOp::NormQuant)
      fail("native code", "step " + std::to_string(i) + ": a native LayerNorm must quantize its output");
    if (!s.input.enabled() && s.op == NativeOp::LinearInt)
      fail("native code", "step " + std::to_string(i) + ": a native linear layer must read activation codes");
    const StepText text = s.op == NativeOp::NormQuant   ? norm_quant(s)
                          : s.op == NativeOp::LinearInt ? linear_int(s)
                                                        : attention(s);
    const std::string key = std::to_string(static_cast<int>(s.op)) + text.members;
    o << "// step " << i << ", layer " << s.layer << ": " << text.comment << "\n";
    if (auto it = first_with.find(key); it != first_with.end()) {
      o << "using Step" << i << " = Step" << it->second << ";\n\n";
      continue;
    }
    first_with.emplace(key, i);
    o << "struct Step" << i << " {\n" << text.members << "};\n\n";
  }
  o << "const rptq_native_step_fn kSteps[] = {\n";
  for (size_t i = 0; i < steps.size(); ++i) {
    const NativeStep& s = steps[i];
    if (s.op == NativeOp::NormQuant)
      o << "    rptq::native::norm_quant<Step" << i << ">,\n";
    else if (s.op == NativeOp::LinearInt)
      o << "    rptq::native::linear_int<Step" << i << ">,\n";
    else if (s.op == NativeOp::Attention)
      o << "    rptq::native::attention<Step" << i << ">,\n";
    else
      o << "    nullptr,\n";
  }
  char fingerprint[32];
  std::snprintf(fingerprint, sizeof fingerprint, "0x%016" PRIx64 "ull", engine::native_fingerprint(steps));
  o << "};\n\n"
    << "const rptq_native_module kModule = {" << RPTQ_NATIVE_ABI_VERSION << ", \"" << isa << "\", " << fingerprint
    << ", " << steps.size() << ", kSteps, " << scratch << "};\n\n"
    << "}  // namespace\n\n"
    << "RPTQ_NATIVE_EXPORT const rptq_native_module* rptq_native_module_v1(void) { return &kModule; }\n";
  return o.str();
}

}  // namespace rptq::codegen

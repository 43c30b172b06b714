#include "engine/native_steps.h"

#include <cstring>
#include <string>

#include "engine/step_image.h"
#include "kernels/cpu/packed_weights.h"
#include "kernels/cpu/spans.h"

namespace rptq::engine {
namespace {

using bundle::OpFlags;
using bundle::OpKind;

bool has(uint32_t flags, OpFlags f) { return (flags & static_cast<uint32_t>(f)) != 0; }

NativeStep describe(const ModelBinding& m, const PlanStep& s) {
  NativeStep n;
  n.layer = s.layer;
  if (s.layer < 0) return n;  // the final norm and the projections stay float
  const LayerBinding& L = m.layers[static_cast<size_t>(s.layer)];
  auto act = [&](int point) { return point >= 0 ? L.act[static_cast<size_t>(point)] : cpu::ActQuantParams{}; };
  if (s.kind == OpKind::NormQuant && act(s.act).enabled() && s.norm <= 1) {
    const NormBinding& nb = s.norm == 0 ? L.attn_norm : L.ffn_norm;
    n.op = NativeOp::NormQuant;
    n.in = n.out = m.config.hidden_size;
    n.eps = m.config.layer_norm_eps;
    n.gamma = nb.gamma != nullptr;
    n.beta = nb.beta != nullptr;
    n.write_index = nb.write_index != nullptr;
    n.output = act(s.act);
  } else if (s.kind == OpKind::Attention && act(static_cast<int>(bundle::ActPoint::Key)).enabled() &&
             act(static_cast<int>(bundle::ActPoint::Value)).enabled()) {
    n.op = NativeOp::Attention;
    n.in = m.config.hidden_size;
    n.heads = m.config.num_heads;
    n.out = m.config.head_dim();
    n.input = act(static_cast<int>(bundle::ActPoint::Query));
    n.key = act(static_cast<int>(bundle::ActPoint::Key));
    n.value = act(static_cast<int>(bundle::ActPoint::Value));
    n.output = act(s.out_act);
  } else if (s.kind == OpKind::Linear && s.linear != bundle::LinearId::ProjectOut && act(s.act).enabled()) {
    const cpu::LinearParams& w = L.linear[static_cast<size_t>(s.linear)];
    if (w.bits > 8) return n;
    const cpu::detail::PackLayout layout = cpu::detail::pack_layout(w);
    n.op = NativeOp::LinearInt;
    n.in = w.in;
    n.out = w.out;
    n.bits = w.bits;
    n.group_size = layout.group_size;
    n.bias = w.bias != nullptr;
    n.relu = has(s.flags, OpFlags::Relu);
    n.input = act(s.act);
    if (has(s.flags, OpFlags::QuantizeOutput))
      n.output = act(s.out_act);
    else
      n.accumulate = has(s.flags, OpFlags::Accumulate);
  }
  return n;
}

}  // namespace

std::vector<NativeStep> native_steps(const ModelBinding& m) {
  std::vector<NativeStep> steps;
  steps.reserve(m.plan.size());
  for (const PlanStep& s : m.plan) steps.push_back(describe(m, s));
  return steps;
}

uint64_t native_fingerprint(const std::vector<NativeStep>& steps) {
  StepImage image;
  image.put(static_cast<uint64_t>(steps.size()));
  for (const NativeStep& s : steps) {
    image.put(static_cast<uint8_t>(s.op));
    if (s.op == NativeOp::Generic) continue;
    image.put(s.layer);
    image.put(s.in);
    image.put(s.out);
    image.put(s.heads);
    image.put(s.bits);
    image.put(s.group_size);
    image.put(s.eps);
    for (bool b : {s.gamma, s.beta, s.write_index, s.bias, s.relu, s.accumulate}) image.put(b);
    image.put(s.input);
    image.put(s.output);
    image.put(s.key);
    image.put(s.value);
  }
  return image.hash();
}

NativeScratch native_scratch(const NativeStep& step) {
  NativeScratch s;
  if (step.op != NativeOp::LinearInt) return s;
  const cpu::detail::SpanTable t = cpu::detail::make_span_table(step.input, step.in, step.group_size);
  s.row_stride = (static_cast<uint64_t>(t.row_bytes) + 63) / 64 * 64;
  s.sum_stride = (t.spans.size() * sizeof(int32_t) + 63) / 64 * 64;
  return s;
}

}  // namespace rptq::engine

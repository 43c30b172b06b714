#include "plan/execution_plan.h"

#include <algorithm>
#include <numeric>

#include "bundle/dtype.h"
#include "rptq/error.h"

namespace rptq::codegen {
namespace {

using bundle::ActPoint;
using bundle::DType;
using bundle::LinearId;
using bundle::OpFlags;
using bundle::OpKind;

constexpr uint64_t kAlign = 64;

uint64_t align_up(uint64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

class Builder {
 public:
  Builder(const OptConfig& c, const std::vector<LayerActBits>& bits) : c_(c), bits_(bits) {}

  ExecutionPlan build(int64_t max_tokens) {
    plan_.max_tokens = max_tokens;
    const int64_t D = c_.hidden_size, E = c_.word_embed_proj_dim;
    int h = buffer("hidden", DType::F32, D);
    op(OpKind::Embed, {}, {h});
    for (int l = 0; l < static_cast<int>(c_.num_layers); ++l) {
      const std::string p = "layers." + std::to_string(l) + ".";
      int x = act_buffer(p + "attn_norm_out", l, ActPoint::AttnNormOut, D);
      norm_op(l, 0, ActPoint::AttnNormOut, h, x);
      int q = buffer(p + "query", DType::F32, D);
      int k = buffer(p + "key", DType::F32, D);
      int v = buffer(p + "value", DType::F32, D);
      linear_op(l, LinearId::QProj, ActPoint::AttnNormOut, x, q);
      linear_op(l, LinearId::KProj, ActPoint::AttnNormOut, x, k);
      linear_op(l, LinearId::VProj, ActPoint::AttnNormOut, x, v);
      int a = act_buffer(p + "attn_out", l, ActPoint::AttnOut, D);
      PlanOp& att = op(OpKind::Attention, {q, k, v}, {a});
      att.layer = l;
      att.out_act = static_cast<int>(ActPoint::AttnOut);
      linear_op(l, LinearId::OutProj, ActPoint::AttnOut, a, h, OpFlags::Accumulate);
      int x2 = act_buffer(p + "ffn_norm_out", l, ActPoint::FfnNormOut, D);
      norm_op(l, 1, ActPoint::FfnNormOut, h, x2);
      int f = act_buffer(p + "fc1_out", l, ActPoint::Fc1Out, c_.ffn_dim);
      if (quantized(l, ActPoint::Fc1Out)) {
        // fc1's float output is quantized into the codes fc2 reads; the float rows are scratch.
        int scratch = buffer(p + "fc1_out.f32", DType::F32, c_.ffn_dim);
        PlanOp& fc1 = linear_op(l, LinearId::Fc1, ActPoint::FfnNormOut, x2, f, OpFlags::Relu);
        fc1.flags = fc1.flags | OpFlags::QuantizeOutput;
        fc1.out_act = static_cast<int>(ActPoint::Fc1Out);
        fc1.outputs.push_back(scratch);
        touch(scratch);
      } else {
        linear_op(l, LinearId::Fc1, ActPoint::FfnNormOut, x2, f, OpFlags::Relu);
      }
      linear_op(l, LinearId::Fc2, ActPoint::Fc1Out, f, h, OpFlags::Accumulate);
    }
    int head_in = h;
    if (c_.final_layer_norm) {
      head_in = buffer("final_norm_out", DType::F32, D);
      norm_op(-1, 2, ActPoint::AttnNormOut, h, head_in, /*quantize=*/false);
    }
    if (c_.has_projections()) {
      int projected = buffer("project_out", DType::F32, E);
      linear_op(-1, LinearId::ProjectOut, ActPoint::AttnNormOut, head_in, projected, OpFlags::NONE,
                /*quantize_input=*/false);
      head_in = projected;
    }
    op(OpKind::LmHead, {head_in}, {});

    for (int l = 0; l < static_cast<int>(c_.num_layers); ++l)
      for (ActPoint p : {ActPoint::Key, ActPoint::Value})
        plan_.kv_cache_bytes_per_token += static_cast<uint64_t>(D) * (quantized(l, p) ? 1 : 4);
    assign_buffer_offsets(plan_);
    return std::move(plan_);
  }

 private:
  bool quantized(int layer, ActPoint p) const {
    return bits_[static_cast<size_t>(layer)][static_cast<size_t>(p)] < 16;
  }

  int buffer(const std::string& name, DType dtype, int64_t row_elems) {
    plan_.buffers.push_back({name, dtype, row_elems});
    return static_cast<int>(plan_.buffers.size()) - 1;
  }
  int act_buffer(const std::string& name, int layer, ActPoint p, int64_t row_elems) {
    return buffer(name, quantized(layer, p) ? DType::U8 : DType::F32, row_elems);
  }

  void touch(int b) {
    PlanBuffer& buf = plan_.buffers[static_cast<size_t>(b)];
    const int at = static_cast<int>(plan_.ops.size()) - 1;
    if (buf.first_use < 0) buf.first_use = at;
    buf.last_use = at;
  }

  PlanOp& op(OpKind kind, std::vector<int> in, std::vector<int> out) {
    PlanOp o;
    o.kind = kind;
    o.inputs = std::move(in);
    o.outputs = std::move(out);
    plan_.ops.push_back(std::move(o));
    for (int b : plan_.ops.back().inputs) touch(b);
    for (int b : plan_.ops.back().outputs) touch(b);
    return plan_.ops.back();
  }

  void norm_op(int layer, uint8_t norm, ActPoint p, int in, int out, bool quantize = true) {
    PlanOp& o = op(OpKind::NormQuant, {in}, {out});
    o.layer = layer;
    o.norm = norm;
    if (quantize && quantized(layer, p)) o.act = static_cast<int>(p);
  }

  PlanOp& linear_op(int layer, LinearId id, ActPoint input, int in, int out, OpFlags flags = OpFlags::NONE,
                    bool quantize_input = true) {
    PlanOp& o = op(OpKind::Linear, {in}, {out});
    o.layer = layer;
    o.linear = id;
    o.flags = flags;
    if (quantize_input && quantized(layer, input)) o.act = static_cast<int>(input);
    return o;
  }

  const OptConfig& c_;
  const std::vector<LayerActBits>& bits_;
  ExecutionPlan plan_;
};

}  // namespace

uint64_t PlanBuffer::bytes(int64_t rows) const {
  const std::optional<uint64_t> row = bundle::row_byte_size(dtype, row_elems);
  if (!row) fail("plan", "buffer " + name + " has no byte size");
  return static_cast<uint64_t>(rows) * *row;
}

ExecutionPlan build_execution_plan(const OptConfig& config, const std::vector<LayerActBits>& act_bits,
                                   int64_t max_tokens) {
  if (!config.pre_layer_norm)
    fail("plan", "post-LayerNorm OPT models (opt-350m) cannot be compiled to a bundle yet: the runtime runs "
                 "pre-LN decoders only");
  if (static_cast<int64_t>(act_bits.size()) != config.num_layers)
    fail("plan", "activation bits given for " + std::to_string(act_bits.size()) + " layers, the model has " +
                     std::to_string(config.num_layers));
  if (max_tokens < 1 || max_tokens > config.max_positions)
    fail("plan", "max tokens per call " + std::to_string(max_tokens) + " must be in 1.." +
                     std::to_string(config.max_positions));
  return Builder(config, act_bits).build(max_tokens);
}

void assign_buffer_offsets(ExecutionPlan& plan) {
  std::vector<size_t> order(plan.buffers.size());
  std::iota(order.begin(), order.end(), size_t{0});
  // Largest first, ties by index: deterministic and close to optimal for this interval graph.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return plan.buffers[a].bytes(plan.max_tokens) > plan.buffers[b].bytes(plan.max_tokens);
  });
  std::vector<size_t> placed;
  plan.arena_bytes = 0;
  for (size_t i : order) {
    PlanBuffer& b = plan.buffers[i];
    const uint64_t size = align_up(b.bytes(plan.max_tokens));
    // Live neighbours' byte ranges, sorted; take the lowest gap that fits.
    std::vector<std::pair<uint64_t, uint64_t>> busy;
    for (size_t j : placed) {
      const PlanBuffer& o = plan.buffers[j];
      if (o.first_use <= b.last_use && b.first_use <= o.last_use)
        busy.emplace_back(o.offset, o.offset + align_up(o.bytes(plan.max_tokens)));
    }
    std::sort(busy.begin(), busy.end());
    uint64_t offset = 0;
    for (const auto& [lo, hi] : busy) {
      if (offset + size <= lo) break;
      offset = std::max(offset, hi);
    }
    b.offset = offset;
    plan.arena_bytes = std::max(plan.arena_bytes, offset + size);
    placed.push_back(i);
  }
}

}  // namespace rptq::codegen

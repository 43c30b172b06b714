#include "engine/device_steps.h"

#include <algorithm>

#include "engine/step_image.h"
#include "rptq/error.h"

namespace rptq::engine {
namespace {

using bundle::ActPoint;
using bundle::OpFlags;
using bundle::OpKind;

bool has(uint32_t flags, OpFlags f) { return (flags & static_cast<uint32_t>(f)) != 0; }

// The linear kernel reads a row's weights 16 bytes at a time (32 U4 codes, 16 U8 codes, 4
// floats), never across a scale group.
int64_t word_elems(int bits) { return bits <= 4 ? 32 : bits <= 8 ? 16 : 4; }

void set_weights(DeviceStep& d, const cpu::LinearParams& w, const std::string& what) {
  d.in = w.in;
  d.out = w.out;
  d.bits = w.bits;
  d.group_size = w.group_size > 0 && w.group_size < w.in ? w.group_size : w.in;
  d.bias = w.bias != nullptr;
  const int64_t word = word_elems(w.bits);
  if (w.in % word != 0 || (d.group_size != w.in && d.group_size % word != 0))
    fail("CUDA code", what + ": " + std::to_string(w.in) + " inputs in groups of " + std::to_string(d.group_size) +
                          " are not whole " + std::to_string(word) + "-element loads");
}

DeviceStep describe(const ModelBinding& m, const PlanStep& s, size_t index) {
  const OptConfig& c = m.config;
  DeviceStep d;
  d.layer = s.layer;
  const LayerBinding* L = s.layer >= 0 ? &m.layers[static_cast<size_t>(s.layer)] : nullptr;
  auto act = [&](int point) { return point >= 0 && L ? L->act[static_cast<size_t>(point)] : cpu::ActQuantParams{}; };
  const std::string what = "plan step " + std::to_string(index);
  switch (s.kind) {
    case OpKind::Embed:
      d.op = DeviceOp::Embed;
      if (c.has_projections()) fail("CUDA code", "models with project_in/project_out (opt-350m) are not supported");
      d.in = c.word_embed_proj_dim;
      d.out = c.hidden_size;
      d.table = m.embed_tokens != nullptr;
      if (!d.table) {
        d.bits = m.lm_head.bits;
        d.group_size = m.lm_head.group_size > 0 && m.lm_head.group_size < m.lm_head.in ? m.lm_head.group_size
                                                                                        : m.lm_head.in;
      }
      break;
    case OpKind::NormQuant: {
      const NormBinding& nb = s.norm == 0 ? L->attn_norm : s.norm == 1 ? L->ffn_norm : m.final_norm;
      d.op = DeviceOp::Norm;
      d.in = d.out = c.hidden_size;
      d.eps = c.layer_norm_eps;
      d.gamma = nb.gamma != nullptr;
      d.beta = nb.beta != nullptr;
      d.write_index = nb.write_index != nullptr;
      d.output = act(s.act);
      break;
    }
    case OpKind::Linear:
      if (s.linear == bundle::LinearId::ProjectOut)
        fail("CUDA code", "models with project_in/project_out (opt-350m) are not supported");
      d.op = DeviceOp::Linear;
      set_weights(d, L->linear[static_cast<size_t>(s.linear)], what);
      d.relu = has(s.flags, OpFlags::Relu);
      d.input = act(s.act);
      if (has(s.flags, OpFlags::QuantizeOutput))
        d.output = act(s.out_act);
      else
        d.accumulate = has(s.flags, OpFlags::Accumulate);
      break;
    case OpKind::Attention:
      d.op = DeviceOp::Attention;
      d.in = c.hidden_size;
      d.heads = c.num_heads;
      d.out = c.head_dim();
      d.context = c.max_positions;
      d.input = act(static_cast<int>(ActPoint::Query));
      d.key = act(static_cast<int>(ActPoint::Key));
      d.value = act(static_cast<int>(ActPoint::Value));
      d.output = act(s.out_act);
      break;
    case OpKind::LmHead:
      d.op = DeviceOp::LmHead;
      set_weights(d, m.lm_head, "the LM head");
      break;
  }
  return d;
}

uint32_t blocks(int64_t n, int64_t per_block) {
  return static_cast<uint32_t>(std::min<int64_t>((n + per_block - 1) / per_block, 65535));
}

}  // namespace

std::vector<DeviceStep> device_steps(const ModelBinding& m) {
  std::vector<DeviceStep> steps;
  steps.reserve(m.plan.size());
  for (size_t i = 0; i < m.plan.size(); ++i) steps.push_back(describe(m, m.plan[i], i));
  return steps;
}

uint64_t device_fingerprint(const std::vector<DeviceStep>& steps) {
  StepImage image;
  image.put(static_cast<uint32_t>(RPTQ_CUDA_ABI_VERSION));
  image.put(static_cast<uint64_t>(steps.size()));
  for (const DeviceStep& s : steps) {
    image.put(static_cast<uint8_t>(s.op));
    image.put(s.layer);
    for (int64_t v : {s.in, s.out, s.heads, s.context, s.group_size}) image.put(v);
    image.put(s.bits);
    image.put(s.eps);
    for (bool b : {s.gamma, s.beta, s.write_index, s.bias, s.table, s.relu, s.accumulate}) image.put(b);
    image.put(s.input);
    image.put(s.output);
    image.put(s.key);
    image.put(s.value);
  }
  return image.hash();
}

bool has_mma_kernel(const DeviceStep& s) {
  return s.op == DeviceOp::Linear && s.input.enabled() && s.bits <= 8 && s.in % 32 == 0;
}

uint64_t attention_scratch_floats(const DeviceStep& s) {
  if (s.op != DeviceOp::Attention) return 0;
  const uint64_t parts = static_cast<uint64_t>((s.context + kSplitKeys - 1) / kSplitKeys);
  return static_cast<uint64_t>(kManyRows - 1) * static_cast<uint64_t>(s.heads) * parts *
         static_cast<uint64_t>(s.out + 2);
}

bool has_mma_attention(const DeviceStep& s) {
  return s.op == DeviceOp::Attention && s.key.enabled() && s.value.enabled() && s.out % 16 == 0 && s.out <= 128;
}

std::vector<DeviceLaunch> device_launches(const DeviceStep& s, size_t i, int64_t rows) {
  const std::string name = "rptq_step_" + std::to_string(i);
  DeviceLaunch one;
  one.kernel = name;
  switch (s.op) {
    case DeviceOp::Embed:
    case DeviceOp::Norm:
      one.grid[0] = blocks(rows, 1);
      return {one};
    case DeviceOp::Linear:
    case DeviceOp::LmHead:
      if (has_mma_kernel(s) && rows >= kManyRows) {
        if (rows > int64_t{65535} * kMmaRows) fail("CUDA code", "a call over more rows than one grid covers");
        one.kernel = name + "_mma";
        one.grid[0] = blocks(s.out, kMmaCols);
        one.grid[1] = blocks(rows, kMmaRows);
        one.block = kMmaThreads;
        return {one};
      }
      one.grid[0] = blocks(s.out, kLinearWarps);
      if (rows == 1) {
        one.kernel = name + "_decode";
        one.shared_bytes = static_cast<uint32_t>(has_mma_kernel(s) ? kRowCodesStaging : kDecodeStagedRow * sizeof(float));
        return {one};
      }
      if (has_mma_kernel(s)) {
        one.kernel = name + "_rows";
        one.grid[1] = blocks(rows, kLinearRows);
        one.shared_bytes = kLinearRows * kRowCodesStaging;
        return {one};
      }
      one.grid[1] = blocks(rows, kLinearRows);
      one.shared_bytes = kLinearRows * kLinearStagedRow * sizeof(float);
      return {one};
    case DeviceOp::Attention: {
      DeviceLaunch kv;
      kv.kernel = name + "_kv";
      kv.grid[0] = blocks(rows, 1);
      if (rows >= kManyRows) {
        one.kernel = name + "_prefill";
        one.grid[1] = static_cast<uint32_t>(s.heads);
        one.block = kAttentionThreads;
        if (has_mma_attention(s)) {
          one.grid[0] = blocks(rows, kMmaQueries);  // static shared memory
        } else {
          one.grid[0] = blocks(rows, kPrefillQueries);
          one.shared_bytes = static_cast<uint32_t>(
              (2 * kPrefillQueries * (s.out + 1) + kPrefillQueries * (kPrefillKeys + 1)) * sizeof(float));
        }
        return {kv, one};
      }
      one.grid[0] = blocks(rows, 1);
      one.grid[1] = static_cast<uint32_t>(s.heads);
      one.grid[2] = blocks(s.context, kSplitKeys);
      one.block = kAttentionThreads;  // static shared memory
      DeviceLaunch combine = one;
      combine.kernel = name + "_combine";
      combine.grid[2] = 1;
      return {kv, one, combine};
    }
  }
  return {};
}

std::vector<DeviceLaunch> device_setup_launches(const DeviceStep& s, size_t i) {
  if (!has_mma_kernel(s)) return {};
  DeviceLaunch fold;
  fold.kernel = "rptq_step_" + std::to_string(i) + "_fold";
  fold.grid[0] = blocks(s.out, kLinearWarps);  // a warp per output
  return {fold};
}

std::vector<std::string> device_kernel_names(const std::vector<DeviceStep>& steps) {
  std::vector<std::string> names;
  for (size_t i = 0; i < steps.size(); ++i) {
    // One call size per variant: decode's row, a few rows, the tensor-core kernel's many. Only
    // step i's own names can repeat.
    const size_t first = names.size();
    for (int64_t rows : {int64_t{1}, int64_t{2}, kManyRows})
      for (const DeviceLaunch& l : device_launches(steps[i], i, rows))
        if (std::find(names.begin() + static_cast<std::ptrdiff_t>(first), names.end(), l.kernel) == names.end())
          names.push_back(l.kernel);
    for (const DeviceLaunch& l : device_setup_launches(steps[i], i)) names.push_back(l.kernel);
  }
  return names;
}

}  // namespace rptq::engine

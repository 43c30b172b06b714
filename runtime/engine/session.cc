#include "engine/session.h"

#include <cmath>

#include "rptq/error.h"

namespace rptq::engine {
namespace {

using bundle::ActPoint;
using bundle::OpKind;

size_t at(ActPoint p) { return static_cast<size_t>(p); }

}  // namespace

Session::AlignedBytes Session::allocate(uint64_t bytes, const char* what) {
  // 64-byte aligned: buffer offsets are multiples of 64, so every buffer is too.
  const uint64_t rounded = (bytes + 63) / 64 * 64 + 64;
  AlignedBytes p(static_cast<uint8_t*>(std::aligned_alloc(64, rounded)));
  if (!p) fail("session", std::string("cannot allocate the ") + what + " (" + std::to_string(bytes) + " bytes)");
  return p;
}

Session::Session(std::shared_ptr<const ModelBinding> model) : model_(std::move(model)) {
  const ModelBinding& m = *model_;
  if (m.cuda) {
    cuda_ = make_cuda_session(model_);
    return;
  }
  arena_ = allocate(m.arena_bytes, "activation arena");
  const uint64_t cells = static_cast<uint64_t>(m.config.max_positions * m.config.hidden_size);
  auto cache = [&](const cpu::ActQuantParams& q, uint8_t** codes, float** f32) {
    kv_storage_.push_back(allocate(cells * (q.enabled() ? 1 : 4), "KV cache"));
    if (q.enabled()) *codes = kv_storage_.back().get();
    else *f32 = reinterpret_cast<float*>(kv_storage_.back().get());
  };
  for (const LayerBinding& L : m.layers) {
    cpu::KvLayer kv;
    kv.k_quant = L.act[at(ActPoint::Key)];
    kv.v_quant = L.act[at(ActPoint::Value)];
    kv.capacity = m.config.max_positions;
    cache(kv.k_quant, &kv.k_codes, &kv.k_f32);
    cache(kv.v_quant, &kv.v_codes, &kv.v_f32);
    kv_.push_back(kv);
  }
  if (m.config.has_projections()) scratch_.resize(static_cast<size_t>(m.max_tokens * m.config.word_embed_proj_dim));
  if (m.native && m.native->scratch_bytes_per_row() > 0)
    native_scratch_ = allocate(m.native->scratch_bytes_per_row() * static_cast<uint64_t>(m.max_tokens), "native scratch");
}

bool Session::run_native(size_t i, int64_t n) {
  const NativeModule* native = model_->native.get();
  const rptq_native_step_fn fn = native ? native->step(i) : nullptr;
  if (!fn) return false;
  const PlanStep& s = model_->plan[i];
  rptq_native_args a = native->bound_args(i);
  a.rows = n;
  for (size_t k = 0; k < s.inputs.size() && k < 3; ++k) a.in[k] = buffer(s.inputs[k]);
  for (size_t k = 0; k < s.outputs.size() && k < 2; ++k) a.out[k] = buffer(s.outputs[k]);
  a.scratch = native_scratch_.get();
  if (s.kind == bundle::OpKind::Attention) {
    a.past = position_;
    a.k_cache = kv_[static_cast<size_t>(s.layer)].k_codes;
    a.v_cache = kv_[static_cast<size_t>(s.layer)].v_codes;
  }
  return fn(&a) == 0;
}

void Session::forward(const int32_t* ids, int64_t n, float* logits, bool all_rows) {
  const OptConfig& c = model_->config;
  if (n <= 0) fail("input", "no tokens to run (the prompt is empty)");
  if (position_ + n > c.max_positions)
    throw ContextFull(std::to_string(n) + " tokens do not fit: " + std::to_string(c.max_positions - position_) +
                      " of the model's " + std::to_string(c.max_positions) + " positions are left");
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= c.vocab_size)
      fail("input", "token id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                        " is outside the vocabulary of " + std::to_string(c.vocab_size));
  for (int64_t start = 0; start < n; start += model_->max_tokens) {
    const int64_t len = std::min(model_->max_tokens, n - start);
    const bool last = start + len == n;
    float* out = nullptr;
    if (logits && all_rows) out = logits + start * c.vocab_size;
    else if (logits && last) out = logits;
    run_chunk(ids + start, len, out, all_rows);
  }
}

void Session::run_chunk(const int32_t* ids, int64_t n, float* logits, bool all_rows) {
  if (cuda_) {
    cuda_forward(*cuda_, ids, n, position_, logits, all_rows);
    position_ += n;
    return;
  }
  const ModelBinding& m = *model_;
  const OptConfig& c = m.config;
  const int64_t D = c.hidden_size, E = c.word_embed_proj_dim;
  const int64_t past = position_;
  auto f32 = [&](int id) { return reinterpret_cast<float*>(buffer(id)); };
  static const cpu::ActQuantParams kFloat;
  for (size_t i = 0; i < m.plan.size(); ++i) {
    if (run_native(i, n)) continue;
    const PlanStep& s = m.plan[i];
    const LayerBinding* L = s.layer >= 0 ? &m.layers[static_cast<size_t>(s.layer)] : nullptr;
    auto act = [&](int point) -> const cpu::ActQuantParams& {
      return point >= 0 && L ? L->act[static_cast<size_t>(point)] : kFloat;
    };
    switch (s.kind) {
      case OpKind::Embed: {
        float* h = f32(s.outputs[0]);
        auto embed = [&](float* out) {
          if (m.embed_tokens)
            cpu::embedding(ids, n, m.embed_tokens, E, out);
          else
            cpu::embedding_from_codes(ids, n, m.lm_head, out);
        };
        if (c.has_projections()) {
          embed(scratch_.data());
          cpu::ActTensor x;
          x.f32 = scratch_.data();
          cpu::linear(x, n, m.project_in, 0, h);
        } else {
          embed(h);
        }
        for (int64_t r = 0; r < n; ++r) {
          const float* pos = m.embed_positions + (past + r + OptConfig::kPositionOffset) * D;
          for (int64_t i = 0; i < D; ++i) h[r * D + i] += pos[i];
        }
        break;
      }
      case OpKind::NormQuant: {
        const NormBinding& nb = s.norm == 0 ? L->attn_norm : s.norm == 1 ? L->ffn_norm : m.final_norm;
        const cpu::ActQuantParams& q = act(s.act);
        uint8_t* out = buffer(s.outputs[0]);
        cpu::layer_norm_quant(f32(s.inputs[0]), n, D, nb.gamma, nb.beta, nb.write_index, c.layer_norm_eps, q,
                              q.enabled() ? out : nullptr, q.enabled() ? nullptr : reinterpret_cast<float*>(out));
        break;
      }
      case OpKind::Linear: {
        const cpu::LinearParams& w = s.linear == bundle::LinearId::ProjectOut
                                         ? m.project_out
                                         : L->linear[static_cast<size_t>(s.linear)];
        cpu::ActTensor x;
        x.quant = act(s.act);
        if (x.quant.enabled()) x.codes = buffer(s.inputs[0]); else x.f32 = f32(s.inputs[0]);
        uint32_t flags = 0;
        if (s.flags & static_cast<uint32_t>(bundle::OpFlags::Relu)) flags |= cpu::kRelu;
        if (s.flags & static_cast<uint32_t>(bundle::OpFlags::Accumulate)) flags |= cpu::kAccumulate;
        if (s.flags & static_cast<uint32_t>(bundle::OpFlags::QuantizeOutput)) {
          float* scratch = f32(s.outputs[1]);
          cpu::linear(x, n, w, flags & ~static_cast<uint32_t>(cpu::kAccumulate), scratch);
          cpu::quantize_rows(scratch, n, w.out, act(s.out_act), buffer(s.outputs[0]));
        } else {
          cpu::linear(x, n, w, flags, f32(s.outputs[0]));
        }
        break;
      }
      case OpKind::Attention: {
        const int64_t hd = c.head_dim();
        const cpu::ActQuantParams& oq = act(s.out_act);
        uint8_t* out = buffer(s.outputs[0]);
        cpu::attention(f32(s.inputs[0]), f32(s.inputs[1]), f32(s.inputs[2]), n, past, c.num_heads, hd,
                       1.0f / std::sqrt(static_cast<float>(hd)), L->act[at(ActPoint::Query)],
                       kv_[static_cast<size_t>(s.layer)], oq, oq.enabled() ? out : nullptr,
                       oq.enabled() ? nullptr : reinterpret_cast<float*>(out));
        break;
      }
      case OpKind::LmHead: {
        if (!logits) break;
        cpu::ActTensor x;
        x.f32 = f32(s.inputs[0]);
        if (all_rows) {
          cpu::linear(x, n, m.lm_head, 0, logits);
        } else {
          x.f32 += (n - 1) * E;
          cpu::linear(x, 1, m.lm_head, 0, logits);
        }
        break;
      }
    }
  }
  position_ += n;
}

}  // namespace rptq::engine

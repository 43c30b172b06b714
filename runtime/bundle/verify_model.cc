#include <cmath>
#include <cstring>
#include <vector>

#include "bundle/bundle_reader.h"
#include "bundle/dtype.h"
#include "bundle/verify.h"

namespace rptq::bundle {

const Tensor* MetaCheck::tensor(int32_t index, const std::string& what, DType dtype, const std::vector<int64_t>& shape,
                                bool required) const {
  if (index == -1) {
    if (required) fail(what + ": missing (tensor index -1)");
    return nullptr;
  }
  const auto* tensors = bundle.tensors();
  if (index < 0 || static_cast<uint32_t>(index) >= tensors->size()) {
    fail(what + ": tensor index " + std::to_string(index) + " out of range (" + std::to_string(tensors->size()) +
         " tensors)");
  }
  const Tensor* t = tensors->Get(static_cast<uint32_t>(index));
  const std::string which = what + ": tensor " + std::to_string(index) + " '" + printable(t->name()) + "'";
  if (t->dtype() != dtype) fail(which + " has dtype " + dtype_name(t->dtype()) + ", expected " + dtype_name(dtype));
  const auto* s = t->shape();
  if (s->size() != shape.size() || !std::equal(shape.begin(), shape.end(), s->begin())) {
    fail(which + " has shape " + shape_string(s->data(), s->size()) + ", expected " +
         shape_string(shape.data(), shape.size()));
  }
  return t;
}

namespace {

// Dimensions are bounded so that products of two fit in int64 with room to spare.
constexpr int64_t kMaxDim = int64_t{1} << 31;

void check_dim(const MetaCheck& c, const char* name, int64_t v) {
  if (v < 1 || v >= kMaxDim) c.fail(std::string("config.") + name + " = " + std::to_string(v) + " is out of range");
}

// A token id: -1 (none) or an index into a vocabulary of n.
void check_id(const MetaCheck& c, const char* name, int32_t id, int64_t n) {
  if (id < -1 || id >= n)
    c.fail(std::string(name) + " " + std::to_string(id) + " out of range (" + std::to_string(n) + " tokens)");
}

int32_t read_i32(const MetaCheck& c, const Tensor& t, size_t i) {
  int32_t v;
  std::memcpy(&v, c.data + t.data()->offset() + 4 * i, 4);
  return v;
}

void check_linear(const MetaCheck& c, const QuantLinear* q, const std::string& what, int64_t out, int64_t in) {
  if (q->out_features() != out || q->in_features() != in) {
    c.fail(what + ": is [" + std::to_string(q->out_features()) + ", " + std::to_string(q->in_features()) +
           "], expected [" + std::to_string(out) + ", " + std::to_string(in) + "]");
  }
  const int bits = q->bits();
  if (bits == 16) {
    c.tensor(q->weight(), what + ".weight", DType::F32, {out, in}, true);
  } else if (bits >= 2 && bits <= 8) {
    const int64_t g = q->group_size();
    if (g < 1 || in % g != 0) {
      c.fail(what + ": group_size " + std::to_string(g) + " does not divide in_features " + std::to_string(in));
    }
    c.tensor(q->codes(), what + ".codes", bits <= 4 ? DType::U4 : DType::U8, {out, in}, true);
    c.tensor(q->scale(), what + ".scale", DType::F32, {out, in / g}, true);
    c.tensor(q->zero(), what + ".zero", DType::U8, {out, in / g}, true);
  } else {
    c.fail(what + ": bits = " + std::to_string(bits) + ", expected 2..8 or 16");
  }
  c.tensor(q->bias(), what + ".bias", DType::F32, {out}, false);
}

// Linears that exist only in some models (project_in/out): present exactly when `expected`.
void check_optional_linear(const MetaCheck& c, const QuantLinear* q, const std::string& what, bool expected,
                           int64_t out, int64_t in) {
  if (!q) {
    if (expected) c.fail(what + ": missing (word_embed_proj_dim != hidden_size)");
    return;
  }
  if (!expected) c.fail(what + ": present although word_embed_proj_dim == hidden_size");
  check_linear(c, q, what, out, in);
}

void check_norm(const MetaCheck& c, const LayerNorm* n, const std::string& what, int64_t hidden, bool affine) {
  c.tensor(n->gamma(), what + ".gamma", DType::F32, {hidden}, affine);
  c.tensor(n->beta(), what + ".beta", DType::F32, {hidden}, affine);
  // The runtime writes channel c to column write_index[c]: anything but a permutation would
  // write out of bounds or leave columns stale.
  if (const Tensor* w = c.tensor(n->write_index(), what + ".write_index", DType::I32, {hidden}, false)) {
    std::vector<bool> seen(static_cast<size_t>(hidden), false);
    for (size_t i = 0; i < seen.size(); ++i) {
      const int32_t col = read_i32(c, *w, i);
      if (col < 0 || col >= hidden || seen[static_cast<size_t>(col)]) {
        c.fail(what + ".write_index: not a permutation of 0.." + std::to_string(hidden - 1) + " (entry " +
               std::to_string(i) + " is " + std::to_string(col) + ")");
      }
      seen[static_cast<size_t>(col)] = true;
    }
  }
}

void check_act(const MetaCheck& c, const ActQuant* a, int layer, ActPoint point, int64_t channels) {
  const std::string what = "layer " + std::to_string(layer) + " act " + EnumNameActPoint(point);
  if (a->layer() != layer || a->point() != point) {
    c.fail(what + ": entry says layer " + std::to_string(a->layer()) + " point " +
           std::to_string(static_cast<unsigned>(a->point())));
  }
  if (a->order() && a->order()->size() > 0) {
    if (a->order()->size() != channels)
      c.fail(what + ": order has " + std::to_string(a->order()->size()) + " entries, expected " +
             std::to_string(channels));
    for (int32_t ch : *a->order()) {
      if (ch < 0 || ch >= channels) c.fail(what + ": order holds channel " + std::to_string(ch) + ", out of range");
    }
  }
  const int bits = a->bits();
  if (bits == 16) return;  // not quantized: the cluster arrays are not used
  if (bits < 2 || bits > 8) c.fail(what + ": bits = " + std::to_string(bits) + ", expected 2..8 or 16");
  const auto* end = a->cluster_end();
  if (!end || end->size() == 0) c.fail(what + ": quantized but has no clusters");
  int64_t prev = 0;
  for (int32_t e : *end) {
    if (e <= prev)
      c.fail(what + ": cluster_end is not strictly ascending from 1 (" + std::to_string(e) + " after " +
             std::to_string(prev) + ")");
    prev = e;
  }
  if (prev != channels) {
    c.fail(what + ": cluster_end ends at " + std::to_string(prev) + ", expected the channel count " +
           std::to_string(channels));
  }
  const size_t n = end->size();
  if (!a->scale() || a->scale()->size() != n || !a->zero_point() || a->zero_point()->size() != n) {
    c.fail(what + ": scale and zero_point must have one entry per cluster (" + std::to_string(n) + ")");
  }
  const int32_t qmax = (1 << bits) - 1;
  for (size_t i = 0; i < n; ++i) {
    const float s = a->scale()->Get(static_cast<uint32_t>(i));
    const int32_t z = a->zero_point()->Get(static_cast<uint32_t>(i));
    if (!(s > 0.0f) || !std::isfinite(s)) c.fail(what + ": cluster " + std::to_string(i) + " scale is not positive");
    if (z < 0 || z > qmax)
      c.fail(what + ": cluster " + std::to_string(i) + " zero_point " + std::to_string(z) + " outside 0.." +
             std::to_string(qmax));
  }
}

void check_tokenizer(const MetaCheck& c, const Tokenizer& t, int64_t vocab_size) {
  const int64_t n = t.vocab()->size();
  // Every id the tokenizer can produce must index the embedding.
  if (n > vocab_size) {
    c.fail("tokenizer: " + std::to_string(n) + " tokens but config.vocab_size is " + std::to_string(vocab_size));
  }
  check_id(c, "tokenizer.bos_id", t.bos_id(), n);
  check_id(c, "tokenizer.eos_id", t.eos_id(), n);
  check_id(c, "tokenizer.pad_id", t.pad_id(), n);
}

}  // namespace

void verify_model(const MetaCheck& c) {
  const Model& m = *c.bundle.model();
  const ModelConfig& cfg = *m.config();
  check_dim(c, "vocab_size", cfg.vocab_size());
  check_dim(c, "hidden_size", cfg.hidden_size());
  check_dim(c, "num_heads", cfg.num_heads());
  check_dim(c, "ffn_dim", cfg.ffn_dim());
  check_dim(c, "max_positions", cfg.max_positions());
  check_dim(c, "word_embed_proj_dim", cfg.word_embed_proj_dim());
  check_dim(c, "num_layers", cfg.num_layers());
  const int64_t vocab = cfg.vocab_size(), hidden = cfg.hidden_size(), ffn = cfg.ffn_dim();
  const int64_t proj = cfg.word_embed_proj_dim();
  if (hidden % cfg.num_heads() != 0) c.fail("config.hidden_size is not a multiple of num_heads");
  check_id(c, "config.bos_token_id", cfg.bos_token_id(), vocab);
  check_id(c, "config.eos_token_id", cfg.eos_token_id(), vocab);
  check_id(c, "config.pad_token_id", cfg.pad_token_id(), vocab);
  if (m.layers()->size() != cfg.num_layers()) {
    c.fail("model has " + std::to_string(m.layers()->size()) + " layers but config.num_layers is " +
           std::to_string(cfg.num_layers()));
  }

  if (m.embed_from_lm_head()) {
    // The rows come from the LM head's codes (checked with it below); nothing else may claim them.
    if (m.embed_tokens() != -1) c.fail("embed_tokens: a tensor is given although embed_from_lm_head is set");
    if (m.lm_head()->bits() > 8)
      c.fail("embed_from_lm_head: the LM head is float (" + std::to_string(m.lm_head()->bits()) +
             " bits); only a quantized head's codes can stand for the embeddings");
  } else {
    c.tensor(m.embed_tokens(), "embed_tokens", DType::F32, {vocab, proj}, true);
  }
  c.tensor(m.embed_positions(), "embed_positions", DType::F32, {cfg.max_positions() + 2, hidden}, true);
  const bool projections = proj != hidden;
  check_optional_linear(c, m.project_in(), "project_in", projections, hidden, proj);
  check_optional_linear(c, m.project_out(), "project_out", projections, proj, hidden);
  if (cfg.final_layer_norm() != (m.final_norm() != nullptr)) {
    c.fail(std::string("final_norm: ") + (m.final_norm() ? "present although" : "missing although") +
           " config.final_layer_norm is " + (cfg.final_layer_norm() ? "true" : "false"));
  }
  if (m.final_norm()) check_norm(c, m.final_norm(), "final_norm", hidden, cfg.layer_norm_affine());
  check_linear(c, m.lm_head(), "lm_head", vocab, proj);

  for (uint32_t l = 0; l < m.layers()->size(); ++l) {
    const DecoderLayer* layer = m.layers()->Get(l);
    const std::string p = "layer " + std::to_string(l) + " ";
    check_norm(c, layer->attn_norm(), p + "attn_norm", hidden, cfg.layer_norm_affine());
    check_norm(c, layer->ffn_norm(), p + "ffn_norm", hidden, cfg.layer_norm_affine());
    check_linear(c, layer->q_proj(), p + "q_proj", hidden, hidden);
    check_linear(c, layer->k_proj(), p + "k_proj", hidden, hidden);
    check_linear(c, layer->v_proj(), p + "v_proj", hidden, hidden);
    check_linear(c, layer->out_proj(), p + "out_proj", hidden, hidden);
    check_linear(c, layer->fc1(), p + "fc1", ffn, hidden);
    check_linear(c, layer->fc2(), p + "fc2", hidden, ffn);
    const auto* acts = layer->acts();
    constexpr uint32_t kPoints = static_cast<uint32_t>(ActPoint::MAX) + 1;
    if (acts->size() != kPoints) {
      c.fail(p + "acts: " + std::to_string(acts->size()) + " entries, expected " + std::to_string(kPoints) +
             " (one per ActPoint)");
    }
    for (uint32_t i = 0; i < kPoints; ++i) {
      const auto point = static_cast<ActPoint>(i);
      check_act(c, acts->Get(i), static_cast<int>(l), point, point == ActPoint::Fc1Out ? ffn : hidden);
    }
  }

  if (c.bundle.tokenizer()) check_tokenizer(c, *c.bundle.tokenizer(), vocab);
}

}  // namespace rptq::bundle

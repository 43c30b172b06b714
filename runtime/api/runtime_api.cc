// The C API (rptq/runtime.h) over the engine: handles, status codes and per-thread messages.
// No exception crosses this boundary.
#include "rptq/runtime.h"

#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "bundle/bundle_reader.h"
#include "engine/model_binding.h"
#include "engine/sampler.h"
#include "engine/session.h"
#include "kernels/cpu/kernels.h"
#include "rptq/error.h"
#include "tokenizer/bpe_tokenizer.h"

namespace {

thread_local std::string g_last_error;

struct ModelImpl {
  std::shared_ptr<const rptq::bundle::LoadedBundle> bundle;
  std::shared_ptr<const rptq::engine::ModelBinding> binding;
  std::unique_ptr<rptq::BpeTokenizer> tokenizer;
  std::string settings, method, backend;
  double simulated_perplexity = -1;
};

// Maps the exception in flight to a status and records its message.
rptq_status record(rptq_status status, const std::string& message) {
  g_last_error = message;
  return status;
}

template <typename F>
rptq_status guarded(rptq_status error_status, F&& f) {
  try {
    g_last_error.clear();
    return f();
  } catch (const rptq::bundle::BundleError& e) {
    return record(e.io() ? RPTQ_ERR_IO : RPTQ_ERR_BAD_BUNDLE, e.what());
  } catch (const rptq::Error& e) {
    return record(error_status, e.what());
  } catch (const std::bad_alloc&) {
    return record(RPTQ_ERR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return record(RPTQ_ERR_INTERNAL, e.what());
  }
}

rptq_status invalid(const char* message) { return record(RPTQ_ERR_INVALID_ARGUMENT, message); }

std::unique_ptr<rptq::BpeTokenizer> read_tokenizer(const rptq::bundle::Bundle& meta, const std::string& where) {
  const rptq::bundle::Tokenizer* t = meta.tokenizer();
  if (!t) rptq::fail(where, "the bundle has no tokenizer");
  rptq::BpeTokenizerSpec spec;
  spec.vocab.reserve(t->vocab()->size());
  for (uint32_t i = 0; i < t->vocab()->size(); ++i) spec.vocab.emplace_back(t->vocab()->Get(i)->str(), static_cast<int32_t>(i));
  spec.merges.reserve(t->merges()->size());
  for (const auto* m : *t->merges()) {
    const std::string s = m->str();
    const size_t space = s.find(' ');
    if (space == std::string::npos) rptq::fail(where, "tokenizer merge '" + s + "' is not 'left right'");
    spec.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
  }
  if (t->special_tokens())
    for (const auto* s : *t->special_tokens()) spec.special_tokens.push_back(s->str());
  spec.bos_id = t->bos_id();
  try {
    return std::make_unique<rptq::BpeTokenizer>(std::move(spec));
  } catch (const rptq::Error& e) {
    rptq::fail(where, std::string("tokenizer: ") + e.what());
  }
}

std::shared_ptr<ModelImpl> make_model(std::shared_ptr<const rptq::bundle::LoadedBundle> b, const rptq_load_options& o) {
  auto m = std::make_shared<ModelImpl>();
  const rptq::bundle::Bundle& meta = b->meta();
  m->binding = std::make_shared<const rptq::engine::ModelBinding>(rptq::engine::bind_model(*b, o.allow_native_code != 0, o.allow_gpu != 0));
  m->tokenizer = read_tokenizer(meta, b->name());
  if (m->tokenizer->vocab_size() > m->binding->config.vocab_size)
    rptq::fail(b->name(), "the tokenizer has more ids than the model's vocabulary");
  m->settings = meta.settings() ? meta.settings()->str() : "";
  m->method = meta.method() ? meta.method()->str() : "";
  m->simulated_perplexity = meta.simulated_perplexity();
  m->backend = m->binding->backend;
  m->bundle = std::move(b);
  return m;
}

rptq_load_options options_or_default(const rptq_load_options* o) {
  rptq_load_options d;
  rptq_load_options_init(&d);
  return o ? *o : d;
}

}  // namespace

struct rptq_model {
  std::shared_ptr<ModelImpl> impl;
};

struct rptq_session {
  std::shared_ptr<ModelImpl> model;  // keeps the weights alive after rptq_model_free
  rptq::engine::Session engine;
  std::vector<float> logits;
};

extern "C" {

const char* rptq_last_error(void) { return g_last_error.c_str(); }

const char* rptq_status_name(rptq_status s) {
  switch (s) {
    case RPTQ_OK: return "ok";
    case RPTQ_ERR_INVALID_ARGUMENT: return "invalid argument";
    case RPTQ_ERR_IO: return "i/o error";
    case RPTQ_ERR_BAD_BUNDLE: return "bad bundle";
    case RPTQ_ERR_UNSUPPORTED: return "unsupported";
    case RPTQ_ERR_CONTEXT_FULL: return "context full";
    case RPTQ_ERR_OUT_OF_MEMORY: return "out of memory";
    case RPTQ_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

const char* rptq_version(void) { return RPTQ_VERSION; }

void rptq_load_options_init(rptq_load_options* o) {
  if (!o) return;
  o->verify_checksums = 1;
  o->allow_native_code = 1;
  o->allow_gpu = 1;
}

rptq_status rptq_model_load(const char* path, const rptq_load_options* options, rptq_model** model) {
  if (!path || !model) return invalid("rptq_model_load: path and model must not be null");
  *model = nullptr;
  return guarded(RPTQ_ERR_BAD_BUNDLE, [&] {
    const rptq_load_options o = options_or_default(options);
    auto b = rptq::bundle::LoadedBundle::open(path, o.verify_checksums != 0);
    *model = new rptq_model{make_model(std::move(b), o)};
    return RPTQ_OK;
  });
}

rptq_status rptq_model_load_from_memory(const void* data, size_t size, const rptq_load_options* options,
                                        rptq_model** model) {
  if (!data || !model) return invalid("rptq_model_load_from_memory: data and model must not be null");
  *model = nullptr;
  return guarded(RPTQ_ERR_BAD_BUNDLE, [&] {
    const rptq_load_options o = options_or_default(options);
    auto b = rptq::bundle::LoadedBundle::from_memory(data, size, "<memory>", o.verify_checksums != 0);
    *model = new rptq_model{make_model(std::move(b), o)};
    return RPTQ_OK;
  });
}

void rptq_model_free(rptq_model* model) { delete model; }

rptq_status rptq_model_get_info(const rptq_model* model, rptq_model_info* info) {
  if (!model || !info) return invalid("rptq_model_get_info: model and info must not be null");
  const ModelImpl& m = *model->impl;
  const rptq::OptConfig& c = m.binding->config;
  info->vocab_size = c.vocab_size;
  info->context_length = c.max_positions;
  info->hidden_size = c.hidden_size;
  info->num_layers = c.num_layers;
  info->bos_id = static_cast<int32_t>(c.bos_token_id);
  info->eos_id = static_cast<int32_t>(c.eos_token_id);
  info->settings = m.settings.c_str();
  info->method = m.method.c_str();
  info->backend = m.backend.c_str();
  info->simulated_perplexity = m.simulated_perplexity;
  return RPTQ_OK;
}

rptq_status rptq_tokenize(const rptq_model* model, const char* text, size_t len, int add_bos, int32_t* ids,
                          size_t capacity, size_t* count) {
  if (!model || (!text && len) || !count || (!ids && capacity))
    return invalid("rptq_tokenize: null model, text, ids or count");
  return guarded(RPTQ_ERR_INVALID_ARGUMENT, [&] {
    const std::vector<int32_t> out = model->impl->tokenizer->encode(std::string_view(text ? text : "", len), add_bos != 0);
    *count = out.size();
    std::memcpy(ids, out.data(), std::min(capacity, out.size()) * sizeof(int32_t));
    return RPTQ_OK;
  });
}

rptq_status rptq_detokenize(const rptq_model* model, const int32_t* ids, size_t n, char* text, size_t capacity,
                            size_t* length) {
  if (!model || (!ids && n) || !length || (!text && capacity))
    return invalid("rptq_detokenize: null model, ids, text or length");
  return guarded(RPTQ_ERR_INVALID_ARGUMENT, [&] {
    const std::string out = model->impl->tokenizer->decode(std::vector<int32_t>(ids, ids + n));
    *length = out.size();
    std::memcpy(text, out.data(), std::min(capacity, out.size()));
    return RPTQ_OK;
  });
}

rptq_status rptq_session_create(rptq_model* model, rptq_session** session) {
  if (!model || !session) return invalid("rptq_session_create: model and session must not be null");
  *session = nullptr;
  return guarded(RPTQ_ERR_INTERNAL, [&] {
    *session = new rptq_session{model->impl, rptq::engine::Session(model->impl->binding), {}};
    return RPTQ_OK;
  });
}

void rptq_session_free(rptq_session* session) { delete session; }

rptq_status rptq_session_reset(rptq_session* session) {
  if (!session) return invalid("rptq_session_reset: null session");
  session->engine.reset();
  return RPTQ_OK;
}

int64_t rptq_session_position(const rptq_session* session) { return session ? session->engine.position() : -1; }

namespace {

rptq_status run(rptq_session* s, const int32_t* ids, size_t n, float* logits, bool all_rows, const char* fn) {
  if (!s || (!ids && n)) return invalid((std::string(fn) + ": null session or ids").c_str());
  if (n == 0) return record(RPTQ_ERR_INVALID_ARGUMENT, std::string(fn) + ": no tokens (empty prompt)");
  return guarded(RPTQ_ERR_INVALID_ARGUMENT, [&] {
    try {
      s->engine.forward(ids, static_cast<int64_t>(n), logits, all_rows);
    } catch (const rptq::engine::ContextFull& e) {
      return record(RPTQ_ERR_CONTEXT_FULL, std::string(fn) + ": " + e.what());
    }
    return RPTQ_OK;
  });
}

}  // namespace

rptq_status rptq_prefill(rptq_session* s, const int32_t* ids, size_t n, float* logits) {
  return run(s, ids, n, logits, false, "rptq_prefill");
}

rptq_status rptq_decode_step(rptq_session* s, int32_t id, float* logits) {
  return run(s, &id, 1, logits, false, "rptq_decode_step");
}

rptq_status rptq_forward_all(rptq_session* s, const int32_t* ids, size_t n, float* logits) {
  if (!logits) return invalid("rptq_forward_all: logits must not be null");
  return run(s, ids, n, logits, true, "rptq_forward_all");
}

void rptq_sampling_init(rptq_sampling* p) {
  if (!p) return;
  p->temperature = 0.0f;
  p->top_k = 0;
  p->top_p = 1.0f;
  p->seed = 0;
  p->max_new_tokens = 64;
  p->stop_at_eos = 1;
}

rptq_status rptq_generate(rptq_session* s, const char* prompt, const rptq_sampling* sampling,
                          rptq_token_callback callback, void* user, int32_t* generated) {
  if (generated) *generated = 0;
  if (!s || !prompt) return invalid("rptq_generate: null session or prompt");
  if (prompt[0] == '\0') return invalid("rptq_generate: the prompt is empty");
  rptq_sampling p;
  rptq_sampling_init(&p);
  if (sampling) p = *sampling;
  if (p.max_new_tokens < 0 || p.top_k < 0 || !(p.top_p > 0.0f && p.top_p <= 1.0f))
    return invalid("rptq_generate: max_new_tokens and top_k must be >= 0 and top_p in (0, 1]");
  const ModelImpl& m = *s->model;
  const int64_t vocab = m.binding->config.vocab_size;
  std::vector<int32_t> ids;
  rptq_status st = guarded(RPTQ_ERR_INVALID_ARGUMENT, [&] {
    ids = m.tokenizer->encode(prompt, /*add_bos=*/s->engine.position() == 0);
    return RPTQ_OK;
  });
  if (st != RPTQ_OK) return st;
  s->logits.resize(static_cast<size_t>(vocab));
  st = rptq_prefill(s, ids.data(), ids.size(), s->logits.data());
  if (st != RPTQ_OK) return st;
  rptq::engine::Sampler sampler({p.temperature, p.top_k, p.top_p, p.seed});
  const auto eos = static_cast<int32_t>(m.binding->config.eos_token_id);
  for (int32_t i = 0; i < p.max_new_tokens; ++i) {
    const int32_t next = sampler.next(s->logits.data(), vocab);
    if (p.stop_at_eos && next == eos) break;
    if (generated) *generated = i + 1;
    std::string bytes;
    st = guarded(RPTQ_ERR_INTERNAL, [&] {
      bytes = m.tokenizer->token_bytes(next);
      return RPTQ_OK;
    });
    if (st != RPTQ_OK) return st;
    if (callback && callback(next, bytes.data(), bytes.size(), user) != 0) break;
    if (i + 1 == p.max_new_tokens) break;  // no logits needed for a token nobody will sample
    st = rptq_decode_step(s, next, s->logits.data());
    if (st != RPTQ_OK) return st;
  }
  return RPTQ_OK;
}

}  // extern "C"

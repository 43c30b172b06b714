/* The rptq runtime's C API: load a compiled bundle, open sessions on it, generate text.
 *
 *   rptq_model* model;
 *   if (rptq_model_load("opt.rptq", NULL, &model) != RPTQ_OK) {
 *     fprintf(stderr, "%s\n", rptq_last_error());
 *     return 1;
 *   }
 *   rptq_session* s;
 *   rptq_session_create(model, &s);
 *   rptq_generate(s, "Once upon a time", NULL, on_token, NULL);
 *   rptq_session_free(s);
 *   rptq_model_free(model);
 *
 * Every function returns a status; on failure rptq_last_error() gives a message for this thread
 * naming the file or argument and the problem. A model is immutable once loaded and may be used
 * from many threads; each session must be used by one thread at a time. Handles are freed in any
 * order: a model stays alive until its last session is freed.
 */
#ifndef RPTQ_RUNTIME_H
#define RPTQ_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define RPTQ_API __attribute__((visibility("default")))
#else
#define RPTQ_API
#endif

typedef enum rptq_status {
  RPTQ_OK = 0,
  RPTQ_ERR_INVALID_ARGUMENT = 1, /* a null handle, an empty prompt, a bad option */
  RPTQ_ERR_IO = 2,               /* the bundle cannot be opened or mapped */
  RPTQ_ERR_BAD_BUNDLE = 3,       /* truncated, corrupt, wrong magic or version, inconsistent */
  RPTQ_ERR_UNSUPPORTED = 4,      /* valid, but needs something this runtime or host lacks */
  RPTQ_ERR_CONTEXT_FULL = 5,     /* the tokens would not fit in the model's context */
  RPTQ_ERR_OUT_OF_MEMORY = 6,
  RPTQ_ERR_INTERNAL = 7
} rptq_status;

typedef struct rptq_model rptq_model;
typedef struct rptq_session rptq_session;

/* The message of the last failed call on this thread ("" if none). Valid until the next call. */
RPTQ_API const char* rptq_last_error(void);
RPTQ_API const char* rptq_status_name(rptq_status status);
RPTQ_API const char* rptq_version(void);

typedef struct rptq_load_options {
  int verify_checksums;  /* 1 (default): hash every segment at load; 0: trust the bytes */
  int allow_native_code; /* 1 (default): run the bundle's native kernels when it has them for
                            this host; 0: always the runtime's generic kernels */
  int allow_gpu;         /* 1 (default): run on the GPU when the bundle has CUDA code for it and the
                            CUDA driver loads (else the CPU, and rptq_model_info's backend says
                            why); 0: always the CPU */
} rptq_load_options;

RPTQ_API void rptq_load_options_init(rptq_load_options* options);

/* Maps the file read-only and verifies it before returning. options may be NULL. */
RPTQ_API rptq_status rptq_model_load(const char* path, const rptq_load_options* options, rptq_model** model);
/* The bytes must stay valid and unchanged until the model is freed. */
RPTQ_API rptq_status rptq_model_load_from_memory(const void* data, size_t size, const rptq_load_options* options,
                                                 rptq_model** model);
RPTQ_API void rptq_model_free(rptq_model* model);

typedef struct rptq_model_info {
  int64_t vocab_size;
  int64_t context_length;
  int64_t hidden_size;
  int64_t num_layers;
  int32_t bos_id;
  int32_t eos_id;
  const char* settings; /* e.g. "W4A8" */
  const char* method;   /* "rptq", "per_tensor", "no_reorder" */
  const char* backend;  /* e.g. "cpu generic (avx512vnni)", "cuda sm_90 (NVIDIA H100 80GB HBM3)" */
  double simulated_perplexity; /* what the compiler measured, or -1 */
} rptq_model_info;

RPTQ_API rptq_status rptq_model_get_info(const rptq_model* model, rptq_model_info* info);

/* Token ids of `text` (len bytes, any bytes: invalid UTF-8 is replaced). Writes at most
 * `capacity` ids and sets *count to the number the text has (so a short buffer can be resized). */
RPTQ_API rptq_status rptq_tokenize(const rptq_model* model, const char* text, size_t len, int add_bos,
                                   int32_t* ids, size_t capacity, size_t* count);
/* The bytes of `ids` (raw: may end inside a UTF-8 sequence). Same capacity/count convention. */
RPTQ_API rptq_status rptq_detokenize(const rptq_model* model, const int32_t* ids, size_t n, char* text,
                                     size_t capacity, size_t* length);

RPTQ_API rptq_status rptq_session_create(rptq_model* model, rptq_session** session);
RPTQ_API void rptq_session_free(rptq_session* session);
/* Forgets every token: the next call starts at position 0. */
RPTQ_API rptq_status rptq_session_reset(rptq_session* session);
RPTQ_API int64_t rptq_session_position(const rptq_session* session);

/* Runs n >= 1 tokens after those already in the session. logits: NULL, or [vocab] floats for
 * the last token. Nothing changes on failure. */
RPTQ_API rptq_status rptq_prefill(rptq_session* session, const int32_t* ids, size_t n, float* logits);
/* One token; logits: [vocab]. */
RPTQ_API rptq_status rptq_decode_step(rptq_session* session, int32_t id, float* logits);
/* Logits of every one of the n tokens: [n, vocab] (perplexity evaluation). */
RPTQ_API rptq_status rptq_forward_all(rptq_session* session, const int32_t* ids, size_t n, float* logits);

typedef struct rptq_sampling {
  float temperature;   /* <= 0: greedy (the default, 0) */
  int32_t top_k;       /* 0: all tokens */
  float top_p;         /* 1: all tokens */
  uint64_t seed;       /* for the sampler; same seed, same tokens */
  int32_t max_new_tokens;
  int stop_at_eos;     /* 1 (default) */
} rptq_sampling;

RPTQ_API void rptq_sampling_init(rptq_sampling* sampling);

/* Called with each generated token and its bytes (which may be a partial UTF-8 sequence);
 * return non-zero to stop. */
typedef int (*rptq_token_callback)(int32_t id, const char* bytes, size_t len, void* user);

/* Tokenizes the prompt (with BOS), prefills it after whatever the session holds, then samples
 * up to max_new_tokens tokens, streaming each to `callback` (may be NULL). Stops early at EOS
 * (when asked) and with RPTQ_ERR_CONTEXT_FULL when the context is full. generated: may be NULL;
 * receives how many tokens were produced. */
RPTQ_API rptq_status rptq_generate(rptq_session* session, const char* prompt, const rptq_sampling* sampling,
                                   rptq_token_callback callback, void* user, int32_t* generated);

#ifdef __cplusplus
}
#endif

#endif /* RPTQ_RUNTIME_H */

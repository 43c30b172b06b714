/* An application built against the installed rptq SDK (find_package or pkg-config): prints the
 * runtime's version; given a bundle, its model description and a short greedy continuation.
 *   rptq-sdk-app [model.rptq [prompt]] */
#include <stdio.h>

#include <rptq/runtime.h>

static int print_token(int32_t id, const char* bytes, size_t len, void* user) {
  (void)id, (void)user;
  fwrite(bytes, 1, len, stdout);
  return 0;
}

int main(int argc, char** argv) {
  printf("rptq runtime %s\n", rptq_version());
  if (argc < 2) return 0;
  rptq_model* model = NULL;
  rptq_session* session = NULL;
  rptq_model_info info;
  rptq_sampling sampling;
  rptq_sampling_init(&sampling);
  sampling.max_new_tokens = 8;
  int ok = rptq_model_load(argv[1], NULL, &model) == RPTQ_OK && rptq_model_get_info(model, &info) == RPTQ_OK;
  if (ok) {
    printf("%s %s: %lld layers, hidden %lld, vocab %lld, context %lld, %s\n", info.settings, info.method,
           (long long)info.num_layers, (long long)info.hidden_size, (long long)info.vocab_size,
           (long long)info.context_length, info.backend);
    ok = rptq_session_create(model, &session) == RPTQ_OK &&
         rptq_generate(session, argc > 2 ? argv[2] : "Hello", &sampling, print_token, NULL, NULL) == RPTQ_OK;
  }
  if (ok) printf("\n");
  else fprintf(stderr, "rptq-sdk-app: %s\n", rptq_last_error());
  rptq_session_free(session);
  rptq_model_free(model);
  return ok ? 0 : 1;
}

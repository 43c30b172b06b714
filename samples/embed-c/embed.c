/* The smallest embedding of the rptq runtime in C: load a bundle, stream a greedy continuation. */
#include <stdio.h>

#include "rptq/runtime.h"

static int print_token(int32_t id, const char* bytes, size_t len, void* user) {
  (void)id;
  (void)user;
  fwrite(bytes, 1, len, stdout);
  fflush(stdout);
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s model.rptq prompt\n", argv[0]);
    return 2;
  }
  rptq_model* model = NULL;
  rptq_session* session = NULL;
  rptq_sampling sampling;
  rptq_sampling_init(&sampling);
  sampling.max_new_tokens = 16;
  if (rptq_model_load(argv[1], NULL, &model) != RPTQ_OK || rptq_session_create(model, &session) != RPTQ_OK ||
      rptq_generate(session, argv[2], &sampling, print_token, NULL, NULL) != RPTQ_OK) {
    fprintf(stderr, "embed-c: %s\n", rptq_last_error());
    rptq_session_free(session);
    rptq_model_free(model);
    return 1;
  }
  printf("\n");
  rptq_session_free(session);
  rptq_model_free(model);
  return 0;
}

/* fuzz_pipeline.c: a libFuzzer target that feeds arbitrary bytes to the whole
 * compile pipeline through exprc_compile_string: lex, parse, lower (names,
 * defs, shapes), back-propagate, simplify, emit C and compile it with libtcc.
 * It does not run the generated code.
 *
 * A model file is untrusted input, so besides what the sanitizers catch
 * (crashes, leaks, undefined behaviour) and what libFuzzer catches (hangs,
 * memory blow-ups), the target turns two quiet failures into findings:
 *   - a model that is accepted but whose generated C does not compile
 *     (EXPRC_ERR_JIT) or that trips an internal check (EXPRC_ERR_INTERNAL);
 *   - an error message that does not name the model file and say "error:".
 *
 * Each input is compiled twice. The first time the limits are smaller than
 * the defaults only so that one input stays well inside libFuzzer's time
 * and memory budget (-timeout, -rss_limit_mb); the code that enforces them
 * is the same. The second time they are tiny, so that limits trip in every
 * stage (parser, lowering, gradients, simplifier, emitter) and the unwinding
 * from each of those places is checked for leaks and crashes too.
 * See README.md for how to run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exprc.h"

#define FUZZ_NAME "fuzz.expr"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void finding(const char *what, const char *src, const char *msg) {
  fprintf(stderr, "fuzz_pipeline: %s\n--- message ---\n%s\n--- model ---\n%s\n",
          what, msg, src);
  abort();
}

static void fuzz_options(exprc_options *o, int tiny) {
  exprc_options_default(o);
  o->limits.max_elements = (int64_t)1 << (tiny ? 6 : 20); /* 8 MiB a tensor */
  o->limits.max_memory = (int64_t)1 << (tiny ? 12 : 28);  /* 256 MiB in all */
  o->limits.max_nodes = (int64_t)1 << (tiny ? 7 : 18);
  o->limits.max_file_size = 1 << 16;
  if (tiny) {
    o->limits.max_depth = 8;
    o->limits.max_rank = 2;
  }
}

/* A failed compile must say where, gcc-style, and be the user's fault. */
static void check_failure(exprc_status st, const char *src, const char *msg) {
  if (st == EXPRC_ERR_JIT)
    finding("generated C did not compile", src, msg);
  if (st == EXPRC_ERR_INTERNAL)
    finding("internal error", src, msg);
  if (strncmp(msg, FUZZ_NAME ":", sizeof FUZZ_NAME) != 0 ||
      !strstr(msg, " error: "))
    finding("error message without 'fuzz.expr:...: error:'", src, msg);
}

/* Compile once with limits of one size and check the outcome. */
static void compile_once(const char *src, int tiny) {
  exprc_options o;
  fuzz_options(&o, tiny);
  exprc_model *m = NULL;
  exprc_status st = exprc_compile_string(src, FUZZ_NAME, &o, &m);
  if (!m)
    abort(); /* *out is NULL only when memory ran out */
  if (st == EXPRC_OK && exprc_source(m)[0] == 0)
    finding("compiled model has no C source", src, "");
  if (st != EXPRC_OK)
    check_failure(st, src, exprc_errmsg(m));
  exprc_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* The text API takes a C string: a NUL byte ends the model there, as it
   * would for a caller holding such a buffer. */
  char *src = malloc(size + 1);
  if (!src)
    return 0;
  memcpy(src, data, size);
  src[size] = 0;
  compile_once(src, 0);
  compile_once(src, 1);
  free(src);
  return 0;
}

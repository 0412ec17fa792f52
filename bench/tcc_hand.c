/* tcc_hand.c: the hand-written baselines compiled in memory by libtcc, the
 * compiler exprc's default backend uses.
 *
 * Why: exprc's time on a loop-heavy model (W3) is mostly the quality of
 * tcc's code. Timing the same hand-written C under tcc and under gcc -O2
 * separates what tcc costs from what exprc's emitted C costs: exprc under
 * tcc can hardly beat hand-written C under tcc.
 */
#include "tcc_hand.h"

#include <libtcc.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static void on_error(void *opaque, const char *msg) {
  (void)opaque;
  fprintf(stderr, "bench: libtcc: %s\n", msg);
}

/* The symbols the hand-written files call: libm and memset. */
static void add_symbols(TCCState *s) {
  tcc_add_symbol(s, "tanh", (const void *)tanh);
  tcc_add_symbol(s, "exp", (const void *)exp);
  tcc_add_symbol(s, "log", (const void *)log);
  tcc_add_symbol(s, "fmax", (const void *)fmax);
  tcc_add_symbol(s, "memset", (const void *)memset);
}

bench_fn tcc_hand(const char *file, const char *symbol) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", BENCH_SRC_DIR, file);
  TCCState *s = tcc_new(); /* kept until exit: its code is what we call */
  if (!s)
    return NULL;
  tcc_set_error_func(s, NULL, on_error);
  tcc_set_options(s, "-nostdlib");
  tcc_add_include_path(s, BENCH_SRC_DIR);
  if (tcc_set_output_type(s, TCC_OUTPUT_MEMORY) < 0 ||
      tcc_add_file(s, path) < 0)
    return NULL;
  add_symbols(s);
#ifdef EXPRC_TCC_RELOCATE_ONE_ARG
  if (tcc_relocate(s) < 0)
#else
  if (tcc_relocate(s, TCC_RELOCATE_AUTO) < 0)
#endif
    return NULL;
  void *p = tcc_get_symbol(s, symbol);
  bench_fn fn = NULL;
  memcpy(&fn, &p, sizeof fn); /* object to function pointer */
  return fn;
}

/* fuzz_gradients.c: a fuzz target that checks numbers, not only crashes.
 *
 * Each input picks a random well-typed model (tests/randmodel.c): the bytes
 * give the generator's seed and its emphasis (depth of the expressions, how
 * many grads, hessians and views). The model is compiled five ways, the
 * default and each memory-plan variant (--no-fuse, --no-reuse, --remat,
 * --threads 2), and randmodel_check holds them to the oracle the random tests
 * use: the default's outputs agree with the reference evaluator, which
 * computes the model from its syntax tree with plain loops; its gradients
 * agree with finite differences of the reference's loss (at three elements
 * of each input and param); and every variant
 * gives the default's outputs and gradients to the bit. A disagreement is a
 * finding: the model, its values and what disagreed are printed and the
 * target aborts.
 *
 * Built two ways. With clang and -fsanitize=fuzzer it is a libFuzzer target
 * (tests/fuzz/meson.build), run for a bounded time by .ci/run. Built
 * plainly (EXPRC_FUZZ_DRIVER) it is fuzz_gradients_run FIRST COUNT, which
 * checks the models of seeds FIRST .. FIRST+COUNT-1 in order: the long runs,
 * which count models rather than seconds (README.md in this folder).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "randmodel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Gradient elements checked per var: a model's cost is mostly the
 * reference's loss, evaluated a few times per element checked, and a long
 * run learns more from more models than from every element of each. */
#define PER_VAR 3

/* The reference's work per input under libFuzzer (ref_set_budget's units:
 * nodes evaluated and elements made), so that no input can outlast
 * -timeout: the reference's finite differences multiply (a grad's stencil
 * per element, around a value holding a hessian, per element of the loss's
 * differences), and a model drawn with the deepest emphasis once took 24 s
 * under the instrumentation. Half a million units take about 0.15 s there
 * (a unit that spends them all, five compiles included, about 0.3 s);
 * about 1% of models drawn with the heaviest emphasis need more, and for
 * those the reference's comparisons stop at the budget (what was compared
 * agreed) while the five compiles are still held to each other. The long
 * runs (fuzz_gradients_run) have no budget. */
#define FUZZ_REF_BUDGET 500000

static RandVariant variants[5];

static void init_variants(void) {
  static const char *const names[5] = {"default", "no_fuse", "no_reuse",
                                       "remat", "threads=2"};
  for (int k = 0; k < 5; k++) {
    RandVariant *v = &variants[k];
    v->name = names[k];
    exprc_options_default(&v->opt);
    v->opt.no_fuse = k == 1;
    v->opt.no_reuse = k == 2;
    v->opt.remat = k == 3;
    v->opt.threads = k == 4 ? 2 : 0;
    v->exact = 1;
  }
}

/* Check the model of `seed` with emphasis o, the reference's work bounded
 * by budget (0: none); 1 if it holds. */
static int check(uint64_t seed, const RandOptions *o, uint64_t budget) {
  static int ready;
  if (!ready)
    init_variants(), ready = 1;
  RandModel m;
  char why[4096];
  randmodel_make(&m, seed, o);
  int ok = randmodel_check_bounded(&m, variants, 5, PER_VAR, budget, NULL,
                                   why, sizeof why);
  if (!ok)
    randmodel_print(&m, why, stderr);
  randmodel_free(&m);
  return ok;
}

/* The bytes' seed (splitmix64 over them) and emphasis (the first four). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t seed = 0x9e3779b97f4a7c15ULL;
  for (size_t i = 0; i < size; i++) {
    seed = (seed ^ data[i]) * 0xbf58476d1ce4e5b9ULL;
    seed ^= seed >> 31;
  }
  RandOptions o = {0};
  if (size >= 4) {
    o.depth = 2 + data[0] % 4;       /* 2 .. 5 */
    o.max_grads = data[1] % 4;       /* 0 .. 3; 0 takes the default */
    o.hessian_pct = data[2] % 30;    /* 0 .. 29; 0 takes the default */
    o.views_pct = 50 + data[3] % 200;
  }
  if (size >= 5) /* gathers by integer inputs: none in a third of inputs */
    o.gather_pct = data[4] % 3 ? 50 * (data[4] % 7) : 0;
  if (!check(seed, &o, FUZZ_REF_BUDGET)) {
    fprintf(stderr, "fuzz_gradients: a model disagrees with the oracle\n");
    abort();
  }
  return 0;
}

#ifdef EXPRC_FUZZ_DRIVER
/* fuzz_gradients_run FIRST COUNT: the models of seeds FIRST.., with the
 * generator's default emphasis; a line every 10,000 models, each failure
 * printed in full; exit 1 if any failed. */
int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s FIRST COUNT\n", argv[0]);
    return 2;
  }
  uint64_t first = strtoull(argv[1], NULL, 10);
  uint64_t count = strtoull(argv[2], NULL, 10), failed = 0;
  for (uint64_t k = 0; k < count; k++) {
    if (!check(first + k, NULL, 0)) {
      failed++;
      fprintf(stderr, "# failed: seed %llu\n", (unsigned long long)(first + k));
    }
    if ((k + 1) % 10000 == 0 || k + 1 == count)
      printf("%llu models from seed %llu: %llu failed\n",
             (unsigned long long)(k + 1), (unsigned long long)first,
             (unsigned long long)failed), fflush(stdout);
  }
  return failed ? 1 : 0;
}
#endif

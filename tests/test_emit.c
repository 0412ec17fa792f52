/* test_emit.c: the generated C stands on its own, for every model we have.
 *
 * For each model in tests/models/ and examples/ (every .expr file):
 *   - `exprc emit FILE -o OUT.c` succeeds, and OUT.c is exactly the source
 *     the library JIT-compiles (exprc_source of the same file);
 *   - OUT.c compiles with the system C compiler in strict C99 with every
 *     warning an error: cc -std=c99 -pedantic -Wall -Wextra -Werror -c;
 *   - the model runs, and every gradient it declares agrees with central
 *     finite differences at a random point (dims bound to 5, then 3).
 * Usage: test_emit EXPRC SOURCE_ROOT (meson passes both).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define MAX_MODELS 256

static char *models[MAX_MODELS];
static int nmodels;

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add every *.expr file of srcroot/sub to the list. */
static void collect(const char *sub) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/%s", tu_srcroot(), sub);
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "test_emit: cannot open %s\n", dir);
    exit(2);
  }
  struct dirent *e;
  int first = nmodels;
  while ((e = readdir(d)) && nmodels < MAX_MODELS) {
    size_t n = strlen(e->d_name);
    if (n > 5 && strcmp(e->d_name + n - 5, ".expr") == 0) {
      models[nmodels] = malloc(strlen(dir) + n + 2);
      sprintf(models[nmodels++], "%s/%s", dir, e->d_name);
    }
  }
  closedir(d);
  qsort(models + first, (size_t)(nmodels - first), sizeof *models, by_name);
}

/* `exprc emit` writes what the JIT compiles, and cc accepts it. */
START_TEST(emitted_c_compiles_with_cc) {
  const char *path = models[_i];
  char *c_file = tu_temp_file("", ".c"), *o_file = tu_temp_file("", ".o");
  char cmd[8192], *err = NULL;
  snprintf(cmd, sizeof cmd, "'%s' emit '%s' -o '%s'", tu_exprc(), path, c_file);
  ck_assert_msg(tu_run(cmd, NULL, &err) == 0, "%s failed:\n%s", cmd, err);
  free(err);
  exprc_model *m;
  ck_assert_msg(exprc_compile_file(path, NULL, &m) == EXPRC_OK, "%s",
                exprc_errmsg(m));
  char *text = tu_read_file(c_file);
  ck_assert_msg(text && strcmp(text, exprc_source(m)) == 0,
                "%s: emit output is not the JIT's source", path);
  snprintf(cmd, sizeof cmd,
           "cc -std=c99 -pedantic -Wall -Wextra -Werror -c '%s' -o '%s'",
           c_file, o_file);
  ck_assert_msg(tu_run(cmd, NULL, &err) == 0, "%s: cc rejects its C:\n%s",
                path, err);
  free(err);
  free(text);
  exprc_free(m);
  remove(c_file);
  remove(o_file);
  free(c_file);
  free(o_file);
}
END_TEST

/* Every loss's gradients agree with finite differences, with the dims of
 * the model bound to 5 and 3 (in declaration order). Inputs are drawn from
 * [0.2, 0.9], inside every model's domain. */
START_TEST(every_model_gradchecks) {
  exprc_model *m;
  ck_assert_msg(exprc_compile_file(models[_i], NULL, &m) == EXPRC_OK, "%s",
                exprc_errmsg(m));
  int64_t dims[2] = {5, 3};
  tu_set_context(models[_i]);
  tu_randomize(m, 900 + (unsigned)_i, 0.2, 0.9, dims, 2);
  exprc_init_params(m, 1);
  if (exprc_count(m, EXPRC_OUTPUT) > 0)
    ck_assert_msg(exprc_forward(m) == EXPRC_OK, "%s: %s", models[_i],
                  exprc_errmsg(m));
  int nloss = exprc_count(m, EXPRC_LOSS);
  for (int k = 0; k < nloss; k++) {
    exprc_tensor t;
    exprc_get(m, EXPRC_LOSS, k, &t);
    tu_gradcheck(m, t.name, 1e-5);
  }
  exprc_free(m);
}
END_TEST

/* There are at least the ten test models and the examples. */
START_TEST(models_are_found) {
  int tests = 0;
  for (int i = 0; i < nmodels; i++)
    tests += strstr(models[i], "/tests/models/") != NULL;
  ck_assert_msg(tests >= 10, "only %d models in tests/models", tests);
  ck_assert_msg(nmodels > tests, "no examples/*.expr found");
}
END_TEST

int main(int argc, char **argv) {
  tu_set_paths(argc, argv);
  collect("tests/models");
  collect("examples");
  Suite *s = suite_create("emit");
  TCase *tc = tu_tcase("models", 120);
  tcase_add_test(tc, models_are_found);
  tcase_add_loop_test(tc, emitted_c_compiles_with_cc, 0, nmodels);
  tcase_add_loop_test(tc, every_model_gradchecks, 0, nmodels);
  suite_add_tcase(s, tc);
  int rc = tu_run_suite(s);
  for (int i = 0; i < nmodels; i++)
    free(models[i]);
  return rc;
}

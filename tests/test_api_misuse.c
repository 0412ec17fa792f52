/* test_api_misuse.c: the C API called wrongly. Every misuse must come back as
 * a status code and a message that says what was wrong, never as a crash,
 * and must leave the model usable when the model itself is fine.
 *
 * Covered: NULL for every pointer argument of every function; unknown names;
 * wrong ranks and sizes in exprc_set; running before inputs are set or dims
 * are bound; binding a dim to two sizes in one call cycle; a bind that fails
 * on the memory limit; a model that failed to compile; files that cannot be
 * read; limits given out of range.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* Assert a status and that the message contains `text`. */
#define EXPECT(call, status, m, text)                                         \
  do {                                                                        \
    exprc_status st_ = (call);                                                \
    ck_assert_msg(st_ == (status), "%s: status %d, expected %d (%s)", #call, \
                  st_, (status), exprc_errmsg(m));                            \
    ck_assert_msg(strstr(exprc_errmsg(m), (text)) != NULL,                    \
                  "%s: message '%s' lacks '%s'", #call, exprc_errmsg(m),      \
                  (text));                                                    \
  } while (0)

static const char *const MODEL = "dim N\n"
                                 "input x[N]\n"
                                 "input s\n"
                                 "param w[3] ~ fill(2)\n"
                                 "loss = sum(x) * s + sum(w^2)\n"
                                 "output y = x * s\n"
                                 "grad loss wrt w, s\n";

static exprc_model *model(void) { return tu_compile(MODEL); }

/* ---- NULL arguments ---- */

/* Compiling with NULL text, file name or result pointer is an argument
 * error; a NULL options pointer means the defaults, and a NULL name
 * becomes "<string>" in messages. */
START_TEST(null_arguments_to_compile) {
  exprc_model *m = NULL;
  exprc_options_default(NULL); /* nothing to fill: no crash */
  EXPECT(exprc_compile_string(NULL, "n.expr", NULL, &m), EXPRC_ERR_ARG, m,
         "exprc_compile_string: src is NULL");
  exprc_free(m);
  EXPECT(exprc_compile_file(NULL, NULL, &m), EXPRC_ERR_ARG, m,
         "exprc_compile_file: path is NULL");
  exprc_free(m);
  ck_assert_int_eq(exprc_compile_string("y = 1\n", "n", NULL, NULL),
                   EXPRC_ERR_ARG);
  ck_assert_int_eq(exprc_compile_file("/nonexistent.expr", NULL, NULL),
                   EXPRC_ERR_ARG);
  EXPECT(exprc_compile_string("y = nope\n", NULL, NULL, &m), EXPRC_ERR_NAME,
         m, "<string>:1:5: error: unknown name 'nope'");
  exprc_free(m);
}
END_TEST

/* The functions that only read a model accept NULL for it. */
START_TEST(null_model_to_readers) {
  exprc_free(NULL);
  ck_assert_str_eq(exprc_errmsg(NULL), "");
  ck_assert_str_eq(exprc_source(NULL), "");
  ck_assert_int_eq(exprc_count(NULL, EXPRC_INPUT), 0);
}
END_TEST

/* Every function that takes a model returns EXPRC_ERR_ARG for a NULL one. */
START_TEST(null_model_everywhere) {
  exprc_tensor t;
  double v = 1;
  int64_t n = 1;
  ck_assert_int_eq(exprc_get(NULL, EXPRC_INPUT, 0, &t), EXPRC_ERR_ARG);
  ck_assert_int_eq(exprc_find(NULL, "x", &t), EXPRC_ERR_ARG);
  ck_assert_int_eq(exprc_find_grad(NULL, "loss", "w", &t), EXPRC_ERR_ARG);
  ck_assert_int_eq(exprc_bind_dim(NULL, "N", 3), EXPRC_ERR_ARG);
  ck_assert_int_eq(exprc_set(NULL, "x", &v, 1, &n), EXPRC_ERR_ARG);
  ck_assert_int_eq(exprc_set_file(NULL, "x", "/dev/null"), EXPRC_ERR_ARG);
  ck_assert_int_eq(exprc_save_params(NULL, "/tmp"), EXPRC_ERR_ARG);
  ck_assert_int_eq(exprc_init_params(NULL, 1), EXPRC_ERR_ARG);
  ck_assert_int_eq(exprc_forward(NULL), EXPRC_ERR_ARG);
  ck_assert_int_eq(exprc_gradient(NULL, "loss"), EXPRC_ERR_ARG);
}
END_TEST

/* Each other pointer argument, NULL in turn: EXPRC_ERR_ARG and a message
 * naming the function; the model still works afterwards. */
START_TEST(null_pointer_arguments) {
  exprc_model *m = model();
  exprc_tensor t;
  double v[3] = {1, 2, 3};
  int64_t n = 3;
  EXPECT(exprc_get(m, EXPRC_INPUT, 0, NULL), EXPRC_ERR_ARG, m,
         "exprc_get: an argument is NULL");
  EXPECT(exprc_find(m, NULL, &t), EXPRC_ERR_ARG, m, "exprc_find:");
  EXPECT(exprc_find(m, "x", NULL), EXPRC_ERR_ARG, m, "exprc_find:");
  EXPECT(exprc_find_grad(m, NULL, "w", &t), EXPRC_ERR_ARG, m,
         "exprc_find_grad:");
  EXPECT(exprc_find_grad(m, "loss", NULL, &t), EXPRC_ERR_ARG, m,
         "exprc_find_grad:");
  EXPECT(exprc_find_grad(m, "loss", "w", NULL), EXPRC_ERR_ARG, m,
         "exprc_find_grad:");
  EXPECT(exprc_bind_dim(m, NULL, 3), EXPRC_ERR_ARG, m, "exprc_bind_dim:");
  EXPECT(exprc_set(m, NULL, v, 1, &n), EXPRC_ERR_ARG, m, "exprc_set:");
  EXPECT(exprc_set(m, "x", NULL, 1, &n), EXPRC_ERR_ARG, m, "exprc_set:");
  EXPECT(exprc_set(m, "x", v, 1, NULL), EXPRC_ERR_ARG, m, "exprc_set:");
  EXPECT(exprc_set_file(m, NULL, "/dev/null"), EXPRC_ERR_ARG, m,
         "exprc_set_file:");
  EXPECT(exprc_set_file(m, "x", NULL), EXPRC_ERR_ARG, m, "exprc_set_file:");
  EXPECT(exprc_save_params(m, NULL), EXPRC_ERR_ARG, m, "exprc_save_params:");
  EXPECT(exprc_gradient(m, NULL), EXPRC_ERR_ARG, m, "exprc_gradient:");
  /* still usable */
  tu_set(m, "x", v, 1, (int64_t)3);
  tu_set(m, "s", v, 0);
  ck_assert_int_eq(exprc_gradient(m, "loss"), EXPRC_OK);
  ck_assert_double_eq(tu_scalar(m, "loss"), 6 * 1 + 3 * 4);
  exprc_free(m);
}
END_TEST

/* ---- unknown names and indices ---- */

START_TEST(unknown_names) {
  exprc_model *m = model();
  exprc_tensor t;
  double v = 1;
  EXPECT(exprc_find(m, "nope", &t), EXPRC_ERR_NAME, m,
         "no input, param or output named 'nope'");
  EXPECT(exprc_find_grad(m, "nope", "w", &t), EXPRC_ERR_NAME, m,
         "no 'grad nope wrt ...' in the model");
  EXPECT(exprc_find_grad(m, "loss", "x", &t), EXPRC_ERR_NAME, m,
         "'grad loss' is not taken wrt 'x'");
  EXPECT(exprc_set(m, "nope", &v, 0, NULL), EXPRC_ERR_NAME, m,
         "no input or param named 'nope'");
  EXPECT(exprc_set(m, "y", &v, 0, NULL), EXPRC_ERR_NAME, m,
         "no input or param named 'y'"); /* an output cannot be set */
  EXPECT(exprc_bind_dim(m, "M", 3), EXPRC_ERR_NAME, m, "no dim named 'M'");
  EXPECT(exprc_bind_dim(m, "x", 3), EXPRC_ERR_NAME, m, "no dim named 'x'");
  EXPECT(exprc_gradient(m, "y"), EXPRC_ERR_NAME, m,
         "no 'grad y wrt ...' in the model");
  EXPECT(exprc_get(m, EXPRC_INPUT, 2, &t), EXPRC_ERR_ARG, m,
         "index out of range");
  EXPECT(exprc_get(m, EXPRC_INPUT, -1, &t), EXPRC_ERR_ARG, m,
         "index out of range");
  EXPECT(exprc_get(m, (exprc_kind)99, 0, &t), EXPRC_ERR_ARG, m,
         "index out of range");
  ck_assert_int_eq(exprc_count(m, (exprc_kind)99), 0);
  exprc_free(m);
}
END_TEST

/* A name far longer than any message is cut in the message. */
START_TEST(huge_unknown_name) {
  exprc_model *m = model();
  exprc_tensor t;
  char *name = malloc(1 << 20);
  memset(name, 'z', (1 << 20) - 1);
  name[(1 << 20) - 1] = 0;
  EXPECT(exprc_find(m, name, &t), EXPRC_ERR_NAME, m, "named 'zzzz");
  ck_assert_int_lt((int)strlen(exprc_errmsg(m)), 200);
  free(name);
  exprc_free(m);
}
END_TEST

/* ---- wrong ranks and sizes ---- */

START_TEST(wrong_ranks_and_sizes_in_set) {
  exprc_model *m = model();
  double v[6] = {1, 2, 3, 4, 5, 6};
  int64_t s23[2] = {2, 3}, s2[1] = {2}, neg[1] = {-2}, zero[1] = {0};
  EXPECT(exprc_set(m, "w", v, 2, s23), EXPRC_ERR_SHAPE, m,
         "'w' has shape [3]; the data given has [2,3]");
  EXPECT(exprc_set(m, "w", v, 1, s2), EXPRC_ERR_SHAPE, m,
         "'w' has shape [3]; the data given has [2]");
  EXPECT(exprc_set(m, "s", v, 1, s2), EXPRC_ERR_SHAPE, m,
         "'s' has shape []; the data given has [2]");
  EXPECT(exprc_set(m, "x", v, 2, s23), EXPRC_ERR_SHAPE, m,
         "'x' has shape [N]; the data given has [2,3]");
  EXPECT(exprc_set(m, "x", v, 1, neg), EXPRC_ERR_SHAPE, m,
         "dim N cannot be -2");
  EXPECT(exprc_set(m, "x", v, 1, zero), EXPRC_ERR_SHAPE, m,
         "dim N cannot be 0");
  EXPECT(exprc_set(m, "x", v, -1, s2), EXPRC_ERR_ARG, m,
         "rank -1 is out of range");
  EXPECT(exprc_set(m, "x", v, 9, s23), EXPRC_ERR_ARG, m,
         "rank 9 is out of range");
  EXPECT(exprc_set(m, "x", v, INT_MAX, s23), EXPRC_ERR_ARG, m,
         "is out of range");
  /* none of that set x: running still says so */
  EXPECT(exprc_gradient(m, "loss"), EXPRC_ERR_STATE, m, "dim N is not bound");
  exprc_free(m);
}
END_TEST

/* ---- order of calls ---- */

START_TEST(running_before_inputs_are_set) {
  exprc_model *m = model();
  double v[2] = {1, 2};
  EXPECT(exprc_forward(m), EXPRC_ERR_STATE, m,
         "exprc_forward: dim N is not bound; set an input that uses it");
  EXPECT(exprc_gradient(m, "loss"), EXPRC_ERR_STATE, m,
         "exprc_gradient: dim N is not bound");
  tu_set(m, "x", v, 1, (int64_t)2);
  EXPECT(exprc_gradient(m, "loss"), EXPRC_ERR_STATE, m,
         "exprc_gradient: input 's' is not set");
  EXPECT(exprc_forward(m), EXPRC_ERR_STATE, m,
         "exprc_forward: input 's' is not set");
  tu_set(m, "s", v, 0);
  ck_assert_int_eq(exprc_gradient(m, "loss"), EXPRC_OK);
  exprc_free(m);
}
END_TEST

/* Within one cycle a dim keeps its first size, whoever binds it; a run
 * ends the cycle. */
START_TEST(dim_bound_twice_inconsistently) {
  exprc_model *m = tu_compile("dim N\ninput a[N]\ninput b[N]\n"
                              "output y = sum(a * b)\n");
  double v[4] = {1, 2, 3, 4};
  tu_set(m, "a", v, 1, (int64_t)3);
  int64_t four = 4;
  EXPECT(exprc_set(m, "b", v, 1, &four), EXPRC_ERR_SHAPE, m,
         "dim N is 3 (from 'a') but 'b' makes it 4");
  EXPECT(exprc_bind_dim(m, "N", 5), EXPRC_ERR_SHAPE, m,
         "dim N is 3 (from 'a') but 'exprc_bind_dim' makes it 5");
  ck_assert_int_eq(exprc_bind_dim(m, "N", 3), EXPRC_OK); /* the same: fine */
  tu_set(m, "b", v, 1, (int64_t)3);
  ck_assert_double_eq(tu_output(m, "y").data[0], 1 + 4 + 9);
  /* a new cycle: both change size together */
  tu_set(m, "a", v, 1, (int64_t)4);
  tu_set(m, "b", v, 1, (int64_t)4);
  ck_assert_double_eq(tu_output(m, "y").data[0], 1 + 4 + 9 + 16);
  EXPECT(exprc_bind_dim(m, "N", -1), EXPRC_ERR_SHAPE, m, "dim N cannot be -1");
  EXPECT(exprc_bind_dim(m, "N", INT64_MAX), EXPRC_ERR_SHAPE, m,
         "dim N cannot be 9223372036854775807");
  exprc_free(m);
}
END_TEST

/* A bind whose buffers would pass the memory limit fails, and leaves the
 * dim as it was: the model can still be given sensible sizes. */
START_TEST(failed_bind_leaves_the_model_usable) {
  exprc_model *m = tu_compile("dim N\ninput x[N]\ninput y[N, N]\n"
                              "output s = sum(y) + sum(x)\n");
  int64_t big = (int64_t)1 << 20;
  double *v = calloc((size_t)big, sizeof *v);
  EXPECT(exprc_set(m, "x", v, 1, &big), EXPRC_ERR_LIMIT, m,
         "need more than 8589934592 bytes");
  EXPECT(exprc_bind_dim(m, "N", big), EXPRC_ERR_LIMIT, m,
         "need more than 8589934592 bytes");
  for (int i = 0; i < 9; i++)
    v[i] = i + 1;
  tu_set(m, "x", v, 1, (int64_t)3);
  tu_set(m, "y", v, 2, (int64_t)3, (int64_t)3);
  ck_assert_double_eq(tu_output(m, "s").data[0], 45 + 6);
  free(v);
  exprc_free(m);
}
END_TEST

/* ---- a model that failed to compile ---- */

/* It keeps its compile message until the next call; every call that needs
 * a compiled model says it failed to compile; it has nothing to list. */
START_TEST(model_that_failed_to_compile) {
  exprc_model *m;
  exprc_tensor t;
  double v = 1;
  ck_assert_int_eq(exprc_compile_string("x = [1, 2] @ [1, 2, 3]\n", "bad.expr",
                                        NULL, &m),
                   EXPRC_ERR_SHAPE);
  ck_assert_ptr_nonnull(strstr(exprc_errmsg(m), "bad.expr:1:12: error:"));
  ck_assert_int_eq(exprc_count(m, EXPRC_INPUT), 0);
  const char *fn = "the model failed to compile";
  EXPECT(exprc_get(m, EXPRC_INPUT, 0, &t), EXPRC_ERR_STATE, m, fn);
  EXPECT(exprc_find(m, "x", &t), EXPRC_ERR_STATE, m, fn);
  EXPECT(exprc_find_grad(m, "l", "x", &t), EXPRC_ERR_STATE, m, fn);
  EXPECT(exprc_bind_dim(m, "N", 2), EXPRC_ERR_STATE, m, fn);
  EXPECT(exprc_set(m, "x", &v, 0, NULL), EXPRC_ERR_STATE, m, fn);
  EXPECT(exprc_set_file(m, "x", "/dev/null"), EXPRC_ERR_STATE, m, fn);
  EXPECT(exprc_save_params(m, "/tmp"), EXPRC_ERR_STATE, m, fn);
  EXPECT(exprc_init_params(m, 3), EXPRC_ERR_STATE, m, fn);
  EXPECT(exprc_forward(m), EXPRC_ERR_STATE, m,
         "exprc_forward: the model failed to compile");
  EXPECT(exprc_gradient(m, "l"), EXPRC_ERR_STATE, m, fn);
  exprc_free(m);
}
END_TEST

/* ---- files ---- */

START_TEST(files_that_cannot_be_read) {
  exprc_model *m;
  EXPECT(exprc_compile_file("/nonexistent/m.expr", NULL, &m), EXPRC_ERR_IO, m,
         "/nonexistent/m.expr: error: cannot read");
  exprc_free(m);
  EXPECT(exprc_compile_file("/tmp", NULL, &m), EXPRC_ERR_IO, m,
         "/tmp: error: cannot read");
  exprc_free(m);
  m = model();
  EXPECT(exprc_set_file(m, "w", "/nonexistent/w.npy"), EXPRC_ERR_IO, m, "w.npy");
  EXPECT(exprc_save_params(m, "/nonexistent/dir"), EXPRC_ERR_IO, m,
         "/nonexistent/dir/w.npy");
  exprc_free(m);
}
END_TEST

/* A model file over max_file_size is refused before it is read whole. */
START_TEST(file_over_the_size_limit) {
  char *path = tu_temp_file("y = 1 + 2 + 3 + 4 + 5 + 6\noutput y\n", ".expr");
  exprc_options o;
  exprc_options_default(&o);
  o.limits.max_file_size = 10;
  exprc_model *m;
  EXPECT(exprc_compile_file(path, &o, &m), EXPRC_ERR_LIMIT, m,
         "error: file is larger than 10 bytes");
  exprc_free(m);
  EXPECT(exprc_compile_string("y = 1 + 2 + 3 + 4 + 5 + 6\n", "s.expr", &o, &m),
         EXPRC_ERR_LIMIT, m, "s.expr: error: model is larger than 10 bytes");
  exprc_free(m);
  unlink(path);
  free(path);
}
END_TEST

/* ---- limits out of range ---- */

/* Negative limits take the defaults; a rank limit above 8 is 8; a depth
 * limit too large for the parser's stack is capped, so deep nesting is
 * still an error and not a stack overflow. */
START_TEST(limits_out_of_range) {
  exprc_options o;
  exprc_options_default(&o);
  o.limits.max_rank = 99;
  o.limits.max_elements = -5;
  o.limits.max_depth = INT_MAX;
  o.limits.max_nodes = -1;
  exprc_model *m;
  EXPECT(exprc_compile_string("input x[1, 1, 1, 1, 1, 1, 1, 1, 1]\n", "r.expr", &o, &m),
         EXPRC_ERR_LIMIT, m, "r.expr:1:33: error: rank 9 is above the limit 8");
  exprc_free(m);
  EXPECT(exprc_compile_string("input x[268435457]\n", "e.expr", &o, &m),
         EXPRC_ERR_SHAPE, m, "from 1 to 268435456, not 268435457");
  exprc_free(m);
  size_t n = 200000;
  char *src = malloc(2 * n + 16);
  memcpy(src, "y = ", 4);
  memset(src + 4, '(', n);
  src[4 + n] = '1';
  memset(src + 5 + n, ')', n);
  strcpy(src + 5 + 2 * n, "\n");
  EXPECT(exprc_compile_string(src, "d.expr", &o, &m), EXPRC_ERR_LIMIT, m,
         "expression nested deeper than 1000 levels");
  exprc_free(m);
  free(src);
}
END_TEST

int main(void) {
  Suite *s = suite_create("api_misuse");
  TCase *tc = tu_tcase("misuse", 60);
  tcase_add_test(tc, null_arguments_to_compile);
  tcase_add_test(tc, null_model_to_readers);
  tcase_add_test(tc, null_model_everywhere);
  tcase_add_test(tc, null_pointer_arguments);
  tcase_add_test(tc, unknown_names);
  tcase_add_test(tc, huge_unknown_name);
  tcase_add_test(tc, wrong_ranks_and_sizes_in_set);
  tcase_add_test(tc, running_before_inputs_are_set);
  tcase_add_test(tc, dim_bound_twice_inconsistently);
  tcase_add_test(tc, failed_bind_leaves_the_model_usable);
  tcase_add_test(tc, model_that_failed_to_compile);
  tcase_add_test(tc, files_that_cannot_be_read);
  tcase_add_test(tc, file_over_the_size_limit);
  tcase_add_test(tc, limits_out_of_range);
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}

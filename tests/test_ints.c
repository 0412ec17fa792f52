/* test_ints.c: integer data at the edges of exprc: `input ids[N] : int`,
 * exprc_set_int64 and the element type of every tensor view, whole numbers
 * only (within 2^53, where a double holds every integer exactly), int32 and
 * int64 .npy files, whole numbers in CSV, and integers in the JSON of
 * `exprc run --json`. Integers in arithmetic become floats.
 */
#define _DEFAULT_SOURCE /* mkstemps */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const char *model = "dim N\ninput ids[N] : int\ninput x[N]\n"
                           "output y = ids * 0.5 + x, back = ids\n";

START_TEST(int_inputs_report_their_type) {
  exprc_model *m = tu_compile(model);
  exprc_tensor t;
  ck_assert_int_eq(exprc_find(m, "ids", &t), EXPRC_OK);
  ck_assert_int_eq(t.dtype, EXPRC_INT64);
  ck_assert_int_eq(exprc_find(m, "x", &t), EXPRC_OK);
  ck_assert_int_eq(t.dtype, EXPRC_FLOAT64);
  ck_assert_int_eq(exprc_find(m, "y", &t), EXPRC_OK);
  ck_assert_int_eq(t.dtype, EXPRC_FLOAT64); /* arithmetic: a float */
  ck_assert_int_eq(exprc_find(m, "back", &t), EXPRC_OK);
  ck_assert_int_eq(t.dtype, EXPRC_INT64);
  exprc_free(m);
}
END_TEST

/* 2^53 itself and -2^53 are exact; 50,000-sized vocabularies are far
 * inside. The values come back unchanged. */
START_TEST(int64_round_trip) {
  exprc_model *m = tu_compile(model);
  const int64_t big = INT64_C(1) << 53;
  const int64_t ids[4] = {big, -big, 49999, 0};
  ck_assert_int_eq(exprc_set_int64(m, "ids", ids, 1, (const int64_t[]){4}),
                   EXPRC_OK);
  tu_set(m, "x", (const double[]){0, 0, 0, 1}, 1, 4);
  exprc_tensor b = tu_output(m, "back");
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq((int64_t)b.data[i], ids[i]);
  exprc_tensor y = tu_output(m, "y"); /* 49999 * 0.5 = 24999.5 */
  ck_assert_double_eq(y.data[2], 24999.5);
  ck_assert_double_eq(y.data[3], 1);
  exprc_free(m);
}
END_TEST

START_TEST(values_beyond_exact_are_refused) {
  exprc_model *m = tu_compile(model);
  const int64_t ids[2] = {1, (INT64_C(1) << 53) + 1};
  ck_assert_int_eq(exprc_set_int64(m, "ids", ids, 1, (const int64_t[]){2}),
                   EXPRC_ERR_ARG);
  ck_assert(strstr(exprc_errmsg(m), "element 1 is 9007199254740993"));
  /* exprc_set on an integer input takes whole numbers only */
  ck_assert_int_eq(exprc_set(m, "ids", (const double[]){1, 2.5}, 1,
                             (const int64_t[]){2}), EXPRC_ERR_ARG);
  ck_assert(strstr(exprc_errmsg(m), "'ids' holds integers; element 1 is 2.5"));
  ck_assert_int_eq(exprc_set(m, "ids", (const double[]){1, 1e300}, 1,
                             (const int64_t[]){2}), EXPRC_ERR_ARG);
  ck_assert_int_eq(exprc_set(m, "ids", (const double[]){3, -4}, 1,
                             (const int64_t[]){2}), EXPRC_OK);
  /* a float input takes integers through exprc_set_int64 too */
  ck_assert_int_eq(exprc_set_int64(m, "x", (const int64_t[]){7, 8}, 1,
                                   (const int64_t[]){2}), EXPRC_OK);
  ck_assert_double_eq(tu_output(m, "y").data[1], -2 + 8);
  exprc_free(m);
}
END_TEST

START_TEST(element_type_syntax) {
  exprc_status st;
  const char *msg = tu_compile_error("input ids[3] : integer\n", &st);
  ck_assert_int_eq(st, EXPRC_ERR_SYNTAX);
  ck_assert(strstr(msg, "an element type ('int' or 'float')"));
  exprc_model *m = tu_compile("input a[2] : float, b : int\noutput c = a, d = b\n");
  exprc_tensor t;
  exprc_find(m, "a", &t);
  ck_assert_int_eq(t.dtype, EXPRC_FLOAT64);
  exprc_find(m, "b", &t);
  ck_assert_int_eq(t.dtype, EXPRC_INT64);
  ck_assert_int_eq(t.rank, 0);
  exprc_free(m);
}
END_TEST

/* A .npy file of version 1.0 with a header padded to 128 bytes. */
static char *npy_file(const char *descr, const void *data, size_t bytes,
                      int n) {
  char head[128];
  memset(head, ' ', sizeof head);
  int k = snprintf(head, sizeof head, "\x93NUMPY\x01%c%c%c{'descr': '%s', "
                   "'fortran_order': False, 'shape': (%d,), }", 0, 118, 0,
                   descr, n);
  head[k] = ' ';
  head[127] = '\n';
  char path[] = "/tmp/exprc-int-XXXXXX.npy";
  int fd = mkstemps(path, 4);
  ck_assert(fd >= 0);
  FILE *f = fdopen(fd, "wb");
  fwrite(head, 1, 128, f);
  fwrite(data, 1, bytes, f);
  fclose(f);
  return strdup(path);
}

START_TEST(npy_int32_and_int64) {
  exprc_model *m = tu_compile(model);
  const int32_t i32[3] = {-7, 0, 2147483647};
  char *p = npy_file("<i4", i32, sizeof i32, 3);
  ck_assert_int_eq(exprc_set_file(m, "ids", p), EXPRC_OK);
  tu_set(m, "x", (const double[]){0, 0, 0}, 1, 3);
  exprc_tensor b = tu_output(m, "back");
  ck_assert_double_eq(b.data[0], -7);
  ck_assert_double_eq(b.data[2], 2147483647);
  remove(p);
  free(p);
  const int64_t i64[2] = {INT64_C(1) << 40, -3};
  p = npy_file("<i8", i64, sizeof i64, 2);
  ck_assert_int_eq(exprc_set_file(m, "ids", p), EXPRC_OK);
  tu_set(m, "x", (const double[]){0, 0}, 1, 2);
  b = tu_output(m, "back");
  ck_assert_double_eq(b.data[0], 1099511627776.0);
  ck_assert_double_eq(b.data[1], -3);
  remove(p);
  free(p);
  const int64_t huge[1] = {(INT64_C(1) << 53) + 1};
  p = npy_file("<i8", huge, sizeof huge, 1);
  ck_assert_int_eq(exprc_set_file(m, "ids", p), EXPRC_ERR_IO);
  ck_assert(strstr(exprc_errmsg(m), "beyond 2^53"));
  remove(p);
  free(p);
  exprc_free(m);
}
END_TEST

START_TEST(csv_whole_numbers) {
  exprc_model *m = tu_compile(model);
  char *p = tu_temp_file("id\n3\n-1\n40000\n", ".csv");
  ck_assert_int_eq(exprc_set_file(m, "ids", p), EXPRC_OK);
  remove(p);
  free(p);
  tu_set(m, "x", (const double[]){0, 0, 0}, 1, 3);
  exprc_tensor b = tu_output(m, "back");
  tu_assert_close(b.data, (const double[]){3, -1, 40000}, 3, 0, "csv ids");
  p = tu_temp_file("3\n1.5\n", ".csv");
  ck_assert_int_eq(exprc_set_file(m, "ids", p), EXPRC_ERR_ARG);
  ck_assert(strstr(exprc_errmsg(m), "'ids' holds integers; element 1 is 1.5"));
  remove(p);
  free(p);
  exprc_free(m);
}
END_TEST

/* exprc run --json prints integer tensors as integers, without exponent
 * even where %.15g would use one (10^15). */
START_TEST(json_prints_integers) {
  char *p = tu_temp_file("input ids[2] : int\ninput x[2]\noutput a = ids,"
                         " m = argmax(x)\n", ".expr");
  char cmd[1024], *out = NULL;
  snprintf(cmd, sizeof cmd, "%s run %s --set ids=[1000000000000000,-3] "
           "--set x=[1,2] --json", tu_exprc(), p);
  ck_assert_int_eq(tu_run(cmd, &out, NULL), 0);
  ck_assert_msg(strstr(out, "\"a\": [1000000000000000, -3]"), "%s", out);
  ck_assert_msg(strstr(out, "\"m\": 1"), "%s", out);
  free(out);
  snprintf(cmd, sizeof cmd, "%s run %s --set ids=[1.5,2] --set x=[1,2]",
           tu_exprc(), p);
  char *err = NULL;
  ck_assert_int_eq(tu_run(cmd, NULL, &err), 2); /* a bad --set: usage */
  ck_assert_msg(strstr(err, "'ids' holds integers"), "%s", err);
  free(err);
  remove(p);
  free(p);
}
END_TEST

/* exprc check names the element type of integer inputs and outputs. */
START_TEST(check_lists_integer_types) {
  char *p = tu_temp_file("dim N\ninput ids[N] : int\ninput x[N, 3]\n"
                         "output a = argmax(x, 1), b = x[ids]\n", ".expr");
  char cmd[1024], *out = NULL;
  snprintf(cmd, sizeof cmd, "%s check %s", tu_exprc(), p);
  ck_assert_int_eq(tu_run(cmd, &out, NULL), 0);
  ck_assert_msg(strstr(out, "input  ids [N] : int\ninput  x [N,3]\n"), "%s", out);
  ck_assert_msg(strstr(out, "output a [N] : int\noutput b [N,3]\n"), "%s", out);
  free(out);
  remove(p);
  free(p);
}
END_TEST

int main(int argc, char **argv) {
  tu_set_paths(argc, argv);
  Suite *s = suite_create("ints");
  TCase *t = tu_tcase("ints", 120);
  tcase_add_test(t, int_inputs_report_their_type);
  tcase_add_test(t, int64_round_trip);
  tcase_add_test(t, values_beyond_exact_are_refused);
  tcase_add_test(t, element_type_syntax);
  tcase_add_test(t, npy_int32_and_int64);
  tcase_add_test(t, csv_whole_numbers);
  tcase_add_test(t, json_prints_integers);
  tcase_add_test(t, check_lists_integer_types);
  suite_add_tcase(s, t);
  return tu_run_suite(s);
}

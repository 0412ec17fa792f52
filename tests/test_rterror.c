/* test_rterror.c: the run-time error record of runtime.h, beneath the
 * errors that only data can reveal (an index out of range, a matrix that is
 * not positive definite). Generated code calls exprc_rt_fail; the API
 * installs a record around each run (exprc_rt_catch) and turns a failure
 * into a located message. These tests call the runtime as generated code
 * does, from parallel loop bodies too, and check what the record keeps.
 */
#include <stdlib.h>

#include "runtime.h"
#include "testutil.h"

/* A loop body that fails at every iteration i with i % 1000 == 999, with
 * the site 100000 - i: the last iterations, on the last chunk's thread, have
 * the smallest sites. */
static void failing_body(long lo, long hi, const long *D, double *const *S,
                         const double *R, double *A) {
  (void)D, (void)S, (void)R, (void)A;
  for (long i = lo; i < hi; i++)
    if (i % 1000 == 999)
      exprc_rt_fail(100000 - i, EXPRC_RTE_INDEX, (double)i, 5);
}

START_TEST(first_failure_by_site_is_kept) {
  exprc_rt_error e = {.site = -1};
  exprc_rt_error *outer = exprc_rt_catch(&e);
  exprc_rt_fail(7, EXPRC_RTE_NOT_PD, 3, -0.02);
  exprc_rt_fail(9, EXPRC_RTE_INDEX, 11, 10);
  ck_assert_ptr_eq(exprc_rt_catch(outer), &e);
  ck_assert_int_eq(e.site, 7);
  ck_assert_int_eq(e.what, EXPRC_RTE_NOT_PD);
  ck_assert_double_eq(e.a, 3);
  ck_assert_double_eq(e.b, -0.02);
}
END_TEST

/* With two threads the loop is split in chunks that run on the pool: the
 * record travels with them, and the smallest site wins whatever the order
 * the chunks finished in. */
START_TEST(failures_in_parallel_chunks_reach_the_caller) {
  int was = exprc_rt_use_threads(2);
  for (int round = 0; round < 20; round++) {
    exprc_rt_error e = {.site = -1};
    exprc_rt_error *outer = exprc_rt_catch(&e);
    exprc_rt_parallel(failing_body, 100000, NULL, NULL, NULL, NULL, NULL);
    exprc_rt_catch(outer);
    ck_assert_int_eq(e.site, 100000 - 99999);
    ck_assert_double_eq(e.a, 99999);
  }
  exprc_rt_use_threads(was);
}
END_TEST

/* Code compiled ahead of time that never installed a record: a failure is
 * dropped, not a crash. */
START_TEST(failure_without_a_record_is_ignored) {
  exprc_rt_error *outer = exprc_rt_catch(NULL);
  exprc_rt_fail(1, EXPRC_RTE_INDEX, 1, 1);
  exprc_rt_parallel(failing_body, 100000, NULL, NULL, NULL, NULL, NULL);
  ck_assert_ptr_null(exprc_rt_catch(outer));
}
END_TEST

int main(void) {
  Suite *s = suite_create("rterror");
  TCase *t = tu_tcase("rterror", 60);
  tcase_add_test(t, first_failure_by_site_is_kept);
  tcase_add_test(t, failures_in_parallel_chunks_reach_the_caller);
  tcase_add_test(t, failure_without_a_record_is_ignored);
  suite_add_tcase(s, t);
  return tu_run_suite(s);
}

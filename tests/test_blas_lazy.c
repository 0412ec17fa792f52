/* test_blas_lazy.c: OpenBLAS is loaded on the first product that needs it,
 * not when a program starts.
 *
 * Loading OpenBLAS starts its threads and allocates its buffers: 3-4 ms
 * that every `exprc` process paid at start-up when it was linked, most of
 * the time of `exprc check`. runtime/kernels.c now loads it with dlopen on
 * the first product large enough for BLAS (EXPRC_RT_BLAS_SIZED). Whether
 * it is in the process is read from outside the library: /proc/self/maps
 * lists every shared object the process has mapped.
 *
 * Each case runs in its own process (Check forks), so the order of the
 * cases does not matter; with CK_FORK=no, the case without a product runs
 * first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "testutil.h"

/* Is a libopenblas mapped into this process? */
static int openblas_mapped(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  char line[4096];
  int found = 0;
  ck_assert_msg(f != NULL, "cannot read /proc/self/maps");
  while (!found && fgets(line, sizeof line, f))
    found = strstr(line, "libopenblas") != NULL;
  fclose(f);
  return found;
}

/* A 16 x 4 matrix times a vector: 64 multiply-adds, below BLAS's size. */
START_TEST(small_products_do_not_load_blas) {
  ck_assert_msg(!openblas_mapped(), "libopenblas is mapped before any "
                "model ran: is it linked into the test?");
  exprc_model *m = tu_compile("input W[16, 4]\ninput v[4]\n"
                              "y = W @ v\noutput y\n");
  double W[64], v[4] = {1, 2, 3, 4};
  for (int i = 0; i < 64; i++)
    W[i] = i % 4 == 0 ? 1 : 0; /* row i picks v[0] */
  tu_set(m, "W", W, 2, 16, 4);
  tu_set(m, "v", v, 1, 4);
  exprc_tensor y = tu_output(m, "y");
  for (int i = 0; i < 16; i++)
    ck_assert(y.data[i] == 1.0);
  ck_assert_msg(!openblas_mapped(), "a product of 64 multiply-adds loaded "
                "libopenblas");
  ck_assert(!exprc_rt_blas_loaded());
  exprc_free(m);
}
END_TEST

/* A 64 x 64 product loads it, gives the right numbers, and leaves OpenBLAS
 * at one thread, as parallel.c sets it before its first product. */
START_TEST(a_large_product_loads_blas_single_threaded) {
  exprc_model *m = tu_compile("input A[64, 64]\ninput B[64, 64]\n"
                              "C = A @ B\noutput C\n");
  static double A[64 * 64], B[64 * 64];
  for (int i = 0; i < 64 * 64; i++) {
    A[i] = 1;          /* every row of A is ones, */
    B[i] = i % 64;     /* B[p, j] = j, so C[i, j] = sum_p j = 64 j */
  }
  tu_set(m, "A", A, 2, 64, 64);
  tu_set(m, "B", B, 2, 64, 64);
  exprc_tensor c = tu_output(m, "C");
  for (int i = 0; i < 64 * 64; i++)
    ck_assert_msg(c.data[i] == 64.0 * (i % 64), "C[%d] = %g", i, c.data[i]);
#ifdef EXPRC_HAVE_CBLAS
  ck_assert_msg(openblas_mapped(), "a 64 x 64 product did not load OpenBLAS");
  ck_assert(exprc_rt_blas_loaded());
  ck_assert_int_eq(exprc_rt_blas_single_threaded(), 1); /* it had one */
#endif
  exprc_free(m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("blas_lazy");
  TCase *tc = tu_tcase("load on first need", 60);
  tcase_add_test(tc, small_products_do_not_load_blas);
  tcase_add_test(tc, a_large_product_loads_blas_single_threaded);
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}

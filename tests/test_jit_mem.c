/* test_jit_mem.c: libtcc's memory (compiler/jit_mem.c). The build renames
 * libtcc's malloc, calloc, realloc and free to jit_mem's, which map blocks
 * of 4 MB and more in huge pages and leave the rest to malloc. Whatever the
 * path, a block keeps its bytes as it grows, calloc's memory is zeroed, a
 * pointer malloc made is given back to malloc, and nothing stays mapped
 * once a model is freed. A big model compiled through it computes the same
 * numbers as a plain loop. Under AddressSanitizer nothing is mapped
 * (mem_big_min() is SIZE_MAX), so these tests then check the malloc path.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../compiler/base.h"
#include "../compiler/jit.h"
#include "testutil.h"

static int mapping_on(void) { return mem_big_min() != SIZE_MAX; }

/* Two blocks doubled in step from 16 bytes to 64 MB, across the switch
 * from malloc to a mapping and through moves, as libtcc grows its
 * sections: every byte written stays. Then both are freed, and nothing
 * is left mapped. */
START_TEST(growing_blocks_keep_their_bytes) {
  JitMemStats before = jit_mem_stats();
  unsigned char *a = NULL, *b = NULL;
  for (size_t had = 0, n = 16; n <= ((size_t)64 << 20); had = n, n *= 2) {
    a = jit_mem_realloc(a, n);
    b = jit_mem_realloc(b, n);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    tu_fill(a, had, n, 1);
    tu_fill(b, had, n, 2);
    ck_assert_msg(tu_first_wrong(a, n, 1) == SIZE_MAX, "a wrong at size %zu", n);
    ck_assert_msg(tu_first_wrong(b, n, 2) == SIZE_MAX, "b wrong at size %zu", n);
  }
  JitMemStats during = jit_mem_stats();
  if (mapping_on()) {
    ck_assert_uint_ge(during.maps_made, before.maps_made + 2);
    ck_assert_uint_ge(during.bytes_mapped, before.bytes_mapped + (128 << 20));
  }
  a = jit_mem_realloc(a, 100); /* shrinking keeps the front */
  ck_assert_uint_eq(tu_first_wrong(a, 100, 1), SIZE_MAX);
  jit_mem_free(a);
  jit_mem_free(b);
  ck_assert_uint_eq(jit_mem_stats().bytes_mapped, before.bytes_mapped);
}
END_TEST

/* calloc's memory is zeroed on both paths, and a count times a size that
 * overflows is refused, not wrapped into a small block. */
START_TEST(calloc_zeroes_and_refuses_an_overflow) {
  size_t sizes[] = {1000, (size_t)6 << 20};
  for (int k = 0; k < 2; k++) {
    unsigned char *p = jit_mem_calloc(sizes[k] / 8, 8);
    ck_assert_ptr_nonnull(p);
    size_t nonzero = 0;
    for (size_t i = 0; i < sizes[k]; i++)
      nonzero += p[i] != 0;
    ck_assert_uint_eq(nonzero, 0);
    jit_mem_free(p);
  }
  ck_assert_ptr_null(jit_mem_calloc(SIZE_MAX / 2, 4));
}
END_TEST

/* libtcc may free a block that malloc made (and jit_mem did not map): it
 * goes back to malloc, which AddressSanitizer would report otherwise. A
 * block malloc made and grown past the switch keeps its bytes. */
START_TEST(a_block_malloc_made_goes_back_to_malloc) {
  jit_mem_free(malloc(100));
  unsigned char *p = malloc(5000);
  ck_assert_ptr_nonnull(p);
  tu_fill(p, 0, 5000, 7);
  p = jit_mem_realloc(p, (size_t)8 << 20);
  ck_assert_ptr_nonnull(p);
  ck_assert_uint_eq(tu_first_wrong(p, 5000, 7), SIZE_MAX);
  jit_mem_free(p);
  jit_mem_free(NULL);
}
END_TEST

/* L = sum_k d_k sin(c_k a + b) over WIDTH terms: 120k nodes, whose
 * sections libtcc grows past 4 MB. */
#define WIDTH 10000
static double d_of(int k) { return 1.0 / (k + 1); }
static double c_of(int k) { return (k + 1) * 1e-3; }

static char *wide_model(void) {
  size_t cap = (size_t)WIDTH * 64 + 256, n = 0;
  char *s = malloc(cap);
  ck_assert_ptr_nonnull(s);
  n += (size_t)snprintf(s, cap, "input a\ninput b\nL = 0");
  for (int k = 0; k < WIDTH; k++)
    n += (size_t)snprintf(s + n, cap - n, " +\n  %.17g*sin(%.17g*a + b)",
                          d_of(k), c_of(k));
  snprintf(s + n, cap - n, "\noutput L\ngrad L wrt a, b\n");
  return s;
}

/* The model's value and gradient against a plain loop over the terms (the
 * derivatives by hand: dL/da = sum d_k c_k cos(.), dL/db = sum d_k cos(.)),
 * and libtcc's sections went through jit_mem and were given back. */
START_TEST(libtcc_maps_a_big_models_sections_and_gives_them_back) {
  char *src = wide_model();
  JitMemStats before = jit_mem_stats();
  exprc_model *m = tu_compile(src);
  free(src);
#ifdef EXPRC_TCC_MEM
  if (mapping_on())
    ck_assert_uint_gt(jit_mem_stats().maps_made, before.maps_made);
#endif
  double a = 0.7, b = -0.3, L = 0, da = 0, db = 0;
  for (int k = 0; k < WIDTH; k++) {
    L += d_of(k) * sin(c_of(k) * a + b);
    da += d_of(k) * c_of(k) * cos(c_of(k) * a + b);
    db += d_of(k) * cos(c_of(k) * a + b);
  }
  tu_set(m, "a", &a, 0);
  tu_set(m, "b", &b, 0);
  double got[3] = {tu_scalar(m, "L"), *tu_grad(m, "L", "a").data,
                   *tu_grad(m, "L", "b").data};
  double want[3] = {L, da, db};
  tu_assert_close(got, want, 3, 1e-12, "L, dL/da, dL/db");
  exprc_free(m);
  ck_assert_uint_eq(jit_mem_stats().bytes_mapped, before.bytes_mapped);
}
END_TEST

int main(void) {
  Suite *s = suite_create("jit_mem");
  TCase *tc = tu_tcase("libtcc's memory", 240);
  tcase_add_test(tc, growing_blocks_keep_their_bytes);
  tcase_add_test(tc, calloc_zeroes_and_refuses_an_overflow);
  tcase_add_test(tc, a_block_malloc_made_goes_back_to_malloc);
  tcase_add_test(tc, libtcc_maps_a_big_models_sections_and_gives_them_back);
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}

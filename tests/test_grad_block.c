/* test_grad_block.c: exprc_grad_block, the one contiguous block that holds
 * every gradient of a `grad loss wrt ...` entry point, in the order of its
 * wrt list, so that a data-parallel trainer sums them across processes with
 * a single MPI_Allreduce.
 *
 * The model's gradients have closed forms (derived by hand below), so the
 * block is checked against numbers that do not come from exprc, and against
 * the per-gradient views, which must point into it. One gradient (dL/dx)
 * has a shape that depends on the dim N: rebinding N moves the block.
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* L = sum(W^2)/2 + c*sum(x^2)/2 + sum(x @ W), so by hand:
 *   dL/dW[i][j] = W[i][j] + sum_n x[n][i]        (x @ W summed: x^T 1)
 *   dL/dx[n][i] = c*x[n][i] + sum_j W[i][j]       (1 W^T)
 *   dL/dc       = sum(x^2)/2
 * W is 3x3 and x is N x 3: with N = 3 every axis has the same size, so a
 * transposed layout would not show in the shapes, only in the values. */
static const char *const MODEL =
    "dim N\n"
    "input x[N, 3]\n"
    "param W[3, 3]\n"
    "param c\n"
    "loss = sum(W^2) / 2 + c * sum(x^2) / 2 + sum(x @ W)\n"
    "grad loss wrt W, x, c\n";

static const double W0[9] = {1, -2, 3, 0.5, 4, -1, 2, 0, -3};
static const double C0 = 1.5;

/* Set x (n rows of distinct values), W and c. */
static void set_all(exprc_model *m, int n, double *x) {
  for (int k = 0; k < n * 3; k++)
    x[k] = 0.25 * k - 1;
  tu_set(m, "x", x, 2, (int64_t)n, (int64_t)3);
  tu_set(m, "W", W0, 2, (int64_t)3, (int64_t)3);
  tu_set(m, "c", &C0, 0);
}

/* The closed forms above, in the block's order: dW, dx, dc. */
static void expected_block(int n, const double *x, double *want) {
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      double colsum = 0;
      for (int r = 0; r < n; r++)
        colsum += x[r * 3 + i];
      want[i * 3 + j] = W0[i * 3 + j] + colsum;
    }
  for (int r = 0; r < n; r++)
    for (int i = 0; i < 3; i++)
      want[9 + r * 3 + i] =
          C0 * x[r * 3 + i] + W0[i * 3] + W0[i * 3 + 1] + W0[i * 3 + 2];
  double ss = 0;
  for (int k = 0; k < n * 3; k++)
    ss += x[k] * x[k];
  want[9 + n * 3] = ss / 2;
}

/* The block holds dW, dx, dc end to end, and each view points at its part
 * of it, both through exprc_find_grad and exprc_get. */
static void assert_views_in_block(exprc_model *m, double *ptr, int n) {
  const char *wrt[3] = {"W", "x", "c"};
  int64_t at = 0, size[3] = {9, 3 * n, 1};
  for (int k = 0; k < 3; k++) {
    exprc_tensor g, h;
    ck_assert_int_eq(exprc_find_grad(m, "loss", wrt[k], &g), EXPRC_OK);
    ck_assert_int_eq(exprc_get(m, EXPRC_GRADIENT, k, &h), EXPRC_OK);
    ck_assert_msg(g.data == ptr + at, "dloss/d%s is not at offset %lld",
                  wrt[k], (long long)at);
    ck_assert_ptr_eq(h.data, g.data);
    ck_assert_int_eq(g.size, size[k]);
    at += g.size;
  }
}

static void check_at_batch(exprc_model *m, int n) {
  double x[5 * 3], want[9 + 5 * 3 + 1], *ptr = NULL;
  int64_t count = -1;
  set_all(m, n, x);
  ck_assert_int_eq(exprc_gradient(m, "loss"), EXPRC_OK);
  ck_assert_int_eq(exprc_grad_block(m, "loss", &ptr, &count), EXPRC_OK);
  ck_assert_int_eq(count, 9 + 3 * n + 1);
  expected_block(n, x, want);
  tu_assert_close(ptr, want, count, 1e-14, "the gradient block");
  assert_views_in_block(m, ptr, n);
}

START_TEST(block_holds_every_gradient_in_wrt_order) {
  exprc_model *m = tu_compile(MODEL);
  check_at_batch(m, 3);
  exprc_free(m);
}
END_TEST

/* N 3 -> 5 -> 2: dL/dx grows and shrinks, the block follows, and so do
 * the views of the gradients whose shapes do not use N (dL/dW, dL/dc). */
START_TEST(block_follows_a_rebound_dim) {
  exprc_model *m = tu_compile(MODEL);
  check_at_batch(m, 3);
  check_at_batch(m, 5);
  check_at_batch(m, 2);
  exprc_free(m);
}
END_TEST

/* The block is the gradients' memory, not a copy: what a caller writes
 * into it (an allreduce's sum) is what the views read, and the other way
 * round; the next gradient run overwrites it rather than adding to it. */
START_TEST(writes_through_the_block_are_seen_by_the_views) {
  exprc_model *m = tu_compile(MODEL);
  double x[9], want[19], *ptr;
  int64_t count;
  set_all(m, 3, x);
  ck_assert_int_eq(exprc_gradient(m, "loss"), EXPRC_OK);
  ck_assert_int_eq(exprc_grad_block(m, "loss", &ptr, &count), EXPRC_OK);
  for (int64_t k = 0; k < count; k++)
    ptr[k] = 100.0 + (double)k;
  exprc_tensor dW, dx, dc;
  exprc_find_grad(m, "loss", "W", &dW);
  exprc_find_grad(m, "loss", "x", &dx);
  exprc_find_grad(m, "loss", "c", &dc);
  ck_assert(dW.data[0] == 100 && dW.data[8] == 108);
  ck_assert(dx.data[0] == 109 && dx.data[8] == 117);
  ck_assert(dc.data[0] == 118);
  dx.data[4] = -7;
  ck_assert(ptr[9 + 4] == -7);
  ck_assert_int_eq(exprc_gradient(m, "loss"), EXPRC_OK);
  expected_block(3, x, want);
  tu_assert_close(ptr, want, count, 1e-14, "the block after a second run");
  exprc_free(m);
}
END_TEST

/* Before N is bound, the sizes of dL/dx and so the block's layout are
 * unknown: a state error, and no gradient has memory yet, not even dL/dW,
 * whose place in the block depends on nothing but comes first of three. */
START_TEST(unbound_dim_is_a_state_error) {
  exprc_model *m = tu_compile(MODEL);
  double *ptr = (double *)&ptr;
  int64_t count = 77;
  ck_assert_int_eq(exprc_grad_block(m, "loss", &ptr, &count),
                   EXPRC_ERR_STATE);
  ck_assert_ptr_nonnull(strstr(exprc_errmsg(m), "dims not yet bound"));
  ck_assert(ptr == (double *)&ptr && count == 77); /* left as they were */
  exprc_tensor g;
  ck_assert_int_eq(exprc_find_grad(m, "loss", "W", &g), EXPRC_OK);
  ck_assert_ptr_null(g.data);
  ck_assert_int_eq(exprc_bind_dim(m, "N", 4), EXPRC_OK);
  ck_assert_int_eq(exprc_grad_block(m, "loss", &ptr, &count), EXPRC_OK);
  ck_assert_int_eq(count, 9 + 12 + 1);
  exprc_free(m);
}
END_TEST

START_TEST(unknown_loss_and_null_arguments) {
  exprc_model *m = tu_compile(MODEL);
  double *ptr;
  int64_t count;
  ck_assert_int_eq(exprc_grad_block(m, "W", &ptr, &count), EXPRC_ERR_NAME);
  ck_assert_str_eq(exprc_errmsg(m), "no 'grad W wrt ...' in the model");
  ck_assert_int_eq(exprc_grad_block(m, NULL, &ptr, &count), EXPRC_ERR_ARG);
  ck_assert_int_eq(exprc_grad_block(m, "loss", NULL, &count), EXPRC_ERR_ARG);
  ck_assert_int_eq(exprc_grad_block(m, "loss", &ptr, NULL), EXPRC_ERR_ARG);
  ck_assert_ptr_nonnull(strstr(exprc_errmsg(m), "exprc_grad_block"));
  ck_assert_int_eq(exprc_grad_block(NULL, "loss", &ptr, &count),
                   EXPRC_ERR_ARG);
  exprc_free(m);
  exprc_status st;
  m = NULL;
  st = exprc_compile_string("y = nope\n", "bad.expr", NULL, &m);
  ck_assert_int_ne(st, EXPRC_OK);
  ck_assert_int_eq(exprc_grad_block(m, "y", &ptr, &count), EXPRC_ERR_STATE);
  exprc_free(m);
}
END_TEST

/* Two gradient entry points get two blocks that do not overlap; with no
 * dims, a block exists as soon as the model is compiled. */
START_TEST(each_entry_point_has_its_own_block) {
  exprc_model *m = tu_compile("param a[2] ~ fill(3)\n"
                              "param b[2] ~ fill(-1)\n"
                              "f = sum(a * b)\n"
                              "g = sum(a^2)\n"
                              "grad f wrt b, a\n"
                              "grad g wrt a\n");
  double *pf, *pg;
  int64_t nf, ng;
  ck_assert_int_eq(exprc_grad_block(m, "f", &pf, &nf), EXPRC_OK);
  ck_assert_int_eq(exprc_grad_block(m, "g", &pg, &ng), EXPRC_OK);
  ck_assert_int_eq(nf, 4);
  ck_assert_int_eq(ng, 2);
  ck_assert(pg + ng <= pf || pf + nf <= pg);
  ck_assert_int_eq(exprc_gradient(m, "f"), EXPRC_OK);
  ck_assert_int_eq(exprc_gradient(m, "g"), EXPRC_OK);
  /* df/db = a = 3, df/da = b = -1 (b first: the wrt order); dg/da = 2a */
  const double wf[4] = {3, 3, -1, -1}, wg[2] = {6, 6};
  tu_assert_close(pf, wf, 4, 0, "block of f");
  tu_assert_close(pg, wg, 2, 0, "block of g");
  exprc_free(m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("grad_block");
  TCase *tc = tu_tcase("grad_block", 60);
  tcase_add_test(tc, block_holds_every_gradient_in_wrt_order);
  tcase_add_test(tc, block_follows_a_rebound_dim);
  tcase_add_test(tc, writes_through_the_block_are_seen_by_the_views);
  tcase_add_test(tc, unbound_dim_is_a_state_error);
  tcase_add_test(tc, unknown_loss_and_null_arguments);
  tcase_add_test(tc, each_entry_point_has_its_own_block);
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}

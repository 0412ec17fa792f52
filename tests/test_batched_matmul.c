/* test_batched_matmul.c: `@` with NumPy matmul's batching: the axes before
 * the last two broadcast, a vector operand is one row (left) or one column
 * (right) whose axis the result drops. Values against products worked out
 * by hand, gradients against finite differences (the broadcast batch axes
 * are summed in the gradient), nested grad, and dim-sized batches,
 * including a batch of 1.
 */
#include <string.h>

#include "refeval.h"
#include "testutil.h"

/* A[b] = [[b, 1], [0, 1]] (b = 0, 1), B = [[1, 2], [3, 4]] broadcast:
 * A[0] @ B = [[3, 4], [3, 4]], A[1] @ B = [[4, 6], [3, 4]]. */
START_TEST(leading_axes_broadcast) {
  exprc_model *m = tu_compile("input A[2, 2, 2]\ninput B[2, 2]\n"
                              "output C = A @ B, D = B @ A\n");
  tu_set(m, "A", (const double[]){0, 1, 0, 1, 1, 1, 0, 1}, 3, 2, 2, 2);
  tu_set(m, "B", (const double[]){1, 2, 3, 4}, 2, 2, 2);
  exprc_tensor c = tu_output(m, "C");
  tu_assert_shape(&c, 3, 2, 2, 2);
  tu_assert_close(c.data, (const double[]){3, 4, 3, 4, 4, 6, 3, 4}, 8, 0, "A @ B");
  /* B @ A[0] = [[0, 3], [0, 7]], B @ A[1] = [[1, 3], [3, 7]] */
  exprc_tensor d = tu_output(m, "D");
  tu_assert_close(d.data, (const double[]){0, 3, 0, 7, 1, 3, 3, 7}, 8, 0, "B @ A");
  exprc_free(m);
}
END_TEST

/* [B, h, T, d] @ [B, h, d, T] -> [B, h, T, T] with h broadcast from 1 on
 * the right, T = d = 2 (equal sizes), B = 2. Q[b][h] = (b + h + 1) I,
 * K[b][0] = [[1, 2], [3, 4]]: the product is (b + h + 1) K[b][0]. */
START_TEST(attention_shapes) {
  exprc_model *m = tu_compile("input Q[2, 3, 2, 2]\ninput K[2, 1, 2, 2]\n"
                              "output S = Q @ K\n");
  double q[24] = {0}, k[8];
  for (int b = 0; b < 2; b++)
    for (int h = 0; h < 3; h++)
      q[(b * 3 + h) * 4] = q[(b * 3 + h) * 4 + 3] = b + h + 1;
  for (int b = 0; b < 2; b++)
    for (int i = 0; i < 4; i++)
      k[b * 4 + i] = i + 1 + 10 * b;
  tu_set(m, "Q", q, 4, 2, 3, 2, 2);
  tu_set(m, "K", k, 4, 2, 1, 2, 2);
  exprc_tensor s = tu_output(m, "S");
  tu_assert_shape(&s, 4, 2, 3, 2, 2);
  for (int b = 0; b < 2; b++)
    for (int h = 0; h < 3; h++)
      for (int i = 0; i < 4; i++)
        ck_assert_double_eq(s.data[(b * 3 + h) * 4 + i],
                            (b + h + 1) * (i + 1 + 10 * b));
  exprc_free(m);
}
END_TEST

/* Vectors: v @ A[b] = v's combination of A[b]'s rows; A[b] @ w likewise of
 * its columns. A[b] = [[1, 2], [3, 4]] + 10 b, v = [1, -1], w = [2, 1]:
 * v @ A = [[-2, -2], [-2, -2]], A @ w = [[4, 10], [34, 40]]. */
START_TEST(vector_operands) {
  exprc_model *m = tu_compile("input A[2, 2, 2]\ninput v[2]\ninput w[2]\n"
                              "output l = v @ A, r = A @ w\n");
  tu_set(m, "A", (const double[]){1, 2, 3, 4, 11, 12, 13, 14}, 3, 2, 2, 2);
  tu_set(m, "v", (const double[]){1, -1}, 1, 2);
  tu_set(m, "w", (const double[]){2, 1}, 1, 2);
  exprc_tensor l = tu_output(m, "l");
  tu_assert_shape(&l, 2, 2, 2);
  tu_assert_close(l.data, (const double[]){-2, -2, -2, -2}, 4, 0, "v @ A");
  exprc_tensor r = tu_output(m, "r");
  tu_assert_close(r.data, (const double[]){4, 10, 34, 40}, 4, 0, "A @ w");
  exprc_free(m);
}
END_TEST

START_TEST(gradients_match_finite_differences) {
  exprc_model *m = tu_compile(
      "param A[2, 1, 3, 2] ~ normal(0, 1)\nparam B[3, 2, 3] ~ normal(0, 1)\n"
      "param v[2] ~ normal(0, 1)\nparam w[3] ~ normal(0, 1)\n"
      "param M[3, 3] ~ normal(0, 1)\n"
      "loss = sum(sin(A @ B)) + sum(cos(v @ B)) + sum(tanh(B @ w)) "
      "+ sum(sin(M @ A)) + sum((A @ B) @ M)\n"
      "grad loss wrt A, B, v, w, M\n");
  tu_gradcheck(m, "loss", 1e-6);
  exprc_free(m);
}
END_TEST

/* A dim-sized batch, bound to 1 and to 3 in turn. */
START_TEST(dim_batches_including_one) {
  exprc_model *m = tu_compile(
      "dim N\ninput X[N, 2, 3]\nparam W[3, 2] ~ normal(0, 1)\n"
      "loss = sum(sin(X @ W) * 2)\ngrad loss wrt W\n");
  for (int n = 1; n <= 3; n += 2) {
    double x[18];
    uint64_t st = (uint64_t)n;
    for (int i = 0; i < 6 * n; i++)
      x[i] = tu_uniform(&st, -1, 1);
    tu_set(m, "X", x, 3, n, 2, 3);
    tu_gradcheck(m, "loss", 1e-6);
  }
  exprc_free(m);
}
END_TEST

/* d/dA of sum((A @ B)^2) differentiated again along U: nested grad through
 * batched products. With h(A) = sum(grad(L, A) * U), grad(h, A) =
 * 2 U @ B @ B^T batch by batch; B = I (2 x 2) makes it 2 U. */
START_TEST(nested_grad_through_batched_product) {
  exprc_model *m = tu_compile(
      "param A[2, 2, 2]\ninput B[2, 2, 2]\ninput U[2, 2, 2]\n"
      "h = sum(grad(sum((A @ B) ^ 2), A) * U)\noutput d = grad(h, A)\n");
  double u[8];
  for (int i = 0; i < 8; i++)
    u[i] = i - 3;
  tu_set(m, "B", (const double[]){1, 0, 0, 1, 1, 0, 0, 1}, 3, 2, 2, 2);
  tu_set(m, "U", u, 3, 2, 2, 2);
  exprc_tensor d = tu_output(m, "d");
  double want[8];
  for (int i = 0; i < 8; i++)
    want[i] = 2 * u[i];
  tu_assert_close(d.data, want, 8, 1e-14, "nested");
  exprc_free(m);
}
END_TEST

/* A second derivative that flows through the swapped operand of a
 * gradient's product (dL/dB = swap(A) @ G, differentiated by A): the swap
 * itself is then computed, not only read by gemm. Finite differences of
 * the first gradient check it. */
START_TEST(second_derivative_through_the_swap) {
  exprc_model *m = tu_compile(
      "param A[2, 3, 2] ~ normal(0, 1)\nparam B[2, 2, 3] ~ normal(0, 1)\n"
      "input U[2, 2, 3]\n"
      "h = sum(grad(sum(sin(A @ B)), B) * U) + sum(grad(sum((A @ B) ^ 2), A) ^ 2)\n"
      "grad h wrt A, B\n");
  double u[12];
  for (int i = 0; i < 12; i++)
    u[i] = 0.25 * i - 1;
  tu_set(m, "U", u, 3, 2, 2, 3);
  tu_gradcheck(m, "h", 1e-6);
  /* the swap's own loop is in the generated code (emit_gather.c) */
  ck_assert(strstr(exprc_source(m), "= (gO*gM + gI)*gN + gJ") ||
            strstr(exprc_source(m), "[(gO*gM + gI)*gN + gJ] ="));
  exprc_free(m);
}
END_TEST

START_TEST(mismatched_batches_are_errors) {
  tu_expect_error("input A[2, 2, 3]\ninput B[3, 3, 2]\noutput C = A @ B\n",
                  EXPRC_ERR_SHAPE,
                  "test.expr:3:14: error: shapes [2,2,3] and [3,3,2] do not "
                  "match for '@'", "@");
}
END_TEST

/* The compiled products and the reference evaluator's loops agree, and so
 * do the gradients (the evaluator's by finite differences). */
START_TEST(compiler_agrees_with_reference_evaluator) {
  static const char *src =
      "input A[2, 1, 3, 2]\ninput B[3, 2, 3]\ninput v[2]\ninput w[3]\n"
      "output p = A @ B, q = v @ B, r = B @ w, s = (A @ B) @ w,\n"
      "  t = grad(sum(sin(A @ B)), A), u = grad(sum(cos(v @ B)), B)\n";
  double a[12], b[18], v[2], w[3];
  uint64_t st = 5;
  for (int i = 0; i < 12; i++)
    a[i] = tu_uniform(&st, -1, 1);
  for (int i = 0; i < 18; i++)
    b[i] = tu_uniform(&st, -1, 1);
  for (int i = 0; i < 2; i++)
    v[i] = tu_uniform(&st, -1, 1);
  for (int i = 0; i < 3; i++)
    w[i] = tu_uniform(&st, -1, 1);
  char err[512];
  RefModel *r = ref_load(src, err, sizeof err);
  ck_assert_msg(r != NULL, "%s", err);
  exprc_model *m = tu_compile(src);
  struct { const char *n; const double *x; int rank; int64_t d[4]; } in[] = {
      {"A", a, 4, {2, 1, 3, 2}}, {"B", b, 3, {3, 2, 3}}, {"v", v, 1, {2}},
      {"w", w, 1, {3}}};
  for (int k = 0; k < 4; k++) {
    ck_assert_int_eq(ref_set(r, in[k].n, in[k].x, in[k].rank, in[k].d), 0);
    ck_assert_int_eq(exprc_set(m, in[k].n, in[k].x, in[k].rank, in[k].d),
                     EXPRC_OK);
  }
  const char *outs[] = {"p", "q", "r", "s", "t", "u"};
  for (int k = 0; k < 6; k++) {
    RefTensor want;
    ck_assert_msg(ref_eval(r, outs[k], &want) == 0, "%s: %s", outs[k],
                  ref_errmsg(r));
    exprc_tensor got = tu_output(m, outs[k]);
    ck_assert_int_eq(got.rank, want.rank);
    for (int d = 0; d < got.rank; d++)
      ck_assert_int_eq(got.shape[d], want.shape[d]);
    tu_assert_close(got.data, want.data, want.size, k < 4 ? 1e-13 : 1e-6,
                    outs[k]);
  }
  exprc_free(m);
  ref_free(r);
}
END_TEST

int main(void) {
  Suite *s = suite_create("batched_matmul");
  TCase *t = tu_tcase("batched_matmul", 120);
  tcase_add_test(t, leading_axes_broadcast);
  tcase_add_test(t, attention_shapes);
  tcase_add_test(t, vector_operands);
  tcase_add_test(t, gradients_match_finite_differences);
  tcase_add_test(t, dim_batches_including_one);
  tcase_add_test(t, nested_grad_through_batched_product);
  tcase_add_test(t, mismatched_batches_are_errors);
  tcase_add_test(t, compiler_agrees_with_reference_evaluator);
  tcase_add_test(t, second_derivative_through_the_swap);
  suite_add_tcase(s, t);
  return tu_run_suite(s);
}

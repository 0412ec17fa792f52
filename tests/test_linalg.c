/* test_linalg.c: linear algebra: cholesky, solve, solve_triangular, inv,
 * det, logdet, trace, diag, diagonal, eye and outer.
 *
 * Truth comes from three places that share no code with the compiler:
 * numbers worked out by hand (the factor of a 3 x 3 matrix, determinants),
 * residuals computed here in plain C (A x - b, A inv(A) - I), and the
 * reference evaluator (tests/refeval.c), whose algorithms differ from the
 * runtime's (Gauss-Jordan, not LU; the outer-product Cholesky). Gradients
 * are checked against finite differences, second derivatives against the
 * reference's differences of differences. Small matrices run the runtime's
 * loops and 80 x 80 ones OpenBLAS's LAPACK, so both paths are checked.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refeval.h"
#include "testutil.h"

/* Symmetric positive definite, with a factor worked out by hand:
 * L = [[2, 0, 0], [1, 2, 0], [0.3, 0.6, sqrt(2.55)]], det = 40.8. */
static const double SPD[9] = {4, 2, 0.6, 2, 5, 1.5, 0.6, 1.5, 3};

/* Set x to a value in both the compiled model and the reference one. */
static void set_both(exprc_model *m, RefModel *r, const char *x,
                     const double *v, int rank, const int64_t *d) {
  ck_assert_int_eq(ref_set(r, x, v, rank, d), 0);
  ck_assert_int_eq(exprc_set(m, x, v, rank, d), EXPRC_OK);
}

/* Every output of m against the reference evaluator, to rtol (relative to
 * the largest magnitude of each output, plus an absolute floor of rtol). */
static void outputs_match_reference(exprc_model *m, RefModel *r, double rtol) {
  ck_assert_int_eq(exprc_forward(m), EXPRC_OK);
  for (int i = 0; i < exprc_count(m, EXPRC_OUTPUT); i++) {
    exprc_tensor t;
    exprc_get(m, EXPRC_OUTPUT, i, &t);
    RefTensor w;
    ck_assert_msg(ref_eval(r, t.name, &w) == 0, "%s", ref_errmsg(r));
    ck_assert_int_eq(w.size, t.size);
    double scale = 1;
    for (int64_t k = 0; k < w.size; k++)
      scale = fmax(scale, fabs(w.data[k]));
    for (int64_t k = 0; k < w.size; k++)
      ck_assert_msg(fabs(t.data[k] - w.data[k]) <= rtol * scale,
                    "%s[%lld]: compiled %.17g, reference %.17g", t.name,
                    (long long)k, t.data[k], w.data[k]);
  }
}

/* A model, and its reference, from src. */
static exprc_model *both(const char *src, RefModel **r) {
  char err[512];
  *r = ref_load(src, err, sizeof err);
  ck_assert_msg(*r, "%s", err);
  return tu_compile(src);
}

START_TEST(cholesky_by_hand) {
  exprc_model *m = tu_compile("input A[3, 3]\noutput L = cholesky(A)");
  tu_set(m, "A", SPD, 2, (int64_t)3, (int64_t)3);
  exprc_tensor L = tu_output(m, "L");
  double want[9] = {2, 0, 0, 1, 2, 0, 0.3, 0.6, sqrt(2.55)};
  tu_assert_close(L.data, want, 9, 1e-15, "cholesky");
  exprc_free(m);
}
END_TEST

/* det by cofactors: 4 (15 - 2.25) - 2 (6 - 0.9) + 0.6 (3 - 3) = 40.8;
 * det [[1, 2], [3, 4]] = -2; a singular matrix: 0 and log|0| = -inf. */
START_TEST(determinants_by_hand) {
  exprc_model *m = tu_compile("input A[3, 3]\ninput B[2, 2]\ninput S[2, 2]\n"
                              "output d = det(A), l = logdet(A), e = det(B),\n"
                              "  f = logdet(B), z = det(S), w = logdet(S)");
  tu_set(m, "A", SPD, 2, (int64_t)3, (int64_t)3);
  tu_set(m, "B", (double[]){1, 2, 3, 4}, 2, (int64_t)2, (int64_t)2);
  tu_set(m, "S", (double[]){1, 2, 2, 4}, 2, (int64_t)2, (int64_t)2);
  ck_assert_double_eq_tol(tu_output(m, "d").data[0], 40.8, 1e-13);
  ck_assert_double_eq_tol(tu_output(m, "l").data[0], log(40.8), 1e-15);
  ck_assert_double_eq_tol(tu_output(m, "e").data[0], -2, 1e-15);
  ck_assert_double_eq_tol(tu_output(m, "f").data[0], log(2), 1e-15);
  ck_assert_double_eq(tu_output(m, "z").data[0], 0);
  ck_assert(isinf(tu_output(m, "w").data[0]) && tu_output(m, "w").data[0] < 0);
  exprc_free(m);
}
END_TEST

/* A x = b and A inv(A) = I, checked by multiplying here. */
START_TEST(solve_and_inverse_leave_no_residual) {
  exprc_model *m = tu_compile("input A[3, 3]\ninput b[3]\ninput B[3, 2]\n"
                              "output x = solve(A, b), X = solve(A, B), "
                              "V = inv(A)");
  double A[9] = {0, 2, 1, 3, -1, 4, 1, 1, 1}; /* a zero first pivot */
  double b[3] = {1, -2, 0.5}, B[6] = {1, 0, 0, 1, 2, 3};
  tu_set(m, "A", A, 2, (int64_t)3, (int64_t)3);
  tu_set(m, "b", b, 1, (int64_t)3);
  tu_set(m, "B", B, 2, (int64_t)3, (int64_t)2);
  exprc_tensor x = tu_output(m, "x"), X = tu_output(m, "X"),
               V = tu_output(m, "V");
  for (int i = 0; i < 3; i++) {
    double r = -b[i];
    for (int j = 0; j < 3; j++)
      r += A[i * 3 + j] * x.data[j];
    ck_assert_double_eq_tol(r, 0, 1e-14);
    for (int c = 0; c < 2; c++) {
      double rc = -B[i * 2 + c];
      for (int j = 0; j < 3; j++)
        rc += A[i * 3 + j] * X.data[j * 2 + c];
      ck_assert_double_eq_tol(rc, 0, 1e-14);
    }
    for (int c = 0; c < 3; c++) {
      double e = -(double)(i == c);
      for (int j = 0; j < 3; j++)
        e += A[i * 3 + j] * V.data[j * 3 + c];
      ck_assert_double_eq_tol(e, 0, 1e-14);
    }
  }
  exprc_free(m);
}
END_TEST

static const char *ALL_OPS =
    "input A[3, 3]\ninput T[3, 3]\ninput B[3, 3]\ninput v[3]\n"
    "output L = cholesky(A), x = solve(A, v), X = solve(T, B), V = inv(T)\n"
    "output lo = solve_triangular(T, B, lower=1), up = solve_triangular(T, B)\n"
    "output lt = solve_triangular(T, v, 1, 1), ut = solve_triangular(T, B, trans=1)\n"
    "output d = det(T), l = logdet(T), t = trace(B), dg = diag(v), dm = diag(B)\n"
    "output dn = diagonal(B), e = eye(3), o = outer(v, B)\n";

/* Square [3, 3] operands everywhere: an axis mixed up still fits. */
START_TEST(every_op_matches_the_reference) {
  RefModel *r;
  exprc_model *m = both(ALL_OPS, &r);
  double T[9] = {2, 0.5, -1, 0.3, -3, 0.2, 1.5, 0.7, 4};
  double B[9] = {1, -2, 0.5, 0.25, 3, -1, 2, 0.1, -0.7};
  int64_t d33[2] = {3, 3}, d3[1] = {3};
  set_both(m, r, "A", SPD, 2, d33);
  set_both(m, r, "T", T, 2, d33);
  set_both(m, r, "B", B, 2, d33);
  set_both(m, r, "v", (double[]){0.5, -1, 2}, 1, d3);
  outputs_match_reference(m, r, 1e-13);
  exprc_free(m);
  ref_free(r);
}
END_TEST

/* A batch of three 3 x 3 matrices: each solved and factored on its own. */
START_TEST(batched_forms_match_the_reference) {
  const char *bsrc = "input A[3, 3, 3]\ninput B[3, 3, 2]\ninput P[3, 3, 3]\n"
                     "output x = solve(A, B), d = det(A), l = logdet(A),\n"
                     "  L = cholesky(P), V = inv(A)\n";
  RefModel *r;
  exprc_model *m = both(bsrc, &r);
  double A[27], B[18], P[27];
  uint64_t st = 7;
  for (int i = 0; i < 27; i++)
    A[i] = tu_uniform(&st, -1, 1) + (i % 4 == 0 ? 3 : 0); /* diagonals */
  for (int i = 0; i < 18; i++)
    B[i] = tu_uniform(&st, -1, 1);
  for (int b = 0; b < 3; b++) /* P = M M^T + I, positive definite */
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 3; j++) {
        double s = i == j;
        for (int k = 0; k < 3; k++)
          s += A[b * 9 + i * 3 + k] * A[b * 9 + j * 3 + k];
        P[b * 9 + i * 3 + j] = s;
      }
  set_both(m, r, "A", A, 3, (int64_t[]){3, 3, 3});
  set_both(m, r, "B", B, 3, (int64_t[]){3, 3, 2});
  set_both(m, r, "P", P, 3, (int64_t[]){3, 3, 3});
  outputs_match_reference(m, r, 1e-12);
  exprc_free(m);
  ref_free(r);
}
END_TEST

/* 80 x 80: OpenBLAS's LAPACK factors and BLAS's triangular solves (the
 * loops stop at 64). */
START_TEST(large_matrices_use_lapack_and_agree) {
  const char *src = "input A[80, 80]\ninput P[80, 80]\ninput b[80]\n"
                    "output x = solve(A, b), l = logdet(A), d = det(P / 4),\n"
                    "  L = cholesky(P), V = inv(A), u = solve_triangular(P, A),\n"
                    "  w = solve_triangular(P, b, lower=1, trans=1)\n";
  RefModel *r;
  exprc_model *m = both(src, &r);
  double *A = malloc(6400 * sizeof *A), *P = malloc(6400 * sizeof *P), b[80];
  uint64_t st = 11;
  for (int i = 0; i < 6400; i++)
    A[i] = tu_uniform(&st, -1, 1);
  for (int i = 0; i < 80; i++)
    b[i] = tu_uniform(&st, -1, 1);
  for (int i = 0; i < 80; i++)
    for (int j = 0; j < 80; j++) {
      double s = 80.0 * (i == j);
      for (int k = 0; k < 80; k++)
        s += A[i * 80 + k] * A[j * 80 + k];
      P[i * 80 + j] = s / 80;
    }
  set_both(m, r, "A", A, 2, (int64_t[]){80, 80});
  set_both(m, r, "P", P, 2, (int64_t[]){80, 80});
  set_both(m, r, "b", b, 1, (int64_t[]){80});
  outputs_match_reference(m, r, 1e-10);
  free(A);
  free(P);
  exprc_free(m);
  ref_free(r);
}
END_TEST

/* First derivatives of every op against central differences. */
START_TEST(gradients_match_finite_differences) {
  exprc_model *m = tu_compile(
      "input A[3, 3]\ninput T[3, 3]\ninput B[3, 2]\n"
      "L = cholesky(A)\n"
      "loss = sum(L * L * L) + sum(sin(solve(T, B))) + logdet(T) +\n"
      "  det(T) / 10 + sum(solve_triangular(T, B, lower=1)^2) +\n"
      "  sum(cos(solve_triangular(T, B, trans=1))) + sum(inv(T) * T) +\n"
      "  trace(T @ T) + sum(diag(diagonal(T)) * T) + sum(outer(B, T)^2)\n"
      "grad loss wrt A, T, B");
  tu_set(m, "A", SPD, 2, (int64_t)3, (int64_t)3);
  tu_set(m, "T", (double[]){2, 0.5, -1, 0.3, -3, 0.2, 1.5, 0.7, 4}, 2,
         (int64_t)3, (int64_t)3);
  tu_set(m, "B", (double[]){1, -2, 0.5, 0.25, 3, -1}, 2, (int64_t)3,
         (int64_t)2);
  tu_gradcheck(m, "loss", 1e-6);
  exprc_free(m);
}
END_TEST

/* Hessian-vector products through cholesky, solves and logdet: the
 * gradient's own gradient, against the reference's differences of its
 * differences (a Gaussian-process likelihood has exactly these). */
START_TEST(second_derivatives_match_the_reference) {
  const char *src =
      "input A[3, 3]\ninput T[3, 3]\ninput U[3, 3]\ninput y[3]\n"
      "L = cholesky(A)\n"
      "a = solve_triangular(L, y, lower=1)\n"
      "nll = sum(a * a) / 2 + logdet(A) / 2 + sum(solve(T, y)^2) + det(T) / 9\n"
      "output h = grad(sum(grad(nll, A) * U), A)\n"
      "output k = grad(sum(grad(nll, T) * U), T)\n";
  RefModel *r;
  exprc_model *m = both(src, &r);
  int64_t d33[2] = {3, 3};
  set_both(m, r, "A", SPD, 2, d33);
  set_both(m, r, "T", (double[]){2, 0.5, -1, 0.3, -3, 0.2, 1.5, 0.7, 4}, 2,
           d33);
  set_both(m, r, "U", (double[]){1, 0.5, -0.2, 0.5, -1, 0.3, -0.2, 0.3, 2}, 2,
           d33);
  set_both(m, r, "y", (double[]){1, -0.5, 2}, 1, (int64_t[]){3});
  outputs_match_reference(m, r, 1e-5);
  exprc_free(m);
  ref_free(r);
}
END_TEST

/* A batch of three 3 x 3 matrices (the batch axis as long as the matrix
 * axes): first derivatives against differences, second derivatives against
 * the reference's. */
START_TEST(batched_derivatives) {
  const char *src =
      "input A[3, 3, 3]\ninput B[3, 3, 2]\ninput P[3, 3, 3]\ninput U[3, 3, 3]\n"
      "loss = sum(sin(solve(A, B))) + sum(logdet(A)) + sum(det(A)) / 10 +\n"
      "  sum(cholesky(P)^3) + sum(solve_triangular(P, B, lower=1)^2) +\n"
      "  sum(inv(A) * A)\n"
      "grad loss wrt A, B, P\n"
      "output h = grad(sum(grad(loss, P) * U), P)\n";
  double A[27] = {3, 0.2, 0.1, 0.3, -2, 0.5, 0.1, 0.4, 4, 2, 1, 0, 1, 3,
                  1, 0, 1, 2, -3, 0.5, 1, 0.2, 2, 0.3, 1, 0.1, 3};
  double B[18] = {1, 2, 3, 4, 5, 6, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6,
                  -1, 1, 2, -2, 0.5, 0.25};
  double P[27] = {4, 2, 0.6, 2, 5, 1.5, 0.6, 1.5, 3, 3, 1, 0, 1, 3,
                  1, 0, 1, 3, 5, 0, 1, 0, 4, 0.5, 1, 0.5, 6};
  double U[27];
  for (int i = 0; i < 27; i++)
    U[i] = (i % 5) * 0.25 - 0.5;
  RefModel *r;
  exprc_model *m = both(src, &r);
  int64_t d333[3] = {3, 3, 3};
  set_both(m, r, "A", A, 3, d333);
  set_both(m, r, "B", B, 3, (int64_t[]){3, 3, 2});
  set_both(m, r, "P", P, 3, d333);
  set_both(m, r, "U", U, 3, d333);
  tu_gradcheck(m, "loss", 1e-6);
  outputs_match_reference(m, r, 1e-5);
  exprc_free(m);
  ref_free(r);
}
END_TEST

/* Forward mode through the factorisations (jvp.c transposes grad.c's
 * rules for them), a jacobian, and a hessian whose sparsity analysis
 * sees a factorisation (taken as dense), against the reference's
 * differences. */
START_TEST(forward_mode_and_jacobians) {
  const char *src =
      "input A[3, 3]\ninput T[3, 3]\ninput U[3, 3]\ninput y[3]\n"
      "f = cholesky(A) @ solve(T, y)\n"
      "output j = jvp(f, A, U), k = jvp(logdet(T) + det(T), T, U)\n"
      "output J = jacobian(solve_triangular(T, y, lower=1), y)\n"
      "output H = hessian(logdet(A + outer(y, y)), y)\n";
  RefModel *r;
  exprc_model *m = both(src, &r);
  int64_t d33[2] = {3, 3};
  set_both(m, r, "A", SPD, 2, d33);
  set_both(m, r, "T", (double[]){2, 0.5, -1, 0.3, -3, 0.2, 1.5, 0.7, 4}, 2,
           d33);
  set_both(m, r, "U", (double[]){1, 0.5, -0.2, 0.5, -1, 0.3, -0.2, 0.3, 2}, 2,
           d33);
  set_both(m, r, "y", (double[]){1, -0.5, 2}, 1, (int64_t[]){3});
  outputs_match_reference(m, r, 1e-6);
  exprc_free(m);
  ref_free(r);
}
END_TEST

/* einsum against the reference's sum over every assignment of the
 * letters, on equal sizes so that a letter mixed up still fits: products,
 * batches, transposes, full sums, NumPy's implicit output; gradients; and
 * the mistakes, located at the subscripts. */
START_TEST(einsum_matches_its_definition) {
  const char *src =
      "input a[3, 3]\ninput b[3, 3, 3]\ninput c[3]\n"
      "output m = einsum(\"ij,jkl->ikl\", a, b), o = einsum(\"i,j->ij\", c, c)\n"
      "output s = einsum(\"ij->\", a), t = einsum(\"ij->ji\", a)\n"
      "output imp = einsum(\"jk,ij\", a, a), bm = einsum(\"bij,bjk->bik\", b, b)\n"
      "output three = einsum(\"ij,jkl,i->lk\", a, b, c)\n"
      "loss = sum(einsum(\"ij,jkl,i->kl\", a, b, c)^2) +\n"
      "  sum(sin(einsum(\"bij,bjk->bki\", b, b))) + sum(einsum(\"ij,jk\", a, a)^2)\n"
      "grad loss wrt a, b, c\n";
  RefModel *r;
  exprc_model *m = both(src, &r);
  double a[9], b[27], c[3];
  uint64_t st = 3;
  for (int i = 0; i < 27; i++)
    b[i] = tu_uniform(&st, -1, 1), a[i % 9] = tu_uniform(&st, -1, 1),
    c[i % 3] = tu_uniform(&st, -1, 1);
  set_both(m, r, "a", a, 2, (int64_t[]){3, 3});
  set_both(m, r, "b", b, 3, (int64_t[]){3, 3, 3});
  set_both(m, r, "c", c, 1, (int64_t[]){3});
  outputs_match_reference(m, r, 1e-14);
  /* by hand: imp is a @ a's transpose pair, "jk,ij->ik" = (a @ a)[i, k] */
  exprc_tensor imp = tu_output(m, "imp");
  double want = 0;
  for (int j = 0; j < 3; j++)
    want += a[0 * 3 + j] * a[j * 3 + 1];
  ck_assert_double_eq_tol(imp.data[1], want, 1e-15);
  tu_gradcheck(m, "loss", 1e-6);
  exprc_free(m);
  ref_free(r);
  tu_expect_error("input a[3, 3]\ny = einsum(\"ii\", a)\n", EXPRC_ERR_SYNTAX,
                  "test.expr:2:12: error: einsum's subscripts \"ii\": a letter "
                  "repeated within one operand (a diagonal) is not supported",
                  "\"ii\"");
  tu_expect_error("input a[3, 2]\ny = einsum(\"ij,ij->i\", a, transpose(a))\n",
                  EXPRC_ERR_SHAPE,
                  "test.expr:2:27: error: einsum: the axes named 'i' differ in "
                  "size", "transpose");
  tu_expect_error("input a[3, 3]\ny = einsum(\"ij->k\", a)\n", EXPRC_ERR_SYNTAX,
                  "test.expr:2:12: error: einsum's subscripts \"ij->k\": an "
                  "output letter names no operand's axis", "\"ij->k\"");
  tu_expect_error("input a[3, 3]\ny = einsum(a, a)\n", EXPRC_ERR_SYNTAX,
                  "test.expr:2:12: error: einsum takes its subscripts as a "
                  "string first, such as \"ij,jk->ik\"", "a, a)");
}
END_TEST

/* Two operands are one matrix product (batched where letters are shared
 * with the output), which is what makes einsum of large tensors
 * affordable: the values against the reference with a dim-sized letter,
 * and the graph holds a product, not a product over every letter. */
START_TEST(einsum_of_two_is_a_matrix_product) {
  const char *src = "dim N\ninput x[N, 3]\ninput w[3, 4]\n"
                    "output y = einsum(\"nj,jk->kn\", x, w)\n";
  RefModel *r;
  exprc_model *m = both(src, &r);
  double x[6] = {1, 2, 3, -1, 0.5, 2}, w[12];
  for (int i = 0; i < 12; i++)
    w[i] = i * 0.25 - 1;
  set_both(m, r, "x", x, 2, (int64_t[]){2, 3});
  set_both(m, r, "w", w, 2, (int64_t[]){3, 4});
  outputs_match_reference(m, r, 1e-15);
  ck_assert_msg(strstr(exprc_source(m), "exprc_rt_gemm"), "no matrix product");
  exprc_free(m);
  ref_free(r);
}
END_TEST

/* eye of a dim, at sizes 1 and 3. */
START_TEST(eye_of_a_dim) {
  exprc_model *m = tu_compile("dim N\ninput x[N]\n"
                              "output e = eye(N) * x, s = sum(inv(eye(N) + outer(x, x)))");
  for (int n = 1; n <= 3; n += 2) {
    double x[3] = {2, 3, 5};
    tu_set(m, "x", x, 1, (int64_t)n);
    exprc_tensor e = tu_output(m, "e");
    ck_assert_int_eq(e.size, n * n);
    for (int i = 0; i < n * n; i++)
      ck_assert_double_eq(e.data[i], i / n == i % n ? x[i % n] : 0);
    /* Sherman-Morrison: inv(I + x x^T) = I - x x^T / (1 + x.x) */
    double xx = 0, sx = 0;
    for (int i = 0; i < n; i++)
      xx += x[i] * x[i], sx += x[i];
    ck_assert_double_eq_tol(tu_output(m, "s").data[0], n - sx * sx / (1 + xx),
                            1e-13);
  }
  exprc_free(m);
}
END_TEST

/* The data decides: a located run-time error, status EXPRC_ERR_NUMERIC. */
START_TEST(not_positive_definite_is_a_located_run_time_error) {
  exprc_model *m = tu_compile("input A[3, 3]\n\nL = cholesky(A)\noutput L");
  tu_set(m, "A", (double[]){1, 2, 3, 2, 1, 0, 3, 0, 1}, 2, (int64_t)3,
         (int64_t)3);
  ck_assert_int_eq(exprc_forward(m), EXPRC_ERR_NUMERIC);
  ck_assert_str_eq(exprc_errmsg(m),
                   "test.expr:3:5: error: cholesky: the matrix is not positive "
                   "definite (pivot 2 is -3)\n   L = cholesky(A)\n       ^\n");
  /* the next call with good data runs */
  tu_set(m, "A", SPD, 2, (int64_t)3, (int64_t)3);
  ck_assert_int_eq(exprc_forward(m), EXPRC_OK);
  exprc_free(m);
}
END_TEST

START_TEST(singular_solve_is_a_located_run_time_error) {
  exprc_model *m = tu_compile("input A[2, 2]\ninput b[2]\noutput x = solve(A, b)");
  tu_set(m, "A", (double[]){1, 2, 2, 4}, 2, (int64_t)2, (int64_t)2);
  tu_set(m, "b", (double[]){1, 1}, 1, (int64_t)2);
  ck_assert_int_eq(exprc_forward(m), EXPRC_ERR_NUMERIC);
  ck_assert_str_eq(exprc_errmsg(m),
                   "test.expr:3:12: error: solve: the matrix is singular "
                   "(pivot 2 is 0)\n   output x = solve(A, b)\n              ^\n");
  exprc_free(m);
}
END_TEST

START_TEST(shapes_are_checked_at_compile_time) {
  tu_expect_error("input A[3, 2]\ny = cholesky(A)\n", EXPRC_ERR_SHAPE,
                  "test.expr:2:5: error: 'cholesky' takes square matrices (on "
                  "the last two axes), not [3,2]",
                  "cholesky");
  tu_expect_error("input A[3, 3]\ninput b[2]\ny = solve(A, b)\n",
                  EXPRC_ERR_SHAPE,
                  "test.expr:3:5: error: 'solve' needs a right side with the "
                  "rows (and batch axes) of [3,3], not [2]",
                  "solve");
  tu_expect_error("input v[3]\ny = trace(v)\n", EXPRC_ERR_SHAPE,
                  "test.expr:2:11: error: 'trace' takes a matrix (2 axes), "
                  "not [3]",
                  "v)");
  exprc_status st;
  const char *msg =
      tu_compile_error("input A[3, 3]\ny = solve_triangular(A, A, lower=2)\n", &st);
  ck_assert_msg(strstr(msg, "test.expr:2:34: error: lower (0 or 1) must be"),
                "%s", msg);
}
END_TEST

int main(void) {
  Suite *s = suite_create("linalg");
  TCase *t = tu_tcase("linalg", 120);
  tcase_add_test(t, cholesky_by_hand);
  tcase_add_test(t, determinants_by_hand);
  tcase_add_test(t, solve_and_inverse_leave_no_residual);
  tcase_add_test(t, every_op_matches_the_reference);
  tcase_add_test(t, batched_forms_match_the_reference);
  tcase_add_test(t, large_matrices_use_lapack_and_agree);
  tcase_add_test(t, gradients_match_finite_differences);
  tcase_add_test(t, second_derivatives_match_the_reference);
  tcase_add_test(t, batched_derivatives);
  tcase_add_test(t, forward_mode_and_jacobians);
  tcase_add_test(t, einsum_matches_its_definition);
  tcase_add_test(t, einsum_of_two_is_a_matrix_product);
  tcase_add_test(t, eye_of_a_dim);
  tcase_add_test(t, not_positive_definite_is_a_located_run_time_error);
  tcase_add_test(t, singular_solve_is_a_located_run_time_error);
  tcase_add_test(t, shapes_are_checked_at_compile_time);
  suite_add_tcase(s, t);
  return tu_run_suite(s);
}

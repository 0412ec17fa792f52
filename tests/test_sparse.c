/* test_sparse.c: sparse Jacobians and Hessians by colouring.
 *
 * jacobian and hessian find the entries that can be non-zero from the graph
 * (compiler/sparsity.c), colour the columns so that no row has two of one
 * colour, and run one forward sweep per colour. Checked three ways:
 *   - the same function written so that its pattern is dense (plus
 *     0 * sum(x)^2, which the analysis cannot see is zero) gives the same
 *     matrix by the dense path (to rounding: the sweeps differ), and both
 *     agree with the reference evaluator's finite differences;
 *   - the pattern and the colour count of the chain objective
 *     sum((x[1:] - x[:-1]^2)^2) at n = 2000, by the compiler's own functions:
 *     tridiagonal, three colours, so three sweeps where the dense Hessian
 *     needs 2000;
 *   - that Hessian end to end, against its closed form.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../compiler/grad.h"
#include "../compiler/model.h"
#include "../compiler/sparsity.h"
#include "refeval.h"
#include "testutil.h"

static void fill(double *v, int64_t n, double lo, double hi) {
  for (int64_t i = 0; i < n; i++)
    v[i] = lo + (hi - lo) * fmod(0.1234 + (double)i * 0.6180339887498949, 1);
}

/* Output `out` of the model `body` (one input x[n]) at x, with z = 0 and
 * with z = 0 * sum(x)^2 (which makes the pattern dense but adds zero): equal
 * to 1e-13, and within 1e-6 of the oracle. */
static void sparse_equals_dense(const char *body, int64_t n) {
  char src[1024], dsrc[1024], err[256];
  snprintf(src, sizeof src, "input x[%lld]\nz = 0\n%s", (long long)n, body);
  snprintf(dsrc, sizeof dsrc, "input x[%lld]\nz = 0 * sum(x)^2\n%s",
           (long long)n, body);
  double *x = malloc((size_t)n * sizeof *x);
  fill(x, n, -1.2, 1.3);
  exprc_model *m = tu_compile(src), *d = tu_compile(dsrc);
  RefModel *r = ref_load(src, err, sizeof err);
  ck_assert_msg(r != NULL, "%s", err);
  tu_set(m, "x", x, 1, n);
  tu_set(d, "x", x, 1, n);
  ck_assert(ref_set(r, "x", x, 1, &n) == 0);
  exprc_tensor a = tu_output(m, "out"), b = tu_output(d, "out");
  RefTensor want;
  ck_assert_msg(ref_eval(r, "out", &want) == 0, "%s", ref_errmsg(r));
  ck_assert_int_eq(a.size, b.size);
  ck_assert_int_eq(a.size, want.size);
  for (int64_t i = 0; i < a.size; i++) {
    ck_assert_msg(fabs(a.data[i] - b.data[i]) <= 1e-13 * (1 + fabs(b.data[i])),
                  "%s[%lld]: sparse %.17g, dense %.17g", body, (long long)i,
                  a.data[i], b.data[i]);
    ck_assert_msg(fabs(a.data[i] - want.data[i]) <= 1e-6 * (1 + fabs(want.data[i])),
                  "%s[%lld]: %.17g, oracle %.17g", body, (long long)i,
                  a.data[i], want.data[i]);
  }
  ref_free(r);
  exprc_free(m);
  exprc_free(d);
  free(x);
}

/* Patterns: tridiagonal (a chain), pentadiagonal, diagonal, 2x2 blocks,
 * a band above the diagonal only (dmin > 0), a tall Jacobian whose band
 * is wider than a row (which goes the dense way), and no entries at all. */
static const char *const bodies[] = {
    "output out = hessian(sum((x[1:8] - x[0:7]^2)^2) + sum(sin(x)) + z, x)\n",
    "output out = hessian(sum(x[2:8] * x[0:6] * x[1:7]) + sum(exp(x) / 3) + z, x)\n",
    "output out = hessian(sum(x^4) + sum(log1p(x * x)) + z, x)\n",
    "output out = hessian(sum(prod2(reshape(x, [4, 2]))) + sum(x^3) + z, x)\n",
    "output out = jacobian(x[3:6] * sin(x[5:8]) + z, x)\n",
    "output out = jacobian(reshape([[1], [2], [3]] * tanh(x), [24]) + z, x)\n",
    "output out = jacobian(floor(x) + z, x)\n",
};

START_TEST(sparse_equals_dense_and_the_oracle) {
  const char *body = bodies[_i];
  if (strstr(body, "prod2")) { /* x[2k] * x[2k+1] per row, as a def */
    char b[512];
    snprintf(b, sizeof b, "def prod2(m) = m[:, 0] * m[:, 1]\n%s", body);
    sparse_equals_dense(b, 8);
  } else {
    sparse_equals_dense(body, 8);
  }
}
END_TEST

/* ---- the pattern and the colours, by the compiler's functions ---- */

typedef struct Chain {
  int64_t n, nnz, ncolour, ok;
  int64_t bad_row; /* the first row whose columns are not i-1, i, i+1 */
} Chain;

static void chain_pattern(Ctx *c, void *arg) {
  Chain *ch = arg;
  int64_t n = ch->n;
  Graph *g = graph_new(c);
  Shape s = {.rank = 1, .d = {n}}, m = {.rank = 1, .d = {n - 1}};
  int64_t at0[MAX_RANK] = {0}, at1[MAX_RANK] = {1};
  uint32_t x = graph_leaf(g, OP_INPUT, 0, &s);
  uint32_t hi = graph_window(g, OP_SLICE, x, at1, &m);
  uint32_t lo = graph_window(g, OP_SLICE, x, at0, &m);
  uint32_t r = graph_op2(g, OP_SUB, hi, graph_op2(g, OP_MUL, lo, lo));
  uint32_t f = graph_sum(g, graph_op2(g, OP_MUL, r, r), 1), gx;
  grad_build(g, f, &x, 1, &gx);
  Pattern p;
  ch->ok = sparsity_pattern(g, gx, x, (int64_t)64 << 20, &p);
  if (!ch->ok)
    return;
  ch->nnz = p.nnz;
  ch->bad_row = -1;
  for (int64_t i = 0; i < n && ch->bad_row < 0; i++) {
    int64_t k = p.rowstart[i];
    for (int64_t j = i > 0 ? i - 1 : 0; j <= i + 1 && j < n; j++, k++)
      if (k >= p.rowstart[i + 1] || p.col[k] != j)
        ch->bad_row = i;
    if (k != p.rowstart[i + 1])
      ch->bad_row = i;
  }
  int64_t *colour = ctx_realloc(c, NULL, (size_t)n * sizeof *colour);
  ch->ncolour = sparsity_colour(c, &p, colour);
  sparsity_free(c, &p);
}

START_TEST(chain_hessian_is_tridiagonal_in_three_colours) {
  Ctx c;
  exprc_limits lim = model_limits(NULL);
  ctx_init(&c, "chain", "", 0, &lim);
  Chain ch = {.n = 2000};
  ck_assert_int_eq(ctx_protect(&c, chain_pattern, &ch), EXPRC_OK);
  ck_assert(ch.ok);
  ck_assert_int_eq(ch.nnz, 3 * 2000 - 2);
  ck_assert_int_eq(ch.bad_row, -1);
  ck_assert_int_eq(ch.ncolour, 3); /* sweeps: 3, not 2000 */
  ctx_free(&c);
}
END_TEST

/* f = sum((x[i+1] - x[i]^2)^2) + sum((1 - x[i])^2) over i < n - 1 (the
 * Rosenbrock chain): H[i][i] = 12 x[i]^2 - 4 x[i+1] + 2 (i < n-1) plus 2
 * from the term before (i > 0), H[i][i+1] = -4 x[i]. n = 2000, beyond the
 * dense Hessian's 256. */
START_TEST(chain_hessian_of_2000_variables) {
  enum { N = 2000 };
  exprc_model *m = tu_compile(
      "input x[2000]\n"
      "f = sum((x[1:2000] - x[0:1999]^2)^2) + sum((1 - x[0:1999])^2)\n"
      "output H = hessian(f, x)\n");
  double *x = malloc(N * sizeof *x);
  fill(x, N, -1, 1.5);
  tu_set(m, "x", x, 1, (int64_t)N);
  exprc_tensor h = tu_output(m, "H");
  tu_assert_shape(&h, 2, N, N);
  for (int64_t i = 0; i < N; i++)
    for (int64_t j = 0; j < N; j++) {
      double want = 0;
      if (j == i)
        want = (i < N - 1 ? 12 * x[i] * x[i] - 4 * x[i + 1] + 2 : 0) +
               (i > 0 ? 2 : 0);
      else if (j == i + 1)
        want = -4 * x[i];
      else if (j == i - 1)
        want = -4 * x[j];
      double got = h.data[i * N + j];
      if (fabs(got - want) > 1e-12 * (1 + fabs(want)))
        ck_abort_msg("H[%lld][%lld] = %.17g, want %.17g", (long long)i,
                     (long long)j, got, want);
    }
  free(x);
  exprc_free(m);
}
END_TEST

/* The documented reach: a band Hessian of 4096 variables (2^24 entries)
 * compiles; the analysis holds only the sets of the nodes still to be
 * read, so it stays inside its memory budget. (Not run: the result alone
 * is 128 MB.) */
START_TEST(a_band_hessian_of_4096_variables_compiles) {
  exprc_model *m = tu_compile(
      "input x[4096]\n"
      "f = sum((x[1:4096] - x[0:4095]^2)^2) + sum((1 - x[0:4095])^2) +\n"
      "    sum(exp(x[2:4096] * x[0:4094]))\n"
      "output H = hessian(f, x)\n");
  exprc_tensor h;
  ck_assert(exprc_find(m, "H", &h) == EXPRC_OK);
  ck_assert_int_eq(h.rank, 2);
  ck_assert_int_eq(h.shape[0], 4096);
  ck_assert_int_eq(h.shape[1], 4096);
  exprc_free(m);
}
END_TEST

/* Dense patterns keep the dense limit and its message. */
START_TEST(dense_hessians_keep_their_limit) {
  exprc_status st;
  const char *e = tu_compile_error(
      "input x[300]\noutput H = hessian(sum(x)^2, x)\n", &st);
  ck_assert_int_eq(st, EXPRC_ERR_LIMIT);
  ck_assert_msg(strstr(e, "hessian is for up to 256 constant-sized "
                          "elements"), "%s", e);
}
END_TEST

int main(void) {
  Suite *s = suite_create("sparse");
  TCase *t = tu_tcase("sparse", 300);
  tcase_add_loop_test(t, sparse_equals_dense_and_the_oracle, 0,
                      (int)(sizeof bodies / sizeof bodies[0]));
  tcase_add_test(t, chain_hessian_is_tridiagonal_in_three_colours);
  tcase_add_test(t, chain_hessian_of_2000_variables);
  tcase_add_test(t, a_band_hessian_of_4096_variables_compiles);
  tcase_add_test(t, dense_hessians_keep_their_limit);
  suite_add_tcase(s, t);
  return tu_run_suite(s);
}

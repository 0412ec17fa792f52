/* test_rewrites.c: every rewrite rule of the simplifier, made to fire and
 * checked against numbers computed here.
 *
 * Each case is a model written so that one rule applies, on shapes whose
 * axes have equal sizes ([2,2], [2,3,3]) so that a rule that confuses two
 * axes gives other numbers, not a shape error. The case says what `exprc
 * graph` must show afterwards (the rewritten op, or the absence of the one
 * removed), which proves the rule fired, and the expected output, computed
 * in this file with libm from the formula the model states: nothing of the
 * compiler is used to get it. The same model compiled with --no-simplify,
 * where no rule runs, must agree too (except for the stable forms, whose
 * point is to differ from the naive ones where those overflow). Rules and the
 * functions in compiler/simplify.c that hold them:
 *
 *   fold, folded_late  constant folding, exp and sigmoid folded after the
 *                      stable rewrites had their chance
 *   choice             where(c, a, b) with a constant condition
 *   arith              x + -0, x - 0, -0 - x, x * 1, x * -1, x / 1, x ^ 1,
 *                      x ^ 0, --x
 *   stable_log, stable log(exp(y)), logsumexp, log(exp(z) / b), log of a
 *                      broadcast or reshape, log(sigmoid), log(1 + x),
 *                      log1p(exp(x)), exp(x) - 1, 1 / (1 + exp(-x))
 *   movement           bcast/reshape to the same shape, bcast of a reshape
 *                      that added leading 1s (and not trailing ones),
 *                      reshape of a reshape, transposes of rank <= 1 and of a
 *                      transpose, reductions over no axis, whole slices, and
 *                      movement of constants
 *   implicit_broadcast an explicit broadcast an elementwise op does anyway
 *   plain_product      the gradient rules' strong-zero MULZ(g, c) and
 *                      DIVZ(g, c) by a finite (nonzero) constant c, and
 *                      either of them with a nonzero constant first operand,
 *                      are the plain * and /
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct Case {
  const char *rule;
  const char *src;   /* the model; its inputs get the values below */
  const char *out;   /* the output checked */
  const char *shows; /* what `exprc graph` prints when the rule fired */
  const char *gone;  /* ... and no longer prints (NULL: nothing); a node
                        prints as "n3     = exp n1  [2,2]" */
  int stable;        /* 1: --no-simplify may differ (a stable form) */
  const char *op, *shape; /* if set: the node of that op has that shape */
} Case;

/* Inputs: x[2,2] = X, z[2,3,3] = Z, v[2] = V, s[] = S. */
static const double X[4] = {0.5, -1.25, 2.0, 0.75};
static const double V[2] = {1.5, -0.5};
static const double S[1] = {0.3};
static double Z[18];

static const char decl[] = "input x[2, 2]\ninput z[2, 3, 3]\ninput v[2]\n"
                           "input s\n";

static double sigmoid(double t) { return 1 / (1 + exp(-t)); }
static double softplus(double t) { return t > 0 ? t + log1p(exp(-t)) : log1p(exp(t)); }

/* The expected output of case k, computed from its formula. */
static int expected(int k, double *w) {
  switch (k) {
  case 0: /* fold: 2 * 3 + x */
    for (int i = 0; i < 4; i++) w[i] = 6 + X[i];
    return 4;
  case 1: /* folded late: log(1 + exp(800)) + x */
    for (int i = 0; i < 4; i++) w[i] = 800 + X[i];
    return 4;
  case 2: /* choice: where(1, x, -x) */
    memcpy(w, X, sizeof X);
    return 4;
  case 3: /* arith: ((x * 1) / 1) ^ 1 - 0 */
    memcpy(w, X, sizeof X);
    return 4;
  case 4: /* arith: -(-(x * -1)) + -0 */
    for (int i = 0; i < 4; i++) w[i] = -X[i];
    return 4;
  case 5: /* arith: x ^ 0 */
    for (int i = 0; i < 4; i++) w[i] = 1;
    return 4;
  case 6: /* logsumexp over the last axis of z */
    for (int r = 0; r < 6; r++) {
      double m = fmax(Z[3 * r], fmax(Z[3 * r + 1], Z[3 * r + 2]));
      w[r] = m + log(exp(Z[3 * r] - m) + exp(Z[3 * r + 1] - m) +
                     exp(Z[3 * r + 2] - m));
    }
    return 6;
  case 7: /* log(softmax(x)) along the last axis */
    for (int r = 0; r < 2; r++) {
      double l = log(exp(X[2 * r]) + exp(X[2 * r + 1]));
      w[2 * r] = X[2 * r] - l, w[2 * r + 1] = X[2 * r + 1] - l;
    }
    return 4;
  case 8: /* log(exp(x) / v): v along the last axis */
    for (int i = 0; i < 4; i++) w[i] = X[i] - log(fabs(V[i % 2]) + 1);
    return 4;
  case 9: /* log(sigmoid(x)) */
    for (int i = 0; i < 4; i++) w[i] = -softplus(-X[i]);
    return 4;
  case 10: /* log(1 + x * x) */
    for (int i = 0; i < 4; i++) w[i] = log1p(X[i] * X[i]);
    return 4;
  case 11: /* log1p(exp(x)) */
    for (int i = 0; i < 4; i++) w[i] = softplus(X[i]);
    return 4;
  case 12: /* exp(x) - 1 */
    for (int i = 0; i < 4; i++) w[i] = expm1(X[i]);
    return 4;
  case 13: /* 1 / (1 + exp(-x)) */
    for (int i = 0; i < 4; i++) w[i] = sigmoid(X[i]);
    return 4;
  case 14: /* log of a broadcast: log(v + 2) + x */
    for (int i = 0; i < 4; i++) w[i] = log(V[i % 2] + 2) + X[i];
    return 4;
  case 15: /* sum(x, 1) is [2]: NumPy aligns it with the last axis */
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 2; j++)
        w[2 * i + j] = X[2 * j] + X[2 * j + 1];
    return 4;
  case 16: /* reshaped to [2, 1], it runs down the first axis */
    for (int r = 0; r < 2; r++)
      w[2 * r] = w[2 * r + 1] = X[2 * r] + X[2 * r + 1];
    return 4;
  case 17: /* reshape of a reshape, and a transpose of a transpose */
    for (int i = 0; i < 4; i++) w[i] = X[i];
    return 4;
  case 18: /* transpose of a vector, a whole slice, a splat's movement */
    w[0] = V[0] + 2, w[1] = V[1] + 2;
    return 2;
  case 19: /* x ^ 0 is a [2,2] of ones, which the add broadcasts anyway */
    for (int i = 0; i < 4; i++) w[i] = X[i] + 1;
    return 4;
  case 21: /* d/dx_ij of sum(reshape(sum(x, 0), [1, 1, 2]) * c) is c_j */
    w[0] = w[2] = -2, w[1] = w[3] = -3;
    return 4;
  case 22: /* d/dx sum(s * (x * 3)) = 3 s */
    for (int i = 0; i < 4; i++) w[i] = 3 * S[0];
    return 4;
  case 23: /* d/dx sum(s * (x / 4)) = s / 4 */
    for (int i = 0; i < 4; i++) w[i] = S[0] / 4;
    return 4;
  case 24: /* d/dx sum(log(x * x + 2)) = 2 x / (x^2 + 2) */
    for (int i = 0; i < 4; i++) w[i] = 2 * X[i] / (X[i] * X[i] + 2);
    return 4;
  case 20: /* softmax over the middle axis of z */
    for (int b = 0; b < 2; b++)
      for (int j = 0; j < 3; j++) {
        double t = 0;
        for (int i = 0; i < 3; i++) t += exp(Z[9 * b + 3 * i + j]);
        for (int i = 0; i < 3; i++)
          w[9 * b + 3 * i + j] = exp(Z[9 * b + 3 * i + j]) / t;
      }
    return 18;
  }
  return 0;
}

static const Case cases[] = {
    {"fold", "output o = 2 * 3 + x\n", "o", "const 6", "const 2", 0, NULL, NULL},
    {"folded_late", "output o = log(1 + exp(800)) + x\n", "o", "const 800",
     NULL, 1, NULL, NULL},
    {"choice", "output o = where(1, x, -x)\n", "o", NULL, "= where", 0, NULL, NULL},
    {"arith: * 1, / 1, ^ 1, - 0", "output o = ((x * 1) / 1) ^ 1 - 0\n", "o",
     NULL, "= mul", 0, NULL, NULL},
    {"arith: * -1, --x, + -0", "output o = -(-(x * -1)) + -0\n", "o", "neg",
     "= add", 0, NULL, NULL},
    {"arith: ^ 0", "output o = x ^ 0\n", "o", NULL, "= pow", 0, NULL, NULL},
    {"stable_log: logsumexp", "output o = log(sum(exp(z), 2))\n", "o", "lse",
     "= exp", 1, NULL, NULL},
    {"stable_log: log(exp(y))", "output o = log(softmax(x))\n", "o", "lse",
     "= log ", 1, NULL, NULL},
    {"stable_log: log(exp(z) / b)", "output o = log(exp(x) / (abs(v) + 1))\n",
     "o", "= sub", "= div", 1, NULL, NULL},
    {"stable_log: log(sigmoid(x))", "output o = log(sigmoid(x))\n", "o",
     "= softplus", "= sigmoid", 1, NULL, NULL},
    {"stable_log: log(1 + x)", "output o = log(1 + x * x)\n", "o", "log1p",
     NULL, 1, NULL, NULL},
    {"stable: log1p(exp(x))", "output o = log1p(exp(x))\n", "o", "softplus",
     "= exp", 1, NULL, NULL},
    {"stable: exp(x) - 1", "output o = exp(x) - 1\n", "o", "= expm1", "= sub", 1, NULL, NULL},
    {"stable: 1 / (1 + exp(-x))", "output o = 1 / (1 + exp(-x))\n", "o",
     "= sigmoid", "= div", 1, NULL, NULL},
    {"stable_log: log of a reshape", "output o = log(reshape(v + 2, [1, 2])) + x\n",
     "o", NULL, NULL, 0, "= log ", "[2]"}, /* the log is taken before */
    {"movement: a reduction's [n] aligns with the last axis",
     "output o = sum(x, 1) + 0 * x\n", "o", NULL, NULL, 0, NULL, NULL},
    {"movement: reshape with a trailing 1 is not a leading one",
     "r = reshape(sum(x, 1), [2, 1])\noutput o = r + 0 * x\n", "o", NULL,
     NULL, 0, NULL, NULL},
    {"movement: reshape(reshape), transpose(transpose)",
     "output o = transpose(transpose(reshape(reshape(x, [4]), [2, 2])))\n",
     "o", NULL, "= transpose", 0, NULL, NULL},
    {"movement: vectors and splats",
     "output o = transpose(v)[0:2] + reshape(2 + 0 * [1, 1], [1, 2])[0]\n",
     "o", NULL, "= transpose", 0, NULL, NULL},
    {"implicit_broadcast", "output o = x + x ^ 0\n", "o", "const 1  []",
     "const 1  [2,2]", 0, NULL, NULL},
    {"movement: softmax over a middle axis", "output o = softmax(z, 1)\n", "o",
     NULL, NULL, 0, NULL, NULL},
    /* bcast(reshape(x)) where x, a [1,1,1], does not broadcast to the target
     * [2,2]: the reshape must stay (found by fuzz_gradients) */
    {"movement: a higher-rank x keeps its reshape",
     "L = sum(reshape(sum(x, 0), [1, 1, 2]) * [[[-2, -3]]])\n"
     "output o = grad(L, x)\n", "o", NULL, NULL, 0, NULL, NULL},
    /* the incoming gradient s times the constant 3: MULZ(s, 3) is s * 3 */
    {"plain_product: MULZ by a finite constant",
     "output o = grad(sum(s * (x * 3)), x)\n", "o", "= mul", "= mulz", 0,
     NULL, NULL},
    {"plain_product: DIVZ by a nonzero constant",
     "output o = grad(sum(s * (x / 4)), x)\n", "o", "= div", "= divz", 0,
     NULL, NULL},
    /* the seed gradient 1 of the loss reaches log as the constant 1:
     * DIVZ(1, x * x + 2) is 1 / (x * x + 2) */
    {"plain_product: a nonzero constant gradient",
     "output o = grad(sum(log(x * x + 2)), x)\n", "o", "= div", "= divz", 0,
     NULL, NULL},
};

#define NCASE (int)(sizeof cases / sizeof cases[0])

static exprc_model *compile(int k, int simplify) {
  char src[1024];
  snprintf(src, sizeof src, "%s%s", decl, cases[k].src);
  exprc_options o;
  exprc_options_default(&o);
  o.no_simplify = !simplify;
  exprc_model *m = tu_compile_opts(src, &o);
  tu_set(m, "x", X, 2, 2, 2);
  tu_set(m, "z", Z, 3, 2, 3, 3);
  tu_set(m, "v", V, 1, 2);
  tu_set(m, "s", S, 0);
  return m;
}

/* The graph the CLI prints after simplification. */
static char *graph_of(int k) {
  char src[1024], cmd[8192], *out = NULL;
  snprintf(src, sizeof src, "%s%s", decl, cases[k].src);
  char *path = tu_temp_file(src, ".expr");
  snprintf(cmd, sizeof cmd, "'%s' graph '%s'", tu_exprc(), path);
  ck_assert_int_eq(tu_run(cmd, &out, NULL), 0);
  remove(path);
  free(path);
  return out;
}

START_TEST(each_rule_fires_and_keeps_the_value) {
  const Case *c = &cases[_i];
  double want[18];
  int n = expected(_i, want);
  char *g = graph_of(_i);
  if (c->shows)
    ck_assert_msg(strstr(g, c->shows), "%s: the graph has no '%s':\n%s",
                  c->rule, c->shows, g);
  if (c->gone)
    ck_assert_msg(!strstr(g, c->gone), "%s: the graph still has '%s':\n%s",
                  c->rule, c->gone, g);
  if (c->op) { /* the first line of that op ends with the shape */
    const char *line = strstr(g, c->op), *end = line ? strchr(line, '\n') : NULL;
    size_t n = strlen(c->shape);
    ck_assert_msg(end && (size_t)(end - line) > n &&
                      strncmp(end - n - 2, "  ", 2) == 0 &&
                      strncmp(end - n, c->shape, n) == 0,
                  "%s: no '%s' of shape %s:\n%s", c->rule, c->op, c->shape, g);
  }
  free(g);
  for (int simplify = 1; simplify >= (c->stable ? 1 : 0); simplify--) {
    exprc_model *m = compile(_i, simplify);
    exprc_tensor t = tu_output(m, c->out);
    char what[256];
    snprintf(what, sizeof what, "%s%s", c->rule,
             simplify ? "" : " (--no-simplify)");
    ck_assert_int_eq(t.size, n);
    tu_assert_close(t.data, want, n, 1e-14, what);
    exprc_free(m);
  }
}
END_TEST

/* -0 and NaN pass through the identities as IEEE arithmetic says: x + 0 is
 * not folded (it is +0 at x = -0), x - 0 and x * 1 are. */
START_TEST(identities_keep_signed_zeros) {
  exprc_model *m = tu_compile("input x[2]\noutput a = 1 / (x + 0), "
                              "b = 1 / (x - 0), c = 1 / (x * 1)\n");
  double x[2] = {-0.0, 0.0};
  tu_set(m, "x", x, 1, 2);
  exprc_tensor a = tu_output(m, "a"), b = tu_output(m, "b"),
               c = tu_output(m, "c");
  ck_assert(a.data[0] == INFINITY && a.data[1] == INFINITY);
  ck_assert(b.data[0] == -INFINITY && b.data[1] == INFINITY);
  ck_assert(c.data[0] == -INFINITY && c.data[1] == INFINITY);
  exprc_free(m);
}
END_TEST

int main(int argc, char **argv) {
  tu_set_paths(argc, argv);
  for (int i = 0; i < 18; i++) /* distinct, of both signs, none equal */
    Z[i] = 0.37 * (i % 7) - 0.21 * (i % 5) + 0.05 * i - 0.4;
  Suite *s = suite_create("rewrites");
  TCase *t = tu_tcase("rules", 120);
  tcase_add_loop_test(t, each_rule_fires_and_keeps_the_value, 0, NCASE);
  tcase_add_test(t, identities_keep_signed_zeros);
  suite_add_tcase(s, t);
  return tu_run_suite(s);
}

/* test_random.c: random well-typed expressions, compiled two ways and
 * checked against finite differences.
 *
 * A generator writes expressions over five inputs whose shapes broadcast
 * together (s [], b [4], c [3,1], a [3,4], d [3]), each expression built to
 * a known result shape from elementwise functions, arithmetic, maximum and
 * minimum, comparisons and where, pow, defs, reductions with and without
 * an axis, matrix products, transpose, reshape and (nested) grad. Functions
 * with a restricted domain get arguments that are safe by construction:
 * log of softplus(e) + 0.5 or of exp(e), sqrt of e^2 + 1, division by
 * 1 + e^2, tan of 0.5 tanh(e).
 *
 * Each expression y becomes a model with loss = sum(y * K) (K a constant
 * tensor of y's shape), compiled with and without the simplifier
 * (exprc_options.no_simplify): the two must agree on y and on every
 * gradient, and the gradients must agree with finite differences. At kinks
 * (abs, relu, maximum, where, ...) a central difference that straddles the
 * kink is meaningless, so a one-sided difference on either side is also
 * accepted; the chance that both sides straddle one is negligible.
 *
 * 150 expressions by default (fixed seeds: expression k uses seed k); set
 * EXPRC_RANDOM_COUNT for more. A failure prints the expression and its
 * number k; EXPRC_RANDOM_FIRST=k EXPRC_RANDOM_COUNT=1 reruns just that one.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- the generator ---- */

typedef enum { SC, V4, C31, M34, V3, NSHAPE } Sh;

static const char *const input_of[NSHAPE] = {"s", "b", "c", "a", "d"};
static const int numel[NSHAPE] = {1, 4, 3, 12, 3};

/* Shapes that broadcast to each shape without changing it. */
static const Sh subs[NSHAPE][4] = {
    {SC}, {SC, V4}, {SC, C31}, {SC, V4, C31, M34}, {SC, V3}};
static const int nsubs[NSHAPE] = {1, 2, 2, 4, 2};

typedef struct Gen {
  uint64_t rng;
  char *buf;
  size_t n, cap;
  int grads; /* grad() calls still allowed */
} Gen;

static void put(Gen *g, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (g->n + (size_t)k + 1 > g->cap) {
    g->cap = 2 * (g->n + (size_t)k + 1);
    g->buf = realloc(g->buf, g->cap);
  }
  va_start(ap, fmt);
  vsnprintf(g->buf + g->n, (size_t)k + 1, fmt, ap);
  va_end(ap);
  g->n += (size_t)k;
}

static int pick(Gen *g, int n) { return (int)(tu_uniform(&g->rng, 0, n)); }

static Sh sub_of(Gen *g, Sh t) { return subs[t][pick(g, nsubs[t])]; }

/* A number in [-2, 2] with two decimals, never printed as "-0.00". */
static void number(Gen *g) {
  int k = pick(g, 401) - 200;
  put(g, "%s%d.%02d", k < 0 ? "-" : "", abs(k) / 100, abs(k) % 100);
}

/* A tensor literal of shape t. */
static void literal(Gen *g, Sh t) {
  static const char *const open[NSHAPE] = {"", "[", "[", "[", "["};
  if (t == SC)
    return number(g);
  put(g, "%s", open[t]);
  for (int i = 0; i < numel[t]; i++) {
    int row = t == M34 ? 4 : 1;
    if (t == C31 || (t == M34 && i % row == 0))
      put(g, "%s[", i ? ", " : "");
    else if (i)
      put(g, ", ");
    number(g);
    if (t == C31 || (t == M34 && i % row == row - 1))
      put(g, "]");
  }
  put(g, "]");
}

static void expr(Gen *g, Sh t, int depth);

static void leaf(Gen *g, Sh t) {
  if (pick(g, 5) == 0)
    literal(g, t);
  else
    put(g, "%s", input_of[t]);
}

/* f(e) with f defined and smooth enough everywhere, or made safe. */
static void unary(Gen *g, Sh t, int depth) {
  static const char *const pre[] = {
      "sin(", "cos(", "tanh(", "sigmoid(", "softplus(", "abs(", "relu(",
      "-(", "exp(tanh(", "log(softplus(", "log(exp(tanh(", "sqrt(1 + sq(",
      "log1p(sq(", "expm1(tanh(", "tan(0.5 * tanh(", "log(sigmoid(",
      "(exp(sin(", "log(1 + exp(tanh(", "(sign(", "sq(tanh(", "+("};
  static const char *const post[] = {
      ")", ")", ")", ")", ")", ")", ")", ")", "))", ") + 0.5)", ")))",
      "))", "))", "))", "))", "))", ")) - 1)", ")))", ") * 0.5)", "))^3", ")"};
  int k = pick(g, (int)(sizeof pre / sizeof pre[0]));
  put(g, "%s", pre[k]);
  expr(g, t, depth - 1);
  put(g, "%s", post[k]);
}

/* e1 op e2 with one operand of shape t and the other broadcasting to it. */
static void binary(Gen *g, Sh t, int depth) {
  static const char *const pre[] = {"(", "(", "(", "(", "maximum(",
                                    "minimum(", "(", "lerp(", "pow(softplus("};
  static const char *const mid[] = {" + ", " - ", " * ", " / (1 + sq(", ", ",
                                    ", ", " / (softplus(", ", ",
                                    ") + 0.5, tanh("};
  static const char *const post[] = {")", ")", ")", ")))", ")", ")",
                                     ") + 0.5))", ")", "))"};
  int k = pick(g, (int)(sizeof pre / sizeof pre[0]));
  Sh x = t, y = sub_of(g, t);
  if (pick(g, 2) && k != 7) { /* lerp's first argument sets the shape */
    Sh s = x;
    x = y;
    y = s;
  }
  put(g, "%s", pre[k]);
  expr(g, x, depth - 1);
  put(g, "%s", mid[k]);
  expr(g, y, depth - 1);
  if (k == 7) {
    put(g, ", ");
    expr(g, sub_of(g, t), depth - 1);
  }
  put(g, "%s", post[k]);
}

/* where(e1 CMP e2 + 0.0137, e3, e4), or a comparison used as a 0/1
 * factor. The offset keeps sides that are equal in exact arithmetic, such
 * as tanh(d) and log(exp(tanh(d))), from being compared at a tie, where
 * rounding (which the simplifier may change) would decide. */
static void compare(Gen *g, Sh t, int depth) {
  static const char *const cmp[] = {" < ", " <= ", " > ", " >= ", " != "};
  const char *c = cmp[pick(g, 5)];
  int as_where = pick(g, 2);
  put(g, as_where ? "where(" : "((");
  expr(g, sub_of(g, t), depth - 1);
  put(g, "%s", c);
  expr(g, sub_of(g, t), depth - 1);
  put(g, " + 0.0137");
  put(g, as_where ? ", " : ") * ");
  expr(g, t, depth - 1);
  if (as_where) {
    put(g, ", ");
    expr(g, sub_of(g, t), depth - 1);
  }
  put(g, ")");
}

/* A reduction, product, reshape, transpose, normaliser or index whose
 * result has shape t. */
static void reshaping(Gen *g, Sh t, int depth) {
  int k = pick(g, 8);
  const char *forms[NSHAPE][8] = {
      {"sum(#A)", "mean(#A)", "(#4 @ #4)", "dot(#3, #3)", "max(#A)",
       "logsumexp(#A)", "(#M)[1, 2]", "min(#4)"},
      {"sum(#M, 0)", "mean(#M, -2)", "(#3 @ #M)", "transpose(#4)", "(#M)[1]",
       "softmax(#4)", "max(#M, 0)", "logsumexp(#M, -2)"},
      {"reshape(#3, [3, 1])", "reshape(sum(#M, -1), [3, -1])",
       "(#M @ reshape(#4, [4, 1]))", "transpose(reshape(#3, [1, 3]))",
       "(#M)[:, 1:2]", "reshape(max(#M, 1), [3, 1])", "log_softmax(#C, 0)",
       "(#M)[:, -1:]"},
      {"transpose(reshape(#M, [4, 3]))", "(#C @ reshape(#4, [1, 4]))",
       "reshape(transpose(#M), [3, 4])", "transpose(transpose(#M))",
       "softmax(#M)", "log_softmax(#M, 0)", "(#M + (#M)[1:2, :])",
       "(#M * (#M)[:, 3:4])"},
      {"sum(#M, 1)", "mean(#M, -1)", "(#M @ #4)", "reshape(#C, [-1])",
       "(#M)[:, 0]", "logsumexp(#M, 1)", "min(#C, -1)", "(#4)[1:]"}};
  static const Sh code_shape[] = {['4'] = V4, ['3'] = V3, ['M'] = M34,
                                  ['C'] = C31};
  for (const char *p = forms[t][k]; *p; p++) {
    if (*p != '#') {
      put(g, "%c", *p);
      continue;
    }
    p++;
    expr(g, *p == 'A' ? (Sh)pick(g, NSHAPE) : code_shape[(int)*p], depth - 1);
  }
}

/* grad(sum(e), v) for the input v of shape t. */
static void gradient(Gen *g, Sh t, int depth) {
  g->grads--;
  put(g, "grad(sum(");
  expr(g, (Sh)pick(g, NSHAPE), depth - 1);
  put(g, "), %s)", input_of[t]);
}

static void expr(Gen *g, Sh t, int depth) {
  if (depth <= 0 || pick(g, 6) == 0)
    return leaf(g, t);
  int k = pick(g, 20);
  if (k < 6)
    unary(g, t, depth);
  else if (k < 12)
    binary(g, t, depth);
  else if (k < 15)
    compare(g, t, depth);
  else if (k < 19 || g->grads <= 0)
    reshaping(g, t, depth);
  else
    gradient(g, t, depth);
}

/* The model for expression number k; *shape is its result's shape. */
static char *random_model(unsigned k, Sh *shape, char **text) {
  Gen g = {.rng = 0x9e3779b97f4a7c15ULL * (k + 1), .grads = 2};
  *shape = (Sh)pick(&g, NSHAPE);
  expr(&g, *shape, 2 + pick(&g, 3));
  *text = g.buf;
  Gen m = {.rng = g.rng};
  put(&m, "input a[3, 4]\ninput b[4]\ninput c[3, 1]\ninput d[3]\ninput s\n"
          "def sq(u) = u * u\ndef lerp(p, q, t) = p + (q - p) * sigmoid(t)\n"
          "y = %s\nloss = sum(y * ", g.buf);
  literal(&m, *shape);
  put(&m, ")\noutput y, loss\ngrad loss wrt a, b, c, d, s\n");
  return m.buf;
}

/* ---- checking one expression ---- */

static const char *const inputs[] = {"a", "b", "c", "d", "s"};

/* The number of the expression being checked, for failure messages. */
static unsigned current;

/* The same input values in both models, from [-1.5, 1.5]. */
static void set_inputs(exprc_model *m1, exprc_model *m2, unsigned k) {
  uint64_t s = 77 + k;
  for (int i = 0; i < 5; i++) {
    exprc_tensor t;
    ck_assert(exprc_find(m1, inputs[i], &t) == EXPRC_OK);
    double v[12];
    for (int64_t e = 0; e < t.size; e++)
      v[e] = tu_uniform(&s, -1.5, 1.5);
    ck_assert(exprc_set(m1, inputs[i], v, t.rank, t.shape) == EXPRC_OK);
    ck_assert(exprc_set(m2, inputs[i], v, t.rank, t.shape) == EXPRC_OK);
  }
}

/* a and b agree to about 1e-9 of their magnitude (the simplifier may use
 * log1p, expm1 and softplus for forms that lose digits). */
static void agree(const exprc_tensor *a, const exprc_tensor *b,
                  const char *what, const char *text) {
  ck_assert_int_eq(a->size, b->size);
  for (int64_t i = 0; i < a->size; i++) {
    double x = a->data[i], y = b->data[i];
    ck_assert_msg(isfinite(x) && isfinite(y), "%s not finite in expression %u: %s",
                  what, current, text);
    ck_assert_msg(fabs(x - y) <= 1e-9 * (1 + fabs(x) + fabs(y)),
                  "%s[%lld]: simplified %.17g, not simplified %.17g\n"
                  "in expression %u: %s",
                  what, (long long)i, x, y, current, text);
  }
}

static double loss_at(exprc_model *m) { return tu_output(m, "loss").data[0]; }

/* Does ana agree with differences of step h around element *x? */
static int fd_agrees(exprc_model *m, double *x, double ana, double f0) {
  double x0 = *x, h = 1e-6 * fmax(1, fabs(x0));
  *x = x0 + h;
  double up = loss_at(m);
  *x = x0 - h;
  double down = loss_at(m);
  *x = x0;
  double central = (up - down) / (2 * h), right = (up - f0) / h;
  double left = (f0 - down) / h;
  double round = 1e3 * 1.1e-16 * fabs(f0) / h; /* rounding in f */
  double scale = fmax(1, fmax(fabs(ana), fabs(central)));
  return fabs(central - ana) <= 1e-5 * scale + round ||
         fabs(right - ana) <= 1e-4 * scale + round ||
         fabs(left - ana) <= 1e-4 * scale + round;
}

static void check_fd(exprc_model *m, const char *text) {
  double f0 = loss_at(m);
  for (int i = 0; i < 5; i++) {
    exprc_tensor g, x;
    ck_assert(exprc_gradient(m, "loss") == EXPRC_OK);
    ck_assert(exprc_find_grad(m, "loss", inputs[i], &g) == EXPRC_OK);
    ck_assert(exprc_find(m, inputs[i], &x) == EXPRC_OK);
    double ana[12];
    memcpy(ana, g.data, (size_t)g.size * sizeof *ana);
    for (int64_t e = 0; e < x.size; e++)
      ck_assert_msg(fd_agrees(m, &x.data[e], ana[e], f0),
                    "dloss/d%s[%lld] = %.12g disagrees with finite "
                    "differences\nin expression %u: %s",
                    inputs[i], (long long)e, ana[e], current, text);
  }
}

/* Expression k: compile both ways, compare, check the gradient. */
static void check_expression(unsigned k) {
  Sh shape;
  current = k;
  char *text, *src = random_model(k, &shape, &text);
  exprc_options o;
  exprc_options_default(&o);
  o.no_simplify = 1;
  exprc_model *m1 = tu_compile(src), *m2 = tu_compile_opts(src, &o);
  set_inputs(m1, m2, k);
  exprc_tensor y1 = tu_output(m1, "y"), y2 = tu_output(m2, "y");
  agree(&y1, &y2, "y", text);
  ck_assert(exprc_gradient(m1, "loss") == EXPRC_OK);
  ck_assert(exprc_gradient(m2, "loss") == EXPRC_OK);
  for (int i = 0; i < 5; i++) {
    exprc_tensor g1, g2;
    exprc_find_grad(m1, "loss", inputs[i], &g1);
    exprc_find_grad(m2, "loss", inputs[i], &g2);
    agree(&g1, &g2, inputs[i], text);
  }
  check_fd(m1, text);
  exprc_free(m1);
  exprc_free(m2);
  free(src);
  free(text);
}

/* ---- the suite ---- */

#define CHUNK 25

static unsigned first, count = 150;

START_TEST(random_expressions) {
  unsigned from = (unsigned)_i * CHUNK;
  for (unsigned k = from; k < from + CHUNK && k < count; k++)
    check_expression(first + k);
}
END_TEST

/* The generator makes what it claims: every kind of construct appears in
 * the first 150 expressions, and each expression has the shape asked. */
START_TEST(generator_covers_the_language) {
  static const char *const needles[] = {
      "grad(", "@", "reshape(", "transpose(", "sum(", "mean(", ", -",
      "where(", "maximum(", "minimum(", "pow(", "lerp(", "dot(", "log(",
      "sqrt(", "tan(", "relu(", "abs(", "sign(", " < ", " >= ", "["};
  int seen[sizeof needles / sizeof needles[0]] = {0};
  for (unsigned k = 0; k < 150; k++) {
    Sh shape;
    char *text, *src = random_model(k, &shape, &text);
    for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
      seen[i] |= strstr(text, needles[i]) != NULL;
    exprc_model *m = tu_compile(src);
    exprc_tensor y;
    ck_assert(exprc_find(m, "y", &y) == EXPRC_OK);
    ck_assert_msg(y.size == numel[shape], "%s has %lld elements", text,
                  (long long)y.size);
    exprc_free(m);
    free(src);
    free(text);
  }
  for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
    ck_assert_msg(seen[i], "no expression uses '%s'", needles[i]);
}
END_TEST

int main(void) {
  const char *env = getenv("EXPRC_RANDOM_COUNT");
  if (env && atoi(env) > 0)
    count = (unsigned)atoi(env);
  env = getenv("EXPRC_RANDOM_FIRST"); /* to rerun one failing expression */
  if (env && atoi(env) > 0)
    first = (unsigned)atoi(env);
  Suite *s = suite_create("random");
  TCase *tc = tu_tcase("expressions", 120);
  tcase_add_test(tc, generator_covers_the_language);
  tcase_add_loop_test(tc, random_expressions, 0,
                      (int)((count + CHUNK - 1) / CHUNK));
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}

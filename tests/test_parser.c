/* test_parser.c: the lexer and the parser, on good input and on bad.
 *
 * Good input is judged by what it computes: each model is compiled and run,
 * and its outputs are compared with numbers worked out by hand (the comment
 * above each test shows the arithmetic). Operands are usually inputs, so the
 * generated code computes them; a few use literals only, which the compiler
 * folds. Bad input is judged by the exact message: the first line names the
 * file, line and column ("test.expr:LINE:COL: error: ..."), the column must
 * point at the offending token (each case names it), and the source line is
 * shown with a caret under that column (tu_expect_error checks all three).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Set scalar input `name` to v. */
static void set1(exprc_model *m, const char *name, double v) {
  tu_set(m, name, &v, 0);
}

/* The first element of output `name` after a forward run. */
static double out1(exprc_model *m, const char *name) {
  return tu_output(m, name).data[0];
}

/* ---- precedence and associativity ---- */

/* Unary minus binds looser than ^: with x = 3, -x^2 = -(3^2) = -9 and
 * (-x)^2 = 9; 2^-1 = 0.5 (a signed exponent needs no parentheses), and
 * x^-x = 3^-3 = 1/27. Literals alone fold: -2^2 = -4. */
START_TEST(unary_minus_binds_looser_than_power) {
  exprc_model *m = tu_compile("input x\n"
                              "output a = -x^2, b = 2^-1, c = -2^2\n"
                              "output d = (-x)^2, e = x^-x, f = -x^-1\n");
  set1(m, "x", 3);
  ck_assert_double_eq(out1(m, "a"), -9);
  ck_assert_double_eq(out1(m, "b"), 0.5);
  ck_assert_double_eq(out1(m, "c"), -4);
  ck_assert_double_eq(out1(m, "d"), 9);
  ck_assert_double_eq_tol(out1(m, "e"), 1.0 / 27, 1e-16);
  ck_assert_double_eq_tol(out1(m, "f"), -1.0 / 3, 1e-16);
  exprc_free(m);
}
END_TEST

/* ^ is right associative: 2^3^2 = 2^(3^2) = 512, while (2^3)^2 = 64. */
START_TEST(power_is_right_associative) {
  exprc_model *m = tu_compile("input a, b, c\n"
                              "output r = a^b^c, l = (a^b)^c\n"
                              "output k = 2^3^2\n");
  set1(m, "a", 2);
  set1(m, "b", 3);
  set1(m, "c", 2);
  ck_assert_double_eq(out1(m, "r"), 512);
  ck_assert_double_eq(out1(m, "l"), 64);
  ck_assert_double_eq(out1(m, "k"), 512);
  exprc_free(m);
}
END_TEST

/* * / @ bind tighter than + -. With a = 1, b = 2, c = 4:
 * a + b * c = 9, a - b / c = 0.5, a * b - c = -2. With M = [[1,2],[3,4]]
 * and v = [1,-1]: M @ v = [-1,-1], so v + M @ v * 2 = v + [-2,-2] =
 * [-1,-3]; * and @ associate left, so 2 * v @ M = [2,-2] @ M = [-4,-4]. */
START_TEST(products_bind_tighter_than_sums) {
  exprc_model *m = tu_compile("input a, b, c\n"
                              "input M[2, 2]\ninput v[2]\n"
                              "output s = a + b * c, t = a - b / c\n"
                              "output u = a * b - c\n"
                              "output w = v + M @ v * 2, z = 2 * v @ M\n");
  double M[4] = {1, 2, 3, 4}, v[2] = {1, -1};
  set1(m, "a", 1);
  set1(m, "b", 2);
  set1(m, "c", 4);
  tu_set(m, "M", M, 2, (int64_t)2, (int64_t)2);
  tu_set(m, "v", v, 1, (int64_t)2);
  ck_assert_double_eq(out1(m, "s"), 9);
  ck_assert_double_eq(out1(m, "t"), 0.5);
  ck_assert_double_eq(out1(m, "u"), -2);
  double want_w[2] = {-1, -3}, want_z[2] = {-4, -4};
  tu_assert_close(tu_output(m, "w").data, want_w, 2, 0, "w");
  tu_assert_close(tu_output(m, "z").data, want_z, 2, 0, "z");
  exprc_free(m);
}
END_TEST

/* - and / associate left: 1 - 2 - 4 = -5 and 1 / 2 / 4 = 0.125. Unary
 * signs stack: a - -b = 3, - -a = 1, +a = 1. */
START_TEST(minus_and_divide_associate_left) {
  exprc_model *m = tu_compile("input a, b, c\n"
                              "output d = a - b - c, q = a / b / c\n"
                              "output n = a - -b, nn = - -a, p = +a\n");
  set1(m, "a", 1);
  set1(m, "b", 2);
  set1(m, "c", 4);
  ck_assert_double_eq(out1(m, "d"), -5);
  ck_assert_double_eq(out1(m, "q"), 0.125);
  ck_assert_double_eq(out1(m, "n"), 3);
  ck_assert_double_eq(out1(m, "nn"), 1);
  ck_assert_double_eq(out1(m, "p"), 1);
  exprc_free(m);
}
END_TEST

/* Comparisons have the lowest precedence and give 0 or 1:
 * a + 1 < b * 2 is (a + 1) < (b * 2). Checked at a = b = 1 and at a = 1,
 * b = 2, so that every operator is seen both true and false. */
START_TEST(comparisons_are_lowest_and_give_0_or_1) {
  static const char *names[] = {"lt", "le", "gt", "ge", "eq", "ne", "mix"};
  static const double equal[] = {0, 1, 0, 1, 1, 0, 0}; /* 2 < 2 */
  static const double less[] = {1, 1, 0, 0, 0, 1, 1};  /* 2 < 4 */
  exprc_model *m = tu_compile(
      "input a, b\n"
      "output lt = a < b, le = a <= b, gt = a > b, ge = a >= b\n"
      "output eq = a == b, ne = a != b, mix = a + 1 < b * 2\n");
  set1(m, "a", 1);
  set1(m, "b", 1);
  for (int i = 0; i < 7; i++)
    ck_assert_msg(out1(m, names[i]) == equal[i], "%s at a = b", names[i]);
  set1(m, "b", 2);
  for (int i = 0; i < 7; i++)
    ck_assert_msg(out1(m, names[i]) == less[i], "%s at a < b", names[i]);
  exprc_free(m);
}
END_TEST

/* ---- lines, continuations and comments ---- */

/* A statement continues after a line that ends in a binary operator, '='
 * or ',' and anywhere inside brackets. With x = [1,2,3]: y = 2x + 1 =
 * [3,5,7], z = sum(y, 0) = 15, t . x = 14, r = 29, q = 6. */
START_TEST(line_continuation) {
  exprc_model *m = tu_compile("input x[3]\n"
                              "y = x *\n"
                              "    2 +\n"
                              "    1\n"
                              "z = sum(\n"
                              "  y,\n"
                              "  0\n"
                              ")\n"
                              "t = [1,\n"
                              "     2,\n"
                              "     3]\n"
                              "output r = z + sum(t *\n"
                              "  x),\n"
                              "  q =\n"
                              "  sum(x)\n");
  double x[3] = {1, 2, 3};
  tu_set(m, "x", x, 1, (int64_t)3);
  ck_assert_double_eq(out1(m, "r"), 29);
  ck_assert_double_eq(out1(m, "q"), 6);
  exprc_free(m);
}
END_TEST

/* Comments run from # to the end of the line, also after an operator
 * that continues the statement; blank lines, tabs and CRLF line ends are
 * white space. With x = 2: y = (x + 1) * 3 = 9. */
START_TEST(comments_blank_lines_tabs_and_crlf) {
  exprc_model *m = tu_compile("# a model with comments\r\n"
                              "\r\n"
                              "input x   # a scalar\r\n"
                              "\n"
                              "   # an indented comment line\n"
                              "y = (x +  # the comment does not end it\n"
                              "\t1) *\t3\n"
                              "output y # trailing\n"
                              "# the end, with no final newline");
  set1(m, "x", 2);
  ck_assert_double_eq(out1(m, "y"), 9);
  exprc_free(m);
}
END_TEST

/* A line that does not end in an operator ends its statement, so a
 * leading '+' on the next line starts a (bad) statement. */
START_TEST(newline_ends_a_statement) {
  tu_expect_error("input x\ny = x\n  + 1\n", EXPRC_ERR_SYNTAX,
                  "test.expr:3:3: error: expected a statement, found '+'",
                  "+ 1");
}
END_TEST

/* Numbers: 2.5, .5, 3., 1e-3, 1E+2 and 007 read as decimals. */
START_TEST(number_literals) {
  exprc_model *m = tu_compile("output a = 2.5, b = .5, c = 3., d = 1e-3\n"
                              "output e = 1E+2, f = 007, g = 12.5e1\n");
  ck_assert_double_eq(out1(m, "a"), 2.5);
  ck_assert_double_eq(out1(m, "b"), 0.5);
  ck_assert_double_eq(out1(m, "c"), 3);
  ck_assert_double_eq(out1(m, "d"), 1e-3);
  ck_assert_double_eq(out1(m, "e"), 100);
  ck_assert_double_eq(out1(m, "f"), 7);
  ck_assert_double_eq(out1(m, "g"), 125);
  exprc_free(m);
}
END_TEST

/* Tensor literals nest to any rank up to 4, in C (row-major) order; a
 * trailing comma is allowed; elements are constant expressions. */
START_TEST(tensor_literals) {
  exprc_model *m = tu_compile(
      "const k = 1.5\n"
      "output v = [1, 2, 3], m = [[1, 2], [3, 4]]\n"
      "output t = [[[1], [2]], [[3], [4]]], c = [k, k * 2, -k,]\n"
      "output b = [[1, 2], [3, 4]] + [10, 20]\n"
      "output r4 = [[[[1, 2]]], [[[3, 4]]]]\n");
  exprc_tensor t = tu_output(m, "v");
  double v[3] = {1, 2, 3}, mm[4] = {1, 2, 3, 4}, c[3] = {1.5, 3, -1.5};
  double b[4] = {11, 22, 13, 24};
  tu_assert_shape(&t, 1, 3);
  tu_assert_close(t.data, v, 3, 0, "v");
  t = tu_output(m, "m");
  tu_assert_shape(&t, 2, 2, 2);
  tu_assert_close(t.data, mm, 4, 0, "m");
  t = tu_output(m, "t");
  tu_assert_shape(&t, 3, 2, 2, 1);
  tu_assert_close(t.data, mm, 4, 0, "t");
  t = tu_output(m, "c");
  tu_assert_shape(&t, 1, 3);
  tu_assert_close(t.data, c, 3, 0, "c");
  t = tu_output(m, "b");
  tu_assert_close(t.data, b, 4, 0, "b");
  t = tu_output(m, "r4");
  tu_assert_shape(&t, 4, 2, 1, 1, 2);
  tu_assert_close(t.data, mm, 4, 0, "r4");
  exprc_free(m);
}
END_TEST

/* A sum of 5000 terms parses and lowers with loops, not recursion (no
 * stack overflow), and computes 5000 x. */
START_TEST(long_chains_do_not_recurse) {
  size_t n = 5000;
  char *src = malloc(n * 4 + 64);
  char *p = src + sprintf(src, "input x\noutput y = x");
  for (size_t i = 1; i < n; i++)
    p += sprintf(p, " + x");
  sprintf(p, "\n");
  exprc_model *m = tu_compile(src);
  set1(m, "x", 0.5);
  ck_assert_double_eq(out1(m, "y"), 2500);
  exprc_free(m);
  free(src);
}
END_TEST

/* Nesting is bounded: 250 parentheses is a limit error, not a crash; 40
 * is fine. */
START_TEST(deep_nesting_is_a_limit_error) {
  char src[1200];
  int k = sprintf(src, "y = ");
  for (int i = 0; i < 250; i++)
    src[k++] = '(';
  src[k++] = '1';
  for (int i = 0; i < 250; i++)
    src[k++] = ')';
  src[k] = 0;
  exprc_status st;
  const char *msg = tu_compile_error(src, &st);
  ck_assert_int_eq(st, EXPRC_ERR_LIMIT);
  ck_assert_msg(strstr(msg, "error: expression nested deeper than 200 levels"),
                "%s", msg);
  k = sprintf(src, "output y = ");
  for (int i = 0; i < 40; i++)
    src[k++] = '(';
  src[k++] = '2';
  for (int i = 0; i < 40; i++)
    src[k++] = ')';
  src[k] = 0;
  exprc_model *m = tu_compile(src);
  ck_assert_double_eq(out1(m, "y"), 2);
  exprc_free(m);
}
END_TEST

/* ---- statements (spec section 2) ---- */

/* dim, input: several declarations a line; no shape is a scalar; a dim's
 * size is unknown (-1) until data binds it. */
START_TEST(dim_and_input_declarations) {
  exprc_model *m = tu_compile("dim N\n"
                              "input s, v[3], mat[N, 2]\n"
                              "output y = s * sum(v) + sum(mat)\n");
  exprc_tensor t;
  ck_assert(exprc_find(m, "s", &t) == EXPRC_OK);
  ck_assert_int_eq(t.kind, EXPRC_INPUT);
  tu_assert_shape(&t, 0);
  ck_assert(exprc_find(m, "v", &t) == EXPRC_OK);
  tu_assert_shape(&t, 1, 3);
  ck_assert(exprc_find(m, "mat", &t) == EXPRC_OK);
  ck_assert_int_eq(t.rank, 2);
  ck_assert_int_eq(t.shape[0], -1);
  ck_assert_int_eq(t.shape[1], 2);
  double v[3] = {1, 2, 3}, mat[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  set1(m, "s", 2);
  tu_set(m, "v", v, 1, (int64_t)3);
  tu_set(m, "mat", mat, 2, (int64_t)4, (int64_t)2);
  ck_assert(exprc_find(m, "mat", &t) == EXPRC_OK);
  tu_assert_shape(&t, 2, 4, 2);
  ck_assert_double_eq(out1(m, "y"), 2 * 6 + 8); /* 20 */
  exprc_free(m);
}
END_TEST

/* Mean and standard deviation of n draws. */
static void moments(const double *x, int64_t n, double *mean, double *sd) {
  double s = 0, q = 0;
  for (int64_t i = 0; i < n; i++)
    s += x[i];
  *mean = s / (double)n;
  for (int64_t i = 0; i < n; i++)
    q += (x[i] - *mean) * (x[i] - *mean);
  *sd = sqrt(q / (double)(n - 1));
}

/* param initializers: zeros by default, fill(v), normal(mean, std),
 * uniform(lo, hi), with constant-expression arguments. The random ones
 * have the right moments (4000 draws: the mean of normal(1, 2) is within
 * 4 standard errors, 4 * 2 / sqrt(4000) = 0.13, of 1). */
START_TEST(param_initializers) {
  exprc_model *m = tu_compile("const sd = 1\n"
                              "param z[4]\nparam f[4] ~ fill(0.25)\n"
                              "param n[4000] ~ normal(1, sd * 2)\n"
                              "param u[4000] ~ uniform(-3, -1)\n"
                              "param s ~ fill(-7)\n");
  exprc_tensor t;
  double mean, sd;
  exprc_find(m, "z", &t);
  for (int i = 0; i < 4; i++)
    ck_assert_double_eq(t.data[i], 0);
  exprc_find(m, "f", &t);
  for (int i = 0; i < 4; i++)
    ck_assert_double_eq(t.data[i], 0.25);
  exprc_find(m, "s", &t);
  ck_assert_double_eq(t.data[0], -7);
  exprc_find(m, "n", &t);
  moments(t.data, t.size, &mean, &sd);
  ck_assert_msg(fabs(mean - 1) < 0.13 && fabs(sd - 2) < 0.1, "normal: %g %g",
                mean, sd);
  exprc_find(m, "u", &t);
  for (int64_t i = 0; i < t.size; i++)
    ck_assert(t.data[i] >= -3 && t.data[i] < -1);
  moments(t.data, t.size, &mean, &sd);
  /* uniform on [-3, -1): mean -2, sd 2 / sqrt(12) = 0.577 */
  ck_assert_msg(fabs(mean + 2) < 0.04 && fabs(sd - 0.577) < 0.03,
                "uniform: %g %g", mean, sd);
  exprc_free(m);
}
END_TEST

/* Copy of param `name` of m. */
static double *param_copy(exprc_model *m, const char *name, int64_t *n) {
  exprc_tensor t;
  ck_assert(exprc_find(m, name, &t) == EXPRC_OK);
  double *c = malloc((size_t)t.size * sizeof *c);
  memcpy(c, t.data, (size_t)t.size * sizeof *c);
  *n = t.size;
  return c;
}

/* Initializers are seeded: the same seed gives the same values (through
 * the compile options or exprc_init_params), another seed other values. */
START_TEST(param_initializers_are_reproducible) {
  const char *src = "param w[50] ~ normal(0, 1)\nparam u[5] ~ uniform(0, 1)\n";
  exprc_options o;
  exprc_options_default(&o);
  o.seed = 42;
  exprc_model *a = tu_compile_opts(src, &o), *b = tu_compile_opts(src, &o);
  o.seed = 43;
  exprc_model *c = tu_compile_opts(src, &o);
  int64_t n;
  double *wa = param_copy(a, "w", &n), *wb = param_copy(b, "w", &n);
  double *wc = param_copy(c, "w", &n);
  ck_assert(memcmp(wa, wb, (size_t)n * sizeof *wa) == 0);
  ck_assert(memcmp(wa, wc, (size_t)n * sizeof *wa) != 0);
  ck_assert(exprc_init_params(c, 42) == EXPRC_OK);
  free(wc);
  wc = param_copy(c, "w", &n);
  ck_assert(memcmp(wa, wc, (size_t)n * sizeof *wa) == 0);
  free(wa);
  free(wb);
  free(wc);
  exprc_free(a);
  exprc_free(b);
  exprc_free(c);
}
END_TEST

/* const: a constant expression, usable in sizes and initializers.
 * n = 3, half = 0.5; x has 3 elements and y = x / 2. */
START_TEST(const_in_sizes_and_values) {
  exprc_model *m = tu_compile("const n = 2 + 1\nconst half = 1 / 2\n"
                              "input x[n]\noutput y = x * half\n");
  exprc_tensor t;
  ck_assert(exprc_find(m, "x", &t) == EXPRC_OK);
  tu_assert_shape(&t, 1, 3);
  double x[3] = {2, 4, 6}, want[3] = {1, 2, 3};
  tu_set(m, "x", x, 1, (int64_t)3);
  tu_assert_close(tu_output(m, "y").data, want, 3, 0, "y");
  exprc_free(m);
}
END_TEST

/* def: inlined at each call; a parameter shadows a global of the same
 * name; a body may use globals and call defs defined before or after it;
 * a def may take no parameters. With a = 1: f(3) = 6, g(3) = 3 + a = 4,
 * h(3) = f(3) + g(3) + one() = 11, so y = 6 + 1 = 7 and z = 11. */
START_TEST(def_inlines_with_local_parameters) {
  exprc_model *m = tu_compile("input a\n"
                              "def h(u) = f(u) + g(u) + one()\n"
                              "def f(a) = a * 2\n"
                              "def g(u) = u + a\n"
                              "def one() = 1\n"
                              "output y = f(3) + a, z = h(3)\n");
  set1(m, "a", 1);
  ck_assert_double_eq(out1(m, "y"), 7);
  ck_assert_double_eq(out1(m, "z"), 11);
  exprc_free(m);
}
END_TEST

/* A keyword followed by '=' is an ordinary name: dim = 2, y = 6. */
START_TEST(keywords_as_names) {
  exprc_model *m = tu_compile("dim = 2\noutput y = dim * 3\n");
  ck_assert_double_eq(out1(m, "y"), 6);
  exprc_free(m);
}
END_TEST

/* output e1, e2, name = expr: an unnamed output is named by its text;
 * outputs are listed in the order written. With x = [1,2]: sum(x) = 3,
 * x * 2 = [2,4], total = 6, and y (a named value) = 4. */
START_TEST(output_forms) {
  exprc_model *m = tu_compile("input x[2]\ny = sum(x) + 1\n"
                              "output sum(x), x * 2, total = sum(x) * 2\n"
                              "output y\n");
  static const char *order[] = {"sum(x)", "x * 2", "total", "y"};
  ck_assert_int_eq(exprc_count(m, EXPRC_OUTPUT), 4);
  for (int i = 0; i < 4; i++) {
    exprc_tensor t;
    ck_assert(exprc_get(m, EXPRC_OUTPUT, i, &t) == EXPRC_OK);
    ck_assert_str_eq(t.name, order[i]);
  }
  double x[2] = {1, 2}, twice[2] = {2, 4};
  tu_set(m, "x", x, 1, (int64_t)2);
  ck_assert_double_eq(out1(m, "sum(x)"), 3);
  tu_assert_close(tu_output(m, "x * 2").data, twice, 2, 0, "x * 2");
  ck_assert_double_eq(out1(m, "total"), 6);
  ck_assert_double_eq(out1(m, "y"), 4);
  exprc_free(m);
}
END_TEST

/* grad L wrt p1, p2: one entry point per loss, wrt inputs and params.
 * With x = 3 and w = 0.5 (fill): l1 = w x^2 = 4.5, dl1/dw = x^2 = 9,
 * dl1/dx = 2 w x = 3; l2 = w + x = 3.5, dl2/dw = 1. */
START_TEST(grad_statements) {
  exprc_model *m = tu_compile("input x\nparam w ~ fill(0.5)\n"
                              "l1 = w * x^2\nl2 = w + x\n"
                              "grad l1 wrt w, x\ngrad l2 wrt w\n");
  ck_assert_int_eq(exprc_count(m, EXPRC_LOSS), 2);
  ck_assert_int_eq(exprc_count(m, EXPRC_GRADIENT), 3);
  set1(m, "x", 3);
  ck_assert_double_eq(tu_grad(m, "l1", "w").data[0], 9);
  ck_assert_double_eq(tu_grad(m, "l1", "x").data[0], 3);
  ck_assert_double_eq(tu_scalar(m, "l1"), 4.5);
  ck_assert_double_eq(tu_grad(m, "l2", "w").data[0], 1);
  ck_assert_double_eq(tu_scalar(m, "l2"), 3.5);
  exprc_free(m);
}
END_TEST

/* ---- errors: exact text, at the right token ---- */

typedef struct BadCase {
  const char *src;
  exprc_status st;
  const char *msg; /* first line */
  const char *at;  /* the text at the reported column */
} BadCase;

static const BadCase bad[] = {
    /* lexer */
    {"x = 1 $ 2\n", EXPRC_ERR_SYNTAX,
     "test.expr:1:7: error: unexpected character '$'", "$"},
    {"input x\ny = x \xc3\xa9\n", EXPRC_ERR_SYNTAX,
     "test.expr:2:7: error: unexpected byte 0xc3 (only ASCII is allowed "
     "outside comments)", "\xc3"},
    {"y = 1e\n", EXPRC_ERR_SYNTAX,
     "test.expr:1:5: error: malformed number: exponent has no digits", "1e"},
    {"y = 2x\n", EXPRC_ERR_SYNTAX,
     "test.expr:1:5: error: malformed number: letter 'x' right after it",
     "2x"},
    /* parser: missing brackets and operands */
    {"input x\ny = (x + 1\n", EXPRC_ERR_SYNTAX,
     "test.expr:2:11: error: expected ')', found end of file", ""},
    {"input x\ny = exp(x   # comment\n", EXPRC_ERR_SYNTAX,
     "test.expr:2:10: error: expected ',' or ')', found end of file", "   #"},
    {"input x\ny = (x + 1\nz = x\n", EXPRC_ERR_SYNTAX,
     "test.expr:3:1: error: expected ')', found 'z'", "z = x"},
    {"input x[3\n", EXPRC_ERR_SYNTAX,
     "test.expr:1:10: error: expected ',' or ']', found end of file", ""},
    {"input x\ny = x +\n", EXPRC_ERR_SYNTAX,
     "test.expr:2:8: error: expected an expression, found end of file", ""},
    {"input x\ny = 1 +* x\n", EXPRC_ERR_SYNTAX,
     "test.expr:2:8: error: expected an expression, found '*'", "* x"},
    {"y = []\n", EXPRC_ERR_SYNTAX,
     "test.expr:1:6: error: expected an expression, found ']'", "]"},
    {"input x\ny = x x\n", EXPRC_ERR_SYNTAX,
     "test.expr:2:7: error: expected end of line, found 'x'", "x"},
    {"3 = x\n", EXPRC_ERR_SYNTAX,
     "test.expr:1:1: error: expected a statement, found '3'", "3"},
    {"input x\nl = x\ngrad l w\n", EXPRC_ERR_SYNTAX,
     "test.expr:3:8: error: expected 'wrt', found 'w'", "w"},
    {"def f a = a\n", EXPRC_ERR_SYNTAX,
     "test.expr:1:7: error: expected '(', found 'a'", "a ="},
    {"def f(a) a\n", EXPRC_ERR_SYNTAX,
     "test.expr:1:10: error: expected '=' or '{', found 'a'", "a"},
    {"input a, b, c\ny = a < b < c\n", EXPRC_ERR_SYNTAX,
     "test.expr:2:11: error: comparisons do not chain; use parentheses",
     "< c"},
    {"input a, b\ny = a > b >= 1\n", EXPRC_ERR_SYNTAX,
     "test.expr:2:11: error: comparisons do not chain; use parentheses",
     ">= 1"},
    /* names */
    {"input x[3]\ny = sum(xx)\n", EXPRC_ERR_NAME,
     "test.expr:2:9: error: unknown name 'xx'; did you mean 'x'?", "xx"},
    {"input weight\ny = wieght * 2\n", EXPRC_ERR_NAME,
     "test.expr:2:5: error: unknown name 'wieght'; did you mean 'weight'?",
     "wieght"},
    {"input x\ny = exq(x)\n", EXPRC_ERR_NAME,
     "test.expr:2:5: error: unknown function 'exq'; did you mean 'exp'?",
     "exq"},
    {"input x[3]\ny = summ(x)\n", EXPRC_ERR_NAME,
     "test.expr:2:5: error: unknown function 'summ'; did you mean 'sum'?",
     "summ"},
    {"input x[M]\n", EXPRC_ERR_NAME, "test.expr:1:9: error: unknown name 'M'",
     "M"},
    {"input x[3]\ninput x[2]\n", EXPRC_ERR_NAME,
     "test.expr:2:7: error: 'x' is already defined (at line 1)", "x[2]"},
    {"input x\ny = x\ny = 2\n", EXPRC_ERR_NAME,
     "test.expr:3:1: error: 'y' is already defined (at line 2)", "y = 2"},
    {"input x[2]\ny = 2\noutput y = x\n", EXPRC_ERR_NAME, /* an output */
     "test.expr:3:8: error: 'y' is already defined (at line 2)", "y = x"},
    {"input x\ndef x(a) = a\n", EXPRC_ERR_NAME,
     "test.expr:2:5: error: 'x' is already defined (at line 1)", "x(a)"},
    {"dim N\ndim N\n", EXPRC_ERR_NAME,
     "test.expr:2:5: error: 'N' is already defined (at line 1)", "N"},
    {"def f(a, a) = a\n", EXPRC_ERR_NAME,
     "test.expr:1:10: error: parameter 'a' is listed twice", "a)"},
    {"input x\ny = x(2)\n", EXPRC_ERR_NAME,
     "test.expr:2:5: error: 'x' is not a function", "x(2)"},
    {"def f(a) = a\ny = f + 1\n", EXPRC_ERR_NAME,
     "test.expr:2:5: error: 'f' is a function; call it with arguments", "f +"},
    /* defs: recursion, direct and through another def; arity */
    {"def f(a) = f(a) + 1\ny = f(2)\n", EXPRC_ERR_NAME,
     "test.expr:1:12: error: 'f' calls itself; recursion is not allowed",
     "f(a) +"},
    {"def f(a) = g(a)\ndef g(a) = f(a) * 2\ny = f(1)\n", EXPRC_ERR_NAME,
     "test.expr:2:12: error: 'f' calls itself; recursion is not allowed",
     "f(a) *"},
    {"def f(a, b) = a + b\ny = f(1)\n", EXPRC_ERR_SYNTAX,
     "test.expr:2:5: error: 'f' takes 2 arguments, not 1", "f(1)"},
    {"input x[3]\ny = exp(x, x)\n", EXPRC_ERR_SYNTAX,
     "test.expr:2:5: error: 'exp' takes 1 argument, not 2", "exp"},
    {"input x\ny = maximum(x)\n", EXPRC_ERR_SYNTAX,
     "test.expr:2:5: error: 'maximum' takes 2 arguments, not 1", "maximum"},
    {"input x\ny = where(x, x)\n", EXPRC_ERR_SYNTAX,
     "test.expr:2:5: error: 'where' takes 3 arguments, not 2", "where"},
    {"input x\ny = sum(x, 0, 1, 2)\n", EXPRC_ERR_SYNTAX,
     "test.expr:2:5: error: 'sum' takes 1 to 3 arguments, not 4", "sum"},
    {"input a[2, 3]\ny = reshape(a, 6)\n", EXPRC_ERR_SYNTAX,
     "test.expr:2:16: error: reshape takes its new shape as a list, such as "
     "[2, 3]", "6"},
    /* grad */
    {"input x[3]\ny = grad(x * 2, x)\n", EXPRC_ERR_SHAPE,
     "test.expr:2:12: error: grad needs a scalar to differentiate, not [3]",
     "* 2"},
    {"input x[3]\nl = x * 2\ngrad l wrt x\n", EXPRC_ERR_SHAPE,
     "test.expr:3:6: error: 'l' has shape [3]; grad needs a scalar", "l wrt"},
    {"input x\nv = x * 2\ny = grad(x^2, v)\n", EXPRC_ERR_NAME,
     "test.expr:3:15: error: grad needs an input or param to differentiate "
     "by", "v)"},
    {"input x\nv = x * 2\nl = v\ngrad l wrt v\n", EXPRC_ERR_NAME,
     "test.expr:4:12: error: 'v' is not an input or param", "v"},
    {"input x\ngrad loss wrt x\n", EXPRC_ERR_NAME,
     "test.expr:2:6: error: unknown value 'loss'", "loss"},
    {"input x\ngrad x wrt x, x\n", EXPRC_ERR_NAME,
     "test.expr:2:15: error: 'x' is listed twice", "x"},
    {"input x\nl = x^2\ngrad l wrt x\ngrad l wrt x\n", EXPRC_ERR_NAME,
     "test.expr:4:6: error: there is already a 'grad l' statement", "l wrt"},
    /* declarations and initializers */
    {"param w ~ gaussian(0, 1)\n", EXPRC_ERR_NAME,
     "test.expr:1:11: error: unknown initializer 'gaussian' (zeros, fill, "
     "normal, uniform)", "gaussian"},
    {"param w ~ fill()\n", EXPRC_ERR_SYNTAX,
     "test.expr:1:11: error: 'fill' takes 1 argument, not 0", "fill"},
    {"param w[2] ~ normal\n", EXPRC_ERR_SYNTAX,
     "test.expr:1:14: error: 'normal' takes 2 arguments, not 0", "normal"},
    {"param w ~ normal(0, -1)\n", EXPRC_ERR_SYNTAX,
     "test.expr:1:21: error: normal's standard deviation must not be "
     "negative", "-1"},
    {"param w ~ uniform(1, 0)\n", EXPRC_ERR_SYNTAX,
     "test.expr:1:19: error: uniform(lo, hi) needs lo <= hi", "1, 0"},
    {"input x\nparam p ~ fill(x)\n", EXPRC_ERR_SYNTAX,
     "test.expr:2:16: error: an initializer argument must be a constant "
     "number", "x)"},
    {"dim N\nparam w[N]\n", EXPRC_ERR_SHAPE,
     "test.expr:2:7: error: param 'w' must have a constant shape (no dims)",
     "w[N]"},
    {"input x[0]\n", EXPRC_ERR_SHAPE,
     "test.expr:1:9: error: a size must be a whole number from 1 to "
     "268435456, not 0", "0]"},
    {"input x[2.5]\n", EXPRC_ERR_SHAPE,
     "test.expr:1:9: error: a size must be a whole number from 1 to "
     "268435456, not 2.5", "2.5"},
    {"input x[1,2,3,4,5,6,7,8,9]\n", EXPRC_ERR_LIMIT,
     "test.expr:1:25: error: rank 9 is above the limit 8", "9]"},
    {"input x\nconst k = x\n", EXPRC_ERR_SYNTAX,
     "test.expr:2:11: error: const 'k' must be a constant expression", "x"},
    {"input\n", EXPRC_ERR_SYNTAX,
     "test.expr:1:6: error: expected a name, found end of line", ""},
    /* tensor literals */
    {"y = [[1, 2], [3, 4, 5]]\n", EXPRC_ERR_SHAPE,
     "test.expr:1:14: error: tensor literal is ragged: 3 elements where 2 "
     "were expected", "[3, 4"},
    {"y = [[1, 2], 3]\n", EXPRC_ERR_SHAPE,
     "test.expr:1:14: error: tensor literal is ragged", "3]"},
    {"y = [[[[[[[[[1]]]]]]]]]\n", EXPRC_ERR_LIMIT,
     "test.expr:1:13: error: tensor literal has more than 8 dimensions",
     "[1]"},
    /* outputs */
    {"input x\noutput y = x, y = x * 2\n", EXPRC_ERR_NAME,
     "test.expr:2:21: error: output 'y' is listed twice", "* 2"},
    {"input x[3]\ny = sum(x, 1)\n", EXPRC_ERR_SHAPE,
     "test.expr:2:12: error: axis must be a whole number from -1 to 0, not 1",
     "1)"},
};

/* Each bad model fails with its exact message, pointing at its token. */
START_TEST(bad_input_is_reported_at_its_token) {
  const BadCase *b = &bad[_i];
  tu_expect_error(b->src, b->st, b->msg, b->at);
}
END_TEST

int main(void) {
  Suite *s = suite_create("parser");
  TCase *good = tu_tcase("good input", 60);
  tcase_add_test(good, unary_minus_binds_looser_than_power);
  tcase_add_test(good, power_is_right_associative);
  tcase_add_test(good, products_bind_tighter_than_sums);
  tcase_add_test(good, minus_and_divide_associate_left);
  tcase_add_test(good, comparisons_are_lowest_and_give_0_or_1);
  tcase_add_test(good, line_continuation);
  tcase_add_test(good, comments_blank_lines_tabs_and_crlf);
  tcase_add_test(good, newline_ends_a_statement);
  tcase_add_test(good, number_literals);
  tcase_add_test(good, tensor_literals);
  tcase_add_test(good, long_chains_do_not_recurse);
  tcase_add_test(good, deep_nesting_is_a_limit_error);
  suite_add_tcase(s, good);
  TCase *st = tu_tcase("statements", 60);
  tcase_add_test(st, dim_and_input_declarations);
  tcase_add_test(st, param_initializers);
  tcase_add_test(st, param_initializers_are_reproducible);
  tcase_add_test(st, const_in_sizes_and_values);
  tcase_add_test(st, def_inlines_with_local_parameters);
  tcase_add_test(st, keywords_as_names);
  tcase_add_test(st, output_forms);
  tcase_add_test(st, grad_statements);
  suite_add_tcase(s, st);
  TCase *errs = tu_tcase("errors", 60);
  tcase_add_loop_test(errs, bad_input_is_reported_at_its_token, 0,
                      (int)(sizeof bad / sizeof bad[0]));
  suite_add_tcase(s, errs);
  return tu_run_suite(s);
}

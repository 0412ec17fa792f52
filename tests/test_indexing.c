/* test_indexing.c: NumPy's basic indexing and the functions that join
 * tensors. x[lo:hi:step] walks an axis by any step (negative: backwards),
 * None inserts an axis, `...` stands for the axes not named, slices may be
 * empty; concatenate(list, axis), stack(list, axis) and [a, b] (a list of
 * non-constant elements, which stacks them) put tensors together.
 *
 * Expected values were worked out with plain Python lists (each case says
 * which expression), and are also checked against the reference evaluator
 * (tests/refeval.c), which indexes and joins with loops of its own.
 * Gradients are checked against finite differences (tu_gradcheck), second
 * derivatives through a nested grad.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refeval.h"
#include "testutil.h"

/* 0, 1, ..., 9 */
static const double R10[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
/* [[1, 2, 3], [4, 5, 6], [7, 8, 9]]: square, so a swapped axis still fits */
static const double X33[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

static void expect(exprc_model *m, const char *name, const double *want,
                   int rank, const int64_t *shape) {
  exprc_tensor t = tu_output(m, name);
  ck_assert_msg(t.rank == rank, "%s: rank %d, not %d", name, t.rank, rank);
  int64_t n = 1;
  for (int d = 0; d < rank; d++) {
    ck_assert_msg(t.shape[d] == shape[d], "%s: axis %d has %lld, not %lld",
                  name, d, (long long)t.shape[d], (long long)shape[d]);
    n *= shape[d];
  }
  ck_assert_int_eq(t.size, n);
  tu_assert_close(t.data, want, n, 0, name);
}

#define SHAPE(...) (const int64_t[]){__VA_ARGS__}

/* Steps on a vector, as Python's list(range(10))[...] gives them. */
START_TEST(steps_on_a_vector) {
  exprc_model *m = tu_compile(
      "input x[10]\n"
      "output a = x[::2], b = x[::-1], c = x[1:7:3], d = x[8:2:-3]\n"
      "output e = x[-1:-11:-4], f = x[20:], g = x[::-20], h = x[5:5]\n"
      "output k = x[-3::-2]\n");
  tu_set(m, "x", R10, 1, (int64_t)10);
  expect(m, "a", (double[]){0, 2, 4, 6, 8}, 1, SHAPE(5));
  expect(m, "b", (double[]){9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, 1, SHAPE(10));
  expect(m, "c", (double[]){1, 4}, 1, SHAPE(2));
  expect(m, "d", (double[]){8, 5}, 1, SHAPE(2));
  expect(m, "e", (double[]){9, 5, 1}, 1, SHAPE(3));
  expect(m, "f", NULL, 1, SHAPE(0));
  expect(m, "g", (double[]){9}, 1, SHAPE(1));
  expect(m, "h", NULL, 1, SHAPE(0));
  expect(m, "k", (double[]){7, 5, 3, 1}, 1, SHAPE(4));
  exprc_free(m);
}
END_TEST

/* Steps, None and `...` on a matrix and a rank-3 tensor. */
START_TEST(steps_none_and_ellipsis) {
  exprc_model *m = tu_compile(
      "input x[3, 3]\ninput y[2, 3, 3]\n"
      "output a = x[::-1, ::2], b = x[1:, ::-1], c = x[::2, 1]\n"
      "output d = x[None, 1], e = x[..., 0], f = x[:, None, -1]\n"
      "output g = x[-1::-2, ...], h = y[..., ::-1, 0], k = x[...]\n"
      "output n = x[None, ..., None, 0]\n");
  tu_set(m, "x", X33, 2, (int64_t)3, (int64_t)3);
  double y[18];
  for (int i = 0; i < 18; i++)
    y[i] = i + 1;
  tu_set(m, "y", y, 3, (int64_t)2, (int64_t)3, (int64_t)3);
  expect(m, "a", (double[]){7, 9, 4, 6, 1, 3}, 2, SHAPE(3, 2));
  expect(m, "b", (double[]){6, 5, 4, 9, 8, 7}, 2, SHAPE(2, 3));
  expect(m, "c", (double[]){2, 8}, 1, SHAPE(2));
  expect(m, "d", (double[]){4, 5, 6}, 2, SHAPE(1, 3));
  expect(m, "e", (double[]){1, 4, 7}, 1, SHAPE(3));
  expect(m, "f", (double[]){3, 6, 9}, 2, SHAPE(3, 1));
  expect(m, "g", (double[]){7, 8, 9, 1, 2, 3}, 2, SHAPE(2, 3));
  /* y[i, ::-1, 0]: column 0 of each 3x3 block, bottom up */
  expect(m, "h", (double[]){7, 4, 1, 16, 13, 10}, 2, SHAPE(2, 3));
  expect(m, "k", X33, 2, SHAPE(3, 3));
  expect(m, "n", (double[]){1, 4, 7}, 3, SHAPE(1, 3, 1));
  exprc_free(m);
}
END_TEST

/* Steps on a dim-sized axis: x[::2] has (N+1)/2 rows, x[1::2] N/2,
 * x[::-1] N, for N = 1 to 4. */
START_TEST(steps_on_a_dim_sized_axis) {
  exprc_model *m = tu_compile("dim N\ninput x[N]\n"
                              "output a = x[::2], b = x[1::2], c = x[::-1]\n"
                              "output d = x[-2::-2], s = sum(x[1::2])\n");
  for (int n = 1; n <= 4; n++) {
    tu_set(m, "x", R10, 1, (int64_t)n);
    double a[4], b[4], c[4], d[4], s = 0;
    int na = 0, nb = 0, nd = 0;
    for (int i = 0; i < n; i += 2) /* list(range(n))[::2] */
      a[na++] = i;
    for (int i = 1; i < n; i += 2)
      b[nb++] = i, s += i;
    for (int i = 0; i < n; i++)
      c[i] = n - 1 - i;
    for (int i = n - 2; i >= 0; i -= 2)
      d[nd++] = i;
    expect(m, "a", a, 1, SHAPE(na));
    expect(m, "b", b, 1, SHAPE(nb));
    expect(m, "c", c, 1, SHAPE(n));
    expect(m, "d", d, 1, SHAPE(nd));
    ck_assert_double_eq(tu_output(m, "s").data[0], s);
  }
  exprc_free(m);
}
END_TEST

/* The gradient of a strided slice is a scatter into zeros: checked against
 * finite differences, on constant and dim-sized axes. */
START_TEST(gradients_of_strided_slices) {
  exprc_model *m = tu_compile(
      "dim N\ninput x[4, 3]\ninput v[N, 3]\ninput w[2, 3]\n"
      "loss = sum(sin(x[::2, ::-1]) * w) + sum(x[None, ..., 1]^2) +\n"
      "  sum(v[::-2] * v[::-2]) + sum(exp(v[1::3, :2]))\n"
      "grad loss wrt x, v, w\n");
  int64_t dims[3][1] = {{1}, {3}, {5}};
  for (int k = 0; k < 3; k++) {
    tu_randomize(m, 11 + (unsigned)k, -1, 1, dims[k], 1);
    tu_gradcheck(m, "loss", 1e-6);
  }
  exprc_free(m);
}
END_TEST

/* Second derivatives: g = d/dx sum(x[::-2]^3 * x[::2]) by hand, and the
 * gradient of sum(g * g) against finite differences of the compiled g. */
START_TEST(second_derivatives_of_strided_slices) {
  exprc_model *m = tu_compile("input x[4]\n"
                              "g = grad(sum(x[::-2]^3 * x[::2]), x)\n"
                              "L = sum(g * g)\noutput g\ngrad L wrt x\n");
  tu_set(m, "x", (double[]){1, 2, 3, 4}, 1, (int64_t)4);
  /* x[::-2] = [x3, x1], x[::2] = [x0, x2]: f = x3^3 x0 + x1^3 x2, so
   * g = [x3^3, 3 x1^2 x2, x1^3, 3 x3^2 x0] = [64, 36, 8, 48] */
  tu_assert_close(tu_output(m, "g").data, (double[]){64, 36, 8, 48}, 4, 1e-15,
                  "g");
  tu_gradcheck(m, "L", 1e-6);
  exprc_free(m);
}
END_TEST

/* concatenate and stack, as numpy.concatenate and numpy.stack do them. */
START_TEST(concatenate_and_stack_values) {
  exprc_model *m = tu_compile(
      "input a[2, 2]\ninput b[2, 3]\ninput s\n"
      "output c = concatenate([a, b], axis=1), d = concatenate([a, a * 10])\n"
      "output e = stack([a, -a]), f = stack([a, -a], axis=-1)\n"
      "output g = [s, 2 * s, 7], h = [[s, 1], [2, s]], k = concatenate(b)\n"
      "output n = [a[0], a[1] + 1]\n");
  tu_set(m, "a", (double[]){1, 2, 3, 4}, 2, (int64_t)2, (int64_t)2);
  tu_set(m, "b", (double[]){5, 6, 7, 8, 9, 10}, 2, (int64_t)2, (int64_t)3);
  tu_set(m, "s", (double[]){3}, 0);
  expect(m, "c", (double[]){1, 2, 5, 6, 7, 3, 4, 8, 9, 10}, 2, SHAPE(2, 5));
  expect(m, "d", (double[]){1, 2, 3, 4, 10, 20, 30, 40}, 2, SHAPE(4, 2));
  expect(m, "e", (double[]){1, 2, 3, 4, -1, -2, -3, -4}, 3, SHAPE(2, 2, 2));
  /* stack(axis=-1): e[i, j] = [a[i, j], -a[i, j]] */
  expect(m, "f", (double[]){1, -1, 2, -2, 3, -3, 4, -4}, 3, SHAPE(2, 2, 2));
  expect(m, "g", (double[]){3, 6, 7}, 1, SHAPE(3));
  expect(m, "h", (double[]){3, 1, 2, 3}, 2, SHAPE(2, 2));
  /* a tensor given as the list is the list of its rows */
  expect(m, "k", (double[]){5, 6, 7, 8, 9, 10}, 1, SHAPE(6));
  expect(m, "n", (double[]){1, 2, 4, 5}, 2, SHAPE(2, 2));
  exprc_free(m);
}
END_TEST

/* Joining dim-sized tensors: along other axes, along a new axis, and
 * along the dim's own axis when only the last piece is dim-sized. */
START_TEST(joining_dim_sized_tensors) {
  exprc_model *m = tu_compile(
      "dim N\ninput x[N, 2]\n"
      "output c = concatenate([x, x * 10], 1), d = stack([x, x + 1], 1)\n"
      "output e = concatenate([[[0, 0]], x[:-1]]), z = [x, x]\n"
      "output r = concatenate([x[1:], x[:1]]), q = concatenate([x[:1], x, 2 * x[:1]])\n");
  for (int n = 1; n <= 3; n++) {
    double x[6] = {1, 2, 3, 4, 5, 6}, c[12], d[12], e[6];
    tu_set(m, "x", x, 2, (int64_t)n, (int64_t)2);
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < 2; j++) {
        c[i * 4 + j] = x[i * 2 + j], c[i * 4 + 2 + j] = 10 * x[i * 2 + j];
        d[i * 4 + j] = x[i * 2 + j], d[i * 4 + 2 + j] = x[i * 2 + j] + 1;
        e[i * 2 + j] = i ? x[(i - 1) * 2 + j] : 0; /* shifted down a row */
      }
    }
    expect(m, "c", c, 2, SHAPE(n, 4));
    expect(m, "d", d, 3, SHAPE(n, 2, 2));
    expect(m, "e", e, 2, SHAPE(n, 2));
    /* r rolls the rows up by one (numpy.roll(x, -1, 0)); q is row 0, all
     * of x, then twice row 0: the dim-sized piece sits in the middle */
    double r[6], q[10];
    for (int i = 0; i < n; i++)
      for (int j = 0; j < 2; j++)
        r[i * 2 + j] = x[((i + 1) % n) * 2 + j];
    expect(m, "r", r, 2, SHAPE(n, 2));
    for (int j = 0; j < 2; j++)
      q[j] = x[j], q[2 + 2 * n + j] = 2 * x[j];
    for (int i = 0; i < 2 * n; i++)
      q[2 + i] = x[i];
    expect(m, "q", q, 2, SHAPE(n + 2, 2));
    exprc_tensor z = tu_output(m, "z");
    tu_assert_shape(&z, 3, 2, n, 2);
  }
  exprc_free(m);
}
END_TEST

/* On a dim-sized axis an index must exist at every size: row 0 and row -1
 * of N always do, row 2 and row -3 of N+2 too; so do slices whose ends
 * count from one end within that least size (y[1:3], y[-3:], y[-3:-1]).
 * Values for N = 1 and 3, worked out from the row lists. */
START_TEST(indices_that_every_size_has) {
  exprc_model *m = tu_compile(
      "dim N\ninput x[N, 2]\ny = concatenate([x, [[7, 8], [9, 10]]])\n"
      "output a = y[2], b = y[-3], c = x[:1], d = x[-1:], e = x[-1]\n"
      "output f = y[-3:], g = y[1:3], h = y[-3:-1], k = y[-2:-2]\n"
      "loss = sum(y[2] * y[-3]) + sum(x[-1:] ^ 3) + sum(y[-3:-1] * y[1:3])\n"
      "grad loss wrt x\n");
  double x[6] = {1, 2, 3, 4, 5, 6};
  tu_set(m, "x", x, 2, (int64_t)1, (int64_t)2);
  /* y = [[1, 2], [7, 8], [9, 10]] */
  expect(m, "a", (double[]){9, 10}, 1, SHAPE(2));
  expect(m, "b", (double[]){1, 2}, 1, SHAPE(2));
  expect(m, "c", (double[]){1, 2}, 2, SHAPE(1, 2));
  expect(m, "d", (double[]){1, 2}, 2, SHAPE(1, 2));
  expect(m, "f", (double[]){1, 2, 7, 8, 9, 10}, 2, SHAPE(3, 2));
  expect(m, "g", (double[]){7, 8, 9, 10}, 2, SHAPE(2, 2));
  expect(m, "h", (double[]){1, 2, 7, 8}, 2, SHAPE(2, 2));
  expect(m, "k", NULL, 2, SHAPE(0, 2));
  tu_gradcheck(m, "loss", 1e-6);
  tu_set(m, "x", x, 2, (int64_t)3, (int64_t)2);
  /* the last three rows, rows 1..2, the two before the last */
  expect(m, "f", (double[]){5, 6, 7, 8, 9, 10}, 2, SHAPE(3, 2));
  expect(m, "g", (double[]){3, 4, 5, 6}, 2, SHAPE(2, 2));
  expect(m, "h", (double[]){5, 6, 7, 8}, 2, SHAPE(2, 2));
  /* y = [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]] */
  expect(m, "a", (double[]){5, 6}, 1, SHAPE(2));
  expect(m, "b", (double[]){5, 6}, 1, SHAPE(2));
  expect(m, "c", (double[]){1, 2}, 2, SHAPE(1, 2));
  expect(m, "d", (double[]){5, 6}, 2, SHAPE(1, 2));
  expect(m, "e", (double[]){5, 6}, 1, SHAPE(2));
  tu_gradcheck(m, "loss", 1e-6);
  exprc_free(m);
}
END_TEST

/* Their gradients are slices of the incoming gradient; second derivatives
 * through a nested grad. */
START_TEST(gradients_of_joins) {
  exprc_model *m = tu_compile(
      "dim N\ninput a[N, 3]\ninput b[N, 2]\ninput s\n"
      "j = concatenate([a, b * s], axis=-1)\n"
      "k = stack([a[:, :2], b, [s, s * s] * b], axis=1)\n"
      "loss = sum(tanh(j) * j) + sum(k^3) + sum(concatenate([[s], a[0]])^2)\n"
      "grad loss wrt a, b, s\n");
  int64_t dims[2][1] = {{1}, {3}};
  for (int i = 0; i < 2; i++) {
    tu_randomize(m, 21 + (unsigned)i, -1, 1, dims[i], 1);
    tu_gradcheck(m, "loss", 1e-6);
  }
  exprc_free(m);
  m = tu_compile("input a[3]\ninput b[3]\n"
                 "g = grad(sum(stack([a * b, a^2], axis=1)^2), a)\n"
                 "L = sum(g * concatenate([a[1:], b[:1]]))\n"
                 "grad L wrt a, b\n");
  tu_randomize(m, 5, -1, 1, NULL, 0);
  tu_gradcheck(m, "L", 1e-6);
  exprc_free(m);
}
END_TEST

/* The reference evaluator, indexing and joining by loops of its own,
 * agrees on a model that uses every construct. */
START_TEST(reference_evaluator_agrees) {
  const char *src =
      "dim N\ninput x[N, 3]\ninput y[3, 3]\n"
      "a = x[::-1, ::2] * 2 + x[:, None, 1][..., 0, None]\n"
      "output b = concatenate([a, x[:, 1:]], axis=1)\n"
      "output c = stack([y[::2, 0], y[-1, ::-2]], axis=1) + [y[0, 0], 1]\n"
      "output d = [x, exp(x)][..., 1:], e = y[1::-1, ...][None]\n"
      "output f = reshape(x[1:], [-1])[::3]\n";
  char err[256];
  RefModel *r = ref_load(src, err, sizeof err);
  ck_assert_msg(r, "%s", err);
  exprc_model *m = tu_compile(src);
  uint64_t st = 3;
  double x[12], y[9];
  for (int i = 0; i < 12; i++)
    x[i] = tu_uniform(&st, -2, 2);
  for (int i = 0; i < 9; i++)
    y[i] = tu_uniform(&st, -2, 2);
  const char *names[] = {"b", "c", "d", "e", "f"};
  for (int n = 1; n <= 4; n += 3) {
    ck_assert_int_eq(ref_bind_dim(r, "N", n), 0);
    ck_assert_int_eq(ref_set(r, "x", x, 2, (int64_t[]){n, 3}), 0);
    ck_assert_int_eq(ref_set(r, "y", y, 2, (int64_t[]){3, 3}), 0);
    tu_set(m, "x", x, 2, (int64_t)n, (int64_t)3);
    tu_set(m, "y", y, 2, (int64_t)3, (int64_t)3);
    for (int k = 0; k < 5; k++) {
      RefTensor want;
      ck_assert_msg(ref_eval(r, names[k], &want) == 0, "%s", ref_errmsg(r));
      exprc_tensor got = tu_output(m, names[k]);
      ck_assert_msg(got.rank == want.rank, "%s: rank", names[k]);
      for (int d = 0; d < got.rank; d++)
        ck_assert_msg(got.shape[d] == want.shape[d], "%s: axis %d: %lld, "
                      "the reference %lld (N = %d)", names[k], d,
                      (long long)got.shape[d], (long long)want.shape[d], n);
      ck_assert_int_eq(got.size, want.size);
      tu_assert_close(got.data, want.data, got.size, 1e-14, names[k]);
    }
  }
  exprc_free(m);
  ref_free(r);
}
END_TEST

START_TEST(indexing_errors_are_located) {
  tu_expect_error("input x[3, 3]\ny = x[..., 0, ...]\n", EXPRC_ERR_SHAPE,
                  "test.expr:2:15: error: an index can have only one '...'",
                  "...]");
  tu_expect_error("input x[3]\ny = x[None, 0, 1]\n", EXPRC_ERR_SHAPE,
                  "test.expr:2:6: error: 2 indices for a tensor of rank 1",
                  "[None");
  tu_expect_error("input x[3]\ny = x[1:2:0]\n", EXPRC_ERR_SHAPE,
                  "test.expr:2:11: error: slice step cannot be zero", "0]");
  tu_expect_error("input x[3]\ny = None\n", EXPRC_ERR_NAME,
                  "test.expr:2:5: error: unknown name 'None'", "None");
  tu_expect_error("dim N\ninput x[N]\ny = x[-2:]\n", EXPRC_ERR_SHAPE,
                  "test.expr:3:7: error: index -2 may be outside this axis, "
                  "whose size [N] can be as small as 1", "-2:]");
  tu_expect_error("dim N\ninput x[N]\ny = x[-3:2]\n", EXPRC_ERR_SHAPE,
                  "test.expr:3:7: error: a slice of a dim-sized axis counts "
                  "its start from the end it walks from and its stop from the "
                  "other end (x[1:], x[:-1], x[::-1]), so that its length is "
                  "known", "-3:2]");
}
END_TEST

/* Extreme steps and bounds are errors or empty, never a crash or a wrong
 * size; a rank above the limit is a LIMIT error. */
START_TEST(extreme_indices) {
  exprc_model *m = tu_compile(
      "dim N\ninput x[N]\n"
      "output a = x[::2147483647], b = x[-2147483648::-2147483647]\n"
      "output c = x[2147483647:], d = x[:-2147483648]\n");
  tu_set(m, "x", R10, 1, (int64_t)3);
  expect(m, "a", (double[]){0}, 1, SHAPE(1));
  expect(m, "b", NULL, 1, SHAPE(0)); /* starts before the first element */
  expect(m, "c", NULL, 1, SHAPE(0));
  expect(m, "d", NULL, 1, SHAPE(0));
  exprc_free(m);
  exprc_status st;
  const char *msg = tu_compile_error(
      "dim N\ninput x[N]\ny = x[::2147483647][::2147483647][::2147483647]\n",
      &st);
  ck_assert_int_eq(st, EXPRC_ERR_SHAPE);
  ck_assert_msg(strstr(msg, "test.expr:3:") &&
                strstr(msg, "is not one exprc can represent"), "%s", msg);
  msg = tu_compile_error("input x[3]\n"
                         "y = x[None, None, None, None, None, None, None, None]\n",
                         &st);
  ck_assert_int_eq(st, EXPRC_ERR_LIMIT);
  ck_assert_msg(strstr(msg, "above the limit"), "%s", msg);
}
END_TEST

START_TEST(join_errors_are_located) {
  tu_expect_error("input a[2, 2]\ninput b[3, 3]\ny = concatenate([a, b], 1)\n",
                  EXPRC_ERR_SHAPE,
                  "test.expr:3:5: error: concatenate needs pieces of one shape "
                  "off the axis: [2,2] and [3,3]", "concatenate");
  tu_expect_error("input a[2]\ninput b[3]\ny = stack([a, b])\n",
                  EXPRC_ERR_SHAPE,
                  "test.expr:3:5: error: stack needs pieces of one shape: [2] "
                  "and [3]", "stack");
  tu_expect_error("input a[2]\ninput b[3]\ny = [a, b]\n", EXPRC_ERR_SHAPE,
                  "test.expr:3:5: error: a list needs pieces of one shape: [2] "
                  "and [3]", "[a, b]");
  tu_expect_error("input s\ny = concatenate([s, s])\n", EXPRC_ERR_SHAPE,
                  "test.expr:2:17: error: concatenate joins tensors along an "
                  "axis; scalars have none (stack them)", "[s, s]");
  tu_expect_error("input a[2]\ny = concatenate([a, a], axis=1)\n",
                  EXPRC_ERR_SHAPE,
                  "test.expr:2:30: error: axis must be a whole number from -1 "
                  "to 0, not 1", "1)");
  tu_expect_error("dim N\ninput a[N]\ny = concatenate([a, a])\n",
                  EXPRC_ERR_SHAPE,
                  "test.expr:3:5: error: concatenate along a dim-sized axis "
                  "takes at most one piece whose size there is not constant "
                  "(the others' places must be)", "concatenate");
  tu_expect_error("dim N\ninput a[N]\ny = concatenate(a)\n", EXPRC_ERR_SHAPE,
                  "test.expr:3:17: error: a list of tensors is a list [a, b, "
                  "...] or a tensor whose first axis has a constant size",
                  "a)");
}
END_TEST

int main(void) {
  Suite *s = suite_create("indexing");
  TCase *t = tu_tcase("indexing", 120);
  tcase_add_test(t, steps_on_a_vector);
  tcase_add_test(t, steps_none_and_ellipsis);
  tcase_add_test(t, steps_on_a_dim_sized_axis);
  tcase_add_test(t, gradients_of_strided_slices);
  tcase_add_test(t, second_derivatives_of_strided_slices);
  tcase_add_test(t, concatenate_and_stack_values);
  tcase_add_test(t, joining_dim_sized_tensors);
  tcase_add_test(t, gradients_of_joins);
  tcase_add_test(t, reference_evaluator_agrees);
  tcase_add_test(t, indexing_errors_are_located);
  tcase_add_test(t, join_errors_are_located);
  tcase_add_test(t, extreme_indices);
  tcase_add_test(t, indices_that_every_size_has);
  suite_add_tcase(s, t);
  return tu_run_suite(s);
}

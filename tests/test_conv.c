/* test_conv.c: convolutions and pooling, PyTorch's layouts and meanings.
 *
 * conv1d(x[N,C,L], w[O,C/groups,K]) and conv2d(x[N,C,H,W], w[O,C/groups,KH,
 * KW]) are cross-correlations (no flip) with stride, padding (zeros),
 * dilation and groups; max_pool1d/2d and avg_pool1d/2d take a window, a
 * stride (default: the window) and a padding that max pooling never picks
 * and average pooling counts as zeros.
 *
 * The truth comes from outside the compiler: a few numbers worked out by
 * hand (each says how), the reference evaluator (tests/refeval.c: direct
 * loops written from PyTorch's definitions, sharing nothing with the
 * compiler after the parser), and central finite differences for every
 * gradient, first and second order. Large layers run the im2col and matrix
 * product path of the runtime, small ones the direct loops: both are
 * compared with the reference.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refeval.h"
#include "testutil.h"

typedef struct Var {
  const char *name;
  int rank;
  int64_t d[4];
} Var;

/* Deterministic values in [-1, 1), the same in exprc and in the reference
 * (distinct almost surely, so no window of a max pool has a tie). */
static double *values(const Var *v, uint64_t *state, int64_t *n) {
  *n = 1;
  for (int i = 0; i < v->rank; i++)
    *n *= v->d[i];
  double *x = malloc((size_t)*n * sizeof *x);
  for (int64_t i = 0; i < *n; i++)
    x[i] = tu_uniform(state, -1, 1);
  return x;
}

static void set_both(exprc_model *m, RefModel *r, const Var *v,
                     uint64_t *state) {
  int64_t n;
  double *x = values(v, state, &n);
  ck_assert_msg(exprc_set(m, v->name, x, v->rank, v->d) == EXPRC_OK, "%s",
                exprc_errmsg(m));
  ck_assert_msg(ref_set(r, v->name, x, v->rank, v->d) == 0, "%s",
                ref_errmsg(r));
  free(x);
}

/* Compile src, give its variables the same values in exprc and in the
 * reference evaluator, and compare output y element by element; then, if
 * the model has `grad L wrt ...`, check it by finite differences. */
static void check_model(const char *src, const Var *vars, int nvar,
                        const int64_t *yshape, int yrank) {
  char err[512];
  RefModel *r = ref_load(src, err, sizeof err);
  ck_assert_msg(r, "%s", err);
  exprc_model *m = tu_compile(src);
  uint64_t state = 12345;
  for (int i = 0; i < nvar; i++)
    set_both(m, r, &vars[i], &state);
  RefTensor want;
  ck_assert_msg(ref_eval(r, "y", &want) == 0, "%s", ref_errmsg(r));
  exprc_tensor got = tu_output(m, "y");
  ck_assert_int_eq(got.rank, yrank);
  ck_assert_int_eq(want.rank, yrank);
  for (int i = 0; i < yrank; i++) {
    ck_assert_int_eq(got.shape[i], yshape[i]);
    ck_assert_int_eq(want.shape[i], yshape[i]);
  }
  tu_set_context(src);
  tu_assert_close(got.data, want.data, want.size, 1e-12, src);
  if (strstr(src, "grad L wrt"))
    tu_gradcheck(m, "L", 1e-6);
  tu_set_context(NULL);
  exprc_free(m);
  ref_free(r);
}

#define GRAD_TAIL "L = sum(sin(y) * y)\ngrad L wrt x, w\n"
#define XW(xs, ws) "input x" xs "\nparam w" ws "\n"
#define V4(n, a, b, c, d) {n, 4, {a, b, c, d}}
#define V3(n, a, b, c) {n, 3, {a, b, c}}

/* ---- values worked out by hand ---- */

/* Cross-correlation, not convolution: with w = [1, 0, -1] each output is
 * x[i] - x[i+2] = -2 for x = 1..5 (a flipped kernel would give +2). With
 * padding 1 the ends see a zero: y[4] = x[3]*1 + x[4]*0 + 0*(-1) = 4. */
START_TEST(conv1d_by_hand) {
  exprc_model *m = tu_compile(
      "input x[1, 1, 5]\n"
      "w = reshape([1, 0, -1], [1, 1, 3])\n"
      "output y = conv1d(x, w), p = conv1d(x, w, padding=1),\n"
      "  s = conv1d(x, w, stride=2, padding=1)\n");
  tu_set(m, "x", (double[]){1, 2, 3, 4, 5}, 3, (int64_t)1, (int64_t)1,
         (int64_t)5);
  exprc_tensor y = tu_output(m, "y");
  tu_assert_shape(&y, 3, 1, 1, 3);
  tu_assert_close(y.data, (double[]){-2, -2, -2}, 3, 0, "conv1d");
  exprc_tensor p = tu_output(m, "p");
  tu_assert_close(p.data, (double[]){-2, -2, -2, -2, 4}, 5, 0, "padding=1");
  exprc_tensor s = tu_output(m, "s"); /* outputs 0, 2, 4 of p */
  tu_assert_close(s.data, (double[]){-2, -2, 4}, 3, 0, "stride=2");
  exprc_free(m);
}
END_TEST

/* conv2d of a 3x3 input counting 1..9 with the 2x2 kernel [[1, 2], [3, 4]]:
 * y[0,0] = 1*1 + 2*2 + 4*3 + 5*4 = 37, y[0,1] = 2 + 6 + 15 + 24 = 47,
 * y[1,0] = 4 + 10 + 21 + 32 = 67, y[1,1] = 5 + 12 + 24 + 36 = 77. With
 * dilation 2 the only window is the corners: 1 + 2*3 + 3*7 + 4*9 = 64. */
START_TEST(conv2d_by_hand) {
  exprc_model *m = tu_compile(
      "input x[1, 1, 3, 3]\nparam w[1, 1, 2, 2]\n"
      "output y = conv2d(x, w), d = conv2d(x, w, dilation=2)\n");
  tu_set(m, "x", (double[]){1, 2, 3, 4, 5, 6, 7, 8, 9}, 4, (int64_t)1,
         (int64_t)1, (int64_t)3, (int64_t)3);
  tu_set(m, "w", (double[]){1, 2, 3, 4}, 4, (int64_t)1, (int64_t)1,
         (int64_t)2, (int64_t)2);
  exprc_tensor y = tu_output(m, "y");
  tu_assert_shape(&y, 4, 1, 1, 2, 2);
  tu_assert_close(y.data, (double[]){37, 47, 67, 77}, 4, 0, "conv2d");
  exprc_tensor d = tu_output(m, "d");
  tu_assert_shape(&d, 4, 1, 1, 1, 1);
  tu_assert_close(d.data, (double[]){64}, 1, 0, "dilation=2");
  exprc_free(m);
}
END_TEST

/* Pools by hand. max_pool1d([3, 3, 1, 5], 2) = [3, 5], and the gradient of
 * its sum goes to the FIRST maximum of a tie: [1, 0, 0, 1]. Padding is never
 * the maximum: max_pool1d([-1, -2, -3], 2, padding=1) sees [pad, -1] and
 * [-2, -3], giving [-1, -2] (a zero pad would give [0, -2]). The average
 * counts the padding as zeros (PyTorch's count_include_pad=True):
 * avg_pool1d([1, 2, 3, 4], 2, padding=1) = [(0+1)/2, (2+3)/2, (4+0)/2]. */
START_TEST(pools_by_hand) {
  exprc_model *m = tu_compile(
      "input a[1, 1, 4]\ninput b[1, 1, 3]\ninput c[1, 1, 4]\n"
      "output y = max_pool1d(a, 2), z = max_pool1d(b, 2, padding=1),\n"
      "  v = avg_pool1d(c, 2, padding=1)\n"
      "L = sum(max_pool1d(a, 2))\ngrad L wrt a\n");
  tu_set(m, "a", (double[]){3, 3, 1, 5}, 3, (int64_t)1, (int64_t)1,
         (int64_t)4);
  tu_set(m, "b", (double[]){-1, -2, -3}, 3, (int64_t)1, (int64_t)1,
         (int64_t)3);
  tu_set(m, "c", (double[]){1, 2, 3, 4}, 3, (int64_t)1, (int64_t)1,
         (int64_t)4);
  tu_assert_close(tu_output(m, "y").data, (double[]){3, 5}, 2, 0, "max");
  tu_assert_close(tu_output(m, "z").data, (double[]){-1, -2}, 2, 0,
                  "max with padding");
  tu_assert_close(tu_output(m, "v").data, (double[]){0.5, 2.5, 2}, 3, 0,
                  "avg with padding");
  exprc_tensor g = tu_grad(m, "L", "a");
  tu_assert_close(g.data, (double[]){1, 0, 0, 1}, 4, 0, "first maximum");
  exprc_free(m);
}
END_TEST

/* A 2-D tie: max_pool2d of [[2, 2], [2, 1]] sends the gradient to the first
 * maximum in C order, element [0, 0]. */
START_TEST(max_pool2d_tie_goes_to_first) {
  exprc_model *m = tu_compile("input x[1, 1, 2, 2]\n"
                              "L = sum(max_pool2d(x, 2))\ngrad L wrt x\n");
  tu_set(m, "x", (double[]){2, 2, 2, 1}, 4, (int64_t)1, (int64_t)1,
         (int64_t)2, (int64_t)2);
  exprc_tensor g = tu_grad(m, "L", "x");
  tu_assert_close(g.data, (double[]){1, 0, 0, 0}, 4, 0, "first maximum");
  exprc_free(m);
}
END_TEST

/* A NaN in a window is its maximum, as in PyTorch (NaN propagates), and
 * the gradient goes to it: max_pool1d([1, NaN, 3, 2], 2) = [NaN, 3], the
 * gradient of y[1] * 2 reaching only element 2 (and y[0]'s, NaN, only
 * the NaN itself). */
START_TEST(max_pool_nan_is_the_maximum) {
  exprc_model *m = tu_compile("input x[1, 1, 4]\noutput y = max_pool1d(x, 2)\n"
                              "L = sum(max_pool1d(x, 2) * [[[0, 2]]])\n"
                              "grad L wrt x\n");
  tu_set(m, "x", (double[]){1, NAN, 3, 2}, 3, (int64_t)1, (int64_t)1,
         (int64_t)4);
  exprc_tensor y = tu_output(m, "y");
  ck_assert(isnan(y.data[0]));
  ck_assert_double_eq(y.data[1], 3);
  exprc_tensor g = tu_grad(m, "L", "x");
  tu_assert_close(g.data, (double[]){0, 0, 2, 0}, 4, 0, "gradient");
  exprc_free(m);
}
END_TEST

/* ---- every option against the reference, gradients by differences ---- */

START_TEST(conv2d_plain) {
  Var v[] = {V4("x", 2, 3, 5, 4), V4("w", 4, 3, 3, 2)};
  check_model(XW("[2, 3, 5, 4]", "[4, 3, 3, 2]") "y = conv2d(x, w)\noutput y\n"
              GRAD_TAIL, v, 2, (int64_t[]){2, 4, 3, 3}, 4);
}
END_TEST

/* Every size 3: an axis mixed up would still fit, so only the values can
 * tell. */
START_TEST(conv2d_equal_sizes) {
  Var v[] = {V4("x", 3, 3, 3, 3), V4("w", 3, 3, 3, 3)};
  check_model(XW("[3, 3, 3, 3]", "[3, 3, 3, 3]")
              "y = conv2d(x, w, padding=1)\noutput y\n" GRAD_TAIL,
              v, 2, (int64_t[]){3, 3, 3, 3}, 4);
}
END_TEST

START_TEST(conv2d_stride_padding) {
  Var v[] = {V4("x", 2, 2, 7, 6), V4("w", 3, 2, 3, 3)};
  check_model(XW("[2, 2, 7, 6]", "[3, 2, 3, 3]")
              "y = conv2d(x, w, stride=2, padding=1)\noutput y\n" GRAD_TAIL,
              v, 2, (int64_t[]){2, 3, 4, 3}, 4);
}
END_TEST

/* Lists give each spatial axis its own value: OH = (7 + 0 - 2*2 - 1)/2 + 1
 * = 2, OW = (6 + 4 - 1*2 - 1)/1 + 1 = 8. */
START_TEST(conv2d_per_axis_lists) {
  Var v[] = {V4("x", 1, 2, 7, 6), V4("w", 2, 2, 3, 3)};
  check_model(XW("[1, 2, 7, 6]", "[2, 2, 3, 3]")
              "y = conv2d(x, w, stride=[2, 1], padding=[0, 2], "
              "dilation=[2, 1])\noutput y\n" GRAD_TAIL,
              v, 2, (int64_t[]){1, 2, 2, 8}, 4);
}
END_TEST

START_TEST(conv2d_dilation) {
  Var v[] = {V4("x", 2, 1, 8, 7), V4("w", 2, 1, 3, 2)};
  check_model(XW("[2, 1, 8, 7]", "[2, 1, 3, 2]")
              "y = conv2d(x, w, dilation=2, padding=1)\noutput y\n" GRAD_TAIL,
              v, 2, (int64_t[]){2, 2, 6, 7}, 4);
}
END_TEST

START_TEST(conv2d_groups) {
  Var v[] = {V4("x", 2, 4, 5, 5), V4("w", 6, 2, 3, 3)};
  check_model(XW("[2, 4, 5, 5]", "[6, 2, 3, 3]")
              "y = conv2d(x, w, groups=2)\noutput y\n" GRAD_TAIL,
              v, 2, (int64_t[]){2, 6, 3, 3}, 4);
}
END_TEST

/* Depthwise: one group per channel, and a channel multiplier of 2. */
START_TEST(conv2d_depthwise) {
  Var v[] = {V4("x", 1, 3, 6, 6), V4("w", 3, 1, 3, 3)};
  check_model(XW("[1, 3, 6, 6]", "[3, 1, 3, 3]")
              "y = conv2d(x, w, groups=3, padding=1)\noutput y\n" GRAD_TAIL,
              v, 2, (int64_t[]){1, 3, 6, 6}, 4);
  Var u[] = {V4("x", 2, 3, 5, 4), V4("w", 6, 1, 2, 2)};
  check_model(XW("[2, 3, 5, 4]", "[6, 1, 2, 2]")
              "y = conv2d(x, w, groups=3, stride=[1, 2])\noutput y\n" GRAD_TAIL,
              u, 2, (int64_t[]){2, 6, 4, 2}, 4);
}
END_TEST

START_TEST(conv2d_kernel_shapes) {
  Var v[] = {V4("x", 2, 3, 4, 6), V4("w", 2, 3, 1, 4)};
  check_model(XW("[2, 3, 4, 6]", "[2, 3, 1, 4]")
              "y = conv2d(x, w)\noutput y\n" GRAD_TAIL,
              v, 2, (int64_t[]){2, 2, 4, 3}, 4);
  Var u[] = {V4("x", 2, 3, 4, 6), V4("w", 5, 3, 1, 1)};
  check_model(XW("[2, 3, 4, 6]", "[5, 3, 1, 1]")
              "y = conv2d(x, w)\noutput y\n" GRAD_TAIL,
              u, 2, (int64_t[]){2, 5, 4, 6}, 4);
}
END_TEST

START_TEST(conv1d_options) {
  Var v[] = {V3("x", 2, 3, 9), V3("w", 4, 3, 3)};
  check_model(XW("[2, 3, 9]", "[4, 3, 3]")
              "y = conv1d(x, w, stride=2, padding=1, dilation=2)\noutput y\n"
              GRAD_TAIL, v, 2, (int64_t[]){2, 4, 4}, 3);
  Var u[] = {V3("x", 3, 3, 7), V3("w", 6, 1, 2)};
  check_model(XW("[3, 3, 7]", "[6, 1, 2]")
              "y = conv1d(x, w, groups=3)\noutput y\n" GRAD_TAIL,
              u, 2, (int64_t[]){3, 6, 6}, 3);
  Var e[] = {V3("x", 3, 3, 3), V3("w", 3, 3, 3)};
  check_model(XW("[3, 3, 3]", "[3, 3, 3]")
              "y = conv1d(x, w, [1], [1])\noutput y\n" GRAD_TAIL,
              e, 2, (int64_t[]){3, 3, 3}, 3);
}
END_TEST

#define POOL_TAIL "L = sum(sin(y) * y)\ngrad L wrt x\n"

START_TEST(pools_against_reference) {
  static const struct {
    const char *call;
    int64_t y[4];
  } cases[] = {
      {"max_pool2d(x, 2)", {2, 3, 3, 2}},
      {"max_pool2d(x, [3, 2], stride=[1, 2], padding=1)", {2, 3, 6, 3}},
      {"max_pool2d(x, 3, stride=2, padding=1)", {2, 3, 3, 3}},
      {"avg_pool2d(x, 2)", {2, 3, 3, 2}},
      {"avg_pool2d(x, 3, stride=2, padding=1)", {2, 3, 3, 3}},
      {"avg_pool2d(x, [2, 3], stride=1, padding=[1, 0])", {2, 3, 7, 3}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char src[512];
    snprintf(src, sizeof src, "input x[2, 3, 6, 5]\ny = %s\noutput y\n%s",
             cases[i].call, POOL_TAIL);
    Var v[] = {V4("x", 2, 3, 6, 5)};
    check_model(src, v, 1, cases[i].y, 4);
  }
}
END_TEST

START_TEST(pools_1d_against_reference) {
  static const struct {
    const char *call;
    int64_t y[3];
  } cases[] = {
      {"max_pool1d(x, 2)", {2, 3, 4}},
      {"max_pool1d(x, 3, stride=2, padding=1)", {2, 3, 5}},
      {"max_pool1d(x, kernel=4, stride=1)", {2, 3, 6}},
      {"avg_pool1d(x, 3)", {2, 3, 3}},
      {"avg_pool1d(x, 3, stride=2, padding=1)", {2, 3, 5}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char src[512];
    snprintf(src, sizeof src, "input x[2, 3, 9]\ny = %s\noutput y\n%s",
             cases[i].call, POOL_TAIL);
    Var v[] = {V3("x", 2, 3, 9)};
    check_model(src, v, 1, cases[i].y, 3);
  }
}
END_TEST

/* Large enough for the runtime's im2col path (im2col into the matrix
 * product), with and without groups. */
START_TEST(large_layers_take_the_product_path) {
  Var v[] = {V4("x", 4, 8, 12, 12), V4("w", 16, 8, 3, 3)};
  check_model(XW("[4, 8, 12, 12]", "[16, 8, 3, 3]")
              "y = conv2d(x, w, padding=1, stride=[1, 2])\noutput y\n",
              v, 2, (int64_t[]){4, 16, 12, 6}, 4);
  Var u[] = {V4("x", 3, 8, 10, 10), V4("w", 16, 4, 3, 3)};
  check_model(XW("[3, 8, 10, 10]", "[16, 4, 3, 3]")
              "y = conv2d(x, w, groups=2, dilation=[1, 2])\noutput y\n"
              GRAD_TAIL, u, 2, (int64_t[]){3, 16, 8, 6}, 4);
  Var e[] = {V4("x", 2, 4, 10, 10), V4("w", 16, 4, 3, 3)};
  check_model(XW("[2, 4, 10, 10]", "[16, 4, 3, 3]")
              "y = conv2d(x, w)\noutput y\n" GRAD_TAIL,
              e, 2, (int64_t[]){2, 16, 8, 8}, 4);
}
END_TEST

/* --threads: the products of a large layer are split over the model's
 * threads by blocks of output elements, each summed whole by one thread,
 * so two threads give the same bits as one. */
START_TEST(threads_give_the_same_bits) {
  const char *src = "input x[4, 8, 12, 12]\nparam w[16, 8, 3, 3]\n"
                    "y = conv2d(x, w, padding=1)\noutput y\n"
                    "L = sum(sin(y) * y)\ngrad L wrt x, w\n";
  exprc_options o1, o2;
  exprc_options_default(&o1);
  exprc_options_default(&o2);
  o1.threads = 1, o2.threads = 2;
  exprc_model *a = tu_compile_opts(src, &o1), *b = tu_compile_opts(src, &o2);
  int64_t dims[1] = {0};
  tu_randomize(a, 3, -1, 1, dims, 0);
  tu_randomize(b, 3, -1, 1, dims, 0);
  const char *wrt[2] = {"x", "w"};
  for (int k = 0; k < 2; k++) {
    exprc_tensor ga = tu_grad(a, "L", wrt[k]), gb = tu_grad(b, "L", wrt[k]);
    ck_assert_int_eq(ga.size, gb.size);
    ck_assert_msg(memcmp(ga.data, gb.data, (size_t)ga.size * sizeof(double))
                  == 0, "d/d%s differs between 1 and 2 threads", wrt[k]);
  }
  exprc_free(a);
  exprc_free(b);
}
END_TEST

/* A dim batch, bound to 1 and then to 3. */
START_TEST(dim_batch_sizes) {
  const char *src = "dim N\ninput x[N, 2, 5, 5]\nparam w[3, 2, 2, 2]\n"
                    "h = max_pool2d(relu(conv2d(x, w, padding=1)), 2)\n"
                    "y = avg_pool2d(h, 2, stride=1)\noutput y\n"
                    "L = sum(y * y) / N\ngrad L wrt x, w\n";
  for (int64_t n = 1; n <= 3; n += 2) {
    Var v[] = {V4("x", n, 2, 5, 5), V4("w", 3, 2, 2, 2)};
    check_model(src, v, 2, (int64_t[]){n, 3, 2, 2}, 4);
  }
}
END_TEST

/* Second derivatives through nested grad: the rules are graph ops whose
 * own rules exist, so grad of grad works and agrees with differences of the
 * first gradient. */
START_TEST(nested_grad_through_layers) {
  exprc_model *m = tu_compile(
      "input x[2, 2, 6, 5]\nparam w[4, 1, 3, 2]\n"
      "h = conv2d(x, w, stride=[2, 1], padding=1, groups=2)\n"
      "L1 = sum(tanh(max_pool2d(h, 2, padding=1))) + sum(avg_pool2d(h, 2) ^ 2)\n"
      "L = sum(grad(L1, w) ^ 2) + sum(sin(grad(L1, x)))\n"
      "grad L wrt x, w\n");
  int64_t dims[1] = {0};
  tu_randomize(m, 7, -1, 1, dims, 0);
  tu_gradcheck(m, "L", 1e-6);
  exprc_free(m);
  exprc_model *q = tu_compile(
      "input x[1, 2, 7]\nparam w[3, 2, 2]\n"
      "L1 = sum(conv1d(x, w, dilation=2) ^ 3)\n"
      "L = sum(grad(L1, x) * grad(L1, x))\ngrad L wrt x, w\n");
  tu_randomize(q, 8, -1, 1, dims, 0);
  tu_gradcheck(q, "L", 1e-6);
  exprc_free(q);
}
END_TEST

/* ---- mistakes are located errors ---- */

static void expect_error(const char *src, const char *part) {
  exprc_status st;
  const char *msg = tu_compile_error(src, &st);
  ck_assert_msg(st == EXPRC_ERR_SHAPE, "%s: status %d: %s", src, st, msg);
  ck_assert_msg(strstr(msg, part), "%s: message '%s' lacks '%s'", src, msg,
                part);
  ck_assert_msg(strstr(msg, "test.expr:"), "unlocated: %s", msg);
}

START_TEST(mistakes) {
  expect_error("input x[1, 3, 5, 5]\nparam w[2, 2, 3, 3]\n"
               "output y = conv2d(x, w)\n",
               "conv2d: the input has 3 channels");
  expect_error("input x[1, 4, 5, 5]\nparam w[3, 2, 3, 3]\n"
               "output y = conv2d(x, w, groups=2)\n",
               "3 output channels do not split into 2 groups");
  expect_error("input x[1, 1, 2, 2]\nparam w[1, 1, 3, 3]\n"
               "output y = conv2d(x, w)\n", "smaller than the");
  expect_error("input x[1, 1, 5]\nparam w[1, 1, 3]\n"
               "output y = conv2d(x, w)\n", "conv2d takes its input as");
  expect_error("dim C\ninput x[1, C, 5]\nparam w[1, 1, 3]\n"
               "output y = conv1d(x, w)\n", "only the batch size");
  expect_error("input x[1, 1, 5]\noutput y = max_pool1d(x, 2, padding=2)\n",
               "more than half the window");
  expect_error("input x[1, 1, 5, 5]\noutput y = max_pool2d(x, [2, 2, 2])\n",
               "a list of 2");
}
END_TEST

int main(void) {
  Suite *s = suite_create("conv");
  TCase *hand = tu_tcase("by hand", 60);
  tcase_add_test(hand, conv1d_by_hand);
  tcase_add_test(hand, conv2d_by_hand);
  tcase_add_test(hand, pools_by_hand);
  tcase_add_test(hand, max_pool2d_tie_goes_to_first);
  tcase_add_test(hand, max_pool_nan_is_the_maximum);
  tcase_add_test(hand, mistakes);
  suite_add_tcase(s, hand);
  TCase *ref = tu_tcase("against the reference", 600);
  tcase_add_test(ref, conv2d_plain);
  tcase_add_test(ref, conv2d_equal_sizes);
  tcase_add_test(ref, conv2d_stride_padding);
  tcase_add_test(ref, conv2d_per_axis_lists);
  tcase_add_test(ref, conv2d_dilation);
  tcase_add_test(ref, conv2d_groups);
  tcase_add_test(ref, conv2d_depthwise);
  tcase_add_test(ref, conv2d_kernel_shapes);
  tcase_add_test(ref, conv1d_options);
  tcase_add_test(ref, pools_against_reference);
  tcase_add_test(ref, pools_1d_against_reference);
  tcase_add_test(ref, large_layers_take_the_product_path);
  tcase_add_test(ref, dim_batch_sizes);
  tcase_add_test(ref, threads_give_the_same_bits);
  tcase_add_test(ref, nested_grad_through_layers);
  suite_add_tcase(s, ref);
  return tu_run_suite(s);
}

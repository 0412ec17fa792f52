/* test_examples.c: the examples in examples/ do what the README says.
 *
 * The programs are run as a user runs them, from the build directory (next
 * to the exprc binary this suite is given) on the files in the source tree,
 * and their printed results are read back:
 *   - train fits the softmax MLP to Fisher's iris from a fixed seed to at
 *     least 95% test accuracy, with SGD and with Adam, and fits the linear
 *     and logistic models to their data;
 *   - minimize's L-BFGS reaches the Rosenbrock minimum (1, ..., 1) within
 *     1e-6;
 *   - every example model passes `exprc gradcheck`, and the Hessian-vector
 *     product and the Rosenbrock gradient agree with formulas derived by
 *     hand;
 *   - the ahead-of-time example (built by meson from `exprc emit --header`)
 *     runs, and computes the same loss as the JIT for the same values.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* ---- paths and commands ---- */

static char exprc[4096], build_dir[4096];

/* The build root is where meson puts exprc; the examples are under it.
 * Both paths are made absolute: the commands run in the source root. */
static void find_build_dir(void) {
  char cwd[2048] = ".";
  const char *given = tu_exprc();
  if (given[0] != '/' && !getcwd(cwd, sizeof cwd))
    snprintf(cwd, sizeof cwd, ".");
  snprintf(exprc, sizeof exprc, "%s%s%s", given[0] == '/' ? "" : cwd,
           given[0] == '/' ? "" : "/", given);
  snprintf(build_dir, sizeof build_dir, "%s", exprc);
  *strrchr(build_dir, '/') = 0;
}

/* Run "BUILD/examples/PROG ARGS" (ARGS naming files relative to the source
 * root with the prefix SRC/); returns its stdout, asserting the exit status. */
static char *run_example(const char *prog, const char *args, int want_rc) {
  char cmd[8192], *out = NULL, *err = NULL;
  snprintf(cmd, sizeof cmd, "cd '%s' && '%s/examples/%s' %s", tu_srcroot(),
           build_dir, prog, args);
  int rc = tu_run(cmd, &out, &err);
  ck_assert_msg(rc == want_rc, "%s exited with %d, not %d\nstdout:\n%s\nstderr:\n%s",
                cmd, rc, want_rc, out ? out : "", err ? err : "");
  free(err);
  ck_assert(out != NULL);
  return out;
}

/* The number after the last occurrence of `key` in text. */
static double number_after(const char *text, const char *key) {
  const char *at = NULL;
  for (const char *p = strstr(text, key); p; p = strstr(p + 1, key))
    at = p;
  ck_assert_msg(at != NULL, "'%s' is not in the output:\n%s", key, text);
  return strtod(at + strlen(key), NULL);
}

/* The number after the first occurrence of `key` in text. */
static double number_at(const char *text, const char *key) {
  const char *at = text ? strstr(text, key) : NULL;
  ck_assert_msg(at != NULL, "'%s' is not in the output:\n%s", key, text);
  return strtod(at + strlen(key), NULL);
}

static int count_lines_starting(const char *text, const char *prefix) {
  int n = 0;
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
    n += strncmp(p, prefix, strlen(prefix)) == 0;
  return n;
}

/* ---- train ---- */

/* The README's first command: the softmax MLP on iris, SGD, the default
 * seed. Into a pipe, train prints one plain line per epoch and ends with
 * the test accuracy, over the 30 held-out rows (20% of 150, stratified). */
START_TEST(train_softmax_mlp_on_iris_with_sgd) {
  char *out = run_example("train",
                          "examples/softmax_mlp.expr examples/data/iris.csv "
                          "--seed 2", 0);
  ck_assert_int_eq(count_lines_starting(out, "epoch "), 60);
  ck_assert_msg(strstr(out, "120 train / 30 test rows"), "%s", out);
  double acc = number_after(out, "test accuracy: ");
  ck_assert_msg(acc >= 95.0, "test accuracy %.2f%% < 95%%\n%s", acc, out);
  /* the loss of the last epoch is well below the first's (ln 3 = 1.1) */
  double first = number_at(strstr(out, "epoch    1/"), "loss ");
  double last = number_after(out, "loss ");
  ck_assert_msg(last < 0.5 * first, "loss went from %g to %g", first, last);
  free(out);
}
END_TEST

START_TEST(train_softmax_mlp_on_iris_with_adam) {
  char *out = run_example("train",
                          "examples/softmax_mlp.expr examples/data/iris.csv "
                          "--seed 2 --adam --epochs 40", 0);
  ck_assert_int_eq(count_lines_starting(out, "epoch "), 40);
  ck_assert_msg(strstr(out, "by Adam, lr 0.01"), "%s", out);
  double acc = number_after(out, "test accuracy: ");
  ck_assert_msg(acc >= 95.0, "test accuracy %.2f%% < 95%%\n%s", acc, out);
  free(out);
}
END_TEST

/* Setosa is linearly separable from the other two species (Fisher's own
 * observation), so logistic regression, one against the rest, classifies
 * every held-out row right. */
START_TEST(train_logistic_separates_setosa) {
  char *out = run_example("train",
                          "examples/logistic.expr examples/data/iris.csv "
                          "--one-vs-rest 0", 0);
  ck_assert_msg(strstr(out, "2 classes (0/1)"), "%s", out);
  ck_assert_double_eq(number_after(out, "test accuracy: "), 100.0);
  free(out);
}
END_TEST

/* Real consumption follows real disposable income closely: least squares
 * explains more than 99% of its variance on held-out quarters. */
START_TEST(train_linear_regression_on_macro_data) {
  char *out = run_example("train",
                          "examples/linear.expr examples/data/macro.csv", 0);
  ck_assert_msg(strstr(out, "a value (regression)"), "%s", out);
  ck_assert_msg(number_after(out, "test rmse: ") > 0, "%s", out);
  ck_assert_msg(number_after(out, ", r2: ") > 0.99, "%s", out);
  free(out);
}
END_TEST

/* Usage errors exit with status 2 and say what is wrong. */
START_TEST(train_rejects_bad_usage) {
  free(run_example("train", "examples/softmax_mlp.expr", 2));
  free(run_example("train", "examples/softmax_mlp.expr examples/data/iris.csv "
                            "--epochs 0", 2));
  free(run_example("train", "examples/softmax_mlp.expr examples/data/iris.csv "
                            "--bogus 1", 2));
  /* the data must fit the model: macro.csv's targets are no classes */
  free(run_example("train", "examples/softmax_mlp.expr examples/data/macro.csv",
                   1));
}
END_TEST

/* ---- minimize ---- */

/* The values of "x = [...]" after `key` in text. */
static int read_vector(const char *text, const char *key, double *x, int max) {
  const char *p = strstr(text, key);
  ck_assert_msg(p != NULL, "'%s' is not in the output:\n%s", key, text);
  p = strstr(p, "x = [");
  ck_assert(p != NULL);
  p += 5;
  int n = 0;
  while (n < max) {
    char *end;
    x[n++] = strtod(p, &end);
    if (*end != ',')
      break;
    p = end + 1;
  }
  return n;
}

START_TEST(lbfgs_reaches_the_rosenbrock_minimum) {
  char *out = run_example("minimize", "examples/rosenbrock.expr", 0);
  const char *lb = strstr(out, "L-BFGS");
  ck_assert_msg(lb != NULL, "%s", out);
  ck_assert_msg(strstr(lb, "converged after"), "%s", out);
  double x[16];
  int n = read_vector(lb, "minimum f", x, 16);
  ck_assert_int_eq(n, 6);
  for (int i = 0; i < n; i++)
    ck_assert_msg(fabs(x[i] - 1) <= 1e-6, "x[%d] = %.17g\n%s", i, x[i], out);
  /* gradient descent ran too, and L-BFGS needed far fewer evaluations */
  double gd_evals = number_at(strstr(out, "gradient descent"), "iterations, ");
  double lb_evals = number_at(lb, "iterations, ");
  ck_assert_msg(lb_evals * 10 < gd_evals, "%s", out);
  free(out);
}
END_TEST

/* The Gaussian process of the README: L-BFGS from the first guess (nll
 * 478) to a fit whose numbers a climate scientist would recognise: a
 * seasonal swing of about 3 ppm at Mauna Loa (Keeling's record) and a
 * fraction of a ppm of noise in monthly means. */
START_TEST(gaussian_process_fits_the_co2_series) {
  char *out = run_example("minimize",
                          "examples/gp.expr --method lbfgs --tol 1e-3 "
                          "--set data=@examples/data/co2_monthly.csv "
                          "--set when=@examples/data/co2_grid.csv", 0);
  ck_assert_msg(strstr(out, "converged after"), "%s", out);
  ck_assert_msg(number_after(out, "minimum f = ") < 145, "%s", out);
  double h[16];
  ck_assert_int_eq(read_vector(out, "minimum f", h, 16), 8);
  double cycle = 3 * exp(h[4]), noise = 0.3 * exp(h[7]); /* gp.expr's */
  ck_assert_msg(cycle > 2 && cycle < 3.5, "cycle %g ppm\n%s", cycle, out);
  ck_assert_msg(noise > 0.1 && noise < 0.5, "noise %g ppm\n%s", noise, out);
  free(out);
}
END_TEST

/* Levenberg-Marquardt with the model's own jacobian and solve: from a
 * guess read off a plot, a few steps to a fit whose yearly cycle is the
 * 2-3.5 ppm swing of Keeling's record, with J'r (the cost's slope) near 0
 * against the first step's 2.5e5. */
START_TEST(levenberg_marquardt_fits_the_co2_series) {
  char *out = run_example("lm_fit", "examples/lm.expr "
                          "examples/data/co2_monthly.csv", 0);
  ck_assert_msg(strstr(out, "converged: cost"), "%s", out);
  double cost = number_after(out, "converged: cost ");
  ck_assert_msg(cost < 260, "cost %g\n%s", cost, out);
  ck_assert_msg(number_after(out, "max |J'r| ") < 1e-2, "%s", out);
  const char *last = strstr(out, "converged");
  while (last > out && strncmp(last, "p = [", 5))
    last--;
  double p[5];
  ck_assert_int_eq(sscanf(last, "p = [%lf, %lf, %lf, %lf, %lf]", &p[0], &p[1],
                          &p[2], &p[3], &p[4]), 5);
  ck_assert_msg(fabs(p[3]) > 2 && fabs(p[3]) < 3.5, "cycle %g ppm\n%s", p[3],
                out);
  free(out);
}
END_TEST

/* df/dx_j = -400 x_j (x_{j+1} - x_j^2) - 2 (1 - x_j)   (j < n-1)
 *         + 200 (x_j - x_{j-1}^2)                        (j > 0),
 * at the model's start, x = -1.2 everywhere. */
START_TEST(rosenbrock_gradient_matches_the_formula) {
  char path[4200];
  snprintf(path, sizeof path, "%s/examples/rosenbrock.expr", tu_srcroot());
  exprc_model *m;
  ck_assert_msg(exprc_compile_file(path, NULL, &m) == EXPRC_OK, "%s",
                exprc_errmsg(m));
  exprc_tensor x = tu_grad(m, "f", "x"), px;
  ck_assert(exprc_find(m, "x", &px) == EXPRC_OK);
  double want[6];
  for (int j = 0; j < 6; j++) {
    const double *v = px.data;
    want[j] = 0;
    if (j < 5)
      want[j] += -400 * v[j] * (v[j + 1] - v[j] * v[j]) - 2 * (1 - v[j]);
    if (j > 0)
      want[j] += 200 * (v[j] - v[j - 1] * v[j - 1]);
    ck_assert_double_eq(v[j], -1.2);
  }
  tu_assert_close(x.data, want, 6, 1e-13, "df/dx");
  exprc_free(m);
}
END_TEST

/* ---- gradcheck of every example model ---- */

static void gradcheck(const char *model, const char *sets) {
  char cmd[8192], *out = NULL, *err = NULL;
  snprintf(cmd, sizeof cmd, "cd '%s' && '%s' gradcheck examples/%s %s",
           tu_srcroot(), exprc, model, sets);
  int rc = tu_run(cmd, &out, &err);
  ck_assert_msg(rc == 0, "%s: status %d\n%s%s", cmd, rc, out ? out : "",
                err ? err : "");
  /* "K of K gradients agree": every one, and at least one */
  char *agree = out ? strstr(out, " gradients agree") : NULL;
  ck_assert_msg(agree != NULL, "%s", out ? out : "");
  int k = 0, n = 0;
  const char *line = agree;
  while (line > out && line[-1] != '\n')
    line--;
  ck_assert_int_eq(sscanf(line, "%d of %d", &k, &n), 2);
  ck_assert_msg(k == n && n > 0, "%s", out);
  free(out);
  free(err);
}

START_TEST(every_example_passes_gradcheck) {
  gradcheck("mlp.expr", "--set x=[5.1,3.5,1.4,0.2] --set y=[1,0,0]");
  gradcheck("softmax_mlp.expr",
            "--set 'x=[[5.1,3.5,1.4,0.2],[6.4,3.2,4.5,1.5],[6.3,3.3,6.0,2.5]]'"
            " --set 'y=[[1,0,0],[0,1,0],[0,0,1]]' --seed 3");
  gradcheck("linear.expr",
            "--set 'x=[[1,0.5,-1,2],[0.3,-0.2,0.8,1],[-1,1,0,0.5]]'"
            " --set 'y=[[1.5],[-0.5],[2]]' --set 'w=[[0.1],[-0.2],[0.3],[0.4]]'"
            " --set b=0.25");
  gradcheck("logistic.expr",
            "--set 'x=[[1,0.5,-1,2],[0.3,-0.2,0.8,1],[-1,1,0,0.5]]'"
            " --set 'y=[[1],[0],[1]]' --set 'w=[[0.1],[-0.2],[0.3],[0.4]]'"
            " --set b=-0.3");
  gradcheck("char_ngram.expr", /* integer ids: "The", " GN", "he " */
            "--set 'ctx=[[84,104,101],[32,71,78],[104,101,32]]'"
            " --set 'next=[[32],[85],[71]]'");
  gradcheck("rosenbrock.expr", "");
  /* K is ill-conditioned (a 60 ppm trend over 0.3 ppm of noise): rounding
   * in the likelihood swamps differences at the default step of 6e-6 */
  gradcheck("gp.expr", "--set data=@examples/data/co2_monthly.csv "
                       "--set when=@examples/data/co2_grid.csv --eps 1e-3");
  gradcheck("rosenbrock.expr", "--set 'x=[0.5,-0.3,1.1,0.9,2,-1]'");
  gradcheck("hvp.expr",
            "--set 'x=[[1,2,0.5],[0.3,-1,2],[0,1,1],[-1,-0.5,0.2],[2,0.1,-0.3]]'"
            " --set 't=[1,-1,1,-1,1]' --set 'v=[0.3,-0.7,1.1]' --seed 4");
}
END_TEST

/* ---- the attention block ---- */

/* Causal: the output at position t depends on the inputs at positions up
 * to t only. Changing x at the last position of a sequence changes its
 * output there and nowhere before, and no other sequence of the batch.
 * At B = 2, T = 3 and at B = T = 1 (dims bound by the data). */
START_TEST(attention_is_causal_and_batched) {
  char path[4200];
  snprintf(path, sizeof path, "%s/examples/attention.expr", tu_srcroot());
  exprc_model *m;
  ck_assert_msg(exprc_compile_file(path, NULL, &m) == EXPRC_OK, "%s",
                exprc_errmsg(m));
  uint64_t st = 5;
  double x[2 * 3 * 64], tg[2 * 3 * 64], before[2 * 3 * 64];
  for (int i = 0; i < 2 * 3 * 64; i++)
    x[i] = tu_uniform(&st, -1, 1), tg[i] = tu_uniform(&st, -1, 1);
  tu_set(m, "x", x, 3, (int64_t)2, (int64_t)3, (int64_t)64);
  tu_set(m, "target", tg, 3, (int64_t)2, (int64_t)3, (int64_t)64);
  memcpy(before, tu_output(m, "out").data, sizeof before);
  x[2 * 64 + 5] += 0.5; /* sequence 0, position 2 (the last) */
  tu_set(m, "x", x, 3, (int64_t)2, (int64_t)3, (int64_t)64);
  exprc_tensor out = tu_output(m, "out");
  for (int i = 0; i < 2 * 3 * 64; i++) {
    int seq = i / (3 * 64), pos = i / 64 % 3;
    if (seq == 0 && pos == 2)
      continue;
    ck_assert_msg(out.data[i] == before[i], "out[%d][%d] changed", seq, pos);
  }
  ck_assert(out.data[2 * 64] != before[2 * 64]);
  tu_gradcheck(m, "loss", 1e-5);
  tu_set(m, "x", x, 3, (int64_t)1, (int64_t)1, (int64_t)64);
  tu_set(m, "target", tg, 3, (int64_t)1, (int64_t)1, (int64_t)64);
  tu_gradcheck(m, "loss", 1e-5);
  exprc_free(m);
}
END_TEST

/* ---- the Hessian-vector product by hand ---- */

/* L = sum_i log(1 + exp(-t_i a_i)), a_i = x_i . w, t_i = +-1, has
 * H = sum_i s_i (1 - s_i) x_i x_i^T with s_i = sigmoid(-t_i a_i), so
 * H v = sum_i s_i (1 - s_i) (x_i . v) x_i. Both the output Hv and the
 * entry point `grad gv wrt w` must give it. */
START_TEST(hessian_vector_product_matches_the_formula) {
  char path[4200];
  snprintf(path, sizeof path, "%s/examples/hvp.expr", tu_srcroot());
  exprc_model *m;
  ck_assert_msg(exprc_compile_file(path, NULL, &m) == EXPRC_OK, "%s",
                exprc_errmsg(m));
  double x[15] = {1, 2, 0.5, 0.3, -1, 2, 0, 1, 1, -1, -0.5, 0.2, 2, 0.1, -0.3};
  double t[5] = {1, -1, 1, -1, 1}, v[3] = {0.3, -0.7, 1.1};
  double w[3] = {0.4, -0.25, 0.6}, want[3] = {0, 0, 0};
  tu_set(m, "x", x, 2, (int64_t)5, (int64_t)3);
  tu_set(m, "t", t, 1, (int64_t)5);
  tu_set(m, "v", v, 1, (int64_t)3);
  tu_set(m, "w", w, 1, (int64_t)3);
  for (int i = 0; i < 5; i++) {
    const double *xi = x + 3 * i;
    double a = xi[0] * w[0] + xi[1] * w[1] + xi[2] * w[2];
    double s = 1 / (1 + exp(t[i] * a)); /* sigmoid(-t a) */
    double xv = xi[0] * v[0] + xi[1] * v[1] + xi[2] * v[2];
    for (int j = 0; j < 3; j++)
      want[j] += s * (1 - s) * xv * xi[j];
  }
  exprc_tensor hv = tu_output(m, "Hv");
  tu_assert_close(hv.data, want, 3, 1e-12, "Hv (output)");
  exprc_tensor g = tu_grad(m, "gv", "w");
  tu_assert_close(g.data, want, 3, 1e-12, "dgv/dw (entry point)");
  exprc_free(m);
}
END_TEST

/* ---- ahead of time ---- */

/* aot_demo's formula: value k of tensor number `which` (x 0, W1 1, b1 2,
 * W2 3, b2 4) is sin(0.7 k + 0.3 + which); y is one-hot, row i class i%3. */
static void aot_fill(exprc_model *m, const char *name, int which, int rank,
                     int64_t d0, int64_t d1) {
  int64_t n = rank == 2 ? d0 * d1 : d0, shape[2] = {d0, d1};
  double *v = malloc((size_t)n * sizeof *v);
  for (int64_t k = 0; k < n; k++)
    v[k] = sin(0.7 * (double)k + 0.3 + which);
  ck_assert(exprc_set(m, name, v, rank, shape) == EXPRC_OK);
  free(v);
}

/* The AOT binary (softmax_mlp.c from `exprc emit --header`, compiled by the
 * system compiler, no libtcc) checks itself and prints its loss; the JIT
 * must compute the same loss from the same values. */
START_TEST(aot_example_runs_and_agrees_with_the_jit) {
  char *out = run_example("aot_demo", "", 0);
  ck_assert_msg(strstr(out, "\nok\n"), "%s", out);
  double aot = number_after(out, "loss = ");
  char path[4200];
  snprintf(path, sizeof path, "%s/examples/softmax_mlp.expr", tu_srcroot());
  exprc_model *m;
  ck_assert(exprc_compile_file(path, NULL, &m) == EXPRC_OK);
  double y[15] = {0};
  for (int i = 0; i < 5; i++)
    y[i * 3 + i % 3] = 1;
  aot_fill(m, "x", 0, 2, 5, 4);
  tu_set(m, "y", y, 2, (int64_t)5, (int64_t)3);
  aot_fill(m, "W1", 1, 2, 4, 16);
  aot_fill(m, "b1", 2, 1, 16, 0);
  aot_fill(m, "W2", 3, 2, 16, 3);
  aot_fill(m, "b2", 4, 1, 3, 0);
  double jit = tu_output(m, "loss").data[0];
  ck_assert_msg(fabs(aot - jit) <= 1e-12 * fabs(jit), "AOT %.17g, JIT %.17g",
                aot, jit);
  exprc_free(m);
  free(out);
}
END_TEST

/* `emit --header` writes the same C as plain `emit`: the header describes
 * exactly the code the JIT runs. */
START_TEST(emit_with_header_writes_the_same_c) {
  char *c1 = tu_temp_file("", ".c"), *h = tu_temp_file("", ".h");
  char cmd[8192], *plain = NULL;
  snprintf(cmd, sizeof cmd, "cd '%s' && '%s' emit examples/softmax_mlp.expr",
           tu_srcroot(), exprc);
  ck_assert_int_eq(tu_run(cmd, &plain, NULL), 0);
  snprintf(cmd, sizeof cmd,
           "cd '%s' && '%s' emit examples/softmax_mlp.expr -o '%s' --header '%s'",
           tu_srcroot(), exprc, c1, h);
  ck_assert_int_eq(tu_run(cmd, NULL, NULL), 0);
  char *with = tu_read_file(c1), *hdr = tu_read_file(h);
  ck_assert(with && hdr && plain);
  ck_assert_str_eq(with, plain);
  /* and the header names what a caller needs */
  ck_assert(strstr(hdr, "#define XC_PARAM_W1 "));
  ck_assert(strstr(hdr, "#define XC_GRAD_loss_W1 "));
  ck_assert(strstr(hdr, "#define XC_DIM_N 0"));
  ck_assert(strstr(hdr, "void xc_grad_1(const long *D, double *const *S);"));
  remove(c1);
  remove(h);
  free(c1);
  free(h);
  free(with);
  free(hdr);
  free(plain);
}
END_TEST

int main(int argc, char **argv) {
  tu_set_paths(argc, argv);
  find_build_dir();
  Suite *s = suite_create("examples");
  TCase *tr = tu_tcase("train", 240);
  tcase_add_test(tr, train_softmax_mlp_on_iris_with_sgd);
  tcase_add_test(tr, train_softmax_mlp_on_iris_with_adam);
  tcase_add_test(tr, train_logistic_separates_setosa);
  tcase_add_test(tr, train_linear_regression_on_macro_data);
  tcase_add_test(tr, train_rejects_bad_usage);
  suite_add_tcase(s, tr);
  TCase *mi = tu_tcase("minimize", 240);
  tcase_add_test(mi, lbfgs_reaches_the_rosenbrock_minimum);
  tcase_add_test(mi, rosenbrock_gradient_matches_the_formula);
  tcase_add_test(mi, gaussian_process_fits_the_co2_series);
  tcase_add_test(mi, levenberg_marquardt_fits_the_co2_series);
  suite_add_tcase(s, mi);
  TCase *gc = tu_tcase("gradients", 240);
  tcase_add_test(gc, every_example_passes_gradcheck);
  tcase_add_test(gc, hessian_vector_product_matches_the_formula);
  tcase_add_test(gc, attention_is_causal_and_batched);
  suite_add_tcase(s, gc);
  TCase *ao = tu_tcase("ahead of time", 240);
  tcase_add_test(ao, aot_example_runs_and_agrees_with_the_jit);
  tcase_add_test(ao, emit_with_header_writes_the_same_c);
  suite_add_tcase(s, ao);
  return tu_run_suite(s);
}

/* lm_fit.c: Levenberg-Marquardt on a model that gives its own step.
 *
 *   lm_fit [MODEL.expr [DATA.csv]]   (default: examples/lm.expr and
 *                                     examples/data/co2_monthly.csv)
 *
 * The model (examples/lm.expr) computes, for the params p and a damping
 * lam, the cost r'r / 2 and the step of the damped Gauss-Newton equations
 * (J'J + lam diag(J'J)) step = J'r, with J = jacobian(r, p) and solve():
 * everything a least-squares fit needs from the derivatives. This program
 * is the rest of Marquardt's method: take the step when the cost falls
 * (and trust the model more: lam / 10), else keep p and damp (lam * 10),
 * until the cost stops falling. Only exprc.h and libc are used.
 */
#include <exprc.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#define NP 5

/* The cost and step at p, lam (step may be NULL); 0 on failure. */
static int eval(exprc_model *m, const double *p, double lam, double *cost,
                double *step) {
  exprc_tensor tp, tc, ts;
  if (exprc_find(m, "p", &tp) != EXPRC_OK ||
      exprc_set(m, "lam", &lam, 0, NULL) != EXPRC_OK)
    return 0;
  memcpy(tp.data, p, NP * sizeof *p);
  if (exprc_forward(m) != EXPRC_OK || exprc_find(m, "cost", &tc) != EXPRC_OK ||
      exprc_find(m, "step", &ts) != EXPRC_OK)
    return 0;
  *cost = tc.data[0];
  if (step)
    memcpy(step, ts.data, NP * sizeof *step);
  return 1;
}

static void show(int it, double cost, double lam, const double *p) {
  printf("%4d  cost %-14.8g lam %-9.2g p = [%.6g, %.6g, %.6g, %.6g, %.6g]\n",
         it, cost, lam, p[0], p[1], p[2], p[3], p[4]);
}

/* Marquardt's loop from p (updated in place); 0 on failure. */
static int fit(exprc_model *m, double *p) {
  double lam = 1e-2, cost, step[NP], trial[NP], tcost;
  if (!eval(m, p, lam, &cost, step))
    return 0;
  show(0, cost, lam, p);
  for (int it = 1; it <= 200; it++) {
    for (int i = 0; i < NP; i++)
      trial[i] = p[i] - step[i];
    if (!eval(m, trial, lam, &tcost, NULL))
      return 0;
    if (tcost < cost) { /* accepted: a smaller damping next */
      int tiny = cost - tcost <= 1e-12 * cost;
      memcpy(p, trial, sizeof trial);
      cost = tcost, lam /= 10;
      show(it, cost, lam, p);
      if (tiny)
        break;
    } else if ((lam *= 10) > 1e12) { /* no step helps: a minimum */
      break;
    }
    if (!eval(m, p, lam, &cost, step))
      return 0;
  }
  exprc_tensor g;
  exprc_find(m, "slope", &g);
  printf("converged: cost %.10g, max |J'r| %.3g\n", cost, g.data[0]);
  return 1;
}

int main(int argc, char **argv) {
  const char *model = argc > 1 ? argv[1] : "examples/lm.expr";
  const char *data = argc > 2 ? argv[2] : "examples/data/co2_monthly.csv";
  if (argc > 3 || (argc > 1 && argv[1][0] == '-')) {
    fputs("usage: lm_fit [MODEL.expr [DATA.csv]]\n", stderr);
    return 2;
  }
  exprc_model *m;
  if (exprc_compile_file(model, NULL, &m) != EXPRC_OK) {
    fputs(exprc_errmsg(m), stderr);
    exprc_free(m);
    return 1;
  }
  /* a level of 300 ppm, 40 ppm more by 1980, rising 15% a decade, a
   * 3 ppm yearly cycle: a first guess anyone could make from a plot */
  double p[NP] = {300, 40, 0.15, 3, 0};
  int ok = exprc_set_file(m, "data", data) == EXPRC_OK && fit(m, p);
  if (!ok)
    fprintf(stderr, "lm_fit: %s\n", exprc_errmsg(m));
  exprc_free(m);
  return ok ? 0 : 1;
}

/* cli_gradcheck.c: `exprc gradcheck`: every requested gradient against
 * finite differences of the loss, through the public API alone.
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- gradcheck ---- */

/* The default step, relative to max(1, |x|): about the cube root of the
 * float64 epsilon (6.06e-6), where the truncation error of a central
 * difference (~h^2) and its rounding error (~eps/h) are about equal. */
#define GC_EPS 6e-6
#define GC_TOL 1e-4 /* the default relative tolerance */
/* A float32 model: the step is the cube root of the float32 epsilon
 * (2^-23), 4.9e-3, for the same balance, and the tolerance grows with the
 * step, tol = 16.5 h (1e-4 = 16.5 * 6.06e-6 for float64): the rounding
 * error of the difference is eps |L| / h = h^2 |L|, and the loss itself,
 * stored in float, carries a few float roundings, so the float64 margin
 * becomes 8e-2 (on examples/mlp.expr the worst element is at 4e-2: see
 * tests/test_f32.c, which also checks that a wrong gradient still fails). */
#define GC_EPS_F32 4.9e-3
#define GC_TOL_F32 8e-2

/* One gradient tensor under check, and the counts of its elements. */
typedef struct GCheck {
  exprc_model *m;
  const char *loss;
  const exprc_tensor *g;
  double *x;                /* the param's or input's values */
  double eps, tol, floor;   /* floor: see gc_rel */
  double tensor_floor;      /* floor without the loss's rounding */
  double loss_round;        /* 16 u |L|: a bound on the loss's rounding */
  int64_t checked, passed, kinks, failed;
  double worst;             /* the largest error of elements not at a kink */
} GCheck;

/* The finite differences at one element: central, and second-order
 * one-sided to the left and to the right (NaN when not needed). */
typedef struct GDiff {
  double ana, central, left, right, err;
} GDiff;

/* The loss of entry `loss` at the current values. */
static double loss_at(exprc_model *m, const char *loss) {
  exprc_tensor t;
  exprc_seed_draws(m, 0); /* a model that draws: the same draws each time */
  if (exprc_gradient(m, loss) != EXPRC_OK) /* --check-finite stopped it */
    return NAN;
  for (int i = 0; i < exprc_count(m, EXPRC_LOSS); i++) {
    exprc_get(m, EXPRC_LOSS, i, &t);
    if (strcmp(t.name, loss) == 0)
      return t.data[0];
  }
  return NAN;
}

/* The loss with element i moved from x0 by k steps of h. A float32 model
 * rounds x0 + k h to float before it runs (and its view then holds that):
 * *moved is the step it took. */
static double loss_moved(GCheck *C, int64_t i, double x0, double h, int k,
                         double *moved) {
  C->x[i] = x0 + k * h;
  double l = loss_at(C->m, C->loss);
  *moved = C->x[i] - x0;
  C->x[i] = x0;
  return l;
}

/* The relative difference of a and b, measured against the larger of the
 * two but never against less than the floor (1e-3 of the tensor's largest
 * analytic value, at least 1e-6; or, if larger, the slope that the loss's
 * own rounding fakes over the step, 16 u |L| / h: a bound of a few
 * roundings of L, u = 2^-53 or 2^-24 for float32, which matters for float32
 * only), so that values that are zero up to rounding do not count as
 * disagreeing. NaN compares as infinitely far. */
static double gc_rel(const GCheck *C, double a, double b) {
  double e = fabs(a - b) / fmax(C->floor, fmax(fabs(a), fabs(b)));
  return e == e ? e : INFINITY;
}

/* Second-order one-sided differences, from x0 and two steps to one side
 * (error ~h^2, like the central one, so on a smooth loss the two sides
 * agree as closely as the central difference does; first-order ones would
 * differ by h * L'' and make every curved loss look like a kink). */
static void gc_one_sided(GCheck *C, int64_t i, double x0, double h, GDiff *d) {
  double l0 = loss_at(C->m, C->loss), k;  /* the steps: k h up to rounding */
  double r1 = loss_moved(C, i, x0, h, 1, &k), r2 = loss_moved(C, i, x0, h, 2, &k);
  double l1 = loss_moved(C, i, x0, h, -1, &k), l2 = loss_moved(C, i, x0, h, -2, &k);
  d->right = (-3 * l0 + 4 * r1 - r2) / (2 * h);
  d->left = (3 * l0 - 4 * l1 + l2) / (2 * h);
}

/* Check element i: 0 if it passes, 1 if it is at a kink, 2 if it fails.
 * A kink: the central difference disagrees, the left and right slopes
 * disagree with each other, and the analytic value is one of them or lies
 * between them (a subgradient, as relu'(0) = 0 or maximum's half-and-half
 * tie are). A wrong gradient away from kinks has left = right != analytic
 * and still fails. */
static int gc_element(GCheck *C, int64_t i, GDiff *d) {
  double x0 = C->x[i], h = C->eps * fmax(1.0, fabs(x0));
  volatile double xh = x0 + h; /* a step that is exact in binary */
  h = xh - x0;
  /* a difference of the loss cannot resolve slopes below its rounding
     over the step: a float32 loss's ulps, 5e-5 of |L| at h = 4.9e-3 */
  C->floor = fmax(C->tensor_floor, C->loss_round / h);
  d->left = d->right = NAN;
  double up, down, lu = loss_moved(C, i, x0, h, 1, &up);
  double ld = loss_moved(C, i, x0, h, -1, &down);
  d->central = (lu - ld) / (up - down); /* float64: (lu - ld) / 2h */
  d->err = gc_rel(C, d->central, d->ana);
  if (d->err <= C->tol)
    return 0;
  gc_one_sided(C, i, x0, h, d);
  int between = fmin(d->left, d->right) <= d->ana && d->ana <= fmax(d->left, d->right);
  if (gc_rel(C, d->left, d->right) > C->tol &&
      (between || gc_rel(C, d->ana, d->left) <= C->tol ||
       gc_rel(C, d->ana, d->right) <= C->tol))
    return 1;
  return 2;
}

/* Print the first 5 kinks and failures of a tensor, and a count of the rest. */
static void gc_report(GCheck *C, int64_t i, int verdict, const GDiff *d) {
  int64_t seen = verdict == 1 ? C->kinks : C->failed;
  if (seen == 6)
    printf("  d%s/d%s: more elements %s not shown\n", C->loss, C->g->name,
           verdict == 1 ? "at a kink" : "that fail");
  if (seen > 5)
    return;
  printf("  d%s/d%s[%lld]: %sanalytic %.10g, finite differences %.10g "
         "(left %.10g, right %.10g)\n", C->loss, C->g->name, (long long)i,
         verdict == 1 ? "at a kink: " : "", d->ana, d->central, d->left, d->right);
}

/* Compare dL/dp with finite differences of L at each element of p (a
 * spread of at most 64 elements of large tensors). */
static void check_one(GCheck *C) {
  exprc_tensor p;
  exprc_find(C->m, C->g->name, &p);
  double *ana = malloc((size_t)(C->g->size ? C->g->size : 1) * sizeof *ana);
  if (!ana) {
    C->failed++;
    return;
  }
  exprc_seed_draws(C->m, 0); /* the draws of every loss_at */
  exprc_gradient(C->m, C->loss);
  memcpy(ana, C->g->data, (size_t)C->g->size * sizeof *ana);
  double scale = 0;
  for (int64_t i = 0; i < C->g->size; i++)
    scale = fmax(scale, fabs(ana[i]));
  C->tensor_floor = fmax(1e-6, 1e-3 * scale);
  double u = exprc_model_dtype(C->m) == EXPRC_FLOAT32 ? 0x1p-24 : 0x1p-53;
  C->loss_round = 16 * u * fabs(loss_at(C->m, C->loss));
  C->x = p.data;
  int64_t step = p.size > 64 ? p.size / 64 : 1;
  for (int64_t i = 0; i < p.size; i += step) {
    GDiff d = {.ana = ana[i]};
    int verdict = gc_element(C, i, &d);
    C->checked++;
    *(verdict == 0 ? &C->passed : verdict == 1 ? &C->kinks : &C->failed) += 1;
    if (verdict != 1 && d.err > C->worst)
      C->worst = d.err;
    if (verdict)
      gc_report(C, i, verdict, &d);
  }
  free(ana);
}

int cmd_gradcheck(const Args *a) {
  int rc = 0, failed = 0;
  exprc_model *m = cli_compile(a, &rc);
  if (!m)
    return rc;
  if ((rc = cli_apply_sets(m, a)) != 0 || (rc = cli_run_all(m)) != 0) {
    exprc_free(m);
    return rc;
  }
  int n = exprc_count(m, EXPRC_GRADIENT);
  int64_t checked = 0, passed = 0, kinks = 0, bad = 0;
  int f32 = exprc_model_dtype(m) == EXPRC_FLOAT32;
  double eps = a->eps ? a->eps : f32 ? GC_EPS_F32 : GC_EPS;
  double tol = a->tol ? a->tol : f32 ? GC_TOL_F32 : GC_TOL;
  for (int i = 0; i < n; i++) {
    exprc_tensor g;
    exprc_get(m, EXPRC_GRADIENT, i, &g);
    GCheck C = {.m = m, .loss = g.loss, .g = &g, .eps = eps, .tol = tol};
    check_one(&C);
    printf("%s d%s/d%s: max relative error %.2e", C.failed ? "FAIL" : "ok  ",
           g.loss, g.name, C.worst);
    if (C.kinks)
      printf(" (%lld at a kink)", (long long)C.kinks);
    printf("\n");
    failed += C.failed > 0;
    checked += C.checked, passed += C.passed, kinks += C.kinks, bad += C.failed;
  }
  printf("%d of %d gradients agree with finite differences\n", n - failed, n);
  printf("checked %lld element%s: %lld passed, %lld at a kink, %lld failed "
         "(eps %g, tol %g)\n", (long long)checked, checked == 1 ? "" : "s",
         (long long)passed,
         (long long)kinks, (long long)bad, eps, tol);
  exprc_free(m);
  return failed ? 1 : 0;
}

/* hand_rosen.c: the hand-written Rosenbrock function and gradient (W3), one
 * loop each, as in any optimisation textbook; the baseline for exprc's
 * vector-form model bench/models/w3_rosenbrock.expr. No headers, so that
 * bench can compile it with libtcc as well as gcc (tcc_hand.c). */
#include "hand.h"

void rosen_f(void *arg) {
  Rosen *r = arg;
  const double *x = r->x;
  double s = 0;
  for (long i = 0; i + 1 < r->n; i++) {
    double t = x[i + 1] - x[i] * x[i], u = 1 - x[i];
    s += 100 * t * t + u * u;
  }
  r->f = s;
}

void rosen_grad(void *arg) {
  Rosen *r = arg;
  const double *x = r->x;
  double *g = r->g, s = 0;
  for (long i = 0; i < r->n; i++) /* no headers: libtcc compiles this too */
    g[i] = 0;
  for (long i = 0; i + 1 < r->n; i++) {
    double t = x[i + 1] - x[i] * x[i], u = 1 - x[i];
    s += 100 * t * t + u * u;
    g[i] += -400 * t * x[i] - 2 * u;
    g[i + 1] += 200 * t;
  }
  r->f = s;
}

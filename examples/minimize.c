/* minimize.c: minimise a function written in .expr, by gradient descent and
 * by L-BFGS, with the exact gradients exprc generates.
 *
 *   minimize MODEL.expr [--iters N] [--tol X] [--memory M]
 *            [--method gd|lbfgs|both] [--set NAME=@FILE]... [--save DIR]
 *
 * The model's first `grad f wrt x` names the function (a scalar) and the one
 * param it is minimised over; the param's initializer is the starting point.
 * The model's inputs (data) are read from files with --set; --save writes
 * every param, as the last method left it, to DIR/NAME.npy, for `exprc run
 * --set x=@DIR/x.npy` (examples/gp.expr fits a Gaussian process this way).
 * examples/rosenbrock.expr is the classic test: a curved valley where plain
 * gradient descent crawls and L-BFGS, which builds a picture of the
 * curvature from the last M steps, runs to the minimum at (1, 1, ..., 1).
 *
 * Both methods use the same backtracking line search: try a step, and while
 * it does not decrease f enough (the Armijo condition f(x + a d) <= f(x) +
 * c a g.d) shrink it, to the minimiser of the quadratic through f(x), g.d and
 * f(x + a d), kept within [0.1 a, 0.5 a]. Only exprc.h and libc are used.
 */
#include <exprc.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SETS 16

typedef struct Opts {
  const char *model;
  long iters;     /* per method */
  double tol;     /* stop when max |grad_i| is below this */
  int memory;     /* L-BFGS pairs kept */
  int methods;    /* bit 0: gradient descent, bit 1: L-BFGS */
  const char *set[MAX_SETS]; /* NAME=@FILE */
  int nset;
  const char *save; /* a directory, or NULL */
} Opts;

/* The function: f and its gradient at the param's current value. */
typedef struct Fn {
  exprc_model *m;
  const char *f, *x;
  int64_t n;
  long evals;
} Fn;

/* ---- small vector helpers ---- */

static double dot(const double *a, const double *b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++)
    s += a[i] * b[i];
  return s;
}

static double max_abs(const double *a, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++)
    s = fmax(s, fabs(a[i]));
  return s;
}

/* ---- the model ---- */

static double *param(Fn *fn) {
  exprc_tensor t;
  exprc_find(fn->m, fn->x, &t);
  return t.data;
}

/* f(x) into *f and its gradient into g; 0 when exprc fails. A point where
 * the data make the model fail numerically (a matrix that stops being
 * positive definite far from the start) has f = +inf: the line search then
 * steps back, as it would from any worse point. */
static int eval(Fn *fn, const double *x, double *f, double *g) {
  exprc_tensor loss, grad;
  memcpy(param(fn), x, (size_t)fn->n * sizeof *x);
  fn->evals++;
  exprc_status st = exprc_gradient(fn->m, fn->f);
  if (st == EXPRC_ERR_NUMERIC) {
    *f = INFINITY;
    return 1;
  }
  if (st != EXPRC_OK ||
      exprc_get(fn->m, EXPRC_LOSS, 0, &loss) != EXPRC_OK ||
      exprc_find_grad(fn->m, fn->f, fn->x, &grad) != EXPRC_OK) {
    fprintf(stderr, "minimize: %s\n", exprc_errmsg(fn->m));
    return 0;
  }
  *f = loss.data[0];
  memcpy(g, grad.data, (size_t)fn->n * sizeof *g);
  return 1;
}

static int open_fn(Fn *fn, const Opts *o) {
  exprc_tensor t, p;
  memset(fn, 0, sizeof *fn);
  if (exprc_compile_file(o->model, NULL, &fn->m) != EXPRC_OK) {
    fputs(exprc_errmsg(fn->m), stderr);
    return 0;
  }
  for (int i = 0; i < o->nset; i++) {
    char name[64];
    const char *eq = strchr(o->set[i], '=');
    size_t len = (size_t)(eq - o->set[i]);
    snprintf(name, sizeof name, "%.*s", (int)(len < 63 ? len : 63), o->set[i]);
    if (exprc_set_file(fn->m, name, eq + 1 + (eq[1] == '@')) != EXPRC_OK) {
      fprintf(stderr, "minimize: %s\n", exprc_errmsg(fn->m));
      return 0;
    }
  }
  if (exprc_get(fn->m, EXPRC_LOSS, 0, &t) != EXPRC_OK) {
    fprintf(stderr, "minimize: %s needs a `grad f wrt x`\n", o->model);
    return 0;
  }
  fn->f = t.name;
  for (int i = 0; i < exprc_count(fn->m, EXPRC_GRADIENT); i++) {
    exprc_get(fn->m, EXPRC_GRADIENT, i, &t);
    if (strcmp(t.loss, fn->f) == 0 &&
        exprc_find(fn->m, t.name, &p) == EXPRC_OK && p.kind == EXPRC_PARAM) {
      fn->x = t.name;
      fn->n = p.size;
      return 1;
    }
  }
  fprintf(stderr, "minimize: `grad %s` is taken wrt no param\n", fn->f);
  return 0;
}

/* ---- line search ---- */

typedef struct Point {
  double *x, *g, f;
} Point;

/* Backtrack from step a along d from p into q. Returns the step taken, or 0
 * when no step decreases f (d is no descent direction, or rounding). */
static double line_search(Fn *fn, const Point *p, const double *d, double a,
                          Point *q) {
  const double c = 1e-4;
  double slope = dot(p->g, d, fn->n);
  if (!(slope < 0))
    return 0;
  for (int tries = 0; tries < 60; tries++) {
    for (int64_t i = 0; i < fn->n; i++)
      q->x[i] = p->x[i] + a * d[i];
    if (!eval(fn, q->x, &q->f, q->g))
      return 0;
    if (q->f < p->f && q->f <= p->f + c * a * slope)
      return a; /* a step that changes nothing is no progress: stop */
    /* the minimiser of the quadratic through the three facts we have */
    double t = -slope * a * a / (2 * (q->f - p->f - slope * a));
    a = t == t ? fmin(fmax(t, 0.1 * a), 0.5 * a) : 0.5 * a; /* inf: 0.1 a */
  }
  return 0;
}

/* ---- reporting ---- */

/* Print iterations 0, 1, 2, 4, 8, ... and the last. */
static void trace(long it, const Point *p, int64_t n, double step, int last) {
  if (!last && (it & (it - 1)) != 0)
    return;
  printf("  %7ld  %22.15e  %10.3e  %9.3e\n", it, p->f, max_abs(p->g, n), step);
}

/* The last iteration, unless trace printed it already. */
static void trace_end(long it, const Point *p, int64_t n, double step,
                      long limit) {
  if (it != limit && (it & (it - 1)) != 0)
    trace(it, p, n, step, 1);
}

static void summary(const char *how, long it, const Fn *fn, const Point *p) {
  printf("  %s after %ld iterations, %ld evaluations\n", how, it, fn->evals);
  printf("  minimum f = %.6e at x = [", p->f);
  for (int64_t i = 0; i < fn->n; i++)
    printf("%s%.12g", i ? ", " : "", p->x[i]);
  printf("]\n");
}

/* ---- gradient descent ---- */

static void swap_points(Point *a, Point *b) {
  Point t = *a;
  *a = *b;
  *b = t;
}

/* Steepest descent; the next trial step is twice the last accepted one. */
static void gradient_descent(Fn *fn, const Opts *o, Point *p, Point *q,
                             double *d) {
  double a = 1, last = 0;
  long it = 0;
  const char *how = "stopped at the iteration limit";
  printf("gradient descent (backtracking line search):\n"
         "     iter                       f   max|grad|       step\n");
  trace(0, p, fn->n, 0, 0);
  while (it < o->iters) {
    if (max_abs(p->g, fn->n) < o->tol) {
      how = "converged";
      break;
    }
    for (int64_t i = 0; i < fn->n; i++)
      d[i] = -p->g[i];
    if ((a = line_search(fn, p, d, 2 * a, q)) == 0) {
      how = "stopped: no step decreases f";
      break;
    }
    swap_points(p, q);
    it++;
    trace(it, p, fn->n, last = a, it == o->iters);
  }
  trace_end(it, p, fn->n, last, o->iters);
  summary(how, it, fn, p);
}

/* ---- L-BFGS ---- */

typedef struct History {
  int m, len, head;   /* capacity, pairs stored, next to overwrite */
  double **s, **y, *rho;
} History;

/* d = -H g by the two-loop recursion (Nocedal and Wright, algorithm 7.4),
 * with the initial H scaled by s.y / y.y of the newest pair. */
static void two_loop(const History *h, const double *g, double *d, double *al,
                     int64_t n) {
  for (int64_t i = 0; i < n; i++)
    d[i] = -g[i];
  for (int k = 0; k < h->len; k++) {
    int j = (h->head - 1 - k + h->m) % h->m;
    al[j] = h->rho[j] * dot(h->s[j], d, n);
    for (int64_t i = 0; i < n; i++)
      d[i] -= al[j] * h->y[j][i];
  }
  if (h->len) {
    int j = (h->head - 1 + h->m) % h->m;
    double gamma = 1 / (h->rho[j] * dot(h->y[j], h->y[j], n));
    for (int64_t i = 0; i < n; i++)
      d[i] *= gamma;
  }
  for (int k = h->len - 1; k >= 0; k--) {
    int j = (h->head - 1 - k + h->m) % h->m;
    double b = h->rho[j] * dot(h->y[j], d, n);
    for (int64_t i = 0; i < n; i++)
      d[i] += (al[j] - b) * h->s[j][i];
  }
}

/* Keep the pair (s, y) of the step from p to q, if the curvature s.y is
 * positive: otherwise the update would make H lose positive definiteness. */
static void remember(History *h, const Point *p, const Point *q, int64_t n) {
  double *s = h->s[h->head], *y = h->y[h->head];
  for (int64_t i = 0; i < n; i++) {
    s[i] = q->x[i] - p->x[i];
    y[i] = q->g[i] - p->g[i];
  }
  double sy = dot(s, y, n);
  if (!(sy > 1e-12 * sqrt(dot(s, s, n) * dot(y, y, n))))
    return;
  h->rho[h->head] = 1 / sy;
  h->head = (h->head + 1) % h->m;
  if (h->len < h->m)
    h->len++;
}

static void lbfgs_loop(Fn *fn, const Opts *o, History *h, Point *p, Point *q,
                       double *d, double *al) {
  long it = 0;
  double last = 0;
  const char *how = "stopped at the iteration limit";
  trace(0, p, fn->n, 0, 0);
  while (it < o->iters) {
    if (max_abs(p->g, fn->n) < o->tol) {
      how = "converged";
      break;
    }
    two_loop(h, p->g, d, al, fn->n);
    /* the first step has no curvature yet: make it of length 1e-2 */
    double a = h->len ? 1 : 1e-2 / sqrt(dot(d, d, fn->n));
    if ((a = line_search(fn, p, d, a, q)) == 0) {
      how = "stopped: no step decreases f";
      break;
    }
    remember(h, p, q, fn->n);
    swap_points(p, q);
    it++;
    trace(it, p, fn->n, last = a, it == o->iters);
  }
  trace_end(it, p, fn->n, last, o->iters);
  summary(how, it, fn, p);
}

static void lbfgs(Fn *fn, const Opts *o, Point *p, Point *q, double *d) {
  History h = {.m = o->memory};
  h.s = calloc((size_t)h.m, sizeof *h.s);
  h.y = calloc((size_t)h.m, sizeof *h.y);
  h.rho = calloc((size_t)h.m, sizeof *h.rho);
  double *al = calloc((size_t)h.m, sizeof *al);
  int ok = h.s && h.y && h.rho && al;
  for (int k = 0; ok && k < h.m; k++) {
    h.s[k] = malloc((size_t)fn->n * sizeof **h.s);
    h.y[k] = malloc((size_t)fn->n * sizeof **h.y);
    ok = h.s[k] && h.y[k];
  }
  printf("L-BFGS (memory %d, backtracking line search):\n"
         "     iter                       f   max|grad|       step\n",
         h.m);
  if (ok)
    lbfgs_loop(fn, o, &h, p, q, d, al);
  for (int k = 0; h.s && h.y && k < h.m; k++) {
    free(h.s[k]);
    free(h.y[k]);
  }
  free(h.s);
  free(h.y);
  free(h.rho);
  free(al);
}

/* ---- main ---- */

static int usage(FILE *f, int rc) {
  fputs("usage: minimize MODEL.expr [--iters N] [--tol X] [--memory M]\n"
        "                [--method gd|lbfgs|both] [--set NAME=@FILE]... "
        "[--save DIR]\n"
        "Minimises the f of the model's first `grad f wrt x` over the param\n"
        "x, from its initializer, by gradient descent and by L-BFGS.\n"
        "--set reads an input from a .npy or .csv file; --save writes the\n"
        "params the last method found to DIR/NAME.npy.\n"
        "Defaults: --iters 20000 (for each method), --tol 1e-10 (on the\n"
        "largest gradient element), --memory 8 (L-BFGS pairs), --method "
        "both.\n",
        f);
  return rc;
}

static int parse_opts(int argc, char **argv, Opts *o) {
  *o = (Opts){.iters = 20000, .tol = 1e-10, .memory = 8, .methods = 3};
  for (int i = 1; i < argc; i++) {
    char *end = NULL;
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h"))
      return usage(stdout, -1);
    if (a[0] == '-' && i + 1 >= argc)
      return usage(stderr, 2);
    errno = 0;
    if (!strcmp(a, "--iters"))
      o->iters = strtol(argv[++i], &end, 10);
    else if (!strcmp(a, "--tol"))
      o->tol = strtod(argv[++i], &end);
    else if (!strcmp(a, "--memory"))
      o->memory = (int)strtol(argv[++i], &end, 10);
    else if (!strcmp(a, "--method")) {
      const char *m = argv[++i];
      o->methods = !strcmp(m, "gd") ? 1 : !strcmp(m, "lbfgs") ? 2
                                        : !strcmp(m, "both") ? 3 : 0;
      if (!o->methods)
        return usage(stderr, 2);
    } else if (!strcmp(a, "--set")) {
      if (o->nset == MAX_SETS || !strchr(argv[i + 1], '='))
        return usage(stderr, 2);
      o->set[o->nset++] = argv[++i];
    } else if (!strcmp(a, "--save"))
      o->save = argv[++i];
    else if (a[0] == '-' || o->model)
      return usage(stderr, 2);
    else
      o->model = a;
    if (end && (*end || errno))
      return usage(stderr, 2);
  }
  if (!o->model || o->iters < 1 || !(o->tol > 0) || o->memory < 1 ||
      o->memory > 100)
    return usage(stderr, 2);
  return 0;
}

/* Run one method from the start point x0. */
static int run(Fn *fn, const Opts *o, const double *x0, int use_lbfgs,
               double *buf) {
  int64_t n = fn->n;
  Point p = {buf, buf + n, 0}, q = {buf + 2 * n, buf + 3 * n, 0};
  fn->evals = 0;
  if (!eval(fn, x0, &p.f, p.g))
    return 0;
  memcpy(p.x, x0, (size_t)n * sizeof *x0);
  (use_lbfgs ? lbfgs : gradient_descent)(fn, o, &p, &q, buf + 4 * n);
  memcpy(param(fn), p.x, (size_t)n * sizeof *p.x); /* the best, for --save */
  return 1;
}

int main(int argc, char **argv) {
  Opts o;
  Fn fn;
  int rc = parse_opts(argc, argv, &o);
  if (rc)
    return rc < 0 ? 0 : rc;
  if (!open_fn(&fn, &o)) {
    exprc_free(fn.m);
    return 1;
  }
  double *x0 = malloc((size_t)fn.n * sizeof *x0);
  double *buf = malloc((size_t)fn.n * 5 * sizeof *buf);
  rc = 1;
  if (x0 && buf) {
    memcpy(x0, param(&fn), (size_t)fn.n * sizeof *x0);
    printf("minimize %s over %s (%lld values)\n", fn.f, fn.x, (long long)fn.n);
    rc = (!(o.methods & 1) || run(&fn, &o, x0, 0, buf)) &&
                 (!(o.methods & 2) || run(&fn, &o, x0, 1, buf))
             ? 0
             : 1;
    if (rc == 0 && o.save && exprc_save_params(fn.m, o.save) != EXPRC_OK) {
      fprintf(stderr, "minimize: %s\n", exprc_errmsg(fn.m));
      rc = 1;
    }
  }
  free(x0);
  free(buf);
  exprc_free(fn.m);
  return rc;
}

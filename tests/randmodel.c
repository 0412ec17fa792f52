/* randmodel.c: the random model generator (see randmodel.h).
 *
 * Generation is top-down and typed: E(g, S, depth) returns the text of an
 * expression whose shape is exactly S. Each form picks operand shapes that
 * produce S (a reduction inserts an axis into S and reduces it away, a slice
 * enlarges an axis, a broadcast drops or shrinks axes to 1, ...) and recurses;
 * a leaf of shape S is an input or param of that shape (declared on demand),
 * a named value, a literal or, for a scalar, a number, a const or a dim.
 * Strings are allocated from a list that is freed when the model is done.
 */
#include "randmodel.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A shape while generating: sizes, or -(k + 1) for dim k. */
typedef struct Sh {
  int r;
  int64_t d[RM_MAX_RANK];
} Sh;

#define MAX_VALUES 2

typedef struct Gen {
  uint64_t rng;
  RandModel *m;
  Sh vshape[RM_MAX_VARS];
  Sh valshape[MAX_VALUES];
  int nval;
  int64_t n, b; /* the sizes axes are drawn from, besides 1 and dims */
  int ndim;
  int dim_value[2];   /* a dim used as a value */
  int grads_left;     /* grad() calls still allowed */
  int hessians_left;
  int want_hessian;
  int cost;           /* evaluations per evaluation inside nested grads */
  int prefer;         /* inside grad(e, v): the var v, else -1 */
  int views;          /* weight of the shape forms, percent */
  int gathers;        /* weight of the gather form, percent of unary's */
  int shape_funcs;    /* weight of the shape functions, percent */
  int fail;           /* ran out of variables: start again */
  char **strs;        /* every string made, freed at the end */
  int nstrs, capstrs;
} Gen;

/* ---- strings and random numbers ---- */

static char *keep(Gen *g, char *s) {
  if (g->nstrs == g->capstrs) {
    g->capstrs = g->capstrs ? 2 * g->capstrs : 256;
    g->strs = realloc(g->strs, (size_t)g->capstrs * sizeof *g->strs);
    if (!g->strs)
      abort(); /* a test helper: out of memory ends the test */
  }
  return g->strs[g->nstrs++] = s;
}

/* A formatted string that lives until the model is made. */
static char *sf(Gen *g, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = malloc((size_t)k + 1);
  if (!s)
    abort();
  va_start(ap, fmt);
  vsnprintf(s, (size_t)k + 1, fmt, ap);
  va_end(ap);
  return keep(g, s);
}

static uint64_t next(Gen *g) { /* splitmix64 */
  uint64_t z = (g->rng += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static int pick(Gen *g, int n) { return (int)(next(g) % (uint64_t)n); }
static int chance(Gen *g, int pct) { return pick(g, 100) < pct; }

/* ---- shapes ---- */

static int64_t size_of(const Gen *g, int64_t d) {
  return d >= 0 ? d : g->m->dim_size[-d - 1];
}

static int64_t numel(const Gen *g, Sh s) {
  int64_t n = 1;
  for (int i = 0; i < s.r; i++)
    n *= size_of(g, s.d[i]);
  return n;
}

static int has_dim(Sh s) {
  for (int i = 0; i < s.r; i++)
    if (s.d[i] < 0)
      return 1;
  return 0;
}

static int same(Sh a, Sh b) {
  if (a.r != b.r)
    return 0;
  for (int i = 0; i < a.r; i++)
    if (a.d[i] != b.d[i])
      return 0;
  return 1;
}

/* NumPy broadcasting of two generated shapes (dims fit only themselves
 * or 1). */
static int broadcasts(Sh a, Sh b, Sh *out) {
  Sh r = {.r = a.r > b.r ? a.r : b.r};
  for (int i = 0; i < r.r; i++) {
    int ia = i - (r.r - a.r), ib = i - (r.r - b.r);
    int64_t x = ia >= 0 ? a.d[ia] : 1, y = ib >= 0 ? b.d[ib] : 1;
    if (x != y && x != 1 && y != 1)
      return 0;
    r.d[i] = x == 1 ? y : x;
  }
  *out = r;
  return 1;
}

/* "[3, N, 1]"; in `dims` form, dims are written by name. */
static char *shape_text(Gen *g, Sh s) {
  char buf[64] = "";
  int k = 0;
  for (int i = 0; i < s.r; i++) {
    if (s.d[i] >= 0)
      k += snprintf(buf + k, sizeof buf - (size_t)k, "%s%lld", i ? ", " : "",
                    (long long)s.d[i]);
    else
      k += snprintf(buf + k, sizeof buf - (size_t)k, "%s%s", i ? ", " : "",
                    g->m->dim_name[-s.d[i] - 1]);
  }
  return sf(g, "[%s]", buf);
}

/* An axis: often the same size as others, sometimes 1 or a dim. */
static int64_t axis(Gen *g, int allow_dim) {
  int k = pick(g, 100);
  if (allow_dim && g->ndim && k < 18)
    return -1 - pick(g, g->ndim);
  return k < 55 ? g->n : k < 85 ? g->b : 1;
}

static Sh random_shape(Gen *g, int lo, int hi, int allow_dim) {
  Sh s = {.r = lo + pick(g, hi - lo + 1)};
  for (int i = 0; i < s.r; i++)
    s.d[i] = axis(g, allow_dim);
  return s;
}

static Sh insert_axis(Sh s, int p, int64_t size) {
  Sh r = {.r = s.r + 1};
  for (int i = 0, j = 0; i < r.r; i++)
    r.d[i] = i == p ? size : s.d[j++];
  return r;
}

static Sh drop_axis(Sh s, int p) {
  Sh r = {.r = s.r - 1};
  for (int i = 0, j = 0; i < s.r; i++)
    if (i != p)
      r.d[j++] = s.d[i];
  return r;
}

/* A shape that broadcasts to s: leading axes dropped, others made 1. */
static Sh sub_shape(Gen *g, Sh s) {
  int drop = chance(g, 45) ? 0 : pick(g, s.r + 1);
  Sh r = {.r = s.r - drop};
  for (int i = 0; i < r.r; i++)
    r.d[i] = chance(g, 30) ? 1 : s.d[i + drop];
  return r;
}

/* Leading 1s dropped at random: [1, 1, 3] may become [1, 3] or [3]. */
static Sh trim_ones(Gen *g, Sh s) {
  int k = 0;
  while (k < s.r && s.d[k] == 1 && chance(g, 50))
    k++;
  Sh r = {.r = s.r - k};
  for (int i = 0; i < r.r; i++)
    r.d[i] = s.d[i + k];
  return r;
}

/* Two shapes that broadcast to s: one whole and one that broadcasts, or
 * each holding some of the axes ([3, 1] and [3] make [3, 3]). */
static void split(Gen *g, Sh s, Sh *a, Sh *b) {
  int mode = pick(g, 3);
  if (mode < 2) {
    *a = s, *b = sub_shape(g, s);
    if (mode)
      *a = *b, *b = s;
    return;
  }
  Sh x = s, y = s;
  for (int i = 0; i < s.r; i++) {
    int owner = s.d[i] == 1 ? 2 : pick(g, 3);
    if (owner == 0)
      y.d[i] = 1;
    else if (owner == 1)
      x.d[i] = 1;
  }
  if (chance(g, 50)) /* one keeps the rank, or the result would lose it */
    *a = x, *b = trim_ones(g, y);
  else
    *a = trim_ones(g, x), *b = y;
}

/* ---- leaves ---- */

/* A number in [-2, 2] with two decimals, never printed as "-0.00". */
static char *number(Gen *g) {
  int k = pick(g, 401) - 200;
  return sf(g, "%s%d.%02d", k < 0 ? "-" : "", abs(k) / 100, abs(k) % 100);
}

static char *literal(Gen *g, Sh s, int axis0) {
  if (axis0 >= s.r || axis0 >= RM_MAX_RANK) /* the second: for gcc -O3's */
    return number(g);                       /* bounds check of s.d */
  char *r = "[";
  for (int64_t i = 0; i < s.d[axis0]; i++)
    r = sf(g, "%s%s%s", r, i ? ", " : "", literal(g, s, axis0 + 1));
  return sf(g, "%s]", r);
}

static int new_var(Gen *g, Sh s) {
  RandModel *m = g->m;
  if (m->nvar == RM_MAX_VARS)
    return -1;
  int k = m->nvar++;
  RandVar *v = &m->var[k];
  v->is_param = !has_dim(s) && chance(g, 30);
  snprintf(v->name, sizeof v->name, "%c%d", v->is_param ? 'w' : 'x', k);
  v->rank = s.r;
  for (int i = 0; i < s.r; i++)
    v->shape[i] = size_of(g, s.d[i]);
  v->size = numel(g, s);
  g->vshape[k] = s;
  return k;
}

static int var_of_shape(Gen *g, Sh s) {
  int found = -1, seen = 0;
  for (int i = 0; i < g->m->nvar; i++) /* integer ids are not leaves */
    if (!g->m->var[i].int_rows && same(g->vshape[i], s) && pick(g, ++seen) == 0)
      found = i;
  return found;
}

static char *scalar_leaf(Gen *g) {
  int k = pick(g, 10);
  if (k < 2)
    return "c";
  if (k < 4 && g->ndim) {
    int d = pick(g, g->ndim);
    g->dim_value[d] = 1;
    return sf(g, "(0.25 * %s)", g->m->dim_name[d]);
  }
  return number(g);
}

static char *leaf(Gen *g, Sh s) {
  if (g->prefer >= 0 && same(g->vshape[g->prefer], s) && chance(g, 70))
    return g->m->var[g->prefer].name;
  if (g->m->nvar && s.r == 0 && chance(g, 30))
    return scalar_leaf(g);
  if (g->m->nvar && !has_dim(s) && numel(g, s) <= 12 && chance(g, 12))
    return literal(g, s, 0);
  for (int i = 0; i < g->nval; i++)
    if (same(g->valshape[i], s) && chance(g, 40))
      return sf(g, "v%d", i);
  int v = var_of_shape(g, s);
  if (v < 0 || chance(g, 25)) {
    int w = new_var(g, s);
    v = w >= 0 ? w : v;
  }
  if (v >= 0)
    return g->m->var[v].name;
  if (!has_dim(s))
    return literal(g, s, 0);
  g->fail = 1;
  return "0";
}

/* ---- forms ----
 * A form calls the random generator in a fixed order: never twice among
 * the arguments of one call, whose order C leaves open, so that a seed
 * gives the same model with every compiler. */

static char *E(Gen *g, Sh s, int depth);

/* f(e) with f defined and smooth enough everywhere, or made safe; some are
 * the unstable forms the compiler rewrites (log(1 + exp(x)) and so on).
 * sign gets an offset for the reason compare() gives: a sum that is zero in
 * exact arithmetic (x - mean(x) summed) must not pick its sign by rounding. */
static char *unary(Gen *g, Sh s, int depth) {
  static const char *const f[][2] = {
      {"sin(", ")"}, {"cos(", ")"}, {"tanh(", ")"}, {"sigmoid(", ")"},
      {"softplus(", ")"}, {"abs(", ")"}, {"relu(", ")"}, {"-(", ")"},
      {"exp(tanh(", "))"}, {"log(softplus(", ") + 0.5)"},
      {"sqrt(1 + sq(", "))"}, {"log1p(sq(", "))"}, {"expm1(tanh(", "))"},
      {"tan(0.5 * tanh(", "))"}, {"(sign(", " + 0.0137) * 0.5)"}, {"sq(tanh(", "))"},
      {"(", ")^2"}, {"(tanh(", ") ^ 3)"}, {"+(", ")"}, {"nrm(", ")"},
      /* forms the simplifier rewrites to stable ones */
      {"log(1 + exp(tanh(", ")))"}, {"(exp(tanh(", ")) - 1)"},
      {"log(sigmoid(", "))"}, {"(1 / (1 + exp(-(", "))))"},
      {"log(1 + sq(", "))"}, {"log(exp(tanh(", ")))"},
      /* IEEE identities with a negative zero: -0 + x and -0 - x */
      {"(-0.0 + ", ")"}, {"(-0.0 - ", ")"}};
  int k = pick(g, (int)(sizeof f / sizeof f[0]));
  return sf(g, "%s%s%s", f[k][0], E(g, s, depth - 1), f[k][1]);
}

/* e1 op e2 with shapes that broadcast to s. */
static char *binary(Gen *g, Sh s, int depth) {
  static const char *const f[][3] = {
      {"(", " + ", ")"}, {"(", " - ", ")"}, {"(", " * ", ")"},
      {"(", " / (1 + sq(", ")))"}, {"maximum(", ", ", ")"},
      {"minimum(", ", ", ")"}, {"(", " / (softplus(", ") + 0.5))"},
      {"pow(softplus(", ") + 0.5, tanh(", "))"}, {"lerp(", ", ", ", 0.3)"},
      {"(", " * ", ")"}, {"(", " + ", ")"},
      /* rewritten to a - log(1 + b^2), broadcast to the shape of both */
      {"log(exp(tanh(", ")) / (1 + sq(", ")))"}};
  int k = pick(g, (int)(sizeof f / sizeof f[0]));
  Sh a, b;
  split(g, s, &a, &b);
  char *x = E(g, a, depth - 1), *y = E(g, b, depth - 1); /* in this order */
  return sf(g, "%s%s%s%s%s", f[k][0], x, f[k][1], y, f[k][2]);
}

/* where(e1 CMP e2 + 0.0137, e3, e4), or a comparison as a 0/1 factor.
 * The offset keeps sides that are equal in exact arithmetic (tanh(d) and
 * log(exp(tanh(d)))) from being compared at a tie that rounding decides. */
static char *compare(Gen *g, Sh s, int depth) {
  static const char *const cmp[] = {" < ", " <= ", " > ", " >= ", " != "};
  const char *c = cmp[pick(g, 5)];
  char *x = E(g, sub_shape(g, s), depth - 1);
  char *y = E(g, sub_shape(g, s), depth - 1);
  if (chance(g, 40))
    return sf(g, "((%s%s%s + 0.0137) * %s)", x, c, y, E(g, s, depth - 1));
  Sh p = s, q = sub_shape(g, s);
  if (chance(g, 50))
    p = q, q = s;
  char *a = E(g, p, depth - 1), *b = E(g, q, depth - 1);
  return sf(g, "where(%s%s%s + 0.0137, %s, %s)", x, c, y, a, b);
}

static const char *const reducers[] = {"sum", "mean", "max", "min",
                                       "logsumexp"};

/* The axis p of a rank-r operand, written as p or p - r. */
static char *axis_text(Gen *g, int p, int r) {
  return sf(g, "%d", chance(g, 30) ? p - r : p);
}

/* f(x, p) with x = s with an axis inserted at p; sometimes two axes. */
static char *reduction(Gen *g, Sh s, int depth) {
  const char *f = reducers[pick(g, 5)];
  if (s.r == 0 && chance(g, 50))
    return sf(g, "%s(%s)", f, E(g, random_shape(g, 1, 3, 1), depth - 1));
  if (s.r >= RM_MAX_RANK)
    return unary(g, s, depth);
  int p = pick(g, s.r + 1);
  Sh x = insert_axis(s, p, axis(g, 1));
  char *inner;
  if (x.r < RM_MAX_RANK && chance(g, 25)) { /* a pair of axes */
    int q = pick(g, x.r + 1);
    Sh x2 = insert_axis(x, q, axis(g, 1));
    const char *f2 = reducers[pick(g, 5)];
    char *e = E(g, x2, depth - 1);
    inner = sf(g, "%s(%s, %s)", f2, e, axis_text(g, q, x2.r));
  } else if (chance(g, 10)) { /* the def: logsumexp over axis 0 */
    x = insert_axis(s, 0, axis(g, 1));
    return sf(g, "lse0(%s)", E(g, x, depth - 1));
  } else {
    inner = E(g, x, depth - 1);
  }
  if (chance(g, 12)) /* rewritten to logsumexp */
    return sf(g, "log(sum(exp(tanh(%s)), %s))", inner, axis_text(g, p, x.r));
  return sf(g, "%s(%s, %s)", f, inner, axis_text(g, p, x.r));
}

static char *normaliser(Gen *g, Sh s, int depth) {
  if (s.r == 0)
    return binary(g, s, depth);
  int p = pick(g, s.r), lg = chance(g, 50);
  const char *f = lg ? "log_softmax" : "softmax";
  char *x = E(g, s, depth - 1);
  if (p == s.r - 1 && chance(g, 40))
    return sf(g, "%s(%s)", f, x);
  if (!lg && chance(g, 25)) /* rewritten to log_softmax */
    return sf(g, "log(softmax(%s, %s))", x, axis_text(g, p, s.r));
  return sf(g, "%s(%s, %s)", f, x, axis_text(g, p, s.r));
}

/* A reduced result broadcast back: x OP f(x', p), with the axis restored
 * by a reshape, or aligned from the right as NumPy does when it fits. */
static char *centre(Gen *g, Sh s, int depth) {
  if (s.r == 0)
    return binary(g, s, depth);
  int p = pick(g, s.r);
  char *x = E(g, s, depth - 1), *y = x;
  if (chance(g, 50) || !strchr(x, '('))
    ; /* the same expression: x - mean(x) */
  else
    y = E(g, s, depth - 1);
  const char *f = reducers[pick(g, 5)], *op = chance(g, 70) ? " - " : " * ";
  char *r = sf(g, "%s(%s, %s)", f, y, axis_text(g, p, s.r));
  Sh red = drop_axis(s, p), fit;
  int right = broadcasts(red, s, &fit) && same(fit, s);
  if (!has_dim(s) && (!right || chance(g, 60))) {
    Sh one = s;
    one.d[p] = 1;
    r = sf(g, "reshape(%s, %s)", r, shape_text(g, one));
  } else if (!right) {
    return binary(g, s, depth);
  }
  return sf(g, "(%s%s%s)", x, op, r);
}

/* A slice that enlarges one constant axis, or an integer index that
 * removes an inserted one. */
static char *slice(Gen *g, Sh s, int depth) {
  int p = s.r ? pick(g, s.r) : 0, insert = s.r == 0 || chance(g, 40);
  if (!insert && s.d[p] < 0)
    insert = 1;
  if (insert && s.r >= RM_MAX_RANK)
    return reduction(g, s, depth);
  Sh x = s;
  char *item;
  if (insert) {
    p = pick(g, s.r + 1);
    int64_t k = axis(g, 0);
    x = insert_axis(s, p, k);
    int64_t i = pick(g, (int)k);
    item = sf(g, "%lld", (long long)(chance(g, 40) ? i - k : i));
  } else {
    int64_t extra = 1 + pick(g, 2), lo = pick(g, (int)extra + 1);
    x.d[p] += extra;
    int64_t hi = lo + s.d[p], big = x.d[p];
    int form = pick(g, 4);
    if (form == 0 && lo == 0)
      item = sf(g, ":%lld", (long long)hi);
    else if (form == 1 && hi == big)
      item = sf(g, "%lld:", (long long)lo);
    else if (form == 2 && hi < big)
      item = sf(g, "%lld:%lld", (long long)(lo - big), (long long)(hi - big));
    else if (form == 2)
      item = sf(g, "%lld:", (long long)(lo - big));
    else
      item = sf(g, "%lld:%lld", (long long)lo, (long long)hi);
  }
  char *idx = "";
  for (int i = 0; i < p; i++)
    idx = sf(g, "%s:, ", idx);
  idx = sf(g, "%s%s", idx, item);
  if (p + 1 < x.r && chance(g, 30))
    idx = sf(g, "%s, :", idx);
  return sf(g, "(%s)[%s]", E(g, x, depth - 1), idx);
}

/* s without its size-1 axes ([1, 3, 1] -> [3]); [1] if all are 1. */
static Sh squeezed(Sh s) {
  Sh x = {0};
  for (int i = 0; i < s.r; i++)
    if (s.d[i] != 1)
      x.d[x.r++] = s.d[i];
  if (x.r == 0)
    x = (Sh){.r = 1, .d = {1}};
  return x;
}

/* reshape(x, s) from a shape with as many elements: its sizes' factors
 * spread over 1 to 4 axes, with 1s anywhere; or, often, only size-1 axes
 * added or removed, the reshapes whose broadcasting rewrites must tell
 * leading from trailing 1s. */
static char *reshape(Gen *g, Sh s, int depth) {
  if (has_dim(s) || s.r == 0) /* no dims in reshape, and [] does not parse */
    return slice(g, s, depth);
  if (chance(g, 35)) {
    Sh x = squeezed(s);
    if (chance(g, 40) && x.r < RM_MAX_RANK) /* a 1 that goes away */
      x = insert_axis(x, pick(g, x.r + 1), 1);
    char *e = chance(g, 40) ? reduction(g, x, depth - 1) : E(g, x, depth - 1);
    if (chance(g, 20)) /* the log moves inside the reshape */
      return sf(g, "log(reshape(softplus(%s) + 0.5, %s))", e, shape_text(g, s));
    return sf(g, "reshape(%s, %s)", e, shape_text(g, s));
  }
  int f[16], nf = 0;
  for (int i = 0; i < s.r; i++)
    for (int64_t d = s.d[i]; d > 1;) {
      int p = d % 2 == 0 ? 2 : 3;
      if (d % p)
        p = (int)d; /* a size with another factor stays whole */
      f[nf++] = p, d /= p;
    }
  Sh x = {.r = 1 + pick(g, RM_MAX_RANK)};
  for (int i = 0; i < x.r; i++)
    x.d[i] = 1;
  for (int i = 0; i < nf; i++)
    x.d[pick(g, x.r)] *= f[i];
  char *dims = shape_text(g, s);
  if (s.r && chance(g, 30)) { /* one size inferred */
    Sh t = s;
    int k = pick(g, s.r);
    char *txt = "[";
    for (int i = 0; i < t.r; i++)
      txt = sf(g, "%s%s%lld", txt, i ? ", " : "",
               (long long)(i == k ? -1 : t.d[i]));
    dims = sf(g, "%s]", txt);
  }
  return sf(g, "reshape(%s, %s)", E(g, x, depth - 1), dims);
}

static char *transpose(Gen *g, Sh s, int depth) {
  Sh x = {.r = s.r};
  for (int i = 0; i < s.r; i++)
    x.d[i] = s.d[s.r - 1 - i];
  return sf(g, "transpose(%s)", E(g, x, depth - 1));
}

/* [a,k]@[k,b], [a,k]@[k], [k]@[k,b] or [k]@[k]. */
static char *matmul(Gen *g, Sh s, int depth) {
  if (s.r > 2)
    return transpose(g, s, depth);
  int64_t k = axis(g, 1);
  Sh x = {.r = 1, .d = {k}}, y = x;
  int left = s.r == 2 || (s.r == 1 && chance(g, 50));
  if (left)
    x = (Sh){.r = 2, .d = {s.d[0], k}};
  if (s.r == 2 || (s.r == 1 && !left))
    y = (Sh){.r = 2, .d = {k, s.d[s.r - 1]}};
  char *a = E(g, x, depth - 1), *b = E(g, y, depth - 1);
  return chance(g, 25) ? sf(g, "dot(%s, %s)", a, b) : sf(g, "(%s @ %s)", a, b);
}

/* grad(e, v) for a var v of shape s, with e depending on v by preference.
 * The reference evaluator pays 4 evaluations of e per element of v, so the
 * product over nested grads is bounded. */
static char *gradient(Gen *g, Sh s, int depth) {
  int64_t n = numel(g, s);
  if (g->grads_left <= 0 || n > 9 || g->cost * 4 * n > 300)
    return unary(g, s, depth);
  int v = var_of_shape(g, s);
  if (v < 0 && (v = new_var(g, s)) < 0)
    return unary(g, s, depth);
  g->grads_left--;
  g->m->nested += g->cost > 1;
  int prefer = g->prefer, cost = g->cost;
  g->prefer = v, g->cost *= 4 * (int)n;
  Sh t = chance(g, 60) ? s : random_shape(g, 0, 2, 1);
  char *e = E(g, t, depth - 1), *r;
  const char *name = g->m->var[v].name;
  int k = pick(g, 3);
  if (k == 0)
    r = sf(g, "grad(sum(%s), %s)", e, name);
  else if (k == 1)
    r = sf(g, "grad(sum(%s * %s), %s)", e, e, name);
  else
    r = sf(g, "gsq(%s, %s)", e, name); /* grad inside a def */
  g->prefer = prefer, g->cost = cost;
  g->m->grads++;
  return r;
}

/* hessian(e, v): s is [n, n] with n the element count of v (at most 3);
 * no grad inside, for the reference evaluator's sake. */
static char *hessian(Gen *g, Sh s, int depth) {
  int64_t n = s.r == 2 ? s.d[0] : 0;
  if (!g->hessians_left || g->cost > 1 || n < 1 || n > 3 || s.d[1] != n)
    return binary(g, s, depth);
  Sh vs = chance(g, 50) ? (Sh){.r = 1, .d = {n}} : (Sh){.r = 2, .d = {1, n}};
  if (chance(g, 30))
    vs = (Sh){.r = 2, .d = {n, 1}};
  int v = var_of_shape(g, vs);
  if (v < 0 && (v = new_var(g, vs)) < 0)
    return binary(g, s, depth);
  g->hessians_left = 0;
  int prefer = g->prefer, grads = g->grads_left;
  g->prefer = v, g->grads_left = 0;
  char *e = E(g, chance(g, 70) ? vs : random_shape(g, 0, 2, 0),
              depth < 3 ? depth - 1 : 2);
  g->prefer = prefer, g->grads_left = grads;
  g->m->hessians++;
  return sf(g, "hessian(sum(%s), %s)", e, g->m->var[v].name);
}

/* A gather of shape s: the rows of a table [rows, s[1:]] at an integer
 * input of ids [s[0]], by indexing or by take; the ids hold negative values
 * too (they count from the end). */
static char *gather(Gen *g, Sh s, int depth) {
  if (s.r < 1 || s.d[0] < 0 || g->m->nvar == RM_MAX_VARS)
    return unary(g, s, depth);
  int64_t rows = 2 + pick(g, 3);
  int k = g->m->nvar++;
  RandVar *v = &g->m->var[k];
  snprintf(v->name, sizeof v->name, "i%d", k);
  v->rank = 1, v->shape[0] = v->size = s.d[0], v->int_rows = rows;
  g->vshape[k] = (Sh){.r = 1, .d = {s.d[0]}};
  Sh t = s;
  t.d[0] = rows;
  char *e = E(g, t, depth - 1);
  return chance(g, 50) ? sf(g, "(%s)[%s]", e, v->name)
                       : sf(g, "take(%s, %s, 0)", e, v->name);
}

/* ---- the shape functions (only with shape_funcs_pct) ---- */

/* f(x) that keeps the shape: along an axis p (cumulative functions, flip),
 * or on the last two (tril, triu). cumprod and logcumsumexp see bounded
 * arguments, as exp does elsewhere. sort is left out: random models make
 * ties (broadcast values), where a sort's derivative is one-sided. */
static char *keep_shape(Gen *g, Sh s, int depth) {
  static const char *const f[][2] = {
      {"cumsum(", ""}, {"cumprod(tanh(", ")"}, {"logcumsumexp(tanh(", ")"},
      {"flip(", ""}};
  if (s.r == 0)
    return unary(g, s, depth);
  char *x = E(g, s, depth - 1);
  if (s.r >= 2 && chance(g, 25))
    return sf(g, "%s(%s, k=%d)", chance(g, 50) ? "tril" : "triu", x,
              pick(g, 3) - 1);
  int k = pick(g, 4), p = pick(g, s.r);
  return sf(g, "%s%s%s, axis=%s)", f[k][0], x, f[k][1], axis_text(g, p, s.r));
}

/* f(x, axis=[p, q]) over two inserted axes, or f(x, p, keepdims=1) where s
 * has a 1 at p; f also prod, var and norm. */
static char *reduce_more(Gen *g, Sh s, int depth) {
  static const char *const f[] = {"sum", "mean", "max", "min", "logsumexp",
                                  "prod", "var", "norm"};
  const char *fn = f[pick(g, 8)];
  int p = s.r ? pick(g, s.r) : 0;
  if (s.r && s.d[p] == 1) {
    Sh x = s;
    x.d[p] = axis(g, 1);
    return sf(g, "%s(%s, %s, keepdims=1)", fn, E(g, x, depth - 1),
              axis_text(g, p, x.r));
  }
  if (s.r + 2 > RM_MAX_RANK)
    return reduction(g, s, depth);
  p = pick(g, s.r + 1);
  Sh x = insert_axis(s, p, axis(g, 1));
  int q = pick(g, x.r + 1);
  x = insert_axis(x, q, axis(g, 1));
  int a = p < q ? p : p + 1; /* p's place once q is inserted */
  return sf(g, "%s(%s, axis=[%s, %s])", fn, E(g, x, depth - 1),
            axis_text(g, q, x.r), axis_text(g, a, x.r));
}

/* transpose with axes, swapaxes, expand_dims, squeeze, broadcast_to, pad:
 * each from the operand shape that gives s. */
static char *move_axes(Gen *g, Sh s, int depth) {
  int k = pick(g, 6), p = s.r ? pick(g, s.r) : 0;
  if (s.r >= 2 && k < 2) {
    int q = (p + 1 + pick(g, s.r - 1)) % s.r, perm[RM_MAX_RANK];
    for (int i = 0; i < s.r; i++)
      perm[i] = i;
    perm[p] = q, perm[q] = p; /* a swap, then maybe a rotation */
    int rot = k == 1 ? pick(g, s.r) : 0;
    Sh x = s;
    char *ax = "";
    for (int i = 0; i < s.r; i++) {
      int to = (perm[i] + rot) % s.r; /* result axis i is x's axis `to` */
      x.d[to] = s.d[i];
      ax = sf(g, "%s%s%d", ax, i ? ", " : "", to);
    }
    if (k == 0)
      return sf(g, "swapaxes(%s, %d, %d)", E(g, x, depth - 1), p, q);
    return sf(g, "transpose(%s, [%s])", E(g, x, depth - 1), ax);
  }
  if (k == 2 && s.r && s.d[p] == 1)
    return sf(g, "expand_dims(%s, %s)", E(g, drop_axis(s, p), depth - 1),
              axis_text(g, p, s.r));
  if (k == 3 && s.r < RM_MAX_RANK) {
    int at = pick(g, s.r + 1);
    return sf(g, "squeeze(%s, %d)", E(g, insert_axis(s, at, 1), depth - 1), at);
  }
  if (k == 4 && s.r && s.d[p] > 1) {
    Sh x = s;
    int64_t lo = pick(g, (int)s.d[p]);
    x.d[p] = 1 + pick(g, (int)(s.d[p] - lo));
    int64_t hi = s.d[p] - x.d[p] - lo;
    char *w = "";
    for (int i = 0; i < s.r; i++)
      w = sf(g, "%s%s[%lld, %lld]", w, i ? ", " : "", (long long)(i == p ? lo : 0),
             (long long)(i == p ? hi : 0));
    return sf(g, "pad(%s, [%s], value=%s)", E(g, x, depth - 1), w,
              chance(g, 50) ? "0" : E(g, (Sh){0}, depth - 1));
  }
  if (s.r == 0) /* [] is no list the parser takes */
    return unary(g, s, depth);
  return sf(g, "broadcast_to(%s, %s)", E(g, sub_shape(g, s), depth - 1),
            shape_text(g, s));
}

static char *shape_func(Gen *g, Sh s, int depth) {
  int k = pick(g, 3);
  return k == 0 ? keep_shape(g, s, depth) : k == 1 ? reduce_more(g, s, depth)
                                                   : move_axes(g, s, depth);
}

typedef char *(*Form)(Gen *g, Sh s, int depth);

/* An expression of shape s that is not a leaf. */
static char *form(Gen *g, Sh s, int depth) {
  if (g->want_hessian && s.r == 2 && s.d[0] == s.d[1] && s.d[0] > 0 &&
      s.d[0] <= 3 && g->hessians_left && g->cost == 1 && chance(g, 50))
    return hessian(g, s, depth);
  static const Form forms[] = {unary,   binary,   compare,   reduction,
                               normaliser, centre, slice,    reshape,
                               transpose, matmul, gradient, gather,
                               shape_func};
  int w[] = {18, 22, 8, 12, 7, 7, 8, 6, 4, 7, 4, 0, 0};
  for (int i = 3; i < 10; i++)
    w[i] = w[i] * g->views / 100;
  if (g->cost > 1) /* inside a grad: a grad of a grad now and then */
    w[10] *= 4;
  w[11] = w[0] * g->gathers / 100;  /* the last two: when 0 (their */
  w[12] = 8 * g->shape_funcs / 100; /* default) they change no draw */
  int total = 0;
  for (int i = 0; i < 13; i++)
    total += w[i];
  int k = pick(g, total), i = 0;
  while (k >= w[i])
    k -= w[i++];
  return forms[i](g, s, depth);
}

static char *E(Gen *g, Sh s, int depth) {
  if (depth <= 0 || chance(g, 12))
    return leaf(g, s);
  return form(g, s, depth);
}

/* ---- the model ---- */

static void choose_sizes(Gen *g) {
  RandModel *m = g->m;
  g->n = 2 + pick(g, 2);
  g->b = chance(g, 50) ? g->n : 2 + pick(g, 2);
  int k = pick(g, 10);
  g->ndim = m->ndim = k < 6 ? 0 : k < 9 ? 1 : 2;
  for (int i = 0; i < m->ndim; i++) {
    snprintf(m->dim_name[i], sizeof m->dim_name[i], "%s", i ? "B" : "N");
    m->dim_size[i] = chance(g, 60) ? g->n : g->b; /* a size used elsewhere */
  }
}

static char *declarations(Gen *g) {
  RandModel *m = g->m;
  char *t = "";
  for (int i = 0; i < m->ndim; i++)
    t = sf(g, "%sdim %s\n", t, m->dim_name[i]);
  for (int i = 0; i < m->nvar; i++) {
    RandVar *v = &m->var[i];
    char *shape = v->rank ? shape_text(g, g->vshape[i]) : "";
    if (v->int_rows)
      t = sf(g, "%sinput %s%s : int\n", t, v->name, shape);
    else if (!v->is_param)
      t = sf(g, "%sinput %s%s\n", t, v->name, shape);
    else
      t = sf(g, "%sparam %s%s ~ normal(0, 1)\n", t, v->name, shape);
  }
  return sf(g, "%sconst c = 0.37\n"
               "def sq(u) = u * u\n"
               "def lerp(p, q, t) = p + (q - p) * sigmoid(t)\n"
               "def nrm(u) = u / sqrt(1 + sum(u * u))\n"
               "def gsq(e, v) = grad(sum(e * e), v)\n"
               "def lse0(u) = logsumexp(u, 0)\n", t);
}

/* loss weighs y by a constant tensor and by sin(y), so that every element
 * of y has its own weight and a transposed gradient shows. */
static char *loss_text(Gen *g, Sh ys) {
  Sh ks = ys;
  for (int i = 0; i < ks.r; i++)
    ks.d[i] = ks.d[i] < 0 ? 1 : ks.d[i];
  char *t = sf(g, "loss = sum(y * %s) + 0.25 * sum(sin(y))", literal(g, ks, 0));
  for (int i = 0; i < g->nval; i++)
    t = sf(g, "%s + 0.5 * sum(cos(v%d))", t, i);
  return t;
}

static char *body(Gen *g, RandOptions o) {
  RandModel *m = g->m;
  char *stmts = "";
  int nval = pick(g, MAX_VALUES + 1);
  for (int i = 0; i < nval; i++) {
    Sh s = random_shape(g, 0, 3, 1);
    stmts = sf(g, "%sv%d = %s\n", stmts, i, form(g, s, 2 + pick(g, 2)));
    g->valshape[i] = s; /* visible to later statements only */
    g->nval = i + 1;
  }
  Sh ys = random_shape(g, 0, 3, 1);
  if (chance(g, 8))
    ys = random_shape(g, 4, 4, 1);
  if (g->want_hessian)
    ys = (Sh){.r = 2, .d = {g->n, g->n}};
  m->y_rank = ys.r;
  for (int i = 0; i < ys.r; i++)
    m->y_shape[i] = size_of(g, ys.d[i]);
  char *y = form(g, ys, o.depth ? o.depth : 3 + pick(g, 2));
  for (int d = 0; d < m->ndim; d++) { /* a dim only used as a value */
    int used = 0;
    for (int i = 0; i < m->nvar; i++)
      for (int k = 0; k < g->vshape[i].r; k++)
        used |= g->vshape[i].d[k] == -1 - d;
    if (!used && new_var(g, (Sh){.r = 1, .d = {-1 - d}}) < 0)
      g->fail = 1;
  }
  char *outs = "y";
  m->nout = 0;
  snprintf(m->out_name[m->nout++], sizeof m->out_name[0], "y");
  for (int i = 0; i < g->nval; i++) {
    outs = sf(g, "%s, v%d", outs, i);
    snprintf(m->out_name[m->nout++], sizeof m->out_name[0], "v%d", i);
  }
  snprintf(m->out_name[m->nout++], sizeof m->out_name[0], "loss");
  char *wrt = "";
  for (int i = 0; i < m->nvar; i++)
    if (!m->var[i].int_rows)
      wrt = sf(g, "%s%s%s", wrt, wrt[0] ? ", " : "", m->var[i].name);
  if (!wrt[0]) /* only ids: no var to differentiate by */
    g->fail = 1;
  return sf(g, "%sy = %s\n%s\noutput %s, loss\ngrad loss wrt %s\n", stmts, y,
            loss_text(g, ys), outs, wrt);
}

static void fill_values(Gen *g) {
  for (int i = 0; i < g->m->nvar; i++) {
    RandVar *v = &g->m->var[i];
    v->value = malloc((size_t)v->size * sizeof *v->value);
    if (!v->value)
      abort();
    for (int64_t e = 0; e < v->size; e++)
      v->value[e] = v->int_rows ? (double)(int64_t)(next(g) % (uint64_t)(2 * v->int_rows)) -
                                      (double)v->int_rows
                                : -1.5 + 3.0 * (double)(next(g) >> 11) / 9007199254740992.0;
  }
}

static void free_strings(Gen *g) {
  for (int i = 0; i < g->nstrs; i++)
    free(g->strs[i]);
  free(g->strs);
  g->strs = NULL;
  g->nstrs = g->capstrs = 0;
}

void randmodel_make(RandModel *m, uint64_t seed, const RandOptions *opt) {
  RandOptions o = opt ? *opt : (RandOptions){0};
  Gen g = {.rng = seed * 0x2545f4914f6cdd1dULL + 1};
  for (int attempt = 0;; attempt++) {
    memset(m, 0, sizeof *m);
    m->seed = seed;
    g.m = m, g.fail = 0, g.prefer = -1, g.cost = 1, g.nval = 0;
    g.dim_value[0] = g.dim_value[1] = 0;
    g.grads_left = o.max_grads ? o.max_grads : 2;
    g.views = o.views_pct ? o.views_pct : 100;
    g.gathers = o.gather_pct;
    g.shape_funcs = o.shape_funcs_pct;
    g.want_hessian = chance(&g, o.hessian_pct ? o.hessian_pct : 8);
    g.hessians_left = 1;
    choose_sizes(&g);
    char *b = body(&g, o);
    if (!g.fail || attempt == 50) { /* 50 failures in a row: never seen */
      char *d = declarations(&g);
      m->text = malloc(strlen(d) + strlen(b) + 1);
      if (!m->text)
        abort();
      strcpy(m->text, d);
      strcat(m->text, b);
      free_strings(&g);
      break;
    }
    free_strings(&g);
  }
  fill_values(&g);
}

void randmodel_free(RandModel *m) {
  free(m->text);
  for (int i = 0; i < m->nvar; i++)
    free(m->var[i].value);
  memset(m, 0, sizeof *m);
}

/* ---- the oracle: checking a model ----
 *
 * Where grad() or hessian() appear inside a model, the reference evaluator
 * computes them by finite differences of itself, so its values carry an
 * error: about 1e-12 of the function's scale for a grad (its five-point
 * stencil with h = 2^-10), and for a grad of a grad or a hessian, whose
 * rounding error grows as 1/h^2, about 1e-9 (measured: 2e-9 on values of
 * 12 whose function was about 100).
 * Values are compared to a relative and an absolute tolerance that cover
 * this, and the reference's loss is taken to carry that much noise when its
 * differences are formed. A kink (relu, abs, max, where, a comparison)
 * inside a stencil spoils it, so the reference is asked again with smaller
 * steps, and for the loss gradients one-sided differences on either side
 * are accepted too: a compiler bug agrees with none of them, while a kink
 * lies within the smallest step only with negligible probability.
 */

#include <math.h>

#include "refeval.h"

typedef struct Check {
  const RandModel *rm;
  const RandVariant *var;
  int nv;
  RefModel *ref;
  exprc_model **m;
  char *why;
  size_t nwhy;
  double rtol, atol; /* of values the reference computes */
  double fnoise;     /* relative noise in the reference's loss */
  int per_var;       /* gradient elements checked per var; 0: all */
  uint64_t budget;   /* of the reference's work (ref_set_budget); 0: none */
  int ref_phase;     /* comparing with the reference now */
  int over;          /* the reference spent it: its checks stopped there */
} Check;

static const double ref_steps[] = {1.0 / 1024, 1.0 / 65536, 1.0 / 4194304};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int bad(Check *c, const char *fmt, ...) {
  if (c->ref_phase && ref_over_budget(c->ref))
    c->over = 1; /* no disagreement: the reference stopped short */
  if (c->why[0] || (c->ref_phase && c->over))
    return 0;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->why, c->nwhy, fmt, ap);
  va_end(ap);
  return 0;
}

static exprc_model *compile(Check *c, int k) {
  const char *name = c->var[k].name;
  exprc_model *m;
  if (exprc_compile_string(c->rm->text, "random.expr", &c->var[k].opt, &m) !=
      EXPRC_OK) {
    bad(c, "%s compile failed: %s", name, exprc_errmsg(m));
    exprc_free(m);
    return NULL;
  }
  for (int i = 0; i < c->rm->nvar; i++) {
    const RandVar *v = &c->rm->var[i];
    if (exprc_set(m, v->name, v->value, v->rank, v->shape) != EXPRC_OK) {
      bad(c, "%s: setting %s: %s", name, v->name, exprc_errmsg(m));
      exprc_free(m);
      return NULL;
    }
  }
  if (exprc_forward(m) != EXPRC_OK || exprc_gradient(m, "loss") != EXPRC_OK) {
    bad(c, "%s run failed: %s", name, exprc_errmsg(m));
    exprc_free(m);
    return NULL;
  }
  return m;
}

static exprc_tensor output_of(exprc_model *m, const char *name) {
  exprc_tensor t = {0};
  exprc_find(m, name, &t);
  return t;
}

static exprc_tensor grad_of(exprc_model *m, const char *wrt) {
  exprc_tensor t = {0};
  exprc_find_grad(m, "loss", wrt, &t);
  return t;
}

static RefModel *reference(Check *c) {
  char err[1024];
  RefModel *r = ref_load(c->rm->text, err, sizeof err);
  if (!r) {
    bad(c, "the reference evaluator cannot load the model: %s", err);
    return NULL;
  }
  for (int i = 0; i < c->rm->nvar; i++) {
    const RandVar *v = &c->rm->var[i];
    if (ref_set(r, v->name, v->value, v->rank, v->shape) != 0) {
      bad(c, "reference: %s", ref_errmsg(r));
      ref_free(r);
      return NULL;
    }
  }
  return r;
}

/* The reference's value of `name` with step h, copied into want (n). */
static int ref_values(Check *c, const char *name, double h, double *want,
                      int64_t n) {
  RefTensor t;
  ref_set_step(c->ref, h);
  if (ref_eval(c->ref, name, &t) != 0)
    return bad(c, "reference cannot evaluate %s: %s", name,
               ref_errmsg(c->ref));
  if (t.size != n)
    return bad(c, "%s has %lld elements; the reference has %lld", name,
               (long long)n, (long long)t.size);
  memcpy(want, t.data, (size_t)n * sizeof *want);
  return 1;
}

static double max_abs(const double *x, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++)
    m = fmax(m, fabs(x[i]));
  return m;
}

/* Every element of output `name` of variant k agrees with the reference,
 * with its default step or, where a kink may be inside it, a smaller one.
 * The reference's values at a step are computed once, when the first
 * element needs them, and serve every element: evaluating the whole output
 * again per element made a check quadratic in the output's size (81
 * elements of a rank-4 y, each a full evaluation with its nested grads). */
static int output_agrees(Check *c, int k, const char *name) {
  exprc_tensor t = output_of(c->m[k], name);
  if (!t.data)
    return bad(c, "%s: no output %s", c->var[k].name, name);
  int nstep = c->fnoise > 0 ? 3 : 1, have = 0; /* steps evaluated so far */
  double *want[3] = {NULL, NULL, NULL}, scale[3];
  int ok = 1;
  for (int64_t e = 0; ok && e < t.size; e++) {
    ok = 0;
    for (int s = 0; !ok && s < nstep; s++) {
      if (s == have) {
        want[s] = malloc((size_t)(t.size ? t.size : 1) * sizeof *want[s]);
        if (!want[s])
          abort(); /* a test helper: out of memory ends the test */
        if (!ref_values(c, name, ref_steps[s], want[s], t.size))
          break; /* bad() has said why */
        scale[s] = fmax(max_abs(want[s], t.size), max_abs(t.data, t.size));
        have++;
      }
      ok = isfinite(want[s][e]) && fabs(t.data[e] - want[s][e]) <=
                                       1e-9 * fabs(want[s][e]) + c->atol +
                                           c->rtol * scale[s];
    }
    if (!ok && have) /* every step evaluated disagrees: the last's value */
      bad(c, "%s: %s[%lld] = %.17g, the reference says %.17g", c->var[k].name,
          name, (long long)e, t.data[e], want[have - 1][e]);
  }
  for (int s = 0; s < 3; s++)
    free(want[s]);
  ref_set_step(c->ref, ref_steps[0]);
  return ok;
}

static double ref_loss(Check *c) {
  RefTensor t;
  if (ref_eval(c->ref, "loss", &t) != 0) {
    bad(c, "reference cannot evaluate loss: %s", ref_errmsg(c->ref));
    return NAN;
  }
  return t.data[0];
}

/* The loss with element x moved by d. */
static double loss_at(Check *c, double *x, double x0, double d) {
  *x = x0 + d;
  double f = ref_loss(c);
  *x = x0;
  return f;
}

/* Does ana agree with the reference's differences around element *x?
 * First the five-point stencil with h = 2^-10 (exact to O(h^4)); then
 * central and one-sided differences with h = 2^-20, for kinks. */
static int fd_agrees(Check *c, double *x, double ana, double f0) {
  double x0 = *x;
  int ex;
  frexp(fmax(1, fabs(x0)), &ex);
  double h = ldexp(1, ex - 11), f[4]; /* 2^-10 for |x| <= 1 */
  static const double at[4] = {-2, -1, 1, 2};
  for (int k = 0; k < 4; k++)
    f[k] = loss_at(c, x, x0, at[k] * h);
  double five = ((f[0] - f[3]) + 8 * (f[2] - f[1])) / (12 * h);
  double noise = (1e3 * 1.1e-16 + c->fnoise) * fmax(1, fabs(f0));
  double scale = fmax(1, fmax(fabs(ana), fabs(five)));
  if (fabs(five - ana) <= 1e-6 * scale + noise / h)
    return 1;
  h = ldexp(1, ex - 21);
  double up = loss_at(c, x, x0, h), down = loss_at(c, x, x0, -h);
  double central = (up - down) / (2 * h), right = (up - f0) / h;
  double left = (f0 - down) / h;
  scale = fmax(1, fmax(fabs(ana), fabs(central)));
  return fabs(central - ana) <= 1e-5 * scale + noise / h ||
         fabs(right - ana) <= 1e-4 * scale + noise / h ||
         fabs(left - ana) <= 1e-4 * scale + noise / h;
}

/* Element e of var v, with the reference's own grads at their default
 * step or, where a kink may lie inside their stencils, smaller ones. */
static int element_agrees(Check *c, const RandVar *v, int64_t e, double ana) {
  int ok = 0;
  for (int s = 0; !ok && s < (c->fnoise > 0 ? 3 : 1); s++) {
    ref_set_step(c->ref, ref_steps[s]);
    double f0 = ref_loss(c);
    double *x = ref_data(c->ref, v->name, NULL);
    ok = x && fd_agrees(c, &x[e], ana, f0);
  }
  ref_set_step(c->ref, ref_steps[0]);
  return ok;
}

/* The compiled model's own loss with element e of var v moved by d. */
static double own_loss(Check *c, const RandVar *v, int64_t e, double d) {
  exprc_tensor x, l;
  exprc_find(c->m[0], v->name, &x);
  double x0 = x.data[e];
  x.data[e] = x0 + d;
  exprc_forward(c->m[0]);
  exprc_find(c->m[0], "loss", &l);
  double f = l.data[0];
  x.data[e] = x0;
  return f;
}

/* A second opinion where the reference's differences reject an element.
 * Where the model holds grad() or hessian(), the reference differentiates
 * its own finite differences, whose noise (and kinks within their stencils)
 * can exceed any fair tolerance; and a loss such as sin(y) with y near 4e5
 * (seed 657975 of a long run) turns too fast for the reference's steps. The
 * compiled model's outputs already agree with the reference's, and it
 * computes inner derivatives symbolically, so five-point differences of the
 * compiled loss, down to steps of 2^-25, judge the gradient pass as an
 * independent evaluation would. */
static int own_differences_agree(Check *c, const RandVar *v, int64_t e,
                                 double ana) {
  static const double at[4] = {-2, -1, 1, 2};
  int ok = 0; /* a smaller step where the loss curves too fast for the first */
  for (double h = 1.0 / 8192; !ok && h > 1.0 / 80000000; h /= 8) {
    double f[4];
    for (int k = 0; k < 4; k++)
      f[k] = own_loss(c, v, e, at[k] * h);
    double five = ((f[0] - f[3]) + 8 * (f[2] - f[1])) / (12 * h);
    ok = fabs(five - ana) <= 1e-6 * fmax(1, fmax(fabs(ana), fabs(five)));
  }
  exprc_forward(c->m[0]); /* back to the model's own values */
  return ok;
}

/* The elements of var v whose gradient is checked: all, or per_var of them
 * spread over it (always the first and the last). */
static int checked(const Check *c, const RandVar *v, int64_t e) {
  if (!c->per_var || v->size <= c->per_var)
    return 1;
  int64_t step = (v->size - 1) / (c->per_var - 1);
  return e == v->size - 1 || (step > 0 && e % step == 0 && e / step < c->per_var);
}

static int gradients_agree_with_differences(Check *c) {
  for (int i = 0; i < c->rm->nvar; i++) {
    const RandVar *v = &c->rm->var[i];
    if (v->int_rows) /* ids: not differentiated */
      continue;
    exprc_tensor g = grad_of(c->m[0], v->name);
    if (!g.data || g.size != v->size)
      return bad(c, "no gradient dloss/d%s", v->name);
    for (int64_t e = 0; e < v->size; e++) {
      /* A spent budget stops here: its elements would be judged by the
       * compiled loss's differences alone, dozens of runs each. */
      if (ref_over_budget(c->ref))
        return bad(c, "the reference's work budget is spent");
      if (checked(c, v, e) && !element_agrees(c, v, e, g.data[e]) &&
          !ref_over_budget(c->ref) &&
          !own_differences_agree(c, v, e, g.data[e]))
        return bad(c, "%s: dloss/d%s[%lld] = %.12g disagrees with finite "
                      "differences of the reference", c->var[0].name, v->name,
                   (long long)e, g.data[e]);
    }
  }
  return !c->why[0];
}

/* Variant k's gradients agree with the first's to about 1e-9 of their
 * magnitude (without the simplifier, forms that lose digits stay). */
static int gradients_agree(Check *c, int k) {
  for (int i = 0; i < c->rm->nvar; i++) {
    const char *w = c->rm->var[i].name;
    if (c->rm->var[i].int_rows)
      continue;
    exprc_tensor a = grad_of(c->m[0], w), b = grad_of(c->m[k], w);
    for (int64_t e = 0; e < a.size; e++)
      if (!(fabs(a.data[e] - b.data[e]) <=
            1e-9 * (1 + fabs(a.data[e]) + fabs(b.data[e]))))
        return bad(c, "dloss/d%s[%lld]: %s %.17g, %s %.17g", w, (long long)e,
                   c->var[0].name, a.data[e], c->var[k].name, b.data[e]);
  }
  return 1;
}

static int same_bits(Check *c, int k, exprc_tensor a, exprc_tensor b,
                     const char *what) {
  if (!a.data || !b.data || a.size != b.size)
    return bad(c, "%s: %s is missing", c->var[k].name, what);
  for (int64_t e = 0; e < a.size; e++)
    if (memcmp(&a.data[e], &b.data[e], sizeof(double)) != 0)
      return bad(c, "%s: %s[%lld] = %.17g, %s gives %.17g", c->var[k].name,
                 what, (long long)e, b.data[e], c->var[0].name, a.data[e]);
  return 1;
}

/* Variant k gives the first variant's results to the bit. */
static int exactly_agrees(Check *c, int k) {
  for (int i = 0; i < c->rm->nout; i++) {
    const char *name = c->rm->out_name[i];
    if (!same_bits(c, k, output_of(c->m[0], name), output_of(c->m[k], name), name))
      return 0;
  }
  exprc_tensor a, b;
  exprc_get(c->m[0], EXPRC_LOSS, 0, &a);
  exprc_get(c->m[k], EXPRC_LOSS, 0, &b);
  if (!same_bits(c, k, a, b, "loss of the gradient entry point"))
    return 0;
  for (int i = 0; i < c->rm->nvar; i++) {
    const char *w = c->rm->var[i].name;
    if (c->rm->var[i].int_rows)
      continue;
    char what[32];
    snprintf(what, sizeof what, "dloss/d%s", w);
    if (!same_bits(c, k, grad_of(c->m[0], w), grad_of(c->m[k], w), what))
      return 0;
  }
  return 1;
}

static int outputs_agree(Check *c, int k) {
  for (int i = 0; i < c->rm->nout; i++)
    if (!output_agrees(c, k, c->rm->out_name[i]))
      return 0;
  return 1;
}

/* Variant k's outputs against the reference (a variant that need not
 * agree to the bit); 1 as well once the reference's budget is spent. */
static int outputs_agree_within_budget(Check *c, int k) {
  if (c->over)
    return 1;
  c->ref_phase = 1;
  int ok = outputs_agree(c, k);
  c->ref_phase = 0;
  return ok || c->over;
}

static void check_all(Check *c) {
  for (int k = 0; k < c->nv; k++)
    if (!(c->m[k] = compile(c, k)))
      return;
  if (!(c->ref = reference(c)))
    return;
  ref_set_budget(c->ref, c->budget);
  int h = c->rm->hessians > 0 || c->rm->nested > 0, g = c->rm->grads > 0;
  c->rtol = h ? 1e-5 : g ? 1e-6 : 0;
  c->atol = h ? 1e-6 : g ? 1e-8 : 1e-9;
  c->fnoise = h ? 1e-8 : g ? 1e-10 : 0;
  c->ref_phase = 1;
  int ok = outputs_agree(c, 0) && gradients_agree_with_differences(c);
  c->ref_phase = 0;
  if (!ok && !c->over)
    return; /* over budget, the variants are still held to each other */
  for (int k = 1; k < c->nv; k++)
    if (c->var[k].exact ? !exactly_agrees(c, k)
                        : !outputs_agree_within_budget(c, k) ||
                              !gradients_agree(c, k))
      return;
}

int randmodel_check(const RandModel *m, const RandVariant *v, int nv,
                    char *why, size_t n) {
  return randmodel_check_sampled(m, v, nv, 0, why, n);
}

int randmodel_check_sampled(const RandModel *m, const RandVariant *v, int nv,
                            int per_var, char *why, size_t n) {
  return randmodel_check_bounded(m, v, nv, per_var, 0, NULL, why, n);
}

int randmodel_check_bounded(const RandModel *m, const RandVariant *v, int nv,
                            int per_var, uint64_t budget, int *over,
                            char *why, size_t n) {
  exprc_model *models[32] = {0};
  Check c = {.rm = m, .var = v, .nv = nv < 32 ? nv : 32, .m = models,
             .why = why, .nwhy = n, .per_var = per_var, .budget = budget};
  why[0] = 0;
  check_all(&c);
  for (int k = 0; k < c.nv; k++)
    exprc_free(models[k]);
  ref_free(c.ref);
  if (over)
    *over = c.over;
  return !why[0];
}

void randmodel_print(const RandModel *m, const char *why, FILE *f) {
  fprintf(f, "\n==== random model %llu FAILED: %s\n%s",
          (unsigned long long)m->seed, why, m->text);
  for (int i = 0; i < m->nvar; i++) {
    const RandVar *v = &m->var[i];
    fprintf(f, "# %s =", v->name);
    for (int64_t e = 0; e < v->size; e++)
      fprintf(f, " %.17g", v->value[e]);
    fprintf(f, "\n");
  }
}

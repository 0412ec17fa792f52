/* refeval.c: the reference evaluator (see refeval.h): a tree-walking
 * interpreter over the parser's syntax tree, written from the language's
 * description (README, "The language") and NumPy's rules, not from the
 * compiler's lowering.
 *
 * Values are dense C-order float64 arrays in an arena. Evaluation is lazy
 * and memoised: a named value is computed when first referenced and kept
 * while the inputs it may depend on are unchanged. A `def` is evaluated by
 * binding its parameters to the unevaluated argument expressions (with the
 * caller's scope), so that grad(e, v) inside a def body differentiates
 * through the arguments, as inlining does.
 *
 * grad(e, v) perturbs one element of v's storage at a time and evaluates e
 * again. Every perturbation gets a fresh "epoch": memoised values record the
 * epoch they were computed in and are recomputed in any other, and the arena
 * is rolled back to a mark after each evaluation, so that nested grads and
 * hessians run in bounded memory. When the element is restored, the epoch
 * before the perturbation is restored with it and its values are valid
 * again (they were computed from bit-identical inputs).
 */
#include "refeval.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser.h"

/* ---- values and the arena ---- */

typedef struct T {
  int rank;
  int64_t d[REF_MAX_RANK];
  int64_t n;
  double *v;
} T;

typedef struct Blk {
  struct Blk *next;
  size_t used, cap;
  max_align_t data[];
} Blk;

typedef struct Mark {
  Blk *b;
  size_t used;
} Mark;

typedef enum { B_DIM, B_VAR, B_VALUE, B_DEF } BindKind;

typedef struct Bind {
  const char *name;
  BindKind kind;
  int idx;       /* into dim, var or val; B_DEF: statement index */
  uint32_t stmt; /* visible to statements after this one */
} Bind;

typedef struct Var {
  Stmt *st;
  uint32_t stmt;
  int rank;
  int64_t d[REF_MAX_RANK]; /* constant sizes; 0 where dimof >= 0 */
  int dimof[REF_MAX_RANK]; /* the dim sizing each axis, or -1 */
  double *data;            /* malloc'd once set */
  int64_t n;
} Var;

typedef struct Value {
  const char *name;
  Ast *expr;
  int part, nparts; /* a, b = f(...): result `part` of nparts; 0 parts: one */
  uint32_t stmt;
  uint64_t epoch; /* of val; 0: none */
  int active;     /* being evaluated: a cycle */
  T val;
} Value;

typedef struct Output {
  const char *name;
  Ast *expr;
  uint32_t stmt;
} Output;

/* An argument of an inlined def: its expression, the scope it is
 * evaluated in, and its value in one epoch. */
typedef struct Arg {
  Ast *a;
  struct Scope *s;
  uint64_t epoch;
  T val;
  int part, nparts; /* a local of a destructuring: result part of nparts */
  int fixed;        /* val is given (a carry of scan or fold), not computed */
} Arg;

/* The parameters of an inlined def; `up` is the scope its call was
 * evaluated in, so that the chain names the defs being inlined. */
typedef struct Scope {
  Stmt *def;
  Arg *arg;
  struct Scope *up;
  Arg *loc;  /* a block def's locals, one per name of its body ... */
  int nloc;  /* ... of which the first nloc are assigned so far */
} Scope;

typedef struct Pert {
  double *x, x0;
} Pert;

struct RefModel {
  Ctx c;
  char *src;
  Program *prog;
  Bind *bind;
  int nbind;
  Var *var;
  int nvar;
  Value *val;
  int nval;
  const char **dimname;
  int64_t *dimsize; /* 0: unbound */
  int ndim;
  Output *out;
  int nout;
  Stmt **grad;
  int ngrad;
  Blk *head, *cur;
  uint64_t epoch, epochs;
  uint32_t visible; /* statements before this index are visible */
  double step;
  Pert pert[256]; /* elements perturbed now, restored on an error */
  int npert;
  jmp_buf *jb;
  char msg[1024];
};

typedef RefModel M;

static T ev(M *m, Ast *a, Scope *s);
static void ev_results(M *m, Ast *a, Scope *s, T *out, int n);
static T part_value(M *m, Ast *a, Scope *s, int part, int nparts);
static void scan_eval(M *m, Ast *a, Scope *s, T *out, int n, int fold);
static int is_loop_call(M *m, Ast *a);

static NORETURN void ref_nomem(M *m);

static NORETURN PRINTF(3, 4) void fail(M *m, const Ast *a, const char *fmt,
                                        ...) {
  va_list ap;
  int k = 0;
  if (a)
    k = snprintf(m->msg, sizeof m->msg, "%u:%u: error: ", a->pos.line,
                 a->pos.col);
  va_start(ap, fmt);
  vsnprintf(m->msg + k, sizeof m->msg - (size_t)k, fmt, ap);
  va_end(ap);
  longjmp(*m->jb, 1);
}

static NORETURN void ref_nomem(M *m) {
  snprintf(m->msg, sizeof m->msg, "out of memory");
  longjmp(*m->jb, 1);
}

static void *arena_alloc(M *m, size_t n) {
  n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
  if (!m->cur)
    m->cur = m->head;
  while (m->cur && m->cur->cap - m->cur->used < n && m->cur->next &&
         m->cur->next->cap >= n)
    m->cur = m->cur->next; /* blocks after cur are empty */
  if (!m->cur || m->cur->cap - m->cur->used < n) {
    size_t cap = n > (1u << 20) ? n : (1u << 20);
    Blk *b = malloc(sizeof(Blk) + cap);
    if (!b)
      ref_nomem(m);
    b->used = 0, b->cap = cap;
    if (m->cur) {
      b->next = m->cur->next;
      m->cur->next = b;
    } else {
      b->next = m->head;
      m->head = b;
    }
    m->cur = b;
  }
  void *p = (char *)m->cur->data + m->cur->used;
  m->cur->used += n;
  return p;
}

static Mark mark(M *m) {
  return m->cur ? (Mark){m->cur, m->cur->used} : (Mark){NULL, 0};
}

static void release(M *m, Mark k) {
  Blk *b = k.b ? k.b : m->head;
  if (!b)
    return;
  b->used = k.b ? k.used : 0;
  for (Blk *x = b->next; x; x = x->next)
    x->used = 0;
  m->cur = b;
}

static int64_t numel(int rank, const int64_t *d) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++)
    n *= d[i];
  return n;
}

static T tensor(M *m, int rank, const int64_t *d) {
  T t = {.rank = rank};
  for (int i = 0; i < rank; i++)
    t.d[i] = d[i];
  t.n = numel(rank, d);
  t.v = arena_alloc(m, (size_t)t.n * sizeof(double));
  return t;
}

static T scalar_t(M *m, double x) {
  T t = tensor(m, 0, NULL);
  t.v[0] = x;
  return t;
}

static char *shape_text(const T *t, char *buf, size_t n) {
  size_t k = (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < t->rank && k < n; i++)
    k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "," : "",
                          (long long)t->d[i]);
  if (k < n)
    snprintf(buf + k, n - k, "]");
  return buf;
}

static NORETURN void mismatch(M *m, const Ast *a, const T *x, const T *y,
                              const char *what) {
  char s1[64], s2[64];
  fail(m, a, "shapes %s and %s do not match for '%s'",
       shape_text(x, s1, sizeof s1), shape_text(y, s2, sizeof s2), what);
}

/* The value of a rank-0 tensor. */
static double scalar_of(M *m, const Ast *a, T t, const char *what) {
  if (t.rank != 0) {
    char s[64];
    fail(m, a, "%s must be a scalar, not %s", what,
         shape_text(&t, s, sizeof s));
  }
  return t.v[0];
}

static int64_t int_of(M *m, Ast *a, Scope *s, const char *what, int64_t lo,
                      int64_t hi) {
  double x = scalar_of(m, a, ev(m, a, s), what);
  if (x != floor(x) || x < (double)lo || x > (double)hi)
    fail(m, a, "%s must be a whole number from %lld to %lld, not %.15g", what,
         (long long)lo, (long long)hi, x);
  return (int64_t)x;
}

/* ---- names ---- */

static Bind *find(M *m, const char *name, uint32_t visible) {
  for (int i = 0; i < m->nbind; i++)
    if (strcmp(m->bind[i].name, name) == 0)
      return m->bind[i].stmt < visible ? &m->bind[i] : NULL;
  return NULL;
}

/* The name of local k of block def d (its statements' names in order). */
static const char *local_name(const Stmt *d, int k, Pos *pos) {
  for (int i = 0; i < d->nbody; i++) {
    const Stmt *st = &d->body[i];
    int n = st->nnames ? st->nnames : 1;
    if (k < n) {
      *pos = st->nnames ? st->namespos[k] : st->namepos;
      return st->nnames ? st->names[k] : st->name;
    }
    k -= n;
  }
  return NULL;
}

static Arg *param_arg(Scope *s, const char *name) {
  if (!s)
    return NULL;
  for (int i = 0; i < s->def->nparams; i++)
    if (strcmp(s->def->params[i], name) == 0)
      return &s->arg[i];
  Pos p;
  for (int k = 0; k < s->nloc; k++)
    if (strcmp(local_name(s->def, k, &p), name) == 0)
      return &s->loc[k];
  return NULL;
}

static T var_value(M *m, const Ast *a, int k) {
  Var *v = &m->var[k];
  if (!v->data)
    fail(m, a, "'%s' has no value; set it first", v->st->name);
  T t = {.rank = v->rank};
  for (int i = 0; i < v->rank; i++)
    t.d[i] = v->dimof[i] >= 0 ? m->dimsize[v->dimof[i]] : v->d[i];
  t.n = v->n;
  t.v = arena_alloc(m, (size_t)t.n * sizeof(double));
  memcpy(t.v, v->data, (size_t)t.n * sizeof(double));
  return t;
}

/* A named value, computed once per epoch; its expression sees the names
 * declared before its statement. */
static T value_of(M *m, const Ast *a, Value *v) {
  if (v->epoch == m->epoch)
    return v->val;
  if (v->active)
    fail(m, a, "'%s' depends on itself", v->name);
  uint32_t vis = m->visible;
  v->active = 1;
  m->visible = v->stmt;
  T t = part_value(m, v->expr, NULL, v->part, v->nparts);
  m->visible = vis;
  v->active = 0;
  v->val = t;
  v->epoch = m->epoch;
  return t;
}

/* Result `part` of the nparts of expression a (nparts 0: its one value). */
static T part_value(M *m, Ast *a, Scope *s, int part, int nparts) {
  if (!nparts)
    return ev(m, a, s);
  T *r = arena_alloc(m, (size_t)nparts * sizeof *r);
  ev_results(m, a, s, r, nparts);
  return r[part];
}

static T arg_value(M *m, Arg *g) {
  if (!g->fixed && g->epoch != m->epoch) {
    g->val = part_value(m, g->a, g->s, g->part, g->nparts);
    g->epoch = m->epoch;
  }
  return g->val;
}

static T name_ref(M *m, Ast *a, Scope *s) {
  Arg *g = param_arg(s, a->name);
  if (g)
    return arg_value(m, g);
  Bind *b = find(m, a->name, m->visible);
  if (!b)
    fail(m, a, "unknown name '%s'", a->name);
  switch (b->kind) {
  case B_DIM:
    if (!m->dimsize[b->idx])
      fail(m, a, "dim '%s' is not bound", a->name);
    return scalar_t(m, (double)m->dimsize[b->idx]);
  case B_VAR:
    return var_value(m, a, b->idx);
  case B_VALUE:
    return value_of(m, a, &m->val[b->idx]);
  case B_DEF:
    break;
  }
  fail(m, a, "'%s' is a function; call it with arguments", a->name);
}

/* ---- elementwise operations with NumPy broadcasting ---- */

typedef enum {
  E_ADD, E_SUB, E_MUL, E_DIV, E_POW, E_MAXIMUM, E_MINIMUM,
  E_LT, E_LE, E_GT, E_GE, E_EQ, E_NE, E_WHERE, E_NEG,
  E_EXP, E_LOG, E_SQRT, E_ABS, E_SIGN, E_SIN, E_COS, E_TAN, E_TANH,
  E_SIGMOID, E_RELU, E_SOFTPLUS, E_LOG1P, E_EXPM1
} Ew;

static const struct {
  const char *name;
  int arity;
  Ew op;
} ew_funcs[] = {
    {"exp", 1, E_EXP},       {"log", 1, E_LOG},         {"sqrt", 1, E_SQRT},
    {"abs", 1, E_ABS},       {"sign", 1, E_SIGN},       {"sin", 1, E_SIN},
    {"cos", 1, E_COS},       {"tan", 1, E_TAN},         {"tanh", 1, E_TANH},
    {"sigmoid", 1, E_SIGMOID}, {"relu", 1, E_RELU},     {"softplus", 1, E_SOFTPLUS},
    {"log1p", 1, E_LOG1P},   {"expm1", 1, E_EXPM1},     {"pow", 2, E_POW},
    {"maximum", 2, E_MAXIMUM}, {"minimum", 2, E_MINIMUM}, {"where", 3, E_WHERE},
};

static const struct {
  const char *op;
  Ew ew;
} ew_binops[] = {
    {"+", E_ADD}, {"-", E_SUB}, {"*", E_MUL}, {"/", E_DIV}, {"^", E_POW},
    {"<", E_LT},  {"<=", E_LE}, {">", E_GT},  {">=", E_GE}, {"==", E_EQ},
    {"!=", E_NE},
};

/* One element of an elementwise op on its operands a[0..2]. */
static double ew_value(Ew op, const double *a) {
  double x = a[0];
  switch (op) {
  case E_ADD: return a[0] + a[1];
  case E_SUB: return a[0] - a[1];
  case E_MUL: return a[0] * a[1];
  case E_DIV: return a[0] / a[1];
  case E_POW: return pow(a[0], a[1]);
  case E_MAXIMUM: return a[0] >= a[1] ? a[0] : a[1];
  case E_MINIMUM: return a[0] <= a[1] ? a[0] : a[1];
  case E_LT: return a[0] < a[1];
  case E_LE: return a[0] <= a[1];
  case E_GT: return a[0] > a[1];
  case E_GE: return a[0] >= a[1];
  case E_EQ: return a[0] == a[1];
  case E_NE: return a[0] != a[1];
  case E_WHERE: return a[0] != 0 ? a[1] : a[2];
  case E_NEG: return -x;
  case E_EXP: return exp(x);
  case E_LOG: return log(x);
  case E_SQRT: return sqrt(x);
  case E_ABS: return fabs(x);
  case E_SIGN: return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0;
  case E_SIN: return sin(x);
  case E_COS: return cos(x);
  case E_TAN: return tan(x);
  case E_TANH: return tanh(x);
  case E_SIGMOID: return 1.0 / (1.0 + exp(-x));
  case E_RELU: return x > 0 ? x : 0.0;
  /* log(1 + e^x) = max(x, 0) + log(1 + e^-|x|): never overflows */
  case E_SOFTPLUS: return (x > 0 ? x : 0.0) + log1p(exp(-fabs(x)));
  case E_LOG1P: return log1p(x);
  case E_EXPM1: return expm1(x);
  }
  return NAN;
}

/* NumPy: align shapes at the right; sizes must be equal or 1. */
static int broadcast_shape(const T *x, const T *y, T *out) {
  T r = {.rank = x->rank > y->rank ? x->rank : y->rank};
  for (int i = 0; i < r.rank; i++) {
    int ix = i - (r.rank - x->rank), iy = i - (r.rank - y->rank);
    int64_t a = ix >= 0 ? x->d[ix] : 1, b = iy >= 0 ? y->d[iy] : 1;
    if (a != b && a != 1 && b != 1)
      return 0;
    r.d[i] = a == 1 ? b : a;
  }
  *out = r; /* out may be x */
  return 1;
}

/* The step in x's data for one step along each axis of `out`; 0 along the
 * axes x is broadcast over. */
static void bstrides(const T *x, const T *out, int64_t *st) {
  int64_t s = 1;
  for (int i = out->rank - 1; i >= 0; i--) {
    int j = i - (out->rank - x->rank);
    if (j < 0) {
      st[i] = 0;
      continue;
    }
    st[i] = x->d[j] == 1 ? 0 : s;
    s *= x->d[j];
  }
}

static void unravel(int64_t e, const T *t, int64_t *idx) {
  for (int i = t->rank - 1; i >= 0; i--) {
    idx[i] = e % t->d[i];
    e /= t->d[i];
  }
}

static T elementwise(M *m, const Ast *a, const char *what, Ew op, int nin,
                     const T *in) {
  T out = in[0];
  for (int k = 1; k < nin; k++)
    if (!broadcast_shape(&out, &in[k], &out))
      mismatch(m, a, &out, &in[k], what);
  out = tensor(m, out.rank, out.d);
  int64_t st[3][REF_MAX_RANK], idx[REF_MAX_RANK];
  for (int k = 0; k < nin; k++)
    bstrides(&in[k], &out, st[k]);
  for (int64_t e = 0; e < out.n; e++) {
    unravel(e, &out, idx);
    double v[3] = {0, 0, 0};
    for (int k = 0; k < nin; k++) {
      int64_t off = 0;
      for (int i = 0; i < out.rank; i++)
        off += idx[i] * st[k][i];
      v[k] = in[k].v[off];
    }
    out.v[e] = ew_value(op, v);
  }
  return out;
}

/* ---- reductions and normalisers ---- */

typedef enum { R_SUM, R_MEAN, R_MAX, R_MIN, R_LSE } Red;

static double max_of(const double *x, int64_t len, int64_t stride) {
  double r = x[0];
  for (int64_t j = 1; j < len; j++)
    if (x[j * stride] > r || x[j * stride] != x[j * stride])
      r = x[j * stride];
  return r;
}

/* f over len elements x[0], x[stride], ... */
static double reduce_run(Red f, const double *x, int64_t len, int64_t stride) {
  double r = 0;
  switch (f) {
  case R_SUM:
  case R_MEAN:
    for (int64_t j = 0; j < len; j++)
      r += x[j * stride];
    return f == R_MEAN ? r / (double)len : r;
  case R_MAX:
    return max_of(x, len, stride);
  case R_MIN:
    r = x[0];
    for (int64_t j = 1; j < len; j++)
      if (x[j * stride] < r || x[j * stride] != x[j * stride])
        r = x[j * stride];
    return r;
  case R_LSE: {
    double mx = max_of(x, len, stride);
    if (!isfinite(mx)) /* all -inf, or an inf or NaN that wins anyway */
      return mx;
    for (int64_t j = 0; j < len; j++)
      r += exp(x[j * stride] - mx);
    return mx + log(r);
  }
  }
  return NAN;
}

/* An axis argument: -rank..rank-1, negative counting from the end. */
static int axis_of(M *m, Ast *a, Scope *s, int rank) {
  if (rank == 0)
    fail(m, a, "a scalar has no axis");
  int64_t k = int_of(m, a, s, "axis", -rank, rank - 1);
  return (int)(k < 0 ? k + rank : k);
}

/* Elements (o, j, i) of x along axis k lie at o*len*inner + j*inner + i. */
static void split_axis(const T *x, int k, int64_t *outer, int64_t *len,
                       int64_t *inner) {
  *outer = numel(k, x->d);
  *len = x->d[k];
  *inner = numel(x->rank - k - 1, x->d + k + 1);
}

static T reduce_axis(M *m, Red f, const T *x, int k) {
  int64_t outer, len, inner, d[REF_MAX_RANK];
  split_axis(x, k, &outer, &len, &inner);
  int r = 0;
  for (int i = 0; i < x->rank; i++)
    if (i != k)
      d[r++] = x->d[i];
  T out = tensor(m, r, d);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++)
      out.v[o * inner + i] =
          reduce_run(f, x->v + o * len * inner + i, len, inner);
  return out;
}

static T reduction(M *m, Ast *a, Scope *s, Red f) {
  if (a->nkid < 1 || a->nkid > 2)
    fail(m, a, "'%s' takes 1 to 2 arguments, not %d", a->name, a->nkid);
  T x = ev(m, a->kid[0], s);
  if (a->nkid == 2)
    return reduce_axis(m, f, &x, axis_of(m, a->kid[1], s, x.rank));
  return scalar_t(m, reduce_run(f, x.v, x.n, 1));
}

/* softmax: exp(x - max) / sum exp(x - max); log_softmax: x - max - log of
 * that sum; along one axis, by default the last. */
static T normaliser(M *m, Ast *a, Scope *s, int logf) {
  if (a->nkid < 1 || a->nkid > 2)
    fail(m, a, "'%s' takes 1 to 2 arguments, not %d", a->name, a->nkid);
  T x = ev(m, a->kid[0], s);
  if (x.rank == 0 && a->nkid == 1) { /* one element: softmax 1, log 0 */
    T o = scalar_t(m, x.v[0] - x.v[0]);
    o.v[0] = logf ? o.v[0] : exp(o.v[0]);
    return o;
  }
  int k = a->nkid == 2 ? axis_of(m, a->kid[1], s, x.rank) : x.rank - 1;
  int64_t outer, len, inner;
  split_axis(&x, k, &outer, &len, &inner);
  T out = tensor(m, x.rank, x.d);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      const double *p = x.v + o * len * inner + i;
      double *q = out.v + o * len * inner + i, mx = max_of(p, len, inner);
      double sum = 0;
      for (int64_t j = 0; j < len; j++)
        sum += exp(p[j * inner] - mx);
      for (int64_t j = 0; j < len; j++)
        q[j * inner] = logf ? p[j * inner] - mx - log(sum)
                            : exp(p[j * inner] - mx) / sum;
    }
  return out;
}

/* ---- shapes: matmul, transpose, reshape, indexing ---- */

/* [m,k]@[k,n] -> [m,n], [m,k]@[k] -> [m], [k]@[k,n] -> [n], [k]@[k] -> [] */
static T matmul(M *m, const Ast *a, const char *what, const T *x, const T *y) {
  if (x->rank < 1 || x->rank > 2 || y->rank < 1 || y->rank > 2 ||
      x->d[x->rank - 1] != y->d[0])
    mismatch(m, a, x, y, what);
  int64_t rows = x->rank == 2 ? x->d[0] : 1, k = y->d[0];
  int64_t cols = y->rank == 2 ? y->d[1] : 1, d[2] = {0, 0};
  int r = 0;
  if (x->rank == 2)
    d[r++] = rows;
  if (y->rank == 2)
    d[r++] = cols;
  T out = tensor(m, r, d);
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) {
      double acc = 0;
      for (int64_t l = 0; l < k; l++)
        acc += x->v[i * k + l] * y->v[l * cols + j];
      out.v[i * cols + j] = acc;
    }
  return out;
}

static T transpose(M *m, const T *x) {
  int64_t d[REF_MAX_RANK], idx[REF_MAX_RANK];
  for (int i = 0; i < x->rank; i++)
    d[i] = x->d[x->rank - 1 - i];
  T out = tensor(m, x->rank, d);
  for (int64_t e = 0; e < x->n; e++) {
    unravel(e, x, idx);
    int64_t off = 0;
    for (int i = 0; i < x->rank; i++)
      off = off * d[i] + idx[x->rank - 1 - i];
    out.v[off] = x->v[e];
  }
  return out;
}

/* reshape(x, [a, b, ...]): the same elements in C order; one size may be
 * -1, inferred from the others. */
static T reshape(M *m, Ast *a, Scope *s) {
  if (a->nkid != 2)
    fail(m, a, "'reshape' takes 2 arguments, not %d", a->nkid);
  T x = ev(m, a->kid[0], s);
  Ast *l = a->kid[1];
  if (l->kind != A_LIST || l->nkid > REF_MAX_RANK)
    fail(m, l, "reshape takes its new shape as a list of at most %d sizes",
         REF_MAX_RANK);
  T out = {.rank = l->nkid};
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < l->nkid; i++) {
    out.d[i] = int_of(m, l->kid[i], s, "a size", -1, INT32_MAX);
    if (out.d[i] == 0 || (out.d[i] == -1 && infer >= 0))
      fail(m, l->kid[i], "sizes are positive; one may be -1 (inferred)");
    if (out.d[i] == -1)
      infer = i;
    else
      known *= out.d[i];
  }
  if (infer >= 0 && x.n % known == 0)
    out.d[infer] = x.n / known;
  if (numel(out.rank, out.d) != x.n || (infer >= 0 && x.n % known))
    fail(m, a, "cannot reshape %lld elements to this shape", (long long)x.n);
  out.n = x.n;
  out.v = x.v; /* values are never written after they are made */
  return out;
}

/* One index item for an axis of size d: an integer (the axis is dropped)
 * or lo:hi with NumPy's defaults, negative bounds and clipping. */
static void index_item(M *m, Ast *it, Scope *s, int64_t d, int64_t *start,
                       int64_t *size, int *drop) {
  *drop = it->kind != A_SLICE;
  if (*drop) {
    int64_t i = int_of(m, it, s, "an index", -d, d - 1);
    *start = i < 0 ? i + d : i, *size = 1;
    return;
  }
  int64_t b[2] = {0, d};
  for (int k = 0; k < 2; k++) {
    if (!it->kid[k])
      continue;
    b[k] = int_of(m, it->kid[k], s, "a slice bound", INT32_MIN, INT32_MAX);
    b[k] = b[k] < 0 ? b[k] + d : b[k];
    b[k] = b[k] < 0 ? 0 : b[k] > d ? d : b[k];
  }
  if (b[1] <= b[0])
    fail(m, it, "empty slice (%lld:%lld)", (long long)b[0], (long long)b[1]);
  *start = b[0], *size = b[1] - b[0];
}

static T index_expr(M *m, Ast *a, Scope *s) {
  T x = ev(m, a->kid[0], s);
  if (a->nkid - 1 > x.rank)
    fail(m, a, "%d indices for a tensor of rank %d", a->nkid - 1, x.rank);
  T win = x;
  int64_t start[REF_MAX_RANK] = {0}, d[REF_MAX_RANK] = {0}, idx[REF_MAX_RANK];
  int r = 0;
  for (int j = 0; j < x.rank; j++) {
    int drop = 0;
    if (j + 1 < a->nkid)
      index_item(m, a->kid[j + 1], s, x.d[j], &start[j], &win.d[j], &drop);
    if (!drop)
      d[r++] = win.d[j];
  }
  win.n = numel(win.rank, win.d);
  T out = tensor(m, r, d);
  for (int64_t e = 0; e < win.n; e++) {
    unravel(e, &win, idx);
    int64_t off = 0;
    for (int j = 0; j < x.rank; j++)
      off = off * x.d[j] + start[j] + idx[j];
    out.v[e] = x.v[off];
  }
  return out;
}

/* ---- tensor literals ---- */

static void literal_shape(M *m, Ast *a, int level, T *t, int *set) {
  if (a->kind != A_LIST) {
    if (*set && t->rank != level)
      fail(m, a, "tensor literal is ragged");
    t->rank = level, *set = 1;
    return;
  }
  if (level >= REF_MAX_RANK || a->nkid == 0)
    fail(m, a, "tensor literal is empty or has too many dimensions");
  if (*set && level >= t->rank)
    fail(m, a, "tensor literal is ragged");
  if (t->d[level] && t->d[level] != a->nkid)
    fail(m, a, "tensor literal is ragged");
  t->d[level] = a->nkid;
  for (int i = 0; i < a->nkid; i++)
    literal_shape(m, a->kid[i], level + 1, t, set);
}

static void literal_fill(M *m, Ast *a, Scope *s, double **p) {
  if (a->kind != A_LIST) {
    *(*p)++ = scalar_of(m, a, ev(m, a, s), "an element of a tensor literal");
    return;
  }
  for (int i = 0; i < a->nkid; i++)
    literal_fill(m, a->kid[i], s, p);
}

static T literal(M *m, Ast *a, Scope *s) {
  T t = {0};
  int set = 0;
  literal_shape(m, a, 0, &t, &set);
  t = tensor(m, t.rank, t.d);
  double *p = t.v;
  literal_fill(m, a, s, &p);
  return t;
}

/* ---- grad and hessian by finite differences of the evaluator ---- */

/* The input or param that `a` names, through def parameters and values that
 * are just another name (`y = x`); -1 if it names none. */
static int named_var(M *m, Ast *a, Scope *s) {
  uint32_t vis = m->visible;
  for (;;) {
    if (a->kind == A_UNARY && a->op[0] == '+') {
      a = a->kid[0];
      continue;
    }
    if (a->kind != A_NAME)
      return -1;
    Arg *g = param_arg(s, a->name);
    if (g && g->fixed)
      return -1; /* a carry or row of scan: a value, not a variable */
    if (g) {
      a = g->a, s = g->s;
      continue;
    }
    Bind *b = find(m, a->name, vis);
    if (!b || (b->kind != B_VAR && b->kind != B_VALUE))
      return -1;
    if (b->kind == B_VAR)
      return b->idx;
    a = m->val[b->idx].expr, s = NULL, vis = m->val[b->idx].stmt;
  }
}

/* e, a scalar, at the current values, in an epoch of its own; its
 * temporaries are released. */
static double eval_fresh(M *m, Ast *e, Scope *s) {
  Mark k = mark(m);
  m->epoch = ++m->epochs;
  double f = ev(m, e, s).v[0];
  release(m, k);
  return f;
}

/* h * max(1, |x|) rounded up to a power of two, so that x +- h and x +- 2h
 * are exact for the |x| of tests. */
static double step_for(const M *m, double x) {
  int ex;
  frexp(fmax(1.0, fabs(x)), &ex); /* 2^(ex-1) <= max(1, |x|) < 2^ex */
  return ldexp(m->step, ex - 1);
}

static void perturb_begin(M *m, double *x) {
  if (m->npert == (int)(sizeof m->pert / sizeof m->pert[0]))
    fail(m, NULL, "grad and hessian nested too deeply");
  m->pert[m->npert++] = (Pert){x, *x};
}

static void perturb_end(M *m, uint64_t epoch) {
  Pert p = m->pert[--m->npert];
  *p.x = p.x0;
  m->epoch = epoch; /* the inputs are as they were: so are its values */
}

/* d e / d x[i] by the five-point stencil. `sample` computes e (or, for a
 * hessian, the gradient vector into out) at the current values. */
typedef void (*Sample)(M *m, Ast *e, Scope *s, int var, double *out);

static void sample_value(M *m, Ast *e, Scope *s, int var, double *out) {
  (void)var;
  *out = eval_fresh(m, e, s);
}

/* tmp holds 4 * nout samples. The combination (f(-2h) - f(2h)) + 8 (f(h) -
 * f(-h)) is exactly 0 where e does not change. */
static void stencil(M *m, Ast *e, Scope *s, int var, int64_t i, Sample f,
                    int64_t nout, double *out, double *tmp) {
  double *x = &m->var[var].data[i], x0 = *x, h = step_for(m, x0);
  static const double at[4] = {-2, -1, 1, 2};
  uint64_t epoch = m->epoch;
  perturb_begin(m, x);
  for (int k = 0; k < 4; k++) {
    *x = x0 + at[k] * h;
    m->epoch = ++m->epochs;
    f(m, e, s, var, tmp + k * nout);
  }
  perturb_end(m, epoch);
  for (int64_t j = 0; j < nout; j++) {
    const double *t = tmp + j;
    out[j] = ((t[0] - t[3 * nout]) + 8 * (t[2 * nout] - t[nout])) / (12 * h);
  }
}

/* grad(e, v), checking as the language does that v is an input or param
 * and e a scalar. */
static int grad_args(M *m, Ast *a, Scope *s) {
  if (a->nkid != 2)
    fail(m, a, "'%s' takes 2 arguments, not %d", a->name, a->nkid);
  int var = named_var(m, a->kid[1], s);
  if (var < 0)
    fail(m, a->kid[1], "%s needs an input or param to differentiate by",
         a->name);
  T e = ev(m, a->kid[0], s);
  scalar_of(m, a->kid[0], e, "the expression to differentiate");
  var_value(m, a->kid[1], var); /* set, and its dims bound */
  return var;
}

static void sample_grad(M *m, Ast *e, Scope *s, int var, double *out) {
  int64_t n = m->var[var].n;
  for (int64_t i = 0; i < n; i++) {
    double g, tmp[4];
    stencil(m, e, s, var, i, sample_value, 1, &g, tmp);
    out[i] = g;
  }
}

static T grad_call(M *m, Ast *a, Scope *s) {
  int var = grad_args(m, a, s);
  T g = var_value(m, a, var);
  sample_grad(m, a->kid[0], s, var, g.v);
  return g;
}

/* hessian(e, v): [n, n], row k the gradient of the k-th element of
 * grad(e, v) (v flattened in C order): the stencil of the stencil. */
static T hessian_call(M *m, Ast *a, Scope *s) {
  int var = grad_args(m, a, s);
  int64_t n = m->var[var].n;
  if (n > 256)
    fail(m, a->kid[1], "hessian is for up to 256 elements");
  T h = tensor(m, 2, (int64_t[]){n, n});
  double *col = arena_alloc(m, (size_t)n * sizeof(double));
  double *tmp = arena_alloc(m, 4 * (size_t)n * sizeof(double));
  for (int64_t j = 0; j < n; j++) {
    stencil(m, a->kid[0], s, var, j, sample_grad, n, col, tmp);
    for (int64_t k = 0; k < n; k++)
      h.v[k * n + j] = col[k];
  }
  return h;
}

/* ---- calls ---- */

/* The scope of a call of block def d: each local an Arg evaluated (once
 * per epoch) in a copy of the scope that sees only the locals before it. */
static void bind_locals(M *m, Scope *in) {
  Stmt *d = in->def;
  int n = 0;
  for (int i = 0; i < d->nbody; i++)
    n += d->body[i].nnames ? d->body[i].nnames : 1;
  in->loc = arena_alloc(m, (size_t)(n + 1) * sizeof *in->loc);
  int k = 0;
  for (int i = 0; i < d->nbody; i++) {
    Stmt *st = &d->body[i];
    Scope *before = arena_alloc(m, sizeof *before);
    *before = *in;
    before->nloc = k;
    int parts = st->nnames ? st->nnames : 1;
    for (int j = 0; j < parts; j++, k++) {
      Pos p;
      const char *name = local_name(d, k, &p);
      Ast at = {.pos = p};
      if (param_arg(before, name) || find(m, name, m->visible))
        fail(m, &at, "local '%s' hides another name", name);
      for (int q = 0; q < k; q++)
        if (!strcmp(local_name(d, q, &p), name))
          fail(m, &at, "'%s' is already defined", name);
      in->loc[k] = (Arg){.a = st->expr, .s = before, .part = j,
                         .nparts = st->nnames};
    }
  }
  in->nloc = n;
}

/* A def call: its body evaluated with the parameters bound to the
 * argument expressions. The arguments are evaluated in the caller's scope,
 * so sq(sq(x)) is no recursion, while a def whose body calls it again,
 * directly or through other defs, finds itself in the scope chain. A block
 * def's results go to out[0..n-1]; n = 0 asks for its one value. */
static T inline_results(M *m, Ast *a, Scope *s, Stmt *d, T *out, int n) {
  if (a->nkid != d->nparams)
    fail(m, a, "'%s' takes %d argument%s, not %d", a->name, d->nparams,
         d->nparams == 1 ? "" : "s", a->nkid);
  int nres = d->rets ? d->nrets : 1;
  if ((n == 0 && nres != 1) || (n > 0 && n != nres))
    fail(m, a, "'%s' returns %d value%s, not %d", a->name, nres,
         nres == 1 ? "" : "s", n ? n : 1);
  int depth = 0;
  for (Scope *x = s; x; x = x->up, depth++)
    if (x->def == d)
      fail(m, a, "'%s' calls itself; recursion is not allowed", a->name);
  if (depth >= 200)
    fail(m, a, "function calls nested deeper than 200 levels");
  Scope in = {.def = d, .up = s};
  in.arg = arena_alloc(m, (size_t)(a->nkid + 1) * sizeof *in.arg);
  for (int i = 0; i < a->nkid; i++)
    in.arg[i] = (Arg){.a = a->kid[i], .s = s, .epoch = 0};
  if (!d->rets)
    return n ? (out[0] = ev(m, d->expr, &in)) : ev(m, d->expr, &in);
  bind_locals(m, &in);
  for (int k = 0; k < nres; k++) {
    T r = ev(m, d->rets[k], &in);
    if (!n)
      return r;
    out[k] = r;
  }
  return out[0];
}

static T inline_def(M *m, Ast *a, Scope *s, Stmt *d) {
  return inline_results(m, a, s, d, NULL, 0);
}

static T ew_call(M *m, Ast *a, Scope *s, int arity, Ew op) {
  if (a->nkid != arity)
    fail(m, a, "'%s' takes %d argument%s, not %d", a->name, arity,
         arity == 1 ? "" : "s", a->nkid);
  T in[3];
  for (int i = 0; i < arity; i++)
    in[i] = ev(m, a->kid[i], s);
  return elementwise(m, a, a->name, op, arity, in);
}

static T builtin(M *m, Ast *a, Scope *s) {
  static const struct { const char *name; Red f; } reds[] = {
      {"sum", R_SUM}, {"mean", R_MEAN}, {"max", R_MAX}, {"min", R_MIN},
      {"logsumexp", R_LSE}};
  for (size_t i = 0; i < sizeof reds / sizeof reds[0]; i++)
    if (strcmp(a->name, reds[i].name) == 0)
      return reduction(m, a, s, reds[i].f);
  if (!strcmp(a->name, "softmax") || !strcmp(a->name, "log_softmax"))
    return normaliser(m, a, s, a->name[0] == 'l');
  if (!strcmp(a->name, "reshape"))
    return reshape(m, a, s);
  if (!strcmp(a->name, "grad"))
    return grad_call(m, a, s);
  if (!strcmp(a->name, "hessian"))
    return hessian_call(m, a, s);
  if (!strcmp(a->name, "dot") || !strcmp(a->name, "transpose")) {
    int two = a->name[0] == 'd';
    if (a->nkid != 1 + two)
      fail(m, a, "'%s' takes %d argument%s, not %d", a->name, 1 + two,
           two ? "s" : "", a->nkid);
    T x = ev(m, a->kid[0], s);
    if (!two)
      return transpose(m, &x);
    T y = ev(m, a->kid[1], s);
    return matmul(m, a, "dot", &x, &y);
  }
  for (size_t i = 0; i < sizeof ew_funcs / sizeof ew_funcs[0]; i++)
    if (!strcmp(a->name, ew_funcs[i].name))
      return ew_call(m, a, s, ew_funcs[i].arity, ew_funcs[i].op);
  fail(m, a, "unknown function '%s'", a->name);
}

/* The parameter names of the built-ins that have more than one, for
 * keyword arguments; the others take theirs by position only. */
static const struct { const char *name; const char *param[8]; } signatures[] = {
    {"sum", {"x", "axis"}}, {"mean", {"x", "axis"}}, {"max", {"x", "axis"}},
    {"min", {"x", "axis"}}, {"logsumexp", {"x", "axis"}},
    {"softmax", {"x", "axis"}}, {"log_softmax", {"x", "axis"}},
    {"reshape", {"x", "shape"}}, {"grad", {"e", "v"}},
    {"hessian", {"e", "v"}}, {"dot", {"a", "b"}}};

static int param_index(const char *const *param, int n, const char *name) {
  for (int i = 0; i < n && param[i]; i++)
    if (!strcmp(param[i], name))
      return i;
  return -1;
}

/* Call a with its keyword arguments moved to their parameters' places: a
 * copy whose kids are positional (NULL where one was left out before a
 * later one), so the evaluators below read arguments by position only. */
static Ast *positional(M *m, Ast *a, const char *const *param, int nparam) {
  int npos = 0, n = 0;
  while (npos < a->nkid && a->kid[npos]->kind != A_KEYWORD)
    npos++;
  if (npos == a->nkid)
    return a;
  Ast *c = arena_alloc(m, sizeof *c);
  *c = *a;
  c->kid = arena_alloc(m, (size_t)(nparam + 1) * sizeof *c->kid);
  for (int i = 0; i < npos; i++)
    c->kid[n++] = a->kid[i];
  for (int i = npos; i < a->nkid; i++) {
    Ast *k = a->kid[i];
    int at = param_index(param, nparam, k->name);
    if (at < 0)
      fail(m, k, "'%s' has no argument named '%s'", a->name, k->name);
    if (at < n && c->kid[at])
      fail(m, k, "'%s' is given twice", k->name);
    while (n <= at)
      c->kid[n++] = NULL;
    c->kid[at] = k->kid[0];
  }
  c->nkid = n;
  for (int i = 0; i < n; i++)
    if (!c->kid[i])
      fail(m, a, "'%s' needs its argument '%s'", a->name, param[i]);
  return c;
}

static T call(M *m, Ast *a, Scope *s) {
  if (is_loop_call(m, a)) {
    T r;
    scan_eval(m, a, s, &r, 0, a->name[0] == 'f');
    return r;
  }
  Bind *b = find(m, a->name, m->visible);
  if (b && b->kind == B_DEF) {
    Stmt *d = &m->prog->stmt[b->idx];
    return inline_def(m, positional(m, a, d->params, d->nparams), s, d);
  }
  for (size_t i = 0; i < sizeof signatures / sizeof signatures[0]; i++)
    if (!strcmp(a->name, signatures[i].name))
      return builtin(m, positional(m, a, signatures[i].param, 8), s);
  return builtin(m, positional(m, a, (const char *const[]){"x"}, 0), s);
}

/* ---- scan and fold, unrolled ---- */

static T row_of(M *m, const T *x, int64_t t) {
  T r = tensor(m, x->rank - 1, x->d + 1);
  memcpy(r.v, x->v + t * r.n, (size_t)r.n * sizeof(double));
  return r;
}

static int same_shape(const T *x, const T *y) {
  if (x->rank != y->rank)
    return 0;
  for (int i = 0; i < x->rank; i++)
    if (x->d[i] != y->d[i])
      return 0;
  return 1;
}

/* One step of f: the carries c and the rows of the sequences x at t bound
 * as values; the new carries back into c. */
static void scan_step(M *m, Ast *a, Scope *s, Stmt *d, T *c, int k,
                      const T *x, int nx, int64_t t) {
  Scope in = {.def = d, .up = s};
  in.arg = arena_alloc(m, (size_t)(k + nx + 1) * sizeof *in.arg);
  for (int j = 0; j < k; j++)
    in.arg[j] = (Arg){.fixed = 1, .val = c[j]};
  for (int i = 0; i < nx; i++)
    in.arg[k + i] = (Arg){.fixed = 1, .val = row_of(m, &x[i], t)};
  T *r = arena_alloc(m, (size_t)(k + 1) * sizeof *r);
  if (d->rets) {
    bind_locals(m, &in);
    for (int j = 0; j < k; j++)
      r[j] = ev(m, d->rets[j], &in);
  } else {
    r[0] = ev(m, d->expr, &in);
  }
  for (int j = 0; j < k; j++) {
    char b1[64], b2[64];
    if (!same_shape(&r[j], &c[j]))
      fail(m, a, "result %d of '%s' has shape %s, its carry %s", j + 1,
           d->name, shape_text(&r[j], b1, sizeof b1),
           shape_text(&c[j], b2, sizeof b2));
    c[j] = r[j];
  }
}

/* scan(f, c1..ck, x1..xm) or fold(...): f applied along axis 0 of the
 * x's, one step after another, as the language describes it. */
static void scan_eval(M *m, Ast *a, Scope *s, T *out, int n, int fold) {
  Bind *b = a->nkid && a->kid[0]->kind == A_NAME
                ? find(m, a->kid[0]->name, m->visible) : NULL;
  if (!b || b->kind != B_DEF)
    fail(m, a, "%s takes the name of a def first", a->name);
  Stmt *d = &m->prog->stmt[b->idx];
  int k = d->rets ? d->nrets : 1, nx = d->nparams - k;
  if (nx < 1 || a->nkid - 1 != d->nparams || (n ? n : 1) != k)
    fail(m, a, "%s: wrong number of carries, sequences or results", a->name);
  for (Scope *x = s; x; x = x->up)
    if (x->def == d)
      fail(m, a, "'%s' calls itself; recursion is not allowed", d->name);
  T *c = arena_alloc(m, (size_t)(k + nx + 1) * sizeof *c), *x = c + k;
  for (int i = 0; i < k + nx; i++)
    c[i] = ev(m, a->kid[1 + i], s);
  for (int i = 0; i < nx; i++)
    if (x[i].rank < 1 || x[i].d[0] != x[0].d[0])
      fail(m, a->kid[1 + k + i], "sequences of different lengths");
  int64_t len = x[0].d[0];
  for (int j = 0; j < k && !fold; j++) { /* [T, carry shape] */
    int64_t d2[REF_MAX_RANK + 1] = {len};
    memcpy(d2 + 1, c[j].d, (size_t)c[j].rank * sizeof c[j].d[0]);
    if (c[j].rank + 1 > REF_MAX_RANK)
      fail(m, a, "a stacked carry has rank above %d", REF_MAX_RANK);
    out[j] = tensor(m, c[j].rank + 1, d2);
  }
  for (int64_t t = 0; t < len; t++) {
    scan_step(m, a, s, d, c, k, x, nx, t);
    for (int j = 0; j < k && !fold; j++)
      memcpy(out[j].v + t * c[j].n, c[j].v, (size_t)c[j].n * sizeof(double));
  }
  for (int j = 0; j < k && fold; j++)
    out[j] = c[j];
}

static int is_loop_call(M *m, Ast *a) {
  Bind *b = find(m, a->name, m->visible);
  return !b && (!strcmp(a->name, "scan") || !strcmp(a->name, "fold"));
}

/* The n values of a call of a def returning n values (a, b = f(...)). */
static void ev_results(M *m, Ast *a, Scope *s, T *out, int n) {
  Bind *b = a->kind == A_CALL ? find(m, a->name, m->visible) : NULL;
  if (a->kind == A_CALL && is_loop_call(m, a)) {
    scan_eval(m, a, s, out, n, a->name[0] == 'f');
    return;
  }
  if (b && b->kind == B_DEF) {
    Stmt *d = &m->prog->stmt[b->idx];
    inline_results(m, positional(m, a, d->params, d->nparams), s, d, out, n);
    return;
  }
  fail(m, a, "%d names for one value", n);
}

/* ---- expressions ---- */

static T binary(M *m, Ast *a, T x, T y) {
  if (!strcmp(a->op, "@"))
    return matmul(m, a, "@", &x, &y);
  T in[2] = {x, y};
  for (size_t i = 0; i < sizeof ew_binops / sizeof ew_binops[0]; i++)
    if (!strcmp(a->op, ew_binops[i].op))
      return elementwise(m, a, a->op, ew_binops[i].ew, 2, in);
  fail(m, a, "unknown operator '%s'", a->op);
}

/* A chain a + b - c * d leans left as deep as it is long: walk its left
 * spine with a loop, so that only right operands recurse. */
static T binary_chain(M *m, Ast *a, Scope *s) {
  int n = 0;
  for (Ast *x = a; x->kind == A_BINARY && strcmp(x->op, "^"); x = x->kid[0])
    n++;
  Ast **spine = arena_alloc(m, (size_t)n * sizeof *spine);
  n = 0;
  for (Ast *x = a; x->kind == A_BINARY && strcmp(x->op, "^"); x = x->kid[0])
    spine[n++] = x;
  T acc = ev(m, spine[n - 1]->kid[0], s);
  for (int i = n; i-- > 0;)
    acc = binary(m, spine[i], acc, ev(m, spine[i]->kid[1], s));
  return acc;
}

static T ev(M *m, Ast *a, Scope *s) {
  switch (a->kind) {
  case A_NUM:
    return scalar_t(m, a->num);
  case A_NAME:
    return name_ref(m, a, s);
  case A_LIST:
    return literal(m, a, s);
  case A_UNARY: {
    T x = ev(m, a->kid[0], s);
    return a->op[0] == '-' ? elementwise(m, a, "-", E_NEG, 1, &x) : x;
  }
  case A_BINARY:
    if (!strcmp(a->op, "^"))
      return binary(m, a, ev(m, a->kid[0], s), ev(m, a->kid[1], s));
    return binary_chain(m, a, s);
  case A_CALL:
    return call(m, a, s);
  case A_INDEX:
    return index_expr(m, a, s);
  case A_SLICE:
    fail(m, a, "a slice (':') is only allowed inside an index");
  case A_KEYWORD: /* call() moves them into place */
    break;
  }
  fail(m, a, "'%s=' names an argument, only inside a call", a->name);
}

/* ---- loading: names, declared shapes, outputs ---- */

static void *grow(M *m, void *p, int n, size_t sz) {
  p = realloc(p, (size_t)(n + 1) * sz);
  if (!p)
    ref_nomem(m);
  return p;
}

static void bind(M *m, const char *name, const Ast *at, BindKind k, int idx,
                 uint32_t stmt) {
  for (int i = 0; i < m->nbind; i++)
    if (!strcmp(m->bind[i].name, name))
      fail(m, at, "'%s' is already defined", name);
  m->bind = grow(m, m->bind, m->nbind, sizeof *m->bind);
  m->bind[m->nbind++] = (Bind){name, k, idx, stmt};
}

/* An unnamed output is named by its source text: comments dropped, runs of
 * white space one space. */
static const char *source_text(M *m, const Ast *e) {
  const char *p = m->src + e->beg, *end = m->src + e->end;
  char *out = ctx_alloc(&m->c, (size_t)(end - p) + 1), *o = out;
  int space = 0;
  for (; p < end; p++) {
    if (*p == '#')
      while (p + 1 < end && p[1] != '\n')
        p++;
    else if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
      space = o > out;
    else {
      if (space)
        *o++ = ' ';
      *o++ = *p;
      space = 0;
    }
  }
  *o = 0;
  return out;
}

static void declare_var(M *m, Stmt *st, uint32_t i) {
  Var v = {.st = st, .stmt = i, .rank = st->ndims};
  if (st->ndims > REF_MAX_RANK)
    fail(m, st->dims[0], "rank %d is above %d", st->ndims, REF_MAX_RANK);
  m->visible = i;
  for (int k = 0; k < st->ndims; k++) {
    Ast *d = st->dims[k];
    Bind *b = d->kind == A_NAME ? find(m, d->name, i) : NULL;
    v.dimof[k] = b && b->kind == B_DIM ? b->idx : -1;
    if (v.dimof[k] < 0)
      v.d[k] = int_of(m, d, NULL, "a size", 1, INT32_MAX);
  }
  m->var = grow(m, m->var, m->nvar, sizeof *m->var);
  m->var[m->nvar] = v;
  bind(m, st->name, NULL, B_VAR, m->nvar++, i);
}

static void declare_value(M *m, const char *name, Ast *e, uint32_t i) {
  m->val = grow(m, m->val, m->nval, sizeof *m->val);
  m->val[m->nval] = (Value){.name = name, .expr = e, .stmt = i};
  bind(m, name, e, B_VALUE, m->nval++, i);
}

static void declare_output(M *m, Stmt *st, uint32_t i) {
  const char *name = st->name ? st->name : source_text(m, st->expr);
  for (int k = 0; k < m->nout; k++)
    if (!strcmp(m->out[k].name, name))
      fail(m, st->expr, "output '%s' is listed twice", name);
  m->out = grow(m, m->out, m->nout, sizeof *m->out);
  m->out[m->nout++] = (Output){name, st->expr, i};
  if (st->name && !find(m, st->name, UINT32_MAX))
    declare_value(m, st->name, st->expr, i);
}

static void declare(M *m, Stmt *st, uint32_t i) {
  switch (st->kind) {
  case S_DIM:
    m->dimname = grow(m, m->dimname, m->ndim, sizeof *m->dimname);
    m->dimsize = grow(m, m->dimsize, m->ndim, sizeof *m->dimsize);
    m->dimname[m->ndim] = st->name;
    m->dimsize[m->ndim] = 0;
    bind(m, st->name, NULL, B_DIM, m->ndim++, i);
    break;
  case S_INPUT:
  case S_PARAM:
    declare_var(m, st, i);
    break;
  case S_CONST:
  case S_ASSIGN:
    if (!st->nnames) {
      declare_value(m, st->name, st->expr, i);
      break;
    }
    for (int k = 0; k < st->nnames; k++) {
      declare_value(m, st->names[k], st->expr, i);
      m->val[m->nval - 1].part = k;
      m->val[m->nval - 1].nparts = st->nnames;
    }
    break;
  case S_DEF:
    bind(m, st->name, NULL, B_DEF, (int)i, i);
    break;
  case S_OUTPUT:
    declare_output(m, st, i);
    break;
  case S_GRAD:
    m->grad = grow(m, m->grad, m->ngrad, sizeof *m->grad);
    m->grad[m->ngrad++] = st;
    break;
  }
}

static int parse(M *m, const char *src, char *err, size_t n) {
  jmp_buf jb;
  exprc_limits lim = {.max_rank = REF_MAX_RANK, .max_elements = 1 << 28,
                      .max_memory = (int64_t)1 << 33, .max_depth = 200,
                      .max_nodes = 1 << 24, .max_file_size = 1 << 26};
  ctx_init(&m->c, "model", m->src, strlen(src), &lim);
  m->c.jb = &jb;
  if (setjmp(jb) == 0) {
    m->prog = parse_program(&m->c);
    return 0;
  }
  snprintf(err, n, "%s", m->c.msg ? m->c.msg : "syntax error");
  return -1;
}

RefModel *ref_load(const char *src, char *err, size_t n) {
  M *volatile m = calloc(1, sizeof *m); /* survives the longjmp */
  if (!m || !(m->src = strdup(src))) {
    free(m);
    snprintf(err, n, "out of memory");
    return NULL;
  }
  m->step = 1.0 / 1024;
  m->epochs = m->epoch = 1;
  if (parse(m, src, err, n) != 0) {
    ref_free(m);
    return NULL;
  }
  jmp_buf jb;
  m->jb = m->c.jb = &jb; /* ctx_alloc's out-of-memory unwinds here too */
  if (setjmp(jb) == 0) {
    for (uint32_t i = 0; i < m->prog->n; i++)
      declare(m, &m->prog->stmt[i], i);
    m->visible = UINT32_MAX;
    m->jb = NULL;
    return m;
  }
  snprintf(err, n, "%s", m->msg);
  ref_free(m);
  return NULL;
}

void ref_free(RefModel *m) {
  if (!m)
    return;
  while (m->head) {
    Blk *b = m->head->next;
    free(m->head);
    m->head = b;
  }
  for (int i = 0; i < m->nvar; i++)
    free(m->var[i].data);
  free(m->var), free(m->val), free(m->bind), free(m->out), free(m->grad);
  free(m->dimname), free(m->dimsize);
  ctx_free(&m->c);
  free(m->src);
  free(m);
}

const char *ref_errmsg(const RefModel *m) { return m ? m->msg : ""; }

/* ---- the API ---- */

static int failed(M *m, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m->msg, sizeof m->msg, fmt, ap);
  va_end(ap);
  return -1;
}

static Var *find_var(M *m, const char *name) {
  Bind *b = find(m, name, UINT32_MAX);
  return b && b->kind == B_VAR ? &m->var[b->idx] : NULL;
}

int ref_set(RefModel *m, const char *name, const double *v, int rank,
            const int64_t *shape) {
  Var *x = find_var(m, name);
  if (!x)
    return failed(m, "'%s' is not an input or param", name);
  if (rank != x->rank)
    return failed(m, "'%s' has rank %d, not %d", name, x->rank, rank);
  for (int i = 0; i < rank; i++) {
    int k = x->dimof[i];
    int64_t want = k < 0 ? x->d[i] : m->dimsize[k];
    if (shape[i] < (k < 0 ? 1 : 0) || /* a dim may be 0: a loop's length */
        (want && shape[i] != want))
      return failed(m, "'%s': size %lld on axis %d, not %lld", name,
                    (long long)shape[i], i, (long long)want);
  }
  for (int i = 0; i < rank; i++)
    if (x->dimof[i] >= 0)
      m->dimsize[x->dimof[i]] = shape[i];
  int64_t n = numel(rank, shape);
  double *p = realloc(x->data, (size_t)(n ? n : 1) * sizeof *p);
  if (!p)
    return failed(m, "out of memory");
  memcpy(p, v, (size_t)n * sizeof *p);
  x->data = p, x->n = n;
  m->epoch = ++m->epochs;
  return 0;
}

int ref_bind_dim(RefModel *m, const char *dim, int64_t size) {
  Bind *b = find(m, dim, UINT32_MAX);
  if (!b || b->kind != B_DIM || size < 1)
    return failed(m, "'%s' is not a dim, or %lld is not a size", dim,
                  (long long)size);
  if (m->dimsize[b->idx] != size)
    for (int i = 0; i < m->nvar; i++)
      for (int k = 0; k < m->var[i].rank; k++)
        if (m->var[i].dimof[k] == b->idx && m->var[i].data) {
          free(m->var[i].data);
          m->var[i].data = NULL;
        }
  m->dimsize[b->idx] = size;
  m->epoch = ++m->epochs;
  return 0;
}

double *ref_data(RefModel *m, const char *name, int64_t *size) {
  Var *x = find_var(m, name);
  if (!x || !x->data)
    return NULL;
  if (size)
    *size = x->n;
  m->epoch = ++m->epochs; /* the caller will change it */
  return x->data;
}

void ref_set_step(RefModel *m, double h) {
  m->step = h;
  m->epoch = ++m->epochs;
}

static T eval_name(M *m, const char *name) {
  for (int i = 0; i < m->nout; i++)
    if (!strcmp(m->out[i].name, name)) {
      m->visible = m->out[i].stmt;
      T t = ev(m, m->out[i].expr, NULL);
      m->visible = UINT32_MAX;
      return t;
    }
  Bind *b = find(m, name, UINT32_MAX);
  if (!b || b->kind == B_DEF)
    fail(m, NULL, "no value named '%s'", name);
  Ast at = {.kind = A_NAME, .name = name};
  return name_ref(m, &at, NULL);
}

int ref_eval(RefModel *m, const char *name, RefTensor *out) {
  jmp_buf jb;
  m->jb = &jb;
  release(m, (Mark){NULL, 0});
  m->epoch = ++m->epochs; /* ref_data's caller may have changed inputs */
  m->visible = UINT32_MAX;
  m->msg[0] = 0;
  if (setjmp(jb) != 0) {
    while (m->npert)
      perturb_end(m, m->epoch);
    for (int i = 0; i < m->nval; i++)
      m->val[i].active = 0;
    m->jb = NULL;
    return -1;
  }
  T t = eval_name(m, name);
  m->jb = NULL;
  out->rank = t.rank;
  for (int i = 0; i < t.rank; i++)
    out->shape[i] = t.d[i];
  out->size = t.n;
  out->data = t.v;
  return 0;
}

int ref_output_count(const RefModel *m) { return m->nout; }
const char *ref_output_name(const RefModel *m, int i) {
  return i >= 0 && i < m->nout ? m->out[i].name : NULL;
}
int ref_grad_count(const RefModel *m) { return m->ngrad; }
const char *ref_grad_loss(const RefModel *m, int i) {
  return i >= 0 && i < m->ngrad ? m->grad[i]->name : NULL;
}
int ref_grad_nwrt(const RefModel *m, int i) {
  return i >= 0 && i < m->ngrad ? m->grad[i]->nwrt : 0;
}
const char *ref_grad_wrt(const RefModel *m, int i, int k) {
  return i >= 0 && i < m->ngrad && k >= 0 && k < m->grad[i]->nwrt
             ? m->grad[i]->wrt[k] : NULL;
}

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

/* strcmp, written out. The evaluator compares a call's name with the
 * built-ins' names one by one at every call it evaluates; under the fuzzer
 * each strcmp goes through ASan's interceptor and libFuzzer's comparison
 * hook, which made those comparisons a third of a slow unit's time. A loop
 * of our own is neither intercepted nor hooked, and the names are short. */
static int str_cmp(const char *a, const char *b) {
  while (*a && *a == *b)
    a++, b++;
  return (unsigned char)*a - (unsigned char)*b;
}

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
  int *slot;     /* open addressing over bind by name: index + 1, 0 empty */
  int nslot;     /* a power of two, at least twice nbind */
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
  uint64_t work;   /* nodes evaluated plus elements made, since the budget */
  uint64_t budget; /* was set; 0: no budget */
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

/* A unit of work per node evaluated and per element made: the time of an
 * evaluation is proportional to it (for the small shapes the evaluator is
 * meant for), so a budget of it bounds the time of a caller's check. */
static void charge(M *m, uint64_t units) {
  m->work += units;
  if (m->budget && m->work > m->budget)
    fail(m, NULL, "over its work budget of %llu units",
         (unsigned long long)m->budget);
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
  for (int i = 0; i < rank && i < REF_MAX_RANK; i++) /* callers keep rank */
    t.d[i] = d[i];                                   /* within; gcc -O3 */
  t.n = numel(rank, d);
  charge(m, (uint64_t)t.n);
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

/* Names are looked up at every reference, in every evaluation of every
 * finite-difference step: a hash (FNV-1a) keeps a lookup O(1) in the
 * number of names where a scan with strcmp was O(n), and the slowest part
 * of the fuzzer's units under its instrumentation of strcmp. */
static uint32_t name_hash(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

/* The slot of `name`: where it is, or the empty one where it would go. */
static int *slot_of(M *m, const char *name) {
  uint32_t mask = (uint32_t)m->nslot - 1;
  for (uint32_t i = name_hash(name) & mask;; i = (i + 1) & mask) {
    int *p = &m->slot[i];
    if (!*p || str_cmp(m->bind[*p - 1].name, name) == 0)
      return p;
  }
}

static Bind *find(M *m, const char *name, uint32_t visible) {
  if (!m->nslot)
    return NULL;
  int k = *slot_of(m, name);
  return k && m->bind[k - 1].stmt < visible ? &m->bind[k - 1] : NULL;
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
    if (str_cmp(s->def->params[i], name) == 0)
      return &s->arg[i];
  Pos p;
  for (int k = 0; k < s->nloc; k++)
    if (str_cmp(local_name(s->def, k, &p), name) == 0)
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
  charge(m, (uint64_t)t.n);
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
  E_SIGMOID, E_RELU, E_SOFTPLUS, E_LOG1P, E_EXPM1,
  /* special functions (v2) */
  E_ERF, E_ERFC, E_LGAMMA, E_DIGAMMA, E_POLYGAMMA, E_ASIN, E_ACOS, E_ATAN,
  E_ATAN2, E_SINH, E_COSH, E_ASINH, E_ACOSH, E_ATANH, E_LOG2, E_LOG10,
  E_EXP2, E_SQUARE, E_RECIPROCAL, E_HYPOT, E_CLIP, E_GELU, E_SILU, E_ELU,
  E_LEAKY_RELU, E_FLOOR, E_CEIL, E_ROUND
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
    {"erf", 1, E_ERF}, {"erfc", 1, E_ERFC}, {"lgamma", 1, E_LGAMMA},
    {"digamma", 1, E_DIGAMMA}, {"polygamma", 2, E_POLYGAMMA},
    {"asin", 1, E_ASIN}, {"acos", 1, E_ACOS}, {"atan", 1, E_ATAN},
    {"atan2", 2, E_ATAN2}, {"sinh", 1, E_SINH}, {"cosh", 1, E_COSH},
    {"asinh", 1, E_ASINH}, {"acosh", 1, E_ACOSH}, {"atanh", 1, E_ATANH},
    {"log2", 1, E_LOG2}, {"log10", 1, E_LOG10}, {"exp2", 1, E_EXP2},
    {"square", 1, E_SQUARE}, {"reciprocal", 1, E_RECIPROCAL},
    {"hypot", 2, E_HYPOT}, {"clip", 3, E_CLIP}, {"gelu", 1, E_GELU},
    {"silu", 1, E_SILU}, {"elu", 2, E_ELU}, {"leaky_relu", 2, E_LEAKY_RELU},
    {"floor", 1, E_FLOOR}, {"ceil", 1, E_CEIL}, {"round", 1, E_ROUND},
};

/* ---- special functions, from their definitions ---- */

/* polygamma(n, x) = (-1)^(n+1) n! sum_k 1/(x + k)^(n+1) for n >= 1 (the
 * Hurwitz zeta series, summed directly, any x off the poles); digamma(x) =
 * digamma(x + N) - sum_{k<N} 1/(x + k), the recurrence in one step. The first
 * N = 1000 terms are summed directly; the rest is the Euler-Maclaurin tail
 * (integral, half term, two corrections), whose error is below 1e-19 at
 * x + N >= 500. No reflection and no Bernoulli table beyond B2 and B4, so
 * this shares little with the compiler's scalar.h. */
static double ref_polygamma(double nd, double x) {
  if (nd < 0 || nd != floor(nd) || nd > 170)
    return NAN;
  int n = (int)nd;
  enum { N = 1000 };
  double y = x + N, sum = 0, fact = 1;
  for (int i = 2; i <= n; i++)
    fact *= i;
  if (n == 0) {
    for (int k = N - 1; k >= 0; k--)
      sum += 1 / (x + k);
    double y2 = y * y;
    return log(y) - 1 / (2 * y) - 1 / (12 * y2) + 1 / (120 * y2 * y2) - sum;
  }
  for (int k = N - 1; k >= 0; k--)
    sum += pow(x + k, -(n + 1.0));
  /* tail: y^-n/n + y^-(n+1)/2 + (n+1) y^-(n+2)/12
   *       - (n+1)(n+2)(n+3) y^-(n+4)/720 */
  double tail = pow(y, -(double)n) / n + pow(y, -(n + 1.0)) / 2 +
                (n + 1.0) * pow(y, -(n + 2.0)) / 12 -
                (n + 1.0) * (n + 2) * (n + 3) * pow(y, -(n + 4.0)) / 720;
  return (n % 2 ? 1 : -1) * fact * (sum + tail);
}

/* round half to even, whatever rint's rounding mode: from floor. */
static double ref_round(double x) {
  double f = floor(x), d = x - f;
  if (d < 0.5)
    return f == 0 && x < 0 ? -0.0 : f;
  if (d > 0.5)
    return f + 1 == 0 && x < 0 ? -0.0 : f + 1;
  return fmod(f, 2) == 0 ? f : f + 1;
}

static double special_value(Ew op, const double *a) {
  double x = a[0];
  switch ((int)op) { /* ew_value sends only the special functions here */
  case E_ERF: return erf(x);
  case E_ERFC: return erfc(x);
  case E_LGAMMA: return lgamma(x);
  case E_DIGAMMA: return ref_polygamma(0, x);
  case E_POLYGAMMA: return ref_polygamma(a[0], a[1]);
  case E_ASIN: return asin(x);
  case E_ACOS: return acos(x);
  case E_ATAN: return atan(x);
  case E_ATAN2: return atan2(a[0], a[1]);
  case E_SINH: return sinh(x);
  case E_COSH: return cosh(x);
  case E_ASINH: return asinh(x);
  case E_ACOSH: return acosh(x);
  case E_ATANH: return atanh(x);
  case E_LOG2: return log2(x);
  case E_LOG10: return log10(x);
  case E_EXP2: return exp2(x);
  case E_SQUARE: return x * x;
  case E_RECIPROCAL: return 1 / x;
  case E_HYPOT: return hypot(a[0], a[1]);
  case E_CLIP: { /* NumPy: minimum(maximum(x, lo), hi) */
    double m = x < a[1] ? a[1] : x;
    return m > a[2] ? a[2] : m;
  }
  case E_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0))); /* the textbook form */
  case E_SILU: return x / (1 + exp(-x));
  case E_ELU: return x > 0 ? x : a[1] * (exp(x) - 1);
  case E_LEAKY_RELU: return x >= 0 ? x : a[1] * x;
  case E_FLOOR: return floor(x);
  case E_CEIL: return ceil(x);
  case E_ROUND: return ref_round(x);
  }
  return NAN;
}

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
  case E_ERF: case E_ERFC: case E_LGAMMA: case E_DIGAMMA: case E_POLYGAMMA:
  case E_ASIN: case E_ACOS: case E_ATAN: case E_ATAN2: case E_SINH:
  case E_COSH: case E_ASINH: case E_ACOSH: case E_ATANH: case E_LOG2:
  case E_LOG10: case E_EXP2: case E_SQUARE: case E_RECIPROCAL: case E_HYPOT:
  case E_CLIP: case E_GELU: case E_SILU: case E_ELU: case E_LEAKY_RELU:
  case E_FLOOR: case E_CEIL: case E_ROUND:
    return special_value(op, a);
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

static T matmul2(M *m, const Ast *a, const char *what, const T *x,
                 const T *y);

/* NumPy matmul with batches (v2): a vector is a matrix of one row (left) or
 * one column (right), and its axis is dropped from the result; the axes
 * before the last two broadcast. Written out index by index. */
static T batched(M *m, const Ast *a, const char *what, const T *x,
                 const T *y) {
  T bx = {.rank = x->rank > 2 ? x->rank - 2 : 0};
  T by = {.rank = y->rank > 2 ? y->rank - 2 : 0}, bo;
  for (int i = 0; i < bx.rank; i++)
    bx.d[i] = x->d[i];
  for (int i = 0; i < by.rank; i++)
    by.d[i] = y->d[i];
  int64_t rows = x->rank > 1 ? x->d[x->rank - 2] : 1, k = x->d[x->rank - 1];
  int64_t cols = y->rank > 1 ? y->d[y->rank - 1] : 1;
  int64_t ky = y->d[y->rank > 1 ? y->rank - 2 : 0];
  if (k != ky || !broadcast_shape(&bx, &by, &bo))
    mismatch(m, a, x, y, what);
  bo.n = numel(bo.rank, bo.d);
  T out = {.rank = bo.rank};
  memcpy(out.d, bo.d, sizeof bo.d);
  if (x->rank > 1)
    out.d[out.rank++] = rows;
  if (y->rank > 1)
    out.d[out.rank++] = cols;
  if (out.rank > REF_MAX_RANK)
    mismatch(m, a, x, y, what);
  out = tensor(m, out.rank, out.d);
  int64_t sx[REF_MAX_RANK], sy[REF_MAX_RANK], idx[REF_MAX_RANK];
  bx.n = numel(bx.rank, bx.d), by.n = numel(by.rank, by.d);
  bstrides(&bx, &bo, sx);
  bstrides(&by, &bo, sy);
  for (int64_t b = 0; b < bo.n; b++) {
    unravel(b, &bo, idx);
    int64_t ox = 0, oy = 0;
    for (int i = 0; i < bo.rank; i++)
      ox += idx[i] * sx[i], oy += idx[i] * sy[i];
    const double *px = x->v + ox * rows * k, *py = y->v + oy * k * cols;
    for (int64_t i = 0; i < rows; i++)
      for (int64_t j = 0; j < cols; j++) {
        double acc = 0;
        for (int64_t l = 0; l < k; l++)
          acc += px[i * k + l] * py[l * cols + j];
        out.v[(b * rows + i) * cols + j] = acc;
      }
  }
  return out;
}

/* [m,k]@[k,n] -> [m,n], [m,k]@[k] -> [m], [k]@[k,n] -> [n], [k]@[k] -> [] */
static T matmul(M *m, const Ast *a, const char *what, const T *x, const T *y) {
  if (x->rank >= 1 && y->rank >= 1 && (x->rank > 2 || y->rank > 2))
    return batched(m, a, what, x, y);
  return matmul2(m, a, what, x, y);
}

static T matmul2(M *m, const Ast *a, const char *what, const T *x,
                 const T *y) {
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

/* NumPy's basic indexing, from its description: each item is an integer
 * (selects one position, drops the axis), a slice lo:hi:step (the
 * positions Python's slice.indices() gives), None (a new axis of size 1)
 * or `...` (as many whole axes as the other items leave). Axes after the
 * items are whole. */
typedef struct Ix {
  int64_t first, step, count;
  int keep;
} Ix;

static int is_word(const Ast *a, const char *w) {
  return a->kind == A_NAME && !str_cmp(a->name, w);
}

/* slice(lo, hi, step).indices(d), and the number of positions it gives */
static Ix slice_ix(M *m, Ast *it, Scope *s, int64_t d) {
  int64_t step = it->kid[2] ? int_of(m, it->kid[2], s, "a slice step",
                                     INT32_MIN, INT32_MAX) : 1;
  if (step == 0)
    fail(m, it, "slice step cannot be zero");
  int64_t b[2] = {step > 0 ? 0 : d - 1, step > 0 ? d : -1};
  for (int k = 0; k < 2; k++) {
    if (!it->kid[k])
      continue;
    int64_t v = int_of(m, it->kid[k], s, "a slice bound", INT32_MIN, INT32_MAX);
    if (v < 0)
      v += d;
    if (v < 0)
      v = step > 0 ? 0 : -1;
    if (v >= d)
      v = step > 0 ? d : d - 1;
    b[k] = v;
  }
  Ix r = {.first = b[0], .step = step, .keep = 1, .count = 0};
  for (int64_t i = b[0]; step > 0 ? i < b[1] : i > b[1]; i += step)
    r.count++;
  return r;
}

static Ix item_ix(M *m, Ast *it, Scope *s, int64_t d) {
  if (it->kind == A_SLICE)
    return slice_ix(m, it, s, d);
  int64_t i = int_of(m, it, s, "an index", -d, d - 1);
  return (Ix){.first = i < 0 ? i + d : i, .step = 1, .count = 1, .keep = 0};
}

static T take_t(M *m, const Ast *a, const T *x, const T *idx, int k);

static T index_expr(M *m, Ast *a, Scope *s) {
  T x = ev(m, a->kid[0], s);
  for (int i = 1; i < a->nkid; i++) { /* E[ids], E[:, ids]: take */
    Ast *it = a->kid[i];
    if (it->kind == A_SLICE || is_word(it, "None") || is_word(it, "..."))
      continue;
    T t = ev(m, it, s);
    if (t.rank > 0 && i - 1 < x.rank)
      return take_t(m, a, &x, &t, i - 1);
  }
  Ix ix[REF_MAX_RANK];
  int named = 0, src[2 * REF_MAX_RANK + 8], r = 0, j = 0; /* out axis -> x axis or -1 */
  int64_t d[2 * REF_MAX_RANK + 8], idx[2 * REF_MAX_RANK + 8];
  for (int i = 1; i < a->nkid; i++)
    named += !is_word(a->kid[i], "None") && !is_word(a->kid[i], "...");
  if (named > x.rank)
    fail(m, a, "%d indices for a tensor of rank %d", named, x.rank);
  for (int k = 0; k < x.rank; k++)
    ix[k] = (Ix){.first = 0, .step = 1, .count = x.d[k], .keep = 1};
  for (int i = 1; i <= a->nkid; i++) {
    Ast *it = i < a->nkid ? a->kid[i] : NULL;
    int whole = !it ? x.rank - j : is_word(it, "...") ? x.rank - named : 0;
    if (r + whole + 1 > 2 * REF_MAX_RANK + 8)
      fail(m, a, "too many axes");
    if (it && is_word(it, "None"))
      src[r] = -1, d[r++] = 1;
    else if (it && !whole && !is_word(it, "...")) {
      ix[j] = item_ix(m, it, s, x.d[j]);
      if (ix[j].keep)
        src[r] = j, d[r++] = ix[j].count;
      j++;
    }
    for (int k = 0; k < whole; k++, j++)
      src[r] = j, d[r++] = x.d[j];
  }
  if (r > REF_MAX_RANK)
    fail(m, a, "indexing makes rank %d", r);
  T out = tensor(m, r, d);
  for (int64_t e = 0; e < out.n; e++) {
    unravel(e, &out, idx);
    int64_t off = 0;
    for (int k = 0; k < x.rank; k++) {
      int64_t pos = ix[k].first;
      for (int o = 0; o < r; o++)
        if (src[o] == k)
          pos += ix[k].step * idx[o];
      off = off * x.d[k] + pos;
    }
    out.v[e] = x.v[off];
  }
  return out;
}

/* ---- gathers (v2): indices are whole numbers, negative from the end ---- */

static int64_t index_in(M *m, const Ast *a, double v, int64_t d) {
  if (!(v >= (double)-d && v < (double)d) || v != floor(v))
    fail(m, a, "index %.15g is out of range for an axis of size %lld", v,
         (long long)d);
  return v < 0 ? (int64_t)v + d : (int64_t)v;
}

/* take(a, idx, axis): out[o, j..., i] = a[o, idx[j...], i] */
static T take_t(M *m, const Ast *a, const T *x, const T *idx, int k) {
  int64_t outer, len, inner, d[REF_MAX_RANK];
  if (x->rank - 1 + idx->rank > REF_MAX_RANK)
    fail(m, a, "take: the result's rank is above %d", REF_MAX_RANK);
  split_axis(x, k, &outer, &len, &inner);
  int r = 0;
  for (int i = 0; i < k; i++)
    d[r++] = x->d[i];
  for (int i = 0; i < idx->rank; i++)
    d[r++] = idx->d[i];
  for (int i = k + 1; i < x->rank; i++)
    d[r++] = x->d[i];
  T out = tensor(m, r, d);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < idx->n; j++) {
      int64_t at = index_in(m, a, idx->v[j], len);
      for (int64_t i = 0; i < inner; i++)
        out.v[(o * idx->n + j) * inner + i] = x->v[(o * len + at) * inner + i];
    }
  return out;
}

static T take_call(M *m, Ast *a, Scope *s) {
  if (a->nkid < 2 || a->nkid > 3)
    fail(m, a, "'take' takes 2 to 3 arguments, not %d", a->nkid);
  T x = ev(m, a->kid[0], s), idx = ev(m, a->kid[1], s);
  return take_t(m, a, &x, &idx,
                a->nkid == 3 ? axis_of(m, a->kid[2], s, x.rank) : 0);
}

/* take_along_axis(arr, idx, axis): same rank, broadcast off the axis;
 * out[.., j, ..] = arr[.., idx[.., j, ..], ..] */
static T take_along_call(M *m, Ast *a, Scope *s) {
  if (a->nkid != 3)
    fail(m, a, "'take_along_axis' takes 3 arguments, not %d", a->nkid);
  T x = ev(m, a->kid[0], s), idx = ev(m, a->kid[1], s);
  int k = axis_of(m, a->kid[2], s, x.rank);
  if (idx.rank != x.rank)
    mismatch(m, a, &x, &idx, "take_along_axis");
  T bx = x, bi = idx, bo;
  bx.d[k] = bi.d[k] = 1;
  if (!broadcast_shape(&bx, &bi, &bo))
    mismatch(m, a, &x, &idx, "take_along_axis");
  bo.d[k] = idx.d[k];
  T out = tensor(m, bo.rank, bo.d);
  int64_t pos[REF_MAX_RANK];
  for (int64_t e = 0; e < out.n; e++) {
    unravel(e, &out, pos);
    int64_t oi = 0, ox = 0;
    for (int i = 0; i < out.rank; i++) /* idx at pos, broadcast */
      oi = oi * idx.d[i] + (idx.d[i] == 1 ? 0 : pos[i]);
    int64_t at = index_in(m, a, idx.v[oi], x.d[k]);
    for (int i = 0; i < out.rank; i++)
      ox = ox * x.d[i] + (i == k ? at : x.d[i] == 1 ? 0 : pos[i]);
    out.v[e] = x.v[ox];
  }
  return out;
}

/* one_hot(x, K): 1 where the last axis's position equals x */
static T one_hot_call(M *m, Ast *a, Scope *s) {
  if (a->nkid != 2)
    fail(m, a, "'one_hot' takes 2 arguments, not %d", a->nkid);
  T x = ev(m, a->kid[0], s);
  int64_t k = int_of(m, a->kid[1], s, "num_classes", 1, INT32_MAX), d[REF_MAX_RANK];
  if (x.rank + 1 > REF_MAX_RANK)
    fail(m, a, "one_hot: rank above %d", REF_MAX_RANK);
  memcpy(d, x.d, sizeof x.d);
  d[x.rank] = k;
  T out = tensor(m, x.rank + 1, d);
  for (int64_t e = 0; e < x.n; e++)
    for (int64_t c = 0; c < k; c++)
      out.v[e * k + c] = x.v[e] == (double)c;
  return out;
}

/* argmax/argmin: the first extreme (a NaN counts as one, as in NumPy), over
 * the flattened x or along an axis. */
static double arg_run(const double *p, int64_t len, int64_t st, int maxf) {
  int64_t best = 0;
  for (int64_t j = 1; j < len; j++) {
    double b = p[best * st], v = p[j * st];
    if (b != b)
      break;
    if (v != v || (maxf ? v > b : v < b))
      best = j;
  }
  return (double)best;
}

static T arg_call(M *m, Ast *a, Scope *s, int maxf) {
  if (a->nkid < 1 || a->nkid > 2)
    fail(m, a, "'%s' takes 1 to 2 arguments, not %d", a->name, a->nkid);
  T x = ev(m, a->kid[0], s);
  if (a->nkid == 1)
    return scalar_t(m, arg_run(x.v, x.n, 1, maxf));
  int k = axis_of(m, a->kid[1], s, x.rank);
  int64_t outer, len, inner, d[REF_MAX_RANK];
  split_axis(&x, k, &outer, &len, &inner);
  int r = 0;
  for (int i = 0; i < x.rank; i++)
    if (i != k)
      d[r++] = x.d[i];
  T out = tensor(m, r, d);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++)
      out.v[o * inner + i] = arg_run(x.v + o * len * inner + i, len, inner, maxf);
  return out;
}

/* ascending order, NaN last (sort and argsort) */
static int sorts_before(double a, double b) {
  return !isnan(a) && (isnan(b) || a < b);
}

/* argsort: stable, ascending, NaN last; by counting, for each element, the
 * elements that must come before it. */
static T argsort_call(M *m, Ast *a, Scope *s) {
  if (a->nkid < 1 || a->nkid > 2)
    fail(m, a, "'argsort' takes 1 to 2 arguments, not %d", a->nkid);
  T x = ev(m, a->kid[0], s);
  int k = a->nkid == 2 ? axis_of(m, a->kid[1], s, x.rank) : x.rank - 1;
  if (x.rank == 0)
    fail(m, a, "a scalar has no axis");
  int64_t outer, len, inner;
  split_axis(&x, k, &outer, &len, &inner);
  T out = tensor(m, x.rank, x.d);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      const double *p = x.v + o * len * inner + i;
      for (int64_t j = 0; j < len; j++) {
        int64_t place = 0;
        for (int64_t l = 0; l < len; l++) {
          double u = p[l * inner], v = p[j * inner];
          place += sorts_before(u, v) || (!sorts_before(v, u) && l < j);
        }
        out.v[(o * len + place) * inner + i] = (double)j;
      }
    }
  return out;
}

/* ---- tensor literals ---- */

/* The tensors of a list: the values of [a, b, ...], or the rows of a
 * tensor (NumPy iterates an array along its first axis). */
static T *list_items(M *m, Ast *a, Scope *s, int *n) {
  if (a->kind == A_LIST) {
    T *v = arena_alloc(m, (size_t)(a->nkid + 1) * sizeof *v);
    for (int i = 0; i < a->nkid; i++)
      v[i] = ev(m, a->kid[i], s);
    *n = a->nkid;
    return v;
  }
  T x = ev(m, a, s);
  if (x.rank == 0)
    fail(m, a, "a list of tensors cannot be a scalar");
  T *v = arena_alloc(m, (size_t)(x.d[0] + 1) * sizeof *v);
  int64_t row = x.d[0] ? x.n / x.d[0] : 0;
  for (int64_t i = 0; i < x.d[0]; i++) {
    v[i] = tensor(m, x.rank - 1, x.d + 1);
    memcpy(v[i].v, x.v + i * row, (size_t)row * sizeof(double));
  }
  *n = (int)x.d[0];
  return v;
}

/* numpy.concatenate(items, axis): the items side by side along axis k;
 * with `stack`, each first gets a new axis k of size 1. */
static T join(M *m, Ast *a, T *v, int n, int k, int stack) {
  if (n == 0)
    fail(m, a, "nothing to join");
  T o = v[0];
  if (stack) {
    if (o.rank >= REF_MAX_RANK || k > o.rank)
      fail(m, a, "stack axis out of range");
    for (int i = o.rank; i > k; i--)
      o.d[i] = o.d[i - 1];
    o.d[k] = n, o.rank++;
  } else {
    if (k >= o.rank)
      fail(m, a, "concatenate axis out of range");
    for (int i = 1; i < n; i++)
      o.d[k] += v[i].d[k];
  }
  for (int i = 1; i < n; i++) {
    T w = v[i];
    int ok = w.rank == v[0].rank;
    for (int q = 0; ok && q < w.rank; q++)
      ok = w.d[q] == v[0].d[q] || (!stack && q == k);
    if (!ok)
      mismatch(m, a, &v[0], &w, stack ? "stack" : "concatenate");
  }
  T out = tensor(m, o.rank, o.d);
  int64_t outer = 1, inner = 1, at = 0; /* copy run by run */
  for (int q = 0; q < k; q++)
    outer *= o.d[q];
  for (int q = k + 1; q < o.rank; q++)
    inner *= o.d[q];
  for (int i = 0; i < n; i++) {
    int64_t len = stack ? 1 : v[i].d[k];
    for (int64_t b = 0; b < outer; b++)
      for (int64_t c = 0; c < len * inner; c++)
        out.v[(b * o.d[k] + at) * inner + c] = v[i].v[b * len * inner + c];
    at += len;
  }
  return out;
}

/* A list literal: its elements stacked along a new first axis; a constant
 * [[1, 2], [3, 4]] is the same stacking of numbers. */
static T literal(M *m, Ast *a, Scope *s) {
  if (a->nkid == 0)
    fail(m, a, "tensor literal is empty");
  int n;
  T *v = list_items(m, a, s, &n);
  for (int i = 1; i < n; i++)
    if (v[i].rank != v[0].rank || memcmp(v[i].d, v[0].d,
                                         (size_t)v[0].rank * sizeof v[0].d[0]))
      fail(m, a, "tensor literal is ragged");
  return join(m, a, v, n, 0, 1);
}

static T join_call(M *m, Ast *a, Scope *s, int stack) {
  if (a->nkid < 1 || a->nkid > 2)
    fail(m, a, "'%s' takes 1 to 2 arguments, not %d", a->name, a->nkid);
  int n;
  T *v = list_items(m, a->kid[0], s, &n);
  if (n == 0)
    fail(m, a, "nothing to join");
  int rank = v[0].rank + stack;
  int64_t k = a->nkid > 1 ? int_of(m, a->kid[1], s, "axis", -rank, rank - 1) : 0;
  return join(m, a, v, n, (int)(k < 0 ? k + rank : k), stack);
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
        if (!str_cmp(local_name(d, q, &p), name))
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
  T in[3] = {{0}}; /* every one set below; gcc -O3 cannot tell */
  for (int i = 0; i < arity; i++)
    in[i] = ev(m, a->kid[i], s);
  return elementwise(m, a, a->name, op, arity, in);
}

/* ---- linear algebra ----
 *
 * Written from the textbook definitions with algorithms other than the
 * compiler's kernels: the outer-product Cholesky, Gauss-Jordan elimination
 * on the augmented matrix for solves and inverses (a triangular solve is a
 * general solve of the masked matrix), and row echelon form for
 * determinants. Matrices lie on the last two axes, batched over the rest. */

static T matrix_arg(M *m, Ast *a, Scope *s, int k) {
  if (a->nkid <= k)
    fail(m, a, "'%s' needs more arguments", a->name);
  T x = ev(m, a->kid[k], s);
  if (x.rank < 2 || x.d[x.rank - 1] != x.d[x.rank - 2])
    fail(m, a, "'%s' takes square matrices", a->name);
  return x;
}

/* Cholesky of the symmetric part, column by column, updating the rest. */
static T ref_cholesky(M *m, Ast *a, Scope *s) {
  T x = matrix_arg(m, a, s, 0), out = tensor(m, x.rank, x.d);
  int64_t n = x.d[x.rank - 1], nb = x.n / (n * n > 0 ? n * n : 1);
  double *w = arena_alloc(m, (size_t)(n * n + 1) * sizeof *w);
  for (int64_t b = 0; b < nb; b++) {
    double *in = x.v + b * n * n, *l = out.v + b * n * n;
    for (int64_t i = 0; i < n * n; i++)
      w[i] = (in[i] + in[(i % n) * n + i / n]) / 2, l[i] = 0;
    for (int64_t k = 0; k < n; k++) {
      if (!(w[k * n + k] > 0))
        fail(m, a, "cholesky: the matrix is not positive definite");
      double d = sqrt(w[k * n + k]);
      for (int64_t i = k; i < n; i++)
        l[i * n + k] = w[i * n + k] / d;
      for (int64_t i = k + 1; i < n; i++)
        for (int64_t j = k + 1; j <= i; j++)
          w[i * n + j] -= l[i * n + k] * l[j * n + k];
      for (int64_t i = k + 1; i < n; i++)
        for (int64_t j = i + 1; j < n; j++)
          w[i * n + j] = w[j * n + i];
    }
  }
  return out;
}

/* Gauss-Jordan on [A | B] (n x (n + k)), partial pivoting; B becomes X.
 * Returns 0 if A is singular. */
static int gauss_jordan(int64_t n, int64_t k, double *w) {
  int64_t c = n + k;
  for (int64_t j = 0; j < n; j++) {
    int64_t p = j;
    for (int64_t i = j + 1; i < n; i++)
      if (fabs(w[i * c + j]) > fabs(w[p * c + j]))
        p = i;
    if (w[p * c + j] == 0)
      return 0;
    for (int64_t q = 0; q < c; q++) {
      double t = w[j * c + q];
      w[j * c + q] = w[p * c + q];
      w[p * c + q] = t;
    }
    double piv = w[j * c + j];
    for (int64_t q = 0; q < c; q++)
      w[j * c + q] /= piv;
    for (int64_t i = 0; i < n; i++) {
      double f = w[i * c + j];
      if (i != j && f != 0)
        for (int64_t q = 0; q < c; q++)
          w[i * c + q] -= f * w[j * c + q];
    }
  }
  return 1;
}

/* op(A) X = B; tri: 0 general, 1 lower, 2 upper (the other triangle is
 * taken as zero); inv: B is the identity. */
static T ref_solve(M *m, Ast *a, Scope *s, int tri, int trans, int inv) {
  T A = matrix_arg(m, a, s, 0), B = A;
  if (!inv)
    B = ev(m, a->kid[1], s);
  int64_t n = A.d[A.rank - 1], nb = A.n / (n * n > 0 ? n * n : 1);
  int vec = !inv && B.rank == 1 && A.rank == 2;
  int64_t k = inv ? n : vec ? 1 : B.d[B.rank - 1];
  if ((vec ? B.d[0] : B.d[B.rank - 2]) != n || (!vec && B.rank != A.rank))
    fail(m, a, "'%s': the right side does not fit", a->name);
  T X = inv ? tensor(m, A.rank, A.d) : tensor(m, B.rank, B.d);
  double *w = arena_alloc(m, (size_t)(n * (n + k) + 1) * sizeof *w);
  for (int64_t b = 0; b < nb; b++) {
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < n; j++) {
        int64_t r = trans ? j : i, q = trans ? i : j; /* op(A)[i][j] */
        double v = A.v[b * n * n + r * n + q];
        if ((tri == 1 && q > r) || (tri == 2 && q < r))
          v = 0;
        w[i * (n + k) + j] = v;
      }
    for (int64_t i = 0; i < n; i++)
      for (int64_t c = 0; c < k; c++)
        w[i * (n + k) + n + c] = inv ? (double)(i == c)
                                     : B.v[b * n * k + i * k + c];
    if (!gauss_jordan(n, k, w))
      fail(m, a, "%s: the matrix is singular", a->name);
    for (int64_t i = 0; i < n; i++)
      for (int64_t c = 0; c < k; c++)
        X.v[b * n * k + i * k + c] = w[i * (n + k) + n + c];
  }
  return X;
}

/* det by row echelon form: the product of the pivots, negated per swap */
static T ref_det(M *m, Ast *a, Scope *s, int log_abs) {
  T A = matrix_arg(m, a, s, 0);
  int64_t n = A.d[A.rank - 1], nb = A.n / (n * n > 0 ? n * n : 1);
  T out = tensor(m, A.rank - 2, A.d);
  double *w = arena_alloc(m, (size_t)(n * n + 1) * sizeof *w);
  for (int64_t b = 0; b < nb; b++) {
    memcpy(w, A.v + b * n * n, (size_t)(n * n) * sizeof *w);
    double det = 1;
    for (int64_t j = 0; j < n && det != 0; j++) {
      int64_t p = j;
      for (int64_t i = j + 1; i < n; i++)
        if (fabs(w[i * n + j]) > fabs(w[p * n + j]))
          p = i;
      if (p != j) {
        det = -det;
        for (int64_t q = 0; q < n; q++) {
          double t = w[j * n + q];
          w[j * n + q] = w[p * n + q];
          w[p * n + q] = t;
        }
      }
      det *= w[j * n + j];
      for (int64_t i = j + 1; i < n && w[j * n + j] != 0; i++) {
        double f = w[i * n + j] / w[j * n + j];
        for (int64_t q = j; q < n; q++)
          w[i * n + q] -= f * w[j * n + q];
      }
    }
    out.v[b] = log_abs ? log(fabs(det)) : det;
  }
  return out;
}

static T ref_eye(M *m, Ast *a, Scope *s) {
  int64_t n = int_of(m, a->kid[0], s, "a size", 1, INT32_MAX);
  T out = tensor(m, 2, (int64_t[]){n, n});
  for (int64_t i = 0; i < n * n; i++)
    out.v[i] = i / n == i % n;
  return out;
}

/* diagonal(A) (which 0), trace(A) (1), diag(v) (2) */
static T ref_diag(M *m, Ast *a, Scope *s, int which) {
  T x = ev(m, a->kid[0], s);
  if (which == 2 && x.rank == 1) {
    T out = tensor(m, 2, (int64_t[]){x.d[0], x.d[0]});
    for (int64_t i = 0; i < out.n; i++)
      out.v[i] = i / x.d[0] == i % x.d[0] ? x.v[i / x.d[0]] : 0;
    return out;
  }
  if (x.rank != 2)
    fail(m, a, "'%s' takes a matrix", a->name);
  int64_t k = x.d[0] < x.d[1] ? x.d[0] : x.d[1];
  T out = tensor(m, 1, &k);
  double t = 0;
  for (int64_t i = 0; i < k; i++)
    t += out.v[i] = x.v[i * x.d[1] + i];
  return which == 1 ? scalar_t(m, t) : out;
}

static T ref_outer(M *m, Ast *a, Scope *s) {
  T x = ev(m, a->kid[0], s), y = ev(m, a->kid[1], s);
  T out = tensor(m, 2, (int64_t[]){x.n, y.n});
  for (int64_t i = 0; i < x.n; i++)
    for (int64_t j = 0; j < y.n; j++)
      out.v[i * y.n + j] = x.v[i] * y.v[j];
  return out;
}

/* einsum by its definition: every assignment of values to the letters,
 * the product of the operands' elements there, summed into the output's
 * element (NumPy's implicit output: the letters used once, sorted). */
static T ref_einsum(M *m, Ast *a, Scope *s) {
  if (a->nkid < 2 || a->kid[0]->kind != A_STRING)
    fail(m, a, "einsum needs subscripts and operands");
  const char *p = a->kid[0]->name;
  char sub[16][16] = {{0}}, out[16] = {0}, all[32] = {0};
  int nop = a->nkid - 1, k = 0, len = 0;
  for (; *p && !(p[0] == '-' && p[1] == '>'); p++)
    if (*p == ',')
      k++, len = 0;
    else if (*p != ' ' && k < 16 && len < 15)
      sub[k][len++] = *p;
  if (k + 1 != nop)
    fail(m, a, "einsum: %d operands named, %d given", k + 1, nop);
  if (*p) {
    len = 0;
    for (p += 2; *p; p++)
      if (*p != ' ' && len < 15)
        out[len++] = *p;
  } else {
    len = 0;
    for (int c = 'A'; c <= 'z'; c++) {
      int uses = 0;
      for (int i = 0; i < nop; i++)
        uses += strchr(sub[i], c) != NULL;
      if (uses == 1 && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
        out[len++] = (char)c;
    }
  }
  T op[16];
  int64_t size[32] = {0};
  int na = 0;
  snprintf(all, sizeof all, "%s", out);
  na = (int)strlen(all);
  for (int i = 0; i < nop; i++) {
    op[i] = ev(m, a->kid[i + 1], s);
    if (op[i].rank != (int)strlen(sub[i]))
      fail(m, a, "einsum: operand %d has rank %d", i, op[i].rank);
    for (int j = 0; sub[i][j]; j++) {
      char *c = strchr(all, sub[i][j]);
      int at = c ? (int)(c - all) : na;
      if (!c)
        all[na++] = sub[i][j];
      if (size[at] && size[at] != op[i].d[j])
        fail(m, a, "einsum: sizes of '%c' differ", sub[i][j]);
      size[at] = op[i].d[j];
    }
  }
  int64_t od[16], total = 1, idx[32];
  for (int j = 0; j < (int)strlen(out); j++)
    od[j] = size[j];
  T res = tensor(m, (int)strlen(out), od);
  memset(res.v, 0, (size_t)res.n * sizeof *res.v);
  for (int j = 0; j < na; j++)
    total *= size[j];
  for (int64_t e = 0; e < total; e++) {
    int64_t r = e, o = 0;
    for (int j = na - 1; j >= 0; j--)
      idx[j] = r % size[j], r /= size[j];
    for (int j = 0; j < (int)strlen(out); j++)
      o = o * size[j] + idx[j];
    double v = 1;
    for (int i = 0; i < nop; i++) {
      int64_t off = 0;
      for (int j = 0; sub[i][j]; j++)
        off = off * op[i].d[j] + idx[strchr(all, sub[i][j]) - all];
      v *= op[i].v[off];
    }
    res.v[o] += v;
  }
  return res;
}

static T linalg(M *m, Ast *a, Scope *s) {
  const char *f = a->name;
  if (!str_cmp(f, "einsum"))
    return ref_einsum(m, a, s);
  if (!str_cmp(f, "cholesky"))
    return ref_cholesky(m, a, s);
  if (!str_cmp(f, "solve") || !str_cmp(f, "inv"))
    return ref_solve(m, a, s, 0, 0, f[0] == 'i');
  if (!str_cmp(f, "solve_triangular")) {
    int lower = a->nkid > 2 && a->kid[2] && int_of(m, a->kid[2], s, "lower", 0, 1);
    int trans = a->nkid > 3 && a->kid[3] && int_of(m, a->kid[3], s, "trans", 0, 1);
    return ref_solve(m, a, s, lower ? 1 : 2, trans, 0);
  }
  if (!str_cmp(f, "det") || !str_cmp(f, "logdet"))
    return ref_det(m, a, s, f[0] == 'l');
  if (!str_cmp(f, "eye"))
    return ref_eye(m, a, s);
  if (!str_cmp(f, "diagonal") || !str_cmp(f, "trace") || !str_cmp(f, "diag"))
    return ref_diag(m, a, s, f[0] == 't' ? 1 : !str_cmp(f, "diag") ? 2 : 0);
  return ref_outer(m, a, s);
}

static int is_linalg(const char *f) {
  static const char *const names[] = {
      "cholesky", "solve", "inv", "solve_triangular", "det", "logdet",
      "eye", "diagonal", "trace", "diag", "outer", "einsum"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!str_cmp(f, names[i]))
      return 1;
  return 0;
}

/* ---- convolution and pooling (PyTorch's definitions) ----
 *
 * conv2d: y[n, o, i, j] = sum over c < C/groups, ki, kj of
 *   x[n, g(o) C/groups + c, i sh - ph + ki dh, j sw - pw + kj dw] w[o, c, ki, kj]
 * with g(o) = o / (O / groups) and x zero outside its bounds (the padding);
 * OH = floor((H + 2 ph - dh (KH - 1) - 1) / sh) + 1. conv1d is the same with
 * one spatial axis. max_pool: the largest in-bounds element of each window
 * (padding never wins); avg_pool: the window's sum over its full size, the
 * padding counting as zeros (PyTorch's count_include_pad=True). */

typedef struct Geo {
  int64_t s[2], p[2], d[2], k[2];
} Geo;

/* An int or a list of sp ints for argument k of a (absent: dflt); a 1-D
 * value goes to axis 1, axis 0 keeps id. */
static void geo_arg(M *m, Ast *a, Scope *s, int k, int sp, int64_t dflt,
                    int64_t id, int64_t lo, const char *what, int64_t out[2]) {
  Ast *e = k < a->nkid ? a->kid[k] : NULL;
  out[0] = out[1] = dflt;
  if (e && e->kind == A_LIST) {
    if (e->nkid != sp)
      fail(m, e, "%s takes one number or a list of %d", what, sp);
    for (int j = 0; j < sp; j++)
      out[2 - sp + j] = int_of(m, e->kid[j], s, what, lo, 1 << 20);
  } else if (e) {
    out[0] = out[1] = int_of(m, e, s, what, lo, 1 << 20);
  }
  if (sp == 1)
    out[0] = id;
}

/* The 2-D sizes of a rank sp + 2 tensor: [N, C, H, W], H = 1 for 1-D. */
static void planes(M *m, Ast *a, const T *t, int sp, int64_t hw[2]) {
  if (t->rank != sp + 2)
    fail(m, a, "'%s' takes a tensor of rank %d", a->name, sp + 2);
  hw[0] = sp == 2 ? t->d[2] : 1;
  hw[1] = t->d[t->rank - 1];
}

static T layer_out(M *m, Ast *a, const T *x, int64_t o, const Geo *g,
                   const int64_t in[2], int64_t out[2]) {
  for (int j = 0; j < 2; j++) {
    int64_t room = in[j] + 2 * g->p[j] - g->d[j] * (g->k[j] - 1) - 1;
    if (room < 0)
      fail(m, a, "'%s': the input is smaller than the kernel", a->name);
    out[j] = room / g->s[j] + 1;
  }
  int64_t d[4] = {x->d[0], o, out[0], out[1]};
  if (x->rank == 3)
    d[2] = out[1];
  return tensor(m, x->rank, d);
}

static T conv_ref(M *m, Ast *a, Scope *s, int sp) {
  if (a->nkid < 2 || a->nkid > 6)
    fail(m, a, "'%s' takes 2 to 6 arguments", a->name);
  T x = ev(m, a->kid[0], s), w = ev(m, a->kid[1], s);
  int64_t in[2], kw[2], out[2];
  Geo g;
  planes(m, a, &x, sp, in);
  planes(m, a, &w, sp, g.k);
  geo_arg(m, a, s, 2, sp, 1, 1, 1, "stride", g.s);
  geo_arg(m, a, s, 3, sp, 0, 0, 0, "padding", g.p);
  geo_arg(m, a, s, 4, sp, 1, 1, 1, "dilation", g.d);
  int64_t groups = a->nkid > 5 && a->kid[5] ? int_of(m, a->kid[5], s, "groups", 1, 1 << 20) : 1;
  int64_t O = w.d[0], Cg = w.d[1];
  if (O % groups || x.d[1] != Cg * groups)
    fail(m, a, "'%s': channels and groups do not fit", a->name);
  kw[0] = g.k[0], kw[1] = g.k[1];
  T y = layer_out(m, a, &x, O, &g, in, out);
  for (int64_t n = 0; n < x.d[0]; n++)
    for (int64_t o = 0; o < O; o++)
      for (int64_t i = 0; i < out[0]; i++)
        for (int64_t j = 0; j < out[1]; j++) {
          double acc = 0;
          for (int64_t c = 0; c < Cg; c++)
            for (int64_t ki = 0; ki < kw[0]; ki++)
              for (int64_t kj = 0; kj < kw[1]; kj++) {
                int64_t r = i * g.s[0] - g.p[0] + ki * g.d[0];
                int64_t q = j * g.s[1] - g.p[1] + kj * g.d[1];
                if (r < 0 || r >= in[0] || q < 0 || q >= in[1])
                  continue;
                int64_t ch = o / (O / groups) * Cg + c;
                acc += x.v[((n * x.d[1] + ch) * in[0] + r) * in[1] + q] *
                       w.v[((o * Cg + c) * kw[0] + ki) * kw[1] + kj];
              }
          y.v[((n * O + o) * out[0] + i) * out[1] + j] = acc;
        }
  return y;
}

static T pool_ref(M *m, Ast *a, Scope *s, int sp, int is_max) {
  if (a->nkid < 2 || a->nkid > 4)
    fail(m, a, "'%s' takes 2 to 4 arguments", a->name);
  T x = ev(m, a->kid[0], s);
  int64_t in[2], out[2];
  Geo g = {.d = {1, 1}};
  planes(m, a, &x, sp, in);
  geo_arg(m, a, s, 1, sp, 1, 1, 1, "kernel", g.k);
  if (a->nkid > 2 && a->kid[2])
    geo_arg(m, a, s, 2, sp, 1, 1, 1, "stride", g.s);
  else
    g.s[0] = g.k[0], g.s[1] = g.k[1];
  geo_arg(m, a, s, 3, sp, 0, 0, 0, "padding", g.p);
  if (2 * g.p[0] > g.k[0] || 2 * g.p[1] > g.k[1])
    fail(m, a, "'%s': padding more than half the window", a->name);
  T y = layer_out(m, a, &x, x.d[1], &g, in, out);
  for (int64_t pl = 0; pl < x.d[0] * x.d[1]; pl++)
    for (int64_t i = 0; i < out[0]; i++)
      for (int64_t j = 0; j < out[1]; j++) {
        double acc = is_max ? -INFINITY : 0;
        for (int64_t ki = 0; ki < g.k[0]; ki++)
          for (int64_t kj = 0; kj < g.k[1]; kj++) {
            int64_t r = i * g.s[0] - g.p[0] + ki, q = j * g.s[1] - g.p[1] + kj;
            if (r < 0 || r >= in[0] || q < 0 || q >= in[1])
              continue;
            double v = x.v[(pl * in[0] + r) * in[1] + q];
            acc = is_max ? (v > acc ? v : acc) : acc + v;
          }
        y.v[(pl * out[0] + i) * out[1] + j] =
            is_max ? acc : acc / (double)(g.k[0] * g.k[1]);
      }
  return y;
}

/* ---- forward mode and stop_gradient (v2) ---- */

/* e, of any shape, at the current values, copied to out. */
static void sample_vector(M *m, Ast *e, Scope *s, int var, double *out) {
  (void)var;
  Mark k = mark(m);
  T y = ev(m, e, s);
  memcpy(out, y.v, (size_t)y.n * sizeof(double));
  release(m, k);
}

/* Column j of the Jacobian of y by v into col (ny values): the stencil of
 * y as element j of v moves. */
static void jacobian_column(M *m, Ast *y, Scope *s, int var, int64_t j,
                            int64_t ny, double *col) {
  double *tmp = arena_alloc(m, 4 * (size_t)ny * sizeof(double));
  stencil(m, y, s, var, j, sample_vector, ny, col, tmp);
}

/* jacobian(y, v): y.shape + v.shape, column by column. */
static T jacobian_call(M *m, Ast *a, Scope *s) {
  if (a->nkid != 2)
    fail(m, a, "'jacobian' takes 2 arguments, not %d", a->nkid);
  int var = named_var(m, a->kid[1], s);
  if (var < 0)
    fail(m, a->kid[1], "jacobian needs an input or param to differentiate by");
  T y = ev(m, a->kid[0], s), v = var_value(m, a->kid[1], var);
  if (y.rank + v.rank > REF_MAX_RANK)
    fail(m, a, "jacobian's rank is above %d", REF_MAX_RANK);
  int64_t d[2 * REF_MAX_RANK];
  memcpy(d, y.d, (size_t)y.rank * sizeof *d);
  memcpy(d + y.rank, v.d, (size_t)v.rank * sizeof *d);
  T J = tensor(m, y.rank + v.rank, d);
  double *col = arena_alloc(m, (size_t)y.n * sizeof(double));
  for (int64_t j = 0; j < v.n; j++) {
    jacobian_column(m, a->kid[0], s, var, j, y.n, col);
    for (int64_t i = 0; i < y.n; i++)
      J.v[i * v.n + j] = col[i];
  }
  return J;
}

/* jvp(y, v, u) = J u, the Jacobian's columns weighted by u. */
static T jvp_call(M *m, Ast *a, Scope *s) {
  if (a->nkid != 3)
    fail(m, a, "'jvp' takes 3 arguments, not %d", a->nkid);
  int var = named_var(m, a->kid[1], s);
  if (var < 0)
    fail(m, a->kid[1], "jvp needs an input or param to differentiate by");
  T v = var_value(m, a->kid[1], var), u = ev(m, a->kid[2], s);
  if (u.rank != v.rank || memcmp(u.d, v.d, (size_t)v.rank * sizeof *v.d))
    mismatch(m, a->kid[2], &v, &u, "jvp");
  T y = ev(m, a->kid[0], s), r = tensor(m, y.rank, y.d);
  double *col = arena_alloc(m, (size_t)y.n * sizeof(double));
  memset(r.v, 0, (size_t)r.n * sizeof(double));
  for (int64_t j = 0; j < v.n; j++) {
    if (u.v[j] == 0)
      continue;
    jacobian_column(m, a->kid[0], s, var, j, y.n, col);
    for (int64_t i = 0; i < y.n; i++)
      r.v[i] += u.v[j] * col[i];
  }
  return r;
}

/* stop_gradient(x): x at the point where the derivatives being taken are
 * taken, that is with every element that grad, hessian, jacobian or jvp
 * has perturbed put back, so its finite differences are exactly zero. */
static T stop_gradient(M *m, Ast *a, Scope *s) {
  if (a->nkid != 1)
    fail(m, a, "'stop_gradient' takes 1 argument, not %d", a->nkid);
  if (!m->npert)
    return ev(m, a->kid[0], s);
  double now[sizeof m->pert / sizeof m->pert[0]];
  uint64_t epoch = m->epoch;
  for (int i = m->npert; i-- > 0;) {
    now[i] = *m->pert[i].x;
    *m->pert[i].x = m->pert[i].x0; /* the outermost's x0 comes last */
  }
  m->epoch = ++m->epochs;
  T r = ev(m, a->kid[0], s);
  for (int i = 0; i < m->npert; i++)
    *m->pert[i].x = now[i];
  m->epoch = epoch; /* as perturbed again: its values are valid again */
  return r;
}

/* elu(x) and leaky_relu(x): the default second argument. */
static T ew_default(M *m, Ast *a, Scope *s, Ew op, double dflt) {
  T in[2] = {ev(m, a->kid[0], s), scalar_t(m, dflt)};
  return elementwise(m, a, a->name, op, 2, in);
}

static T builtin(M *m, Ast *a, Scope *s) {
  static const struct { const char *name; Red f; } reds[] = {
      {"sum", R_SUM}, {"mean", R_MEAN}, {"max", R_MAX}, {"min", R_MIN},
      {"logsumexp", R_LSE}};
  for (size_t i = 0; i < sizeof reds / sizeof reds[0]; i++)
    if (str_cmp(a->name, reds[i].name) == 0)
      return reduction(m, a, s, reds[i].f);
  if (!str_cmp(a->name, "softmax") || !str_cmp(a->name, "log_softmax"))
    return normaliser(m, a, s, a->name[0] == 'l');
  if (!str_cmp(a->name, "reshape"))
    return reshape(m, a, s);
  if (!str_cmp(a->name, "take"))
    return take_call(m, a, s);
  if (!str_cmp(a->name, "take_along_axis"))
    return take_along_call(m, a, s);
  if (!str_cmp(a->name, "one_hot"))
    return one_hot_call(m, a, s);
  if (!str_cmp(a->name, "argmax") || !str_cmp(a->name, "argmin"))
    return arg_call(m, a, s, a->name[4] == 'a');
  if (!str_cmp(a->name, "argsort"))
    return argsort_call(m, a, s);
  if (!str_cmp(a->name, "concatenate") || !str_cmp(a->name, "stack"))
    return join_call(m, a, s, a->name[0] == 's');
  if (!str_cmp(a->name, "grad"))
    return grad_call(m, a, s);
  if (is_linalg(a->name))
    return linalg(m, a, s);
  if (!str_cmp(a->name, "conv1d") || !str_cmp(a->name, "conv2d"))
    return conv_ref(m, a, s, a->name[4] - '0');
  if (!str_cmp(a->name, "max_pool1d") || !str_cmp(a->name, "max_pool2d") ||
      !str_cmp(a->name, "avg_pool1d") || !str_cmp(a->name, "avg_pool2d"))
    return pool_ref(m, a, s, a->name[8] - '0', a->name[0] == 'm');
  if (!str_cmp(a->name, "hessian"))
    return hessian_call(m, a, s);
  if (!str_cmp(a->name, "jacobian"))
    return jacobian_call(m, a, s);
  if (!str_cmp(a->name, "jvp"))
    return jvp_call(m, a, s);
  if (!str_cmp(a->name, "stop_gradient"))
    return stop_gradient(m, a, s);
  if (!str_cmp(a->name, "elu") && a->nkid == 1)
    return ew_default(m, a, s, E_ELU, 1.0);
  if (!str_cmp(a->name, "leaky_relu") && a->nkid == 1)
    return ew_default(m, a, s, E_LEAKY_RELU, 0.01);
  if (!str_cmp(a->name, "dot") || !str_cmp(a->name, "transpose")) {
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
    if (!str_cmp(a->name, ew_funcs[i].name))
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
    {"hessian", {"e", "v"}}, {"dot", {"a", "b"}},
    {"solve_triangular", {"a", "b", "lower?", "trans?"}}, {"solve", {"a", "b"}},
    {"outer", {"a", "b"}},
    {"take", {"a", "indices", "axis"}},
    {"take_along_axis", {"arr", "indices", "axis"}},
    {"one_hot", {"x", "num_classes"}}, {"argmax", {"x", "axis"}},
    {"argmin", {"x", "axis"}}, {"argsort", {"x", "axis"}},
    {"concatenate", {"arrays", "axis"}}, {"stack", {"arrays", "axis"}},
    {"polygamma", {"n", "x"}}, {"atan2", {"y", "x"}}, {"hypot", {"a", "b"}},
    {"clip", {"x", "lo", "hi"}}, {"elu", {"x", "alpha"}},
    {"leaky_relu", {"x", "negative_slope"}}, {"jvp", {"y", "v", "u"}},
    {"jacobian", {"y", "v"}}};

/* The layers, whose parameters after the first two may be left out (the
 * evaluators read a NULL or missing argument as its default). */
static const struct { const char *name; const char *param[8]; } layers[] = {
    {"conv1d", {"x", "w", "stride", "padding", "dilation", "groups"}},
    {"conv2d", {"x", "w", "stride", "padding", "dilation", "groups"}},
    {"max_pool1d", {"x", "kernel", "stride", "padding"}},
    {"max_pool2d", {"x", "kernel", "stride", "padding"}},
    {"avg_pool1d", {"x", "kernel", "stride", "padding"}},
    {"avg_pool2d", {"x", "kernel", "stride", "padding"}}};

/* A name ending in '?' may be left out while a later one is given: the
 * evaluator then finds NULL in its place. */
static int param_index(const char *const *param, int n, const char *name) {
  for (int i = 0; i < n && param[i]; i++) {
    size_t len = strlen(param[i]);
    len -= len && param[i][len - 1] == '?';
    if (strlen(name) == len && !strncmp(param[i], name, len))
      return i;
  }
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
    if (!c->kid[i] && param[i][strlen(param[i]) - 1] != '?')
      fail(m, a, "'%s' needs its argument '%s'", a->name, param[i]);
  return c;
}

/* ---- issue 13: reductions over several axes, cumulative functions, sort
 * and the shape functions. Each follows NumPy's definition literally:
 * groups of elements gathered and folded, prefixes recomputed from
 * scratch, rows sorted by insertion, indices mapped one by one. ---- */

/* Match call a to param (a name ending in '?' may be left out): v[i] is
 * the argument of param i or NULL. */
static void match_args(M *m, Ast *a, const char *const *param, int n,
                       Ast **v) {
  int npos = 0;
  for (int i = 0; i < n; i++)
    v[i] = NULL;
  while (npos < a->nkid && a->kid[npos]->kind != A_KEYWORD)
    npos++;
  if (npos > n)
    fail(m, a, "'%s' takes at most %d arguments, not %d", a->name, n, npos);
  for (int i = 0; i < npos; i++)
    v[i] = a->kid[i];
  for (int i = npos; i < a->nkid; i++) {
    Ast *k = a->kid[i];
    int at = -1;
    for (int j = 0; j < n; j++)
      if (!strncmp(param[j], k->name, strlen(k->name)) &&
          (param[j][strlen(k->name)] == 0 || param[j][strlen(k->name)] == '?'))
        at = j;
    if (at < 0)
      fail(m, k, "'%s' has no argument named '%s'", a->name, k->name);
    if (v[at])
      fail(m, k, "'%s' is given twice", k->name);
    v[at] = k->kid[0];
  }
  for (int i = 0; i < n; i++)
    if (!v[i] && param[i][strlen(param[i]) - 1] != '?')
      fail(m, a, "'%s' needs its argument '%s'", a->name, param[i]);
}

/* An axis or a list of axes as a bit mask; NULL: every axis. */
static unsigned axes_of(M *m, Ast *a, Scope *s, int rank) {
  if (!a)
    return (1u << rank) - 1;
  if (a->kind != A_LIST)
    return 1u << axis_of(m, a, s, rank);
  unsigned mask = 0;
  for (int i = 0; i < a->nkid; i++) {
    int k = axis_of(m, a->kid[i], s, rank);
    if (mask & (1u << k))
      fail(m, a->kid[i], "axis %d is repeated", k);
    mask |= 1u << k;
  }
  return mask;
}

typedef enum { G_SUM, G_MEAN, G_MAX, G_MIN, G_LSE, G_PROD, G_VAR, G_STD,
               G_NORM } Fold;

static double fold_group(Fold f, const double *x, int64_t n, int64_t ddof) {
  double r = 0, mean = 0;
  switch (f) {
  case G_SUM: return reduce_run(R_SUM, x, n, 1);
  case G_MEAN: return reduce_run(R_MEAN, x, n, 1);
  case G_MAX: return reduce_run(R_MAX, x, n, 1);
  case G_MIN: return reduce_run(R_MIN, x, n, 1);
  case G_LSE: return reduce_run(R_LSE, x, n, 1);
  case G_PROD:
    r = 1;
    for (int64_t j = 0; j < n; j++)
      r *= x[j];
    return r;
  case G_VAR:
  case G_STD:
    for (int64_t j = 0; j < n; j++)
      mean += x[j] / (double)n;
    for (int64_t j = 0; j < n; j++)
      r += (x[j] - mean) * (x[j] - mean);
    r /= (double)(n - ddof);
    return f == G_STD ? sqrt(r) : r;
  case G_NORM:
    for (int64_t j = 0; j < n; j++)
      r += x[j] * x[j];
    return sqrt(r);
  }
  return NAN;
}

/* f over the axes of mask: each result element folds the group of input
 * elements that agree with it on the other axes. */
static T fold_axes(M *m, Fold f, const T *x, unsigned mask, int keep,
                   int64_t ddof) {
  int64_t d[REF_MAX_RANK], idx[REF_MAX_RANK];
  int r = 0;
  for (int i = 0; i < x->rank; i++)
    if (!(mask & (1u << i)) || keep)
      d[r++] = mask & (1u << i) ? 1 : x->d[i];
  T out = tensor(m, r, d);
  int64_t k = out.n ? x->n / out.n : 0;
  double *buf = arena_alloc(m, (size_t)(x->n + 1) * sizeof(double));
  int64_t *fill = arena_alloc(m, (size_t)(out.n + 1) * sizeof(int64_t));
  memset(fill, 0, (size_t)out.n * sizeof(int64_t));
  for (int64_t e = 0; e < x->n; e++) {
    unravel(e, x, idx);
    int64_t o = 0;
    for (int i = 0; i < x->rank; i++)
      if (!(mask & (1u << i)))
        o = o * x->d[i] + idx[i];
    buf[o * k + fill[o]++] = x->v[e];
  }
  for (int64_t o = 0; o < out.n; o++)
    out.v[o] = fold_group(f, buf + o * k, k, ddof);
  return out;
}

static T fold_call(M *m, Ast *a, Scope *s, Fold f) {
  static const char *const plain[] = {"x", "axis?", "keepdims?"};
  static const char *const moment[] = {"x", "axis?", "ddof?", "keepdims?"};
  int mom = f == G_VAR || f == G_STD;
  Ast *v[4];
  match_args(m, a, mom ? moment : plain, mom ? 4 : 3, v);
  T x = ev(m, v[0], s);
  unsigned mask = axes_of(m, v[1], s, x.rank);
  int64_t ddof = mom && v[2] ? int_of(m, v[2], s, "ddof", 0, INT32_MAX) : 0;
  Ast *kd = v[mom ? 3 : 2];
  int keep = kd ? (int)int_of(m, kd, s, "keepdims", 0, 1) : 0;
  return fold_axes(m, f, &x, mask, keep, ddof);
}

/* cumsum, cumprod, logcumsumexp: element i of a row from the elements
 * 0..i of that row, recomputed for each i. */
static double prefix(const char *name, const double *p, int64_t i,
                     int64_t inner) {
  double r = name[3] == 'p' ? 1 : 0, mx = -INFINITY;
  if (name[0] == 'l') {
    for (int64_t j = 0; j <= i; j++)
      mx = p[j * inner] > mx || p[j * inner] != p[j * inner] ? p[j * inner] : mx;
    if (mx == -INFINITY || isnan(mx) || mx == INFINITY)
      return mx;
  }
  for (int64_t j = 0; j <= i; j++) {
    double x = p[j * inner];
    if (name[0] == 'l')
      r += exp(x - mx);
    else
      r = name[3] == 'p' ? r * x : r + x;
  }
  return name[0] == 'l' ? mx + log(r) : r;
}

static T along_call(M *m, Ast *a, Scope *s) {
  static const char *const param[] = {"x", "axis?"};
  Ast *v[2];
  match_args(m, a, param, 2, v);
  T x = ev(m, v[0], s);
  int sort = !str_cmp(a->name, "sort");
  if (!v[1] && x.rank != 1 && !sort)
    fail(m, a, "'%s' needs an axis for a tensor of rank %d", a->name, x.rank);
  int k = v[1] ? axis_of(m, v[1], s, x.rank) : x.rank - 1;
  if (x.rank == 0)
    fail(m, a, "a scalar has no axis");
  int64_t outer, len, inner;
  split_axis(&x, k, &outer, &len, &inner);
  T out = tensor(m, x.rank, x.d);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < inner; j++) {
      const double *p = x.v + o * len * inner + j;
      double *q = out.v + o * len * inner + j;
      for (int64_t i = 0; i < len; i++) {
        if (!sort) {
          q[i * inner] = prefix(a->name, p, i, inner);
          continue;
        }
        int64_t at = i; /* insertion: after every element not after p[i] */
        while (at > 0 && sorts_before(p[i * inner], q[(at - 1) * inner])) {
          q[at * inner] = q[(at - 1) * inner];
          at--;
        }
        q[at * inner] = p[i * inner];
      }
    }
  return out;
}

/* out[idx] = x[src(idx)] for a map of positions given by `at`. */
typedef int (*Source)(const T *x, const int64_t *oidx, int64_t *iidx,
                      const void *arg);

static T gather(M *m, const T *x, int rank, const int64_t *d, Source at,
                const void *arg, double fill) {
  T out = tensor(m, rank, d);
  int64_t oidx[REF_MAX_RANK], iidx[REF_MAX_RANK];
  for (int64_t e = 0; e < out.n; e++) {
    unravel(e, &out, oidx);
    if (!at(x, oidx, iidx, arg)) {
      out.v[e] = fill;
      continue;
    }
    int64_t off = 0;
    for (int i = 0; i < x->rank; i++)
      off = off * x->d[i] + iidx[i];
    out.v[e] = x->v[off];
  }
  return out;
}

typedef struct Map13 {
  int perm[REF_MAX_RANK]; /* transpose: output axis i is input axis perm[i] */
  unsigned mask;          /* flip: axes reversed */
  int64_t lo[REF_MAX_RANK];
} Map13;

static int permuted(const T *x, const int64_t *o, int64_t *in, const void *p) {
  const Map13 *mp = p;
  for (int i = 0; i < x->rank; i++)
    in[mp->perm[i]] = o[i];
  return 1;
}

static int flipped(const T *x, const int64_t *o, int64_t *in, const void *p) {
  const Map13 *mp = p;
  for (int i = 0; i < x->rank; i++)
    in[i] = mp->mask & (1u << i) ? x->d[i] - 1 - o[i] : o[i];
  return 1;
}

static int padded(const T *x, const int64_t *o, int64_t *in, const void *p) {
  const Map13 *mp = p;
  for (int i = 0; i < x->rank; i++) {
    in[i] = o[i] - mp->lo[i];
    if (in[i] < 0 || in[i] >= x->d[i])
      return 0;
  }
  return 1;
}

static int broadcasted(const T *x, const int64_t *o, int64_t *in,
                       const void *p) {
  int lead = *(const int *)p;
  for (int i = 0; i < x->rank; i++)
    in[i] = x->d[i] == 1 ? 0 : o[i + lead];
  return 1;
}

static T transpose_axes(M *m, Ast *a, Scope *s, const T *x, Ast *axes) {
  Map13 mp;
  int64_t d[REF_MAX_RANK];
  if (axes->kind != A_LIST || axes->nkid != x->rank)
    fail(m, axes, "transpose needs a list of the %d axes", x->rank);
  axes_of(m, axes, s, x->rank); /* each once */
  for (int i = 0; i < x->rank; i++) {
    mp.perm[i] = axis_of(m, axes->kid[i], s, x->rank);
    d[i] = x->d[mp.perm[i]];
  }
  (void)a;
  return gather(m, x, x->rank, d, permuted, &mp, 0);
}

/* a size: a whole number or a bound dim's name */
static int64_t size_of13(M *m, Ast *a, Scope *s) {
  if (a->kind == A_NAME) {
    Bind *b = find(m, a->name, m->visible);
    if (b && b->kind == B_DIM) {
      if (!m->dimsize[b->idx])
        fail(m, a, "dim '%s' is not bound", a->name);
      return m->dimsize[b->idx];
    }
  }
  return int_of(m, a, s, "a size", 1, INT32_MAX);
}

static T pad13(M *m, Ast **v, Scope *s, const T *x) {
  Map13 mp;
  int64_t d[REF_MAX_RANK];
  Ast *w = v[1];
  for (int i = 0; i < x->rank; i++) {
    Ast *lo = w, *hi = w;
    if (w->kind == A_LIST && w->nkid == 2 && w->kid[0]->kind != A_LIST)
      lo = w->kid[0], hi = w->kid[1];
    else if (w->kind == A_LIST) {
      if (w->nkid != x->rank && w->nkid != 1)
        fail(m, w, "pad needs one [before, after] pair per axis");
      Ast *p = w->kid[w->nkid == 1 ? 0 : i];
      if (p->kind != A_LIST || p->nkid != 2)
        fail(m, p, "a pad width pair is [before, after]");
      lo = p->kid[0], hi = p->kid[1];
    }
    mp.lo[i] = int_of(m, lo, s, "a pad width", 0, INT32_MAX);
    d[i] = x->d[i] + mp.lo[i] + int_of(m, hi, s, "a pad width", 0, INT32_MAX);
  }
  double fill = v[2] ? scalar_of(m, v[2], ev(m, v[2], s), "a pad value") : 0;
  return gather(m, x, x->rank, d, padded, &mp, fill);
}

static T reshaped13(M *m, const T *x, int rank, const int64_t *d) {
  T out = tensor(m, rank, d);
  memcpy(out.v, x->v, (size_t)x->n * sizeof(double));
  return out;
}

static T swapaxes13(M *m, Ast **v, Scope *s, const T *x) {
  Map13 mp;
  int64_t d[REF_MAX_RANK];
  int i = axis_of(m, v[1], s, x->rank), j = axis_of(m, v[2], s, x->rank);
  for (int k = 0; k < x->rank; k++) {
    mp.perm[k] = k == i ? j : k == j ? i : k;
    d[k] = x->d[mp.perm[k]];
  }
  return gather(m, x, x->rank, d, permuted, &mp, 0);
}

/* expand_dims (squeeze = 0) and squeeze: the same elements, with size-1
 * axes inserted at the places given (counted in the result) or removed. */
static T ones13(M *m, Ast **v, Scope *s, const T *x, int squeeze) {
  int64_t d[REF_MAX_RANK];
  int r = 0;
  if (!squeeze) {
    int n = v[1]->kind == A_LIST ? v[1]->nkid : 1;
    if (x->rank + n > REF_MAX_RANK)
      fail(m, v[1], "rank above %d", REF_MAX_RANK);
    unsigned mask = axes_of(m, v[1], s, x->rank + n);
    for (int i = 0, k = 0; i < x->rank + n; i++)
      d[r++] = mask & (1u << i) ? 1 : x->d[k++];
    return reshaped13(m, x, r, d);
  }
  unsigned mask = 0;
  for (int i = 0; i < x->rank; i++)
    mask |= x->d[i] == 1 ? 1u << i : 0;
  if (v[1]) {
    unsigned want = axes_of(m, v[1], s, x->rank);
    if (want & ~mask)
      fail(m, v[1], "cannot squeeze an axis whose size is not 1");
    mask = want;
  }
  for (int i = 0; i < x->rank; i++)
    if (!(mask & (1u << i)))
      d[r++] = x->d[i];
  return reshaped13(m, x, r, d);
}

static T broadcast13(M *m, Ast *a, Ast **v, Scope *s, const T *x) {
  Ast *l = v[1];
  if (l->kind != A_LIST || l->nkid > REF_MAX_RANK || l->nkid < x->rank)
    fail(m, l, "broadcast_to takes a shape list of rank >= %d", x->rank);
  T t = {.rank = l->nkid}, b;
  for (int i = 0; i < l->nkid; i++)
    t.d[i] = size_of13(m, l->kid[i], s);
  int lead = t.rank - x->rank;
  if (!broadcast_shape(x, &t, &b) ||
      memcmp(b.d, t.d, sizeof t.d[0] * (size_t)t.rank))
    mismatch(m, a, x, &t, "broadcast_to");
  return gather(m, x, t.rank, t.d, broadcasted, &lead, 0);
}

/* tril, triu: keep column - row <= k, or >= k, on the last two axes */
static T triangle13(M *m, Ast *a, Ast **v, Scope *s, const T *x) {
  if (x->rank < 2)
    fail(m, a, "'%s' needs a matrix", a->name);
  int64_t k = v[1] ? int_of(m, v[1], s, "k", INT32_MIN, INT32_MAX) : 0;
  T out = tensor(m, x->rank, x->d);
  int64_t idx[REF_MAX_RANK];
  for (int64_t e = 0; e < x->n; e++) {
    unravel(e, x, idx);
    int64_t diff = idx[x->rank - 1] - idx[x->rank - 2];
    int keep = a->name[3] == 'l' ? diff <= k : diff >= k;
    out.v[e] = keep ? x->v[e] : 0;
  }
  return out;
}

static T shape_call13(M *m, Ast *a, Scope *s) {
  static const struct { const char *name; const char *param[3]; } sig[] = {
      {"transpose", {"x", "axes?"}},  {"swapaxes", {"x", "axis1", "axis2"}},
      {"expand_dims", {"x", "axis"}}, {"squeeze", {"x", "axis?"}},
      {"broadcast_to", {"x", "shape"}}, {"pad", {"x", "widths", "value?"}},
      {"flip", {"x", "axis?"}},       {"tril", {"x", "k?"}},
      {"triu", {"x", "k?"}}};
  size_t f = 0;
  while (str_cmp(sig[f].name, a->name))
    f++;
  Ast *v[3];
  match_args(m, a, sig[f].param, sig[f].param[2] ? 3 : 2, v);
  T x = ev(m, v[0], s);
  Map13 mp;
  switch (f) {
  case 0:
    return v[1] ? transpose_axes(m, a, s, &x, v[1]) : transpose(m, &x);
  case 1:
    return swapaxes13(m, v, s, &x);
  case 2:
  case 3:
    return ones13(m, v, s, &x, f == 3);
  case 4:
    return broadcast13(m, a, v, s, &x);
  case 5:
    return pad13(m, v, s, &x);
  case 6:
    mp.mask = x.rank ? axes_of(m, v[1], s, x.rank) : 0;
    return gather(m, &x, x.rank, x.d, flipped, &mp, 0);
  default:
    return triangle13(m, a, v, s, &x);
  }
}

/* The functions of this section, or 0 if a names none of them. */
static int call13(M *m, Ast *a, Scope *s, T *out) {
  static const char *const folds[] = {"sum", "mean", "max", "min", "logsumexp",
                                      "prod", "var", "std", "norm"};
  static const char *const alongs[] = {"cumsum", "cumprod", "logcumsumexp",
                                       "sort"};
  static const char *const shapes[] = {"transpose", "swapaxes", "expand_dims",
                                       "squeeze", "broadcast_to", "pad", "flip",
                                       "tril", "triu"};
  for (int i = 0; i < 9; i++)
    if (!str_cmp(a->name, folds[i]))
      return *out = fold_call(m, a, s, (Fold)i), 1;
  for (int i = 0; i < 4; i++)
    if (!str_cmp(a->name, alongs[i]))
      return *out = along_call(m, a, s), 1;
  for (int i = 0; i < 9; i++)
    if (!str_cmp(a->name, shapes[i]))
      return *out = shape_call13(m, a, s), 1;
  return 0;
}

/* A layer call with its keywords moved to their places; NULL where an
 * optional argument is left out. */
static Ast *layer_args(M *m, Ast *a, const char *const *param) {
  Ast *c = arena_alloc(m, sizeof *c);
  *c = *a;
  c->kid = arena_alloc(m, 8 * sizeof *c->kid);
  c->nkid = 0;
  for (int i = 0; i < 8; i++)
    c->kid[i] = NULL;
  for (int i = 0; i < a->nkid; i++) {
    Ast *k = a->kid[i];
    int at = k->kind == A_KEYWORD ? param_index(param, 8, k->name) : i;
    if (at < 0 || at >= 8 || (k->kind != A_KEYWORD && !param[at]))
      fail(m, k, "'%s' has no such argument", a->name);
    if (c->kid[at])
      fail(m, k, "an argument of '%s' is given twice", a->name);
    c->kid[at] = k->kind == A_KEYWORD ? k->kid[0] : k;
    c->nkid = at + 1 > c->nkid ? at + 1 : c->nkid;
  }
  if (c->nkid < 2 || !c->kid[0] || !c->kid[1])
    fail(m, a, "'%s' needs its first two arguments", a->name);
  return c;
}

static T call(M *m, Ast *a, Scope *s) {
  if (is_loop_call(m, a)) {
    T r;
    scan_eval(m, a, s, &r, 0, a->name[0] == 'f');
    return r;
  }
  for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++)
    if (!str_cmp(a->name, layers[i].name) &&
        !(find(m, a->name, m->visible) && find(m, a->name, m->visible)->kind == B_DEF))
      return builtin(m, layer_args(m, a, layers[i].param), s);
  Bind *b = find(m, a->name, m->visible);
  if (b && b->kind == B_DEF) {
    Stmt *d = &m->prog->stmt[b->idx];
    return inline_def(m, positional(m, a, d->params, d->nparams), s, d);
  }
  T r13;
  if (call13(m, a, s, &r13))
    return r13;
  for (size_t i = 0; i < sizeof signatures / sizeof signatures[0]; i++)
    if (!str_cmp(a->name, signatures[i].name))
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
  return !b && (!str_cmp(a->name, "scan") || !str_cmp(a->name, "fold"));
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
  if (!str_cmp(a->op, "@"))
    return matmul(m, a, "@", &x, &y);
  T in[2] = {x, y};
  for (size_t i = 0; i < sizeof ew_binops / sizeof ew_binops[0]; i++)
    if (!str_cmp(a->op, ew_binops[i].op))
      return elementwise(m, a, a->op, ew_binops[i].ew, 2, in);
  fail(m, a, "unknown operator '%s'", a->op);
}

/* A chain a + b - c * d leans left as deep as it is long: walk its left
 * spine with a loop, so that only right operands recurse. */
static T binary_chain(M *m, Ast *a, Scope *s) {
  int n = 0;
  for (Ast *x = a; x->kind == A_BINARY && str_cmp(x->op, "^"); x = x->kid[0])
    n++;
  Ast **spine = arena_alloc(m, (size_t)n * sizeof *spine);
  n = 0;
  for (Ast *x = a; x->kind == A_BINARY && str_cmp(x->op, "^"); x = x->kid[0])
    spine[n++] = x;
  T acc = ev(m, spine[n - 1]->kid[0], s);
  for (int i = n; i-- > 0;)
    acc = binary(m, spine[i], acc, ev(m, spine[i]->kid[1], s));
  return acc;
}

static T ev(M *m, Ast *a, Scope *s) {
  charge(m, 1);
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
    if (!str_cmp(a->op, "^"))
      return binary(m, a, ev(m, a->kid[0], s), ev(m, a->kid[1], s));
    return binary_chain(m, a, s);
  case A_CALL:
    return call(m, a, s);
  case A_INDEX:
    return index_expr(m, a, s);
  case A_SLICE:
    fail(m, a, "a slice (':') is only allowed inside an index");
  case A_STRING:
    fail(m, a, "a string is no value; only einsum takes one");
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

/* The slots again, twice as many, once they are half full. */
static void rehash(M *m) {
  int n = m->nslot ? 2 * m->nslot : 64;
  int *slot = calloc((size_t)n, sizeof *slot);
  if (!slot)
    ref_nomem(m);
  free(m->slot);
  m->slot = slot, m->nslot = n;
  for (int i = 0; i < m->nbind; i++)
    *slot_of(m, m->bind[i].name) = i + 1;
}

static void bind(M *m, const char *name, const Ast *at, BindKind k, int idx,
                 uint32_t stmt) {
  if (2 * (m->nbind + 1) > m->nslot)
    rehash(m);
  int *p = slot_of(m, name);
  if (*p)
    fail(m, at, "'%s' is already defined", name);
  m->bind = grow(m, m->bind, m->nbind, sizeof *m->bind);
  m->bind[m->nbind++] = (Bind){name, k, idx, stmt};
  *p = m->nbind;
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
    if (!str_cmp(m->out[k].name, name))
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
  free(m->var), free(m->val), free(m->bind), free(m->slot), free(m->out);
  free(m->grad);
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

void ref_set_budget(RefModel *m, uint64_t units) {
  m->budget = units;
  m->work = 0;
}

int ref_over_budget(const RefModel *m) {
  return m->budget && m->work > m->budget;
}

void ref_set_step(RefModel *m, double h) {
  m->step = h;
  m->epoch = ++m->epochs;
}

static T eval_name(M *m, const char *name) {
  for (int i = 0; i < m->nout; i++)
    if (!str_cmp(m->out[i].name, name)) {
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

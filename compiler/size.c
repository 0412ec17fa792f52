/* size.c: symbolic sizes (see size.h). Every stage that makes a shape from
 * other shapes (slicing, reshaping, concatenating) asks here for the size,
 * which is a constant whenever the operands are, a dim when the result is
 * exactly one, and otherwise a term of the context's table in canonical
 * form: gcd(coef, div) = 1, dims sorted. Deduplication makes equal terms
 * one number, so shapes still compare and hash as bytes. A size outside the
 * family (N * (T - 1), N + T) is a located error, never a wrong size.
 */
#include "size.h"

#include <stdio.h>
#include <string.h>

static int64_t floordiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t gcd64(int64_t a, int64_t b) {
  while (b) {
    int64_t t = a % b;
    a = b, b = t;
  }
  return a < 0 ? -a : a;
}

int64_t size_eval(const SizeTerm *t, const long *D, const uint8_t *known) {
  int64_t p = t->coef;
  for (int i = 0; i < t->n; i++) {
    if (known && !known[t->dim[i]])
      return -1;
    if (__builtin_mul_overflow(p, (int64_t)D[t->dim[i]], &p))
      return INT64_MAX;
  }
  if (__builtin_add_overflow(p, t->off, &p))
    return INT64_MAX;
  p = floordiv(p, t->div);
  return p < 0 ? 0 : p;
}

/* The term that symbolic size d is (a dim is 1 * D[d]). */
static SizeTerm term_of(const Ctx *c, int64_t d) {
  int k = DIM_INDEX(d);
  if (k >= SIZE_BASE)
    return c->term[k - SIZE_BASE];
  return (SizeTerm){.coef = 1, .off = 0, .div = 1, .n = 1, .dim = {(uint8_t)k}};
}

static const char *term_text(Ctx *c, const SizeTerm *t) {
  char buf[256];
  size_t k = 0;
  int paren = t->div > 1 && (t->coef != 1 || t->n > 1 || t->off);
  if (paren)
    k += (size_t)snprintf(buf + k, sizeof buf - k, "(");
  if (t->coef != 1)
    k += (size_t)snprintf(buf + k, sizeof buf - k, "%lld*", (long long)t->coef);
  for (int i = 0; i < t->n && k < sizeof buf; i++)
    k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%.40s", i ? "*" : "",
                          c->sizename[t->dim[i]]);
  if (t->off && k < sizeof buf)
    k += (size_t)snprintf(buf + k, sizeof buf - k, "%+lld", (long long)t->off);
  if (t->div > 1 && k < sizeof buf)
    snprintf(buf + k, sizeof buf - k, "%s/%lld", paren ? ")" : "",
             (long long)t->div);
  return ctx_strndup(c, buf, strlen(buf));
}

static void names_reserve(Ctx *c, uint32_t need) {
  uint32_t had = c->capsizename;
  vec_reserve(c, &c->sizename, &c->capsizename, need, sizeof *c->sizename);
  for (uint32_t i = had; i < c->capsizename; i++)
    c->sizename[i] = "?";
  c->dimnames = c->sizename;
}

void size_name_dim(Ctx *c, int d, const char *name) {
  names_reserve(c, SIZE_BASE);
  c->sizename[d] = name;
}

/* The canonical size of t: a constant, a dim, or a table entry. */
static int64_t intern(Ctx *c, Pos p, SizeTerm t) {
  if (t.n == 0 || t.coef == 0) {
    int64_t v = floordiv(t.n ? t.off : t.coef + t.off, t.div);
    return v < 0 ? 0 : v;
  }
  int64_t g = gcd64(t.coef, t.div);
  t.coef /= g, t.off = floordiv(t.off, g), t.div /= g;
  if (t.coef == 1 && t.off == 0 && t.div == 1 && t.n == 1)
    return DIM_SYM(t.dim[0]);
  memset(t.dim + t.n, 0, sizeof t.dim - (size_t)t.n);
  for (uint32_t k = 0; k < c->nterm; k++)
    if (memcmp(&c->term[k], &t, sizeof t) == 0)
      return DIM_SYM(SIZE_BASE + k);
  if (c->nterm >= 4096)
    ctx_error(c, p, EXPRC_ERR_LIMIT, "more than 4096 different sizes");
  vec_reserve(c, &c->term, &c->capterm, c->nterm + 1, sizeof t);
  c->term[c->nterm] = t;
  names_reserve(c, SIZE_BASE + c->nterm + 1);
  c->sizename[SIZE_BASE + c->nterm] = term_text(c, &t);
  return DIM_SYM(SIZE_BASE + c->nterm++);
}

static NORETURN void too_complex(Ctx *c, Pos p, const char *what, int64_t a,
                                 int64_t b) {
  char sa[96], sb[96];
  Shape x = {.rank = 1, .d = {a}}, y = {.rank = 1, .d = {b}};
  ctx_error(c, p, EXPRC_ERR_SHAPE,
            "the size %s %s %s is not one exprc can represent (a product "
            "of dims times a constant, plus a constant)",
            shape_str(&x, c->dimnames, sa, sizeof sa), what,
            shape_str(&y, c->dimnames, sb, sizeof sb));
}

static int64_t sat_mul(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}

int64_t size_mul(Ctx *c, Pos p, int64_t a, int64_t b) {
  if (!DIM_IS_SYM(a) && !DIM_IS_SYM(b))
    return sat_mul(a, b);
  if (!DIM_IS_SYM(a)) {
    int64_t t = a;
    a = b, b = t;
  }
  SizeTerm x = term_of(c, a);
  if (!DIM_IS_SYM(b)) { /* k * max(0, X + o) = max(0, kX + ko) for k >= 0 */
    if (b == 0)
      return 0;
    if (x.div != 1)
      too_complex(c, p, "*", a, b);
    x.coef = sat_mul(x.coef, b), x.off = sat_mul(x.off, b);
    return intern(c, p, x);
  }
  SizeTerm y = term_of(c, b);
  if (x.div != 1 || y.div != 1 || x.off || y.off || x.n + y.n > MAX_TERM_DIMS)
    too_complex(c, p, "*", a, b);
  SizeTerm r = {.coef = sat_mul(x.coef, y.coef), .div = 1, .n = 0};
  int i = 0, j = 0; /* merge the sorted dim lists */
  while (i < x.n || j < y.n)
    r.dim[r.n++] = j >= y.n || (i < x.n && x.dim[i] <= y.dim[j]) ? x.dim[i++]
                                                                 : y.dim[j++];
  return intern(c, p, r);
}

int64_t size_add(Ctx *c, Pos p, int64_t a, int64_t k) {
  if (!DIM_IS_SYM(a))
    return a + k < 0 ? 0 : a + k;
  SizeTerm x = term_of(c, a);
  /* dims are at least 1, so coef * prod >= coef: when coef + off >= 0 the
   * clamp at 0 never acts, and adding is exact (1 + (N-1) = N) */
  if (x.div != 1 || x.coef + x.off < 0 || x.coef + x.off + k < 0)
    too_complex(c, p, "+", a, k);
  x.off += k;
  return intern(c, p, x);
}

int64_t size_sum(Ctx *c, Pos p, int64_t a, int64_t b) {
  if (!DIM_IS_SYM(b))
    return size_add(c, p, a, b);
  if (!DIM_IS_SYM(a))
    return size_add(c, p, b, a);
  SizeTerm x = term_of(c, a), y = term_of(c, b);
  if (x.div != 1 || y.div != 1 || x.coef + x.off < 0 || y.coef + y.off < 0 ||
      x.n != y.n ||
      memcmp(x.dim, y.dim, (size_t)x.n))
    too_complex(c, p, "+", a, b);
  x.coef += y.coef, x.off += y.off;
  return intern(c, p, x);
}

/* floor((floor((X + o1) / d1) + o) / d) = floor((X + o1 + o d1) / (d1 d)),
 * and with off < div the clamps at 0 agree as well. */
int64_t size_affine(Ctx *c, Pos p, int64_t a, int64_t off, int64_t div) {
  if (!DIM_IS_SYM(a)) {
    int64_t v = floordiv(a + off, div);
    return v < 0 ? 0 : v;
  }
  SizeTerm x = term_of(c, a);
  int64_t o;
  if (__builtin_mul_overflow(off, x.div, &o) ||
      __builtin_add_overflow(x.off, o, &x.off) ||
      __builtin_mul_overflow(x.div, div, &x.div))
    too_complex(c, p, "/", a, div);
  return intern(c, p, x);
}

int64_t size_min(const Ctx *c, int64_t a) {
  if (!DIM_IS_SYM(a))
    return a;
  SizeTerm t = term_of(c, a); /* increasing in each dim, and dims are >= 1 */
  int64_t v = floordiv(t.coef + t.off, t.div);
  return v < 0 ? 0 : v;
}

int size_diff(const Ctx *c, int64_t a, int64_t b, int64_t *diff) {
  if (a == b) { /* one canonical size */
    *diff = 0;
    return 1;
  }
  if (!DIM_IS_SYM(a) || !DIM_IS_SYM(b)) {
    *diff = a - b;
    return !DIM_IS_SYM(a) && !DIM_IS_SYM(b);
  }
  SizeTerm x = term_of(c, a), y = term_of(c, b);
  if (x.div != 1 || y.div != 1 || x.coef != y.coef || x.n != y.n ||
      memcmp(x.dim, y.dim, (size_t)x.n))
    return 0;
  *diff = x.off - y.off;
  return 1;
}

/* A product of sizes taken apart: a constant, dims, and the terms that are
 * not plain products (N-1), so that equal factors can cancel between two
 * products: [N-1, T, 2] by [T*2] is N-1 though (N-1)*T is no term. */
typedef struct Factors {
  int64_t k;
  int nd, nt;
  uint8_t dim[4 * MAX_RANK * MAX_TERM_DIMS];
  int64_t term[4 * MAX_RANK];
} Factors;

static void factor_in(Ctx *c, Pos p, Factors *f, int64_t d) {
  if (!DIM_IS_SYM(d)) {
    f->k = sat_mul(f->k, d);
    return;
  }
  SizeTerm t = term_of(c, d);
  if (t.div == 1 && t.off && t.coef + t.off >= 0) {
    /* 3*N-3 is 3 times N-1: the constant factor comes out, exactly, as
     * long as the clamp at 0 never acts */
    int64_t g = gcd64(t.coef, t.off);
    f->k = sat_mul(f->k, g);
    t.coef /= g, t.off /= g;
    f->term[f->nt++] = intern(c, p, t);
    return;
  }
  if (t.div != 1 || t.off) {
    f->term[f->nt++] = d;
    return;
  }
  f->k = sat_mul(f->k, t.coef);
  for (int i = 0; i < t.n; i++)
    f->dim[f->nd++] = t.dim[i];
}

/* Remove from f one factor equal to each of g's; 0 if one is missing. */
static int cancel(Factors *f, const Factors *g) {
  for (int j = 0; j < g->nd; j++) {
    int i = 0;
    while (i < f->nd && f->dim[i] != g->dim[j])
      i++;
    if (i == f->nd)
      return 0;
    f->dim[i] = f->dim[--f->nd];
  }
  for (int j = 0; j < g->nt; j++) {
    int i = 0;
    while (i < f->nt && f->term[i] != g->term[j])
      i++;
    if (i == f->nt)
      return 0;
    f->term[i] = f->term[--f->nt];
  }
  return 1;
}

int size_ratio(Ctx *c, Pos p, const int64_t *num, int nn, const int64_t *den,
               int nd, int64_t *out) {
  Factors a = {.k = 1}, b = {.k = 1};
  for (int i = 0; i < nn && i < 4 * MAX_RANK; i++)
    factor_in(c, p, &a, num[i]);
  for (int i = 0; i < nd && i < 4 * MAX_RANK; i++)
    factor_in(c, p, &b, den[i]);
  if (!cancel(&a, &b) || b.k <= 0 || a.k % b.k)
    return 0;
  int64_t r = a.k / b.k;
  for (int i = 0; i < a.nd; i++)
    r = size_mul(c, p, r, DIM_SYM(a.dim[i]));
  for (int i = 0; i < a.nt; i++)
    r = size_mul(c, p, r, a.term[i]);
  *out = r;
  return 1;
}

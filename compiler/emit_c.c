/* emit_c.c: the emission stage: the planned graph to C source.
 *
 * One translation unit per model: a prelude (libm prototypes, the runtime's
 * matrix product and parallel loop, the scalar helpers of scalar.h that the
 * code calls), tensor constants, then one function per entry point. Each
 * function computes the nodes its results need, in index order (a
 * topological order). Where each value lives, its "home", comes from the
 * memory plan (plan.c): a constant printed inline, a C local, a slot buffer
 * S[k] that the host allocates, or nowhere (fused into its reader's loop).
 * Consecutive flat loops over the same count are merged into one as they are
 * emitted, and with --threads long ones become functions of an iteration
 * range for the runtime's thread pool.
 *
 * Nothing the user wrote reaches the C text except the file name in #line
 * directives (escaped as a C string) and, in the header, names made into
 * identifiers and comment-safe text: every C name is made here (S, D,
 * p<slot>, r<local>, t<slot>, a<accumulator>, c<node>, xc_*), so no
 * identifier in a model can collide with C or libc.
 */
#include "emit_c.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "scalar.h"

typedef struct Buf {
  char *s;
  uint32_t n, cap;
} Buf;

#define MAX_ACC 32   /* EXPRC_RT_MAX_ACC: reductions in one parallel loop */
#define PAR_MIN 8192 /* shorter loops are not worth a thread */

/* A storage read while building a statement for a merged loop: which
 * buffer or local (a key, see storage_key), and whether at the loop's own
 * position i. */
typedef struct Access {
  uint32_t key;
  int same;
} Access;

/* Consecutive flat loops over the same count are merged into one, as long
 * as no statement reads, at another position, what an earlier statement of
 * the loop writes (or writes what an earlier one read elsewhere). */
typedef struct Loop {
  int open;
  char n[128];
  Buf pre, body, post;
  uint8_t *wrote, *shifted, *uses; /* per storage key */
  uint8_t *inflow;                  /* read before written in the loop */
  uint8_t *local;                   /* kept in a local t<key> instead */
  uint32_t *writer;                 /* the last node that wrote it */
  uint32_t nkeys, cap, wcap;
  uint32_t lastx;                   /* the loop's last statement's node */
  uint32_t accum[MAX_ACC];          /* accumulators a<k> summed in the loop */
  char kinds[MAX_ACC + 1];          /* and how: '+', '>' or '<' */
  int naccum;
} Loop;

typedef struct Emitter {
  Ctx *c;
  Module *m;
  Graph *g;
  Plan *plan;
  Buf out;       /* the translation unit */
  Buf body;      /* the entry function being written */
  EntryPlan ep;  /* where the current entry's values live */
  Home *home;    /* ep.home */
  int used_i, used_o, depth, used_acc, used_acc2;
  Loop loop;       /* flat loops being merged into one */
  Access *acc;     /* reads recorded while a statement is built */
  uint32_t nacc, capacc;
  int rec;
  uint32_t naccum; /* accumulators a0.. of merged reductions */
  Buf helpers;     /* the bodies of parallel loops, before their entry */
  Buf qfile;       /* the file name, quoted for #line */
  uint32_t used_helpers; /* bit k: the k-th scalar helper of scalar.h */
  uint32_t npar;
  uint32_t line;
} Emitter;

static void PRINTF(3, 4) put(Emitter *E, Buf *b, const char *fmt, ...) {
  va_list ap;
  if (!b->s) /* never a NULL destination: gcc -O3 rejects one (-Werror) */
    vec_reserve(E->c, &b->s, &b->cap, 256, 1);
  for (;;) {
    uint32_t room = b->cap - b->n;
    va_start(ap, fmt);
    int k = vsnprintf(b->s + b->n, room, fmt, ap);
    va_end(ap);
    if ((uint32_t)k < room) {
      b->n += (uint32_t)k;
      return;
    }
    vec_reserve(E->c, &b->s, &b->cap, b->n + (uint32_t)k + 1, 1);
  }
}

/* Append n bytes (and keep the text NUL-terminated) without formatting:
 * most of the emitter's output is copied, and vsnprintf is its cost. */
static void put_mem(Emitter *E, Buf *b, const char *s, size_t n) {
  vec_reserve(E->c, &b->s, &b->cap, b->n + (uint32_t)n + 1, 1);
  memcpy(b->s + b->n, s, n);
  b->n += (uint32_t)n;
  b->s[b->n] = 0;
}

static void put_str(Emitter *E, Buf *b, const char *s) {
  put_mem(E, b, s, strlen(s));
}

/* "<letter><number>" or "<letter><number>[<idx>]", the names the emitter
 * prints most, without printf's cost. */
static void name_index(char *buf, size_t n, char letter, uint32_t num,
                       const char *idx) {
  char digits[12];
  int k = 0;
  do
    digits[k++] = (char)('0' + num % 10);
  while ((num /= 10) > 0);
  size_t len = strlen(idx ? idx : ""), need = 1 + (size_t)k + (idx ? len + 2 : 0);
  if (need >= n) { /* cannot happen with the emitter's buffers */
    snprintf(buf, n, "%c?", letter);
    return;
  }
  char *o = buf;
  *o++ = letter;
  while (k > 0)
    *o++ = digits[--k];
  if (idx) {
    *o++ = '[';
    memcpy(o, idx, len);
    o += len;
    *o++ = ']';
  }
  *o = 0;
}

static Node *at(Emitter *E, uint32_t i) { return &E->g->node[i]; }

/* ---- sizes as C expressions ---- */

static void dim_expr(int64_t d, char *buf, size_t n) {
  if (DIM_IS_SYM(d))
    snprintf(buf, n, "D[%d]", DIM_INDEX(d));
  else
    snprintf(buf, n, "%lldL", (long long)d);
}

/* The product of dims from..rank-1 of s, as a C expression. */
static void count_expr(const Shape *s, int from, char *buf, size_t n) {
  int64_t k = 1;
  size_t len = 0;
  buf[0] = 0;
  for (int i = from; i < s->rank; i++) {
    if (!DIM_IS_SYM(s->d[i]))
      k *= s->d[i];
    else
      len += (size_t)snprintf(buf + len, n - len, "D[%d]*", DIM_INDEX(s->d[i]));
  }
  if (len && k == 1)
    buf[len - 1] = 0; /* D[0], not D[0]*1L */
  else
    snprintf(buf + len, n - len, "%lldL", (long long)k);
}

/* ---- values ---- */

static void number(double v, char *buf, size_t n) {
  if (v != v)
    snprintf(buf, n, "(0.0/0.0)");
  else if (v > 1.7976931348623157e308 || v < -1.7976931348623157e308)
    snprintf(buf, n, v > 0 ? "(1.0/0.0)" : "(-1.0/0.0)");
  else {
    snprintf(buf, n, "%.17g", v);
    if (!strpbrk(buf, ".en"))
      strncat(buf, ".0", n - strlen(buf) - 1);
    if (v < 0) { /* parenthesise: a - -1 must not print as a --1 */
      char t[48];
      snprintf(t, sizeof t, "(%s)", buf);
      snprintf(buf, n, "%s", t);
    }
  }
}

/* Where a value is stored, as one number: slots first, then locals. */
static uint32_t storage_key(Emitter *E, Home h) {
  return h.kind == H_LOCAL ? E->ep.nused + h.reg : (uint32_t)h.slot;
}

static void record(Emitter *E, uint32_t x, const char *idx) {
  Home h = E->home[x];
  if (!E->rec || (h.kind != H_LOCAL && h.kind != H_SLOT))
    return;
  vec_reserve(E->c, &E->acc, &E->capacc, E->nacc + 1, sizeof *E->acc);
  E->acc[E->nacc++] =
      (Access){storage_key(E, h), h.kind == H_SLOT && !h.off && !strcmp(idx, "i")};
}

/* The value of node x at flat index `idx` (a C expression). */
static void value(Emitter *E, uint32_t x, const char *idx, char *buf,
                  size_t n) {
  Node *nd = at(E, x);
  Home h = E->home[x];
  record(E, x, idx);
  switch (h.kind) {
  case H_INLINE:
    if (nd->op == OP_DIMVAL)
      snprintf(buf, n, "((double)D[%lld])", (long long)nd->attr);
    else
      number(nd->val, buf, n);
    return;
  case H_LOCAL:
    name_index(buf, n, 'r', h.reg, NULL);
    return;
  case H_SLOT:
    if (h.off && strcmp(idx, "0") == 0) /* a spill, or a view's start */
      snprintf(buf, n, "p%d[%lld]", h.slot, (long long)h.off);
    else if (h.off)
      snprintf(buf, n, "p%d[%lld + %s]", h.slot, (long long)h.off, idx);
    else
      name_index(buf, n, 'p', (uint32_t)h.slot, idx);
    return;
  case H_STATIC:
    if (h.off)
      snprintf(buf, n, "c%u[%lld + %s]", h.reg, (long long)h.off, idx);
    else
      snprintf(buf, n, "c%u[%s]", h.reg, idx);
    return;
  case H_NONE:
  case H_FUSED: /* only ew_expr reads fused values */
    break;
  }
  ctx_fail(E->c, EXPRC_ERR_INTERNAL, "emitter: node %u has no home", x);
}

/* A pointer to node x's data, for kernels that take arrays. */
static void pointer(Emitter *E, uint32_t x, char *buf, size_t n) {
  Home h = E->home[x];
  if (h.kind == H_SLOT && h.off)
    snprintf(buf, n, "(p%d + %lld)", h.slot, (long long)h.off);
  else if (h.kind == H_SLOT)
    snprintf(buf, n, "p%d", h.slot);
  else if (h.kind == H_LOCAL)
    snprintf(buf, n, "&r%u", h.reg);
  else if (h.kind == H_STATIC && h.off)
    snprintf(buf, n, "(c%u + %lld)", h.reg, (long long)h.off);
  else if (h.kind == H_STATIC)
    snprintf(buf, n, "c%u", h.reg);
  else
    ctx_fail(E->c, EXPRC_ERR_INTERNAL, "emitter: node %u has no address", x);
}

/* Where node x's result is written, at flat index idx. */
static void target(Emitter *E, uint32_t x, const char *idx, char *buf,
                   size_t n) {
  value(E, x, idx, buf, n);
}

static int is_scalar_home(Emitter *E, uint32_t x) {
  HomeKind k = E->home[x].kind;
  int64_t numel;
  return k == H_INLINE || k == H_LOCAL ||
         (shape_numel_const(&at(E, x)->shape, &numel) && numel == 1);
}

/* The model's file name as a C string literal, made once per compile. */
static const char *quoted_file(Emitter *E) {
  if (E->qfile.s)
    return E->qfile.s;
  put_str(E, &E->qfile, "\"");
  for (const char *s = E->c->file; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      put(E, &E->qfile, "\\%c", ch);
    else if (ch < 0x20 || ch >= 0x7f)
      put(E, &E->qfile, "\\%03o", ch);
    else
      put_mem(E, &E->qfile, (const char *)s, 1);
  }
  put_str(E, &E->qfile, "\"\n");
  return E->qfile.s;
}

static void line_directive(Emitter *E, uint32_t x, Buf *b) {
  Pos p = at(E, x)->pos;
  if (p.line == 0 || p.line == E->line)
    return;
  E->line = p.line;
  char num[24];
  name_index(num, sizeof num, ' ', p.line, NULL);
  put_mem(E, b, "#line", 5);
  put_str(E, b, num);
  put_mem(E, b, " ", 1);
  put_str(E, b, quoted_file(E));
}

/* ---- loops ---- */

/* Open one loop per dim of s over i0, i1, ...; the caller writes the body
 * and closes them with loops_close. */
static void loops_open(Emitter *E, const Shape *s) {
  char d[32];
  for (int j = 0; j < s->rank; j++) {
    dim_expr(s->d[j], d, sizeof d);
    put(E, &E->body, "%*sfor (i%d = 0; i%d < %s; i%d++)\n", 2 + 2 * j, "", j,
        j, d, j);
  }
  if (s->rank > E->depth)
    E->depth = s->rank;
  put(E, &E->body, "%*s{\n", 2 + 2 * s->rank, "");
}

static void loops_close(Emitter *E, const Shape *s) {
  put(E, &E->body, "%*s}\n", 2 + 2 * s->rank, "");
}

/* out = in at every position of a loop nest over s, counting o. */
static void copy_loop(Emitter *E, const Shape *s, const char *out,
                      const char *in) {
  put_str(E, &E->body, "  o = 0;\n");
  loops_open(E, s);
  put(E, &E->body, "%*s%s = %s;\n%*so++;\n", 4 + 2 * s->rank, "", out, in,
      4 + 2 * s->rank, "");
  loops_close(E, s);
  E->used_o = 1;
}

/* The flat index into x (of shape si) at the loop position over shape so,
 * where x broadcasts to so: dims of size 1 are not stepped. */
static void broadcast_index(const Shape *si, const Shape *so, char *buf,
                            size_t n) {
  size_t len = 0;
  int off = so->rank - si->rank;
  buf[0] = 0;
  for (int j = 0; j < si->rank; j++) {
    if (si->d[j] == 1)
      continue;
    char st[128];
    count_expr(si, j + 1, st, sizeof st);
    if (strcmp(st, "1L") == 0)
      len += (size_t)snprintf(buf + len, n - len, "%si%d", len ? " + " : "",
                              j + off);
    else
      len += (size_t)snprintf(buf + len, n - len, "%si%d*%s",
                              len ? " + " : "", j + off, st);
  }
  if (!len)
    snprintf(buf, n, "0");
}

/* ---- elementwise ops ---- */

#define XC_TEXT(...) "static inline double " #__VA_ARGS__ "\n",
static const char *const helper_text[] = {XC_SCALAR_FNS(XC_TEXT) NULL};

/* The name in a helper's text: "static inline double NAME(...". */
static int helper_is(int k, const char *s, size_t n) {
  const char *name = helper_text[k] + strlen("static inline double ");
  return strncmp(name, s, n) == 0 && name[n] == '(';
}

/* Generated code defines only the helpers it calls (an unused static
 * function is a warning under some compilers' -Wall). */
static void mark_helper(Emitter *E, const char *s, size_t n) {
  for (int k = 0; helper_text[k]; k++)
    if (helper_is(k, s, n))
      E->used_helpers |= 1u << k;
}

/* Print cexpr with the identifiers a, b and c replaced by operand texts. */
static void substitute(Emitter *E, Buf *b, const char *cexpr,
                       const char *const ops[3]) {
  for (const char *s = cexpr; *s;) {
    const char *t = s;
    if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_') {
      while ((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') ||
             (*t >= '0' && *t <= '9') || *t == '_')
        t++;
      if (t - s == 1 && *s >= 'a' && *s <= 'c') {
        put_str(E, b, ops[*s - 'a']);
        s = t;
        continue;
      }
      if (t - s > 3 && strncmp(s, "xc_", 3) == 0)
        mark_helper(E, s, (size_t)(t - s));
    } else {
      while (*t && !((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') ||
                     *t == '_'))
        t++;
    }
    put_mem(E, b, s, (size_t)(t - s));
    s = t;
  }
}

/* x ^ k for small constant k as multiplications: tcc calls libm for pow. */
static int small_power(Emitter *E, Buf *b, const Node *nd,
                       const char *const ops[3]) {
  double k;
  if (nd->op != OP_POW || !graph_is_const(E->g, nd->in[1], &k))
    return 0;
  const char *a = ops[0];
  if (k == 2)
    put(E, b, "(%s * %s)", a, a);
  else if (k == 3)
    put(E, b, "(%s * %s * %s)", a, a, a);
  else if (k == -1)
    put(E, b, "(1.0 / %s)", a);
  else if (k == -2)
    put(E, b, "(1.0 / (%s * %s))", a, a);
  else if (k == 0.5)
    put(E, b, "sqrt(%s)", a);
  else
    return 0;
  return 1;
}

/* Is y computed inside the loop of the node emitted at point `now`? Fused
 * values always are; rematerialized ones when read after their cut. */
static int inline_here(Emitter *E, uint32_t y, uint32_t now) {
  return E->home[y].kind == H_FUSED ||
         (E->ep.remat[y] != NONE && now > E->ep.remat[y]);
}

static int is_window(const Node *nd) {
  return nd->op == OP_SLICE || nd->op == OP_PAD;
}

/* Can one flat counter index every stored operand of x's (inline) tree?
 * Yes when each is a scalar or has the loop's shape. A window (an inline
 * slice or pad) needs the position on each axis, so only a vector's flat
 * counter will do. */
static int flat_operands(Emitter *E, uint32_t x, const Shape *so,
                         uint32_t now) {
  Node *nd = at(E, x);
  if (is_window(nd))
    return nd->shape.rank == 1;
  for (int k = 0; k < nd->nin; k++) {
    uint32_t y = nd->in[k];
    if (inline_here(E, y, now) ? !flat_operands(E, y, so, now)
                               : !is_scalar_home(E, y) &&
                                     !shape_eq(&at(E, y)->shape, so))
      return 0;
  }
  return 1;
}

enum { LOOP_ONE, LOOP_FLAT, LOOP_NESTED };

/* Append the value of elementwise node x at the current position of a loop
 * over shape so; operands fused into x are computed inline, recursively
 * (at most FUSE_MAX deep). */
/* A slice or pad computed inline at the loop position: a slice reads its
 * input shifted by its start; a pad reads it shifted back inside its
 * window and is 0 outside. The loop runs over the window node's shape. */
static void window_expr(Emitter *E, Buf *b, uint32_t x, int loop) {
  Node nd = *at(E, x);
  const Shape *si = &at(E, nd.in[0])->shape;
  char var[16], st[128], d[32], idx[320] = "", val[320];
  size_t len = 0;
  int pad = nd.op == OP_PAD, conds = 0;
  if (pad)
    put_str(E, b, "((");
  for (int j = 0; j < nd.shape.rank; j++) {
    snprintf(var, sizeof var, loop == LOOP_ONE ? "0" : loop == LOOP_FLAT ? "i" : "i%d", j);
    count_expr(si, j + 1, st, sizeof st);
    char pos[64]; /* the position on the input's axis j */
    if (nd.start[j])
      snprintf(pos, sizeof pos, "(%s %s %lldL)", var, pad ? "-" : "+",
               (long long)nd.start[j]);
    else
      snprintf(pos, sizeof pos, "%s", var);
    len += (size_t)snprintf(idx + len, sizeof idx - len, "%s%s%s%s",
                            j ? " + " : "", pos, strcmp(st, "1L") ? "*" : "",
                            strcmp(st, "1L") ? st : "");
    /* test only the window's edges that the loop's own bounds do not */
    if (pad && !DIM_IS_SYM(si->d[j]) && nd.start[j] > 0)
      put(E, b, "%s%s >= %lldL", conds++ ? " && " : "", var,
          (long long)nd.start[j]);
    if (pad && !DIM_IS_SYM(si->d[j]) &&
        nd.start[j] + si->d[j] < nd.shape.d[j]) {
      dim_expr(si->d[j], d, sizeof d);
      put(E, b, "%s%s < %lldL + %s", conds++ ? " && " : "", var,
          (long long)nd.start[j], d);
    }
  }
  value(E, nd.in[0], is_scalar_home(E, nd.in[0]) ? "0" : idx, val, sizeof val);
  if (pad)
    put(E, b, "%s) ? %s : 0.0)", conds ? "" : "1", val);
  else
    put_str(E, b, val);
}

static void ew_expr(Emitter *E, Buf *b, uint32_t x, const Shape *so,
                    int loop, uint32_t now) {
  Node nd = *at(E, x);
  if (is_window(&nd)) {
    window_expr(E, b, x, loop);
    return;
  }
  Buf ops[3] = {{0}};
  const char *op[3] = {"", "", ""};
  char idx[256], val[320];
  for (int k = 0; k < nd.nin; k++) {
    uint32_t y = nd.in[k];
    if (inline_here(E, y, now)) {
      ew_expr(E, &ops[k], y, so, loop, now);
    } else {
      if (is_scalar_home(E, y) || loop == LOOP_ONE)
        snprintf(idx, sizeof idx, "0");
      else if (loop == LOOP_FLAT)
        snprintf(idx, sizeof idx, "i");
      else if (shape_eq(&at(E, y)->shape, so))
        snprintf(idx, sizeof idx, "o"); /* the running position */
      else
        broadcast_index(&at(E, y)->shape, so, idx, sizeof idx);
      value(E, y, idx, val, sizeof val);
      put_str(E, &ops[k], val);
    }
    op[k] = ops[k].s;
  }
  if (!small_power(E, b, &nd, op))
    substitute(E, b, op_info[nd.op].cexpr, op);
  for (int k = 0; k < 3; k++)
    ctx_release(E->c, ops[k].s);
}

static void emit_ew(Emitter *E, uint32_t x) {
  const Shape *so = &at(E, x)->shape;
  int64_t numel;
  int loop = shape_numel_const(so, &numel) && numel == 1 ? LOOP_ONE
             : flat_operands(E, x, so, x)                ? LOOP_FLAT
                                                         : LOOP_NESTED;
  char out[320], n[128];
  target(E, x, loop == LOOP_ONE ? "0" : loop == LOOP_FLAT ? "i" : "o", out,
         sizeof out);
  if (loop == LOOP_ONE) {
    put_mem(E, &E->body, "  ", 2);
    put_str(E, &E->body, out);
    put_mem(E, &E->body, " = ", 3);
  } else if (loop == LOOP_FLAT) {
    count_expr(so, 0, n, sizeof n);
    put(E, &E->body, "  for (i = 0; i < %s; i++)\n    %s = ", n, out);
    E->used_i = 1;
  } else {
    put_str(E, &E->body, "  o = 0;\n");
    loops_open(E, so);
    put(E, &E->body, "%*s%s = ", 4 + 2 * so->rank, "", out);
    E->used_o = 1;
  }
  ew_expr(E, &E->body, x, so, loop, x);
  put_str(E, &E->body, ";\n");
  if (loop == LOOP_NESTED) {
    put(E, &E->body, "%*so++;\n", 4 + 2 * so->rank, "");
    loops_close(E, so);
  }
}

/* ---- merged loops ---- */

static void loop_reset(Emitter *E) {
  Loop *L = &E->loop;
  L->open = 0;
  L->naccum = 0;
  L->pre.n = L->body.n = L->post.n = 0;
  if (L->nkeys) {
    memset(L->wrote, 0, L->nkeys), memset(L->shifted, 0, L->nkeys);
    memset(L->uses, 0, L->nkeys), memset(L->inflow, 0, L->nkeys);
  }
}

static int loop_parallel(Emitter *E) {
  Loop *L = &E->loop;
  char *end;
  long n = strtol(L->n, &end, 10);
  return E->plan->threads > 1 && L->naccum < MAX_ACC &&
         !(*end == 'L' && end[1] == 0 && n < PAR_MIN);
}

/* The loop's body as a function xc_par_<id> of a range of iterations, for
 * the runtime's threads: the buffers it touches from S, the scalars it
 * reads from R, its reductions' partial results into A. */
static void par_body(Emitter *E, uint32_t id) {
  Loop *L = &E->loop;
  Buf *h = &E->helpers;
  put(E, h, "\nstatic void xc_par_%u(long lo, long hi, const long *D, "
      "double *const *S,\n    const double *R, double *A)\n{\n", id);
  for (uint32_t k = 0, r = 0; k < L->nkeys; k++) {
    if (L->uses[k] && k < E->ep.nused)
      put(E, h, "  double *const p%u = S[%u];\n", k, k);
    else if (L->uses[k])
      put(E, h, "  const double r%u = R[%u];\n", k - E->ep.nused, r++);
  }
  for (int a = 0; a < L->naccum; a++)
    put(E, h, "  double a%u = %s;\n", L->accum[a],
        L->kinds[a] == '+' ? "0.0" : L->kinds[a] == '>' ? "(-1.0/0.0)"
                                                         : "(1.0/0.0)");
  put(E, h, "  long i;\n  (void)D;\n  (void)S;\n  (void)R;\n  (void)A;\n"
      "  for (i = lo; i < hi; i++) {\n%.*s  }\n", (int)L->body.n, L->body.s);
  for (int a = 0; a < L->naccum; a++)
    put(E, h, "  A[%d] = a%u;\n", a, L->accum[a]);
  put_str(E, h, "}\n");
}

/* The call that runs xc_par_<id> on the runtime's threads. */
static void par_call(Emitter *E, uint32_t id) {
  Loop *L = &E->loop;
  uint32_t nr = 0;
  put_str(E, &E->body, "  {\n");
  for (uint32_t k = E->ep.nused; k < L->nkeys; k++)
    if (L->uses[k])
      put(E, &E->body, nr++ ? ", r%u" : "    const double R_[] = {r%u",
          k - E->ep.nused);
  if (nr)
    put_str(E, &E->body, "};\n");
  for (int a = 0; a < L->naccum; a++)
    put(E, &E->body, a ? ", a%u" : "    double A_[] = {a%u", L->accum[a]);
  if (L->naccum)
    put_str(E, &E->body, "};\n");
  L->kinds[L->naccum] = 0;
  put(E, &E->body, "    exprc_rt_parallel(xc_par_%u, %s, D, S, %s, \"%s\", %s);\n",
      id, L->n, nr ? "R_" : "0", L->kinds, L->naccum ? "A_" : "0");
  for (int a = 0; a < L->naccum; a++)
    put(E, &E->body, "    a%u = A_[%d];\n", L->accum[a], a);
  put_str(E, &E->body, "  }\n");
}

static int ident_char(char ch) {
  return ch == '_' || (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
         (ch >= 'A' && ch <= 'Z');
}

/* Is p (in a body that starts at b) a "p<k>[i]" that is not the tail of a
 * longer name? Then *k is the key and *after follows the "]". */
static int loop_ref(const char *b, const char *p, const char *end,
                    uint32_t *k, const char **after) {
  if (*p != 'p' || (p > b && ident_char(p[-1])) || end - p < 5 ||
      p[1] < '0' || p[1] > '9' || (p[1] == '0' && p[2] != '['))
    return 0; /* the emitter prints no leading zeros */
  uint64_t v = 0;
  const char *q = p + 1;
  while (q < end && *q >= '0' && *q <= '9' && v <= UINT32_MAX)
    v = v * 10 + (uint64_t)(*q++ - '0');
  if (v > UINT32_MAX || end - q < 3 || memcmp(q, "[i]", 3) != 0)
    return 0;
  *k = (uint32_t)v;
  *after = q + 3;
  return 1;
}

static int has_key(const uint32_t *keys, uint32_t n, uint32_t k) {
  uint32_t lo = 0, hi = n; /* keys ascend */
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (keys[mid] == k)
      return 1;
    if (keys[mid] < k)
      lo = mid + 1;
    else
      hi = mid;
  }
  return 0;
}

/* Replace every "p<k>[i]" in the loop body by "t<k>", for the n keys k of
 * keys (ascending), in one pass over the body: a pass per key made a long
 * chain of statements quadratic in its length. */
static void localize(Emitter *E, const uint32_t *keys, uint32_t n) {
  Loop *L = &E->loop;
  Buf out = {0};
  const char *b = L->body.s, *end = b + L->body.n, *done = b, *after;
  char t[16];
  uint32_t k;
  for (const char *p = b; p < end; p++) {
    if (*p != 'p' || !loop_ref(b, p, end, &k, &after) || !has_key(keys, n, k))
      continue;
    put_mem(E, &out, done, (size_t)(p - done));
    name_index(t, sizeof t, 't', k, NULL);
    put_str(E, &out, t);
    done = after;
    p = after - 1;
  }
  put_mem(E, &out, done, (size_t)(end - done));
  ctx_release(E->c, L->body.s);
  L->body = out;
}

/* A temporary written in the loop before any read there, read only at the
 * loop's position, and dead after the loop, needs no memory: a local of
 * the loop body holds it (tcc keeps locals far cheaper than arrays). */
static void loop_locals(Emitter *E, Buf *decl) {
  Loop *L = &E->loop;
  uint32_t *keys = NULL, n = 0, cap = 0;
  for (uint32_t k = (uint32_t)E->m->nslot; k < E->ep.nused; k++) {
    uint32_t w = L->writer[k];
    if (!L->uses[k] || !L->wrote[k] || L->shifted[k] || L->inflow[k] ||
        (E->ep.last[w] != NONE && E->ep.last[w] > L->lastx))
      continue;
    vec_reserve(E->c, &keys, &cap, n + 1, sizeof *keys);
    keys[n++] = k;
    put(E, decl, "%s t%u", decl->n ? "," : "    double", k);
    L->uses[k] = 0;
    L->local[k] = 1;
  }
  if (n)
    localize(E, keys, n);
  ctx_release(E->c, keys);
  if (decl->n)
    put_str(E, decl, ";\n");
}

static void loop_flush(Emitter *E) {
  Loop *L = &E->loop;
  if (!L->open)
    return;
  Buf decl = {0};
  loop_locals(E, &decl);
  if (decl.n) { /* declarations open the loop body */
    put_mem(E, &decl, L->body.s, L->body.n);
    ctx_release(E->c, L->body.s);
    L->body = decl;
  }
  put(E, &E->body, "%.*s", (int)L->pre.n, L->pre.s ? L->pre.s : "");
  if (loop_parallel(E)) {
    uint32_t id = E->npar++;
    par_body(E, id);
    par_call(E, id);
  } else {
    put(E, &E->body, "  for (i = 0; i < %s; i++) {\n%.*s  }\n", L->n,
        (int)L->body.n, L->body.s);
    E->used_i = 1;
  }
  put(E, &E->body, "%.*s", (int)L->post.n, L->post.s ? L->post.s : "");
  loop_reset(E);
}

/* Would a statement with the recorded reads, writing storage wkey, see a
 * value another statement of the loop has not written yet (or overwrite
 * one it still has to read)? */
static int loop_conflict(Emitter *E, uint32_t wkey) {
  Loop *L = &E->loop;
  if (wkey != NONE && L->shifted[wkey])
    return 1;
  for (uint32_t k = 0; k < E->nacc; k++)
    if (L->wrote[E->acc[k].key] && !E->acc[k].same)
      return 1;
  return 0;
}

/* Add a statement (with its set-up before the loop and its result after)
 * to the open loop over n elements, or to a new one. */
static void loop_join(Emitter *E, uint32_t x, const char *n, uint32_t wkey,
                      const Buf *pre, const Buf *stmt, const Buf *post,
                      uint32_t postkey) {
  Loop *L = &E->loop;
  if (L->open && (strcmp(L->n, n) != 0 || loop_conflict(E, wkey)))
    loop_flush(E);
  if (!L->open) {
    L->open = 1;
    snprintf(L->n, sizeof L->n, "%s", n);
  }
  if (pre->n)
    put(E, &L->pre, "%.*s", (int)pre->n, pre->s);
  put(E, &L->body, "%.*s", (int)stmt->n, stmt->s);
  if (post->n)
    put(E, &L->post, "%.*s", (int)post->n, post->s);
  for (uint32_t k = 0; k < E->nacc; k++) {
    uint32_t key = E->acc[k].key;
    if (!E->acc[k].same)
      L->shifted[key] = 1;
    if (!L->uses[key])
      L->inflow[key] = 1; /* its first access reads what came before */
    L->uses[key] = 1;
  }
  if (wkey != NONE) {
    L->wrote[wkey] = L->uses[wkey] = 1;
    L->writer[wkey] = x;
  }
  L->lastx = x;
  if (postkey != NONE)
    L->wrote[postkey] = 1; /* set after the loop: not readable inside it */
}

/* A flat elementwise op: one statement of a merged loop. */
static int join_ew(Emitter *E, uint32_t x) {
  const Shape *so = &at(E, x)->shape;
  int64_t numel;
  if ((shape_numel_const(so, &numel) && numel == 1) ||
      !flat_operands(E, x, so, x))
    return 0;
  Buf pre = {0}, stmt = {0}, post = {0};
  char out[320], n[128];
  target(E, x, "i", out, sizeof out);
  count_expr(so, 0, n, sizeof n);
  line_directive(E, x, &stmt);
  put(E, &stmt, "    %s = ", out);
  E->rec = 1, E->nacc = 0;
  ew_expr(E, &stmt, x, so, LOOP_FLAT, x);
  E->rec = 0;
  put_str(E, &stmt, ";\n");
  loop_join(E, x, n, storage_key(E, E->home[x]), &pre, &stmt, &post, NONE);
  ctx_release(E->c, stmt.s);
  return 1;
}

/* A full sum, max or min over one flat loop: its accumulator a<k> is set
 * before the loop and copied to the result after it. */
static int join_reduce(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  uint32_t in = nd.in[0];
  const Shape *si = &at(E, in)->shape;
  int inl = inline_here(E, in, x);
  if (nd.shape.rank != 0 || nd.op == OP_LSE ||
      (inl && !flat_operands(E, in, si, x)))
    return 0;
  Buf pre = {0}, stmt = {0}, post = {0}, val = {0};
  char out[320], n[128], v[320], acc[16];
  const Node *np = &nd;
  snprintf(acc, sizeof acc, "a%u", E->naccum++);
  count_expr(si, 0, n, sizeof n);
  put(E, &pre, "  %s = %s;\n", acc,
      np->op == OP_SUM ? "0.0" : np->op == OP_MAX ? "(-1.0/0.0)" : "(1.0/0.0)");
  E->rec = 1, E->nacc = 0;
  if (inl) {
    ew_expr(E, &val, in, si, LOOP_FLAT, x);
  } else {
    value(E, in, is_scalar_home(E, in) ? "0" : "i", v, sizeof v);
    put_str(E, &val, v);
  }
  E->rec = 0;
  const char *ops[3] = {acc, val.s, ""};
  line_directive(E, x, &stmt);
  put(E, &stmt, "    %s = ", acc);
  substitute(E, &stmt, np->op == OP_SUM   ? "a + b"
                       : np->op == OP_MAX ? "(b > a ? b : a)"
                                          : "(b < a ? b : a)", ops);
  put_str(E, &stmt, ";\n");
  target(E, x, "0", out, sizeof out);
  put(E, &post, "  %s = %s;\n", out, acc);
  loop_join(E, x, n, NONE, &pre, &stmt, &post, storage_key(E, E->home[x]));
  Loop *L = &E->loop;
  L->accum[L->naccum] = E->naccum - 1;
  L->kinds[L->naccum++] = np->op == OP_SUM ? '+' : np->op == OP_MAX ? '>' : '<';
  if (L->naccum == MAX_ACC)
    loop_flush(E);
  ctx_release(E->c, pre.s), ctx_release(E->c, stmt.s);
  ctx_release(E->c, post.s), ctx_release(E->c, val.s);
  return 1;
}

/* A constant that a kernel needs in memory: fill its buffer. */
static void emit_fill(Emitter *E, uint32_t x) {
  Node *nd = at(E, x);
  char lit[64], out[320], n[128];
  if (nd->op == OP_DIMVAL)
    snprintf(lit, sizeof lit, "((double)D[%lld])", (long long)nd->attr);
  else
    number(nd->val, lit, sizeof lit);
  count_expr(&nd->shape, 0, n, sizeof n);
  target(E, x, "i", out, sizeof out);
  put(E, &E->body, "  for (i = 0; i < %s; i++)\n    %s = %s;\n", n, out, lit);
  E->used_i = 1;
}

/* ---- data movement and reductions ---- */

static void emit_reshape(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  char n[128], in[320], out[320];
  count_expr(&nd.shape, 0, n, sizeof n);
  value(E, nd.in[0], is_scalar_home(E, nd.in[0]) ? "0" : "i", in, sizeof in);
  target(E, x, "i", out, sizeof out);
  put(E, &E->body, "  for (i = 0; i < %s; i++)\n    %s = %s;\n", n, out, in);
  E->used_i = 1;
}

static void emit_transpose(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  const Shape *so = &nd.shape, *si = &at(E, nd.in[0])->shape;
  char idx[256] = "", st[128], in[320], out[320];
  size_t len = 0;
  for (int j = 0; j < so->rank; j++) {
    count_expr(si, so->rank - j, st, sizeof st);
    len += (size_t)snprintf(idx + len, sizeof idx - len, "%si%d*%s",
                            j ? " + " : "", j, st);
  }
  value(E, nd.in[0], so->rank ? idx : "0", in, sizeof in);
  target(E, x, "o", out, sizeof out);
  copy_loop(E, so, out, in);
}

/* ---- reductions ---- */

/* The flat index of the result element that input position (i0, i1, ...)
 * reduces to, for a reduction of shape si over mask into shape so. */
static void reduced_index(const Shape *si, const Shape *so, int64_t mask,
                          char *buf, size_t n) {
  size_t len = 0;
  int k = 0;
  char st[128];
  buf[0] = 0;
  for (int j = 0; j < si->rank; j++) {
    if (mask & (1 << j))
      continue;
    count_expr(so, ++k, st, sizeof st);
    if (strcmp(st, "1L") == 0)
      len += (size_t)snprintf(buf + len, n - len, "%si%d", len ? " + " : "", j);
    else
      len += (size_t)snprintf(buf + len, n - len, "%si%d*%s",
                              len ? " + " : "", j, st);
  }
  if (!len)
    snprintf(buf, n, "0");
}

/* One pass over every element of node x's input: acc = combine(acc, value,
 * aux), where combine is an expression over a (the accumulator), b (the
 * input element) and c (the aux element, at the same result position).
 * accp/auxp name result-shaped arrays; NULL means the locals acc / acc2 of a
 * full reduction. */
static void reduce_pass(Emitter *E, uint32_t x, const char *accp,
                        const char *auxp, const char *combine) {
  Node nd = *at(E, x);
  uint32_t in = nd.in[0];
  const Shape *si = &at(E, in)->shape;
  int fused = inline_here(E, in, x);
  int full = nd.shape.rank == 0 && (!fused || flat_operands(E, in, si, x));
  char oidx[256], ops[3][320], n[128];
  Buf val = {0};
  reduced_index(si, &nd.shape, nd.attr, oidx, sizeof oidx);
  snprintf(ops[0], sizeof ops[0], accp ? "%s[%s]" : "acc", accp, oidx);
  snprintf(ops[2], sizeof ops[2], auxp ? "%s[%s]" : "acc2", auxp, oidx);
  if (fused) { /* the elementwise input is computed in this loop */
    ew_expr(E, &val, in, si, full ? LOOP_FLAT : LOOP_NESTED, x);
  } else {
    value(E, in, is_scalar_home(E, in) ? "0" : full ? "i" : "o", ops[1],
          sizeof ops[1]);
    put_str(E, &val, ops[1]);
  }
  if (full) {
    count_expr(si, 0, n, sizeof n);
    put(E, &E->body, "  for (i = 0; i < %s; i++)\n    %s = ", n, ops[0]);
    E->used_i = 1;
  } else {
    put_str(E, &E->body, "  o = 0;\n");
    loops_open(E, si);
    put(E, &E->body, "%*s%s = ", 4 + 2 * si->rank, "", ops[0]);
    E->used_o = 1;
  }
  const char *const op[3] = {ops[0], val.s, ops[2]};
  substitute(E, &E->body, combine, op);
  put_str(E, &E->body, ";\n");
  ctx_release(E->c, val.s);
  if (!full) {
    put(E, &E->body, "%*so++;\n", 4 + 2 * si->rank, "");
    loops_close(E, si);
  }
}

/* Set a result-shaped array (or the local acc) to a value. */
static void reduce_init(Emitter *E, uint32_t x, const char *accp,
                        const char *init) {
  char n[128];
  if (!accp) {
    put(E, &E->body, "  acc = %s;\n", init);
    return;
  }
  count_expr(&at(E, x)->shape, 0, n, sizeof n);
  put(E, &E->body, "  for (i = 0; i < %s; i++)\n    %s[i] = %s;\n", n, accp,
      init);
  E->used_i = 1;
}

/* A shift for exp(x - m) that is m itself unless m is infinite or NaN
 * (m - m is then not 0), so that all -inf inputs give -inf, not NaN. */
#define SHIFT(m) "(" m " - " m " == 0.0 ? " m " : 0.0)"

/* logsumexp: max, then the sum of exp(x - max), then max + log(sum). */
static void emit_lse(Emitter *E, uint32_t x, const char *outp) {
  char tp[32], out[320];
  reduce_init(E, x, outp, "(-1.0/0.0)");
  reduce_pass(E, x, outp, NULL, "(b > a ? b : a)");
  if (!outp) {
    target(E, x, "0", out, sizeof out);
    put_str(E, &E->body, "  acc2 = acc;\n  acc = 0.0;\n");
    reduce_pass(E, x, NULL, NULL, "a + exp(b - " SHIFT("c") ")");
    put(E, &E->body, "  %s = " SHIFT("acc2") " + log(acc);\n", out);
    E->used_acc2 = 1;
    return;
  }
  char n[128];
  snprintf(tp, sizeof tp, "p%d", E->home[x].aux);
  reduce_init(E, x, tp, "0.0");
  reduce_pass(E, x, tp, outp, "a + exp(b - " SHIFT("c") ")");
  count_expr(&at(E, x)->shape, 0, n, sizeof n);
  put(E, &E->body, "  for (i = 0; i < %s; i++)\n    %s[i] = " SHIFT("%s[i]")
      " + log(%s[i]);\n", n, outp, outp, outp, outp, tp);
}

/* sum, max, min, logsumexp over the axes in the mask. */
static void emit_reduce(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  char outp[64], out[320];
  const char *accp = NULL;
  if (nd.shape.rank > 0) {
    pointer(E, x, outp, sizeof outp);
    accp = outp;
  }
  E->used_acc |= accp == NULL;
  if (nd.op == OP_LSE) {
    emit_lse(E, x, accp);
    return;
  }
  const char *init = nd.op == OP_SUM ? "0.0"
                     : nd.op == OP_MAX ? "(-1.0/0.0)" : "(1.0/0.0)";
  const char *combine = nd.op == OP_SUM ? "a + b"
                        : nd.op == OP_MAX ? "(b > a ? b : a)"
                                          : "(b < a ? b : a)";
  reduce_init(E, x, accp, init);
  reduce_pass(E, x, accp, NULL, combine);
  if (!accp) {
    target(E, x, "0", out, sizeof out);
    put(E, &E->body, "  %s = acc;\n", out);
  }
}

/* ---- windows: slicing and its gradient ---- */

/* The flat index into shape s at loop position (i0 + start0, i1 + ...). */
static void offset_index(const Shape *s, const int64_t *start, char *buf,
                         size_t n) {
  size_t len = 0;
  char st[128];
  buf[0] = 0;
  for (int j = 0; j < s->rank; j++) {
    count_expr(s, j + 1, st, sizeof st);
    len += (size_t)snprintf(buf + len, n - len, "%s(i%d + %lldL)*%s",
                            j ? " + " : "", j, (long long)start[j], st);
  }
  if (!len)
    snprintf(buf, n, "0");
}

/* SLICE reads a window of its input; PAD writes its input into a window of
 * zeros. Both loop over the smaller shape. */
static void emit_window(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  const Shape *si = &at(E, nd.in[0])->shape;
  const Shape *small = nd.op == OP_SLICE ? &nd.shape : si;
  const Shape *big = nd.op == OP_SLICE ? si : &nd.shape;
  char idx[320], in[320], out[320], n[128];
  offset_index(big, nd.start, idx, sizeof idx);
  if (nd.op == OP_PAD) {
    count_expr(&nd.shape, 0, n, sizeof n);
    target(E, x, "i", out, sizeof out);
    put(E, &E->body, "  for (i = 0; i < %s; i++)\n    %s = 0.0;\n", n, out);
    E->used_i = 1;
  }
  value(E, nd.in[0], nd.op == OP_SLICE ? idx : "o", in, sizeof in);
  if (is_scalar_home(E, nd.in[0]))
    value(E, nd.in[0], "0", in, sizeof in);
  target(E, x, nd.op == OP_SLICE ? "o" : idx, out, sizeof out);
  copy_loop(E, small, out, in);
}

static void emit_matmul(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  int ta, tb;
  uint32_t a = plan_gemm_operand(E->g, nd.in[0], &ta);
  uint32_t b = plan_gemm_operand(E->g, nd.in[1], &tb);
  const Shape *sa = &at(E, nd.in[0])->shape, *sb = &at(E, nd.in[1])->shape;
  char m[32] = "1L", n[32] = "1L", k[32], pa[64], pb[64], pc[64];
  if (sa->rank == 2)
    dim_expr(sa->d[0], m, sizeof m);
  if (sb->rank == 2)
    dim_expr(sb->d[1], n, sizeof n);
  dim_expr(sb->d[0], k, sizeof k);
  pointer(E, a, pa, sizeof pa);
  pointer(E, b, pb, sizeof pb);
  pointer(E, x, pc, sizeof pc);
  put(E, &E->body, "  exprc_rt_gemm(%d, %d, %s, %s, %s, %s, %s, %s);\n", ta,
      tb, m, n, k, pa, pb, pc);
}

static void emit_node(Emitter *E, uint32_t x) {
  Node *nd = at(E, x);
  if (((op_info[nd->op].flags & F_EW) && join_ew(E, x)) ||
      (op_info[nd->op].shape == SH_REDUCE && join_reduce(E, x)))
    return;
  loop_flush(E);
  line_directive(E, x, &E->body);
  switch (op_info[nd->op].shape) {
  case SH_LEAF:
    emit_fill(E, x);
    return;
  case SH_EW:
    emit_ew(E, x);
    return;
  case SH_TARGET:
    if (nd->op == OP_BCAST)
      emit_ew(E, x);
    else
      emit_reshape(E, x);
    return;
  case SH_TRANSPOSE:
    emit_transpose(E, x);
    return;
  case SH_REDUCE:
    emit_reduce(E, x);
    return;
  case SH_WINDOW:
    emit_window(E, x);
    return;
  case SH_MATMUL:
    emit_matmul(E, x);
    return;
  }
}

/* ---- entry points ---- */

void emit_entry_name(int k, char *buf, size_t n) {
  if (k == 0)
    snprintf(buf, n, "xc_forward");
  else
    snprintf(buf, n, "xc_grad_%d", k);
}

/* Results whose node lives elsewhere (a leaf, a constant, another result)
 * are copied into their slot. */
static void copy_results(Emitter *E, Entry *e) {
  for (uint32_t r = 0; r < e->nres; r++) {
    uint32_t x = e->res[r].node;
    Home h = E->home[x];
    if (h.kind == H_SLOT && h.slot == e->res[r].slot)
      continue;
    char n[128], in[320];
    count_expr(&at(E, x)->shape, 0, n, sizeof n);
    value(E, x, is_scalar_home(E, x) ? "0" : "i", in, sizeof in);
    put(E, &E->body, "  for (i = 0; i < %s; i++)\n    p%d[i] = %s;\n", n,
        e->res[r].slot, in);
    E->used_i = 1;
  }
}

static void declarations(Emitter *E) {
  for (uint32_t s = 0; s < E->ep.nused; s++)
    if (E->ep.used[s])
      put(E, &E->out, "  double *const p%u = S[%u];\n", s, s);
  for (uint32_t s = 0; s < E->ep.nused; s++) /* buffers used only by */
    if (E->ep.used[s] && (E->helpers.n || E->loop.local[s])) /* parallel */
      put(E, &E->out, "  (void)p%u;\n", s); /* bodies, or kept in locals */
  for (uint32_t r = 0; r < E->ep.nreg; r++) {
    if (r % 8)
      put(E, &E->out, ", r%u", r);
    else
      put(E, &E->out, "%s  double r%u", r ? ";\n" : "", r);
  }
  if (E->ep.nreg)
    put_str(E, &E->out, ";\n");
  if (E->used_i) put_str(E, &E->out, "  long i;\n");
  if (E->used_o) put_str(E, &E->out, "  long o;\n");
  for (int j = 0; j < E->depth; j++)
    put(E, &E->out, "  long i%d;\n", j);
  if (E->used_acc) put_str(E, &E->out, "  double acc;\n");
  if (E->used_acc2) put_str(E, &E->out, "  double acc2;\n");
  for (uint32_t a = 0; a < E->naccum; a++) {
    if (a % 8)
      put(E, &E->out, ", a%u", a);
    else
      put(E, &E->out, "%s  double a%u", a ? ";\n" : "", a);
  }
  if (E->naccum)
    put_str(E, &E->out, ";\n");
}

static void emit_entry(Emitter *E, int k) {
  Entry *e = &E->m->entry[k];
  E->body.n = 0;
  E->used_i = E->used_o = E->used_acc = E->used_acc2 = E->depth = 0;
  E->line = 0;
  plan_entry(E->c, E->m, E->plan, k, &E->ep);
  E->home = E->ep.home;
  E->naccum = 0;
  E->loop.nkeys = E->ep.nused + E->ep.nreg + 1;
  vec_reserve(E->c, &E->loop.wrote, &E->loop.cap, E->loop.nkeys, 1);
  E->loop.shifted = ctx_realloc(E->c, E->loop.shifted, E->loop.cap);
  E->loop.uses = ctx_realloc(E->c, E->loop.uses, E->loop.cap);
  E->loop.inflow = ctx_realloc(E->c, E->loop.inflow, E->loop.cap);
  E->loop.local = ctx_realloc(E->c, E->loop.local, E->loop.cap);
  memset(E->loop.local, 0, E->loop.cap);
  vec_reserve(E->c, &E->loop.writer, &E->loop.wcap, E->loop.nkeys, 4);
  loop_reset(E);
  for (uint32_t i = 0; i < E->g->n; i++) {
    if (!E->ep.need[i])
      continue;
    Op op = (Op)at(E, i)->op;
    if (E->home[i].kind == H_FUSED || E->home[i].view)
      continue; /* computed inside its reader's loop, or a view */
    if (E->home[i].fill)
      loop_flush(E), emit_fill(E, i);
    else if (op != OP_INPUT && op != OP_PARAM && op != OP_CONST &&
             op != OP_DIMVAL)
      emit_node(E, i);
  }
  loop_flush(E);
  copy_results(E, e);
  char name[32];
  emit_entry_name(k, name, sizeof name);
  if (E->helpers.n)
    put(E, &E->out, "%.*s", (int)E->helpers.n, E->helpers.s);
  put(E, &E->out, "\n/* %s: %s */\nvoid %s(const long *D, double *const *S)\n{\n",
      name, e->is_grad ? "a gradient entry point" : "the forward entry point",
      name);
  declarations(E);
  put_str(E, &E->out, "  (void)D;\n  (void)S;\n");
  if (E->body.n)
    put(E, &E->out, "%.*s", (int)E->body.n, E->body.s);
  put_str(E, &E->out, "}\n");
  E->helpers.n = 0;
  plan_entry_free(E->c, &E->ep);
}

static void prelude(Emitter *E) {
  static const struct { const char *name; int n; } libm[] = {
#define XC_LIBM(name, n) {#name, n},
      XC_LIBM_FNS(XC_LIBM)
#undef XC_LIBM
  };
  put_str(E, &E->out,
          "/* Generated by exprc: C99, self-contained. Each entry point reads\n"
          "   and writes the buffers S[slot] and takes the sizes of the dims\n"
          "   in D. exprc_rt_gemm is exprc's runtime matrix product. */\n");
  for (size_t i = 0; i < sizeof libm / sizeof libm[0]; i++)
    put(E, &E->out, "double %s(double%s);\n", libm[i].name,
        libm[i].n == 2 ? ", double" : "");
  put_str(E, &E->out,
          "void exprc_rt_gemm(int ta, int tb, long m, long n, long k,\n"
          "                   const double *a, const double *b, double *c);\n"
          "void exprc_rt_parallel(void (*body)(long, long, const long *,\n"
          "                       double *const *, const double *, double *),\n"
          "                       long n, const long *D, double *const *S,\n"
          "                       const double *R, const char *kinds,\n"
          "                       double *A);\n");
  for (int k = 0; helper_text[k]; k++)
    if (E->used_helpers & (1u << k))
      put_str(E, &E->out, helper_text[k]);
}

static void constants(Emitter *E) {
  char num[64];
  for (uint32_t i = 0; i < E->g->n; i++) {
    Node *nd = at(E, i);
    int64_t n;
    if (nd->op != OP_CONST || nd->attr < 0 || !shape_numel_const(&nd->shape, &n))
      continue;
    put(E, &E->out, "static const double c%u[%lld] = {", i, (long long)n);
    for (int64_t k = 0; k < n; k++) {
      number(E->g->cdata[nd->attr + k], num, sizeof num);
      put(E, &E->out, "%s%s", k % 6 ? ", " : (k ? ",\n  " : "\n  "), num);
    }
    put_str(E, &E->out, "};\n");
  }
}

char *emit_c(Ctx *c, Module *m, Plan *plan) {
  Emitter E = {.c = c, .m = m, .g = m->g, .plan = plan};
  plan_assign_result_slots(m);
  for (uint32_t k = 0; k < m->nentry; k++) /* first, to know the helpers */
    emit_entry(&E, (int)k);
  Buf entries = E.out;
  E.out = (Buf){0};
  prelude(&E);
  constants(&E);
  put_mem(&E, &E.out, entries.s ? entries.s : "", entries.n);
  ctx_release(c, entries.s);
  ctx_release(c, E.body.s);
  ctx_release(c, E.loop.pre.s);
  ctx_release(c, E.loop.body.s);
  ctx_release(c, E.loop.post.s);
  ctx_release(c, E.loop.wrote);
  ctx_release(c, E.loop.shifted);
  ctx_release(c, E.loop.uses);
  ctx_release(c, E.loop.inflow);
  ctx_release(c, E.loop.local);
  ctx_release(c, E.loop.writer);
  ctx_release(c, E.helpers.s);
  ctx_release(c, E.qfile.s);
  ctx_release(c, E.acc);
  return E.out.s;
}

/* ---- the header of `exprc emit --header` ----
 *
 * A program that compiles the generated C ahead of time needs what the
 * model knows and the C does not say: which slot S[i] is which tensor, its
 * shape, and which D[k] is which dim. The header says it as macros (slot and
 * dim numbers), prototypes of the entry points, and xc_slot_size(), which
 * gives every slot's element count, temporaries included, for given dims.
 * It describes the C that emit_c() made from the same Module and Plan. */

/* A macro name from parts: what is not a letter, digit or '_' becomes
 * '_' (an unnamed output is named by its source text, such as "x + 1"). */
static char *macro_name(Emitter *E, const char *a, const char *b,
                        const char *c) {
  size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
  char *buf = ctx_alloc(E->c, n), *o = buf;
  snprintf(buf, n, "%s%s%s", a, b, c);
  for (; *o; o++)
    if (!((*o >= 'a' && *o <= 'z') || (*o >= 'A' && *o <= 'Z') ||
          (*o >= '0' && *o <= '9') || *o == '_'))
      *o = '_';
  return buf;
}

/* Text for inside a C comment: no end of comment, no trigraph (-std=c99
 * reads ??/ as a backslash), no line breaks. */
static void comment_text(Emitter *E, const char *s) {
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if ((ch == '*' && s[1] == '/') || (ch == '?' && s[1] == '?'))
      put(E, &E->out, "%c ", ch);
    else
      put(E, &E->out, "%c", ch < 0x20 || ch >= 0x7f ? ' ' : ch);
  }
}

/* What the header says of a slot: its macro (NULL for a temporary), what
 * it holds (*kind, and a label for the comments: dL/dp for a gradient) and
 * its shape. Made for all slots at once, in one pass over the results, so
 * that the header takes time linear in their number. */
typedef struct SlotInfo {
  const char *mac, *kind, *label;
  Shape shape;
  int set;
} SlotInfo;

static void result_info(Emitter *E, Entry *e, uint32_t r, SlotInfo *in) {
  const char *nm = e->res[r].name;
  in->kind = !e->is_grad ? "output" : r == 0 ? "loss" : "gradient";
  in->label = nm;
  in->shape = at(E, e->res[r].node)->shape;
  if (!e->is_grad)
    in->mac = macro_name(E, "XC_OUTPUT_", nm, "");
  else if (r == 0)
    in->mac = macro_name(E, "XC_LOSS_", nm, "");
  else {
    in->mac = macro_name(E, macro_name(E, "XC_GRAD_", e->loss, "_"), nm, "");
    char *lab = ctx_alloc(E->c, strlen(nm) + strlen(e->loss) + 4);
    sprintf(lab, "d%s/d%s", e->loss, nm);
    in->label = lab;
  }
}

static SlotInfo *slot_infos(Emitter *E, int nslots) {
  Module *m = E->m;
  SlotInfo *info = ctx_alloc(E->c, (size_t)(nslots + 1) * sizeof *info);
  for (int s = 0; s < nslots && s < (int)m->nvar; s++) {
    Var *v = &m->var[s];
    info[s] = (SlotInfo){macro_name(E, v->kind == V_INPUT ? "XC_INPUT_"
                                       : "XC_PARAM_", v->name, ""),
                         v->kind == V_INPUT ? "input" : "param", v->name,
                         v->shape, 1};
  }
  for (uint32_t k = 0; k < m->nentry; k++)
    for (uint32_t r = 0; r < m->entry[k].nres; r++) {
      int s = m->entry[k].res[r].slot;
      if (s >= (int)m->nvar && s < nslots && !info[s].set) { /* the first */
        result_info(E, &m->entry[k], r, &info[s]);
        info[s].set = 1;
      }
    }
  for (int s = (int)m->nvar; s < nslots; s++)
    if (!info[s].set)
      info[s] = (SlotInfo){NULL, "temporary", "",
                           s >= m->nslot ? E->plan->temp[s - m->nslot]
                                         : (Shape){0}, 1};
  return info;
}

/* "grad L wrt a, b" or "outputs a, b": what entry k computes. */
static void entry_summary(Emitter *E, Entry *e) {
  if (e->is_grad)
    put(E, &E->out, "grad %s wrt", e->loss);
  else
    put_str(E, &E->out, "outputs");
  for (uint32_t r = e->is_grad ? 1 : 0; r < e->nres; r++) {
    put(E, &E->out, "%s ", r > (e->is_grad ? 1u : 0u) ? "," : "");
    comment_text(E, e->res[r].name);
  }
}

static void header_init(Emitter *E, const Var *v) {
  char a[48], b[48]; /* for a comment: as the model wrote them */
  snprintf(a, sizeof a, "%.15g", v->arg[0]);
  snprintf(b, sizeof b, "%.15g", v->arg[1]);
  switch (v->init) {
  case INIT_ZEROS: put_str(E, &E->out, " ~ zeros"); break;
  case INIT_FILL: put(E, &E->out, " ~ fill(%s)", a); break;
  case INIT_NORMAL: put(E, &E->out, " ~ normal(%s, %s)", a, b); break;
  case INIT_UNIFORM: put(E, &E->out, " ~ uniform(%s, %s)", a, b); break;
  }
}

/* The include guard: EXPRC_ and the header's name in capitals. */
static void header_guard(Emitter *E, const char *name) {
  put_str(E, &E->out, "EXPRC_");
  for (const char *s = name; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    put(E, &E->out, "%c",
        (ch >= 'a' && ch <= 'z') ? ch - 'a' + 'A'
        : ((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) ? ch : '_');
  }
  put_str(E, &E->out, "_GUARD\n");
}

static void header_top(Emitter *E, const char *name) {
  put_str(E, &E->out, "/* ");
  for (const char *s = name; *s; s++) /* a file name: keep the comment shut */
    put(E, &E->out, "%c", *s == '*' || (unsigned char)*s < 0x20 ? '_' : *s);
  put_str(E, &E->out,
          ": generated by exprc (`exprc emit MODEL --header`).\n"
      "   The interface of the C that the same command writes: compile that\n"
      "   file with any C99 compiler and link it with exprc's runtime\n"
      "   (runtime/kernels.c, for exprc_rt_gemm, or libexprc) and libm.\n\n"
      "   Every entry point takes\n"
      "     D  the sizes of the dims, D[XC_DIM_<name>] (NULL if XC_NDIMS is 0);\n"
      "     S  XC_NSLOTS buffers of doubles, S[s] holding xc_slot_size(s, D)\n"
      "        elements in C (row-major) order.\n"
      "   It reads the inputs and params in their slots and writes its\n"
      "   results into theirs; the other slots are scratch. Sizes are not\n"
      "   checked: that is the caller's part. Only the entry points are\n"
      "   external symbols; to link two models into one program, compile\n"
      "   each with -Dxc_forward=... -Dxc_grad_1=... to rename them. */\n");
  put_str(E, &E->out, "#ifndef ");
  header_guard(E, name);
  put_str(E, &E->out, "#define ");
  header_guard(E, name);
}

/* Two names can make one macro (a_b + c and a_b_c): the first keeps it. */
static void header_slots(Emitter *E, const SlotInfo *info, int nslots) {
  char sb[160];
  Map taken = {0};
  put(E, &E->out, "\n/* slots: S[XC_...] */\n#define XC_NSLOTS %d\n"
      "#define XC_NRESULTS %d /* inputs, params and results; then scratch */\n",
      nslots, E->m->nslot);
  for (int s = 0; s < E->m->nslot; s++) {
    const SlotInfo *in = &info[s];
    if (in->mac && map_get(&taken, in->mac))
      put(E, &E->out, "/* slot %d: no macro, %s is taken */ ", s, in->mac);
    else
      put(E, &E->out, "#define %-20s %2d ", in->mac ? in->mac : "", s);
    if (in->mac)
      map_put(E->c, &taken, in->mac, (void *)in->mac);
    put(E, &E->out, "/* %s ", in->kind);
    comment_text(E, in->label);
    put(E, &E->out, " %s", shape_str(&in->shape, E->m->dim, sb, sizeof sb));
    if (s < (int)E->m->nvar && E->m->var[s].kind == V_PARAM)
      header_init(E, &E->m->var[s]);
    put_str(E, &E->out, " */\n");
  }
}

static void header_entries(Emitter *E) {
  char name[32];
  put_str(E, &E->out, "\n/* entry points */\n");
  for (uint32_t k = 0; k < E->m->nentry; k++) {
    emit_entry_name((int)k, name, sizeof name);
    put_str(E, &E->out, "/* ");
    entry_summary(E, &E->m->entry[k]);
    put(E, &E->out, " */\nvoid %s(const long *D, double *const *S);\n", name);
  }
}

static void header_sizes(Emitter *E, const SlotInfo *info, int nslots) {
  char n[128];
  put_str(E, &E->out,
          "\n/* The element count of slot s when the dims have sizes D. */\n"
          "static inline long xc_slot_size(int s, const long *D)\n{\n"
          "  (void)D;\n  switch (s) {\n");
  for (int s = 0; s < nslots; s++) {
    count_expr(&info[s].shape, 0, n, sizeof n);
    put(E, &E->out, "  case %d: return %s;\n", s, n);
  }
  put_str(E, &E->out, "  }\n  return 0;\n}\n");
}

char *emit_header(Ctx *c, Module *m, const Plan *plan, const char *name) {
  Emitter E = {.c = c, .m = m, .g = m->g, .plan = (Plan *)plan};
  int nslots = m->nslot + (int)plan->ntemp;
  header_top(&E, name);
  put_str(&E, &E.out, "\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n");
  put(&E, &E.out, "\n/* dims: D[XC_DIM_...] */\n#define XC_NDIMS %u\n", m->ndim);
  for (uint32_t d = 0; d < m->ndim; d++)
    put(&E, &E.out, "#define XC_DIM_%s %u\n", m->dim[d], d);
  SlotInfo *info = slot_infos(&E, nslots);
  header_slots(&E, info, nslots);
  header_entries(&E);
  header_sizes(&E, info, nslots);
  put_str(&E, &E.out, "\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
  return E.out.s;
}

/* lower_linalg.c: the linear-algebra built-ins (cholesky, solve,
 * solve_triangular, inv, det, logdet, trace, diag, diagonal, eye, outer).
 * The factorisations and solves are nodes of their own (linalg.c); the rest
 * are made of existing nodes and a mask: trace(A) is sum(A * eye),
 * inv(A) is solve(A, eye).
 */
#include "lower_impl.h"

#include <ctype.h>
#include <string.h>

#include "linalg.h"
#include "shape.h"

static uint32_t arg(Lower *L, const Args *x, int k, Scope *s) {
  uint32_t v = lower_expr(L, x->v[k], s);
  L->g->pos = x->call->pos;
  return v;
}

static Shape shape_of(Lower *L, uint32_t v) { return *L->g->node[v].shape; }

static NORETURN void want_matrix(Lower *L, const Args *x, uint32_t v) {
  char sb[96];
  Shape s = shape_of(L, v);
  ctx_error(L->c, x->v[0]->pos, EXPRC_ERR_SHAPE,
            "'%s' takes a matrix (2 axes), not %s", x->call->name,
            shape_str(&s, L->c->dimnames, sb, sizeof sb));
}

/* cholesky(a), det(a), logdet(a) */
uint32_t lower_la_unary(Lower *L, const Builtin *b, const Args *x, Scope *s) {
  uint32_t a = arg(L, x, 0, s);
  if (b->op == OP_CHOL)
    return la_chol(L->g, a);
  return la_det(L->g, a, b->op == OP_LOGDET);
}

/* solve(a, b); solve_triangular(a, b, lower=0, trans=0) (SciPy's default:
 * upper) */
uint32_t lower_la_solve(Lower *L, const Builtin *b, const Args *x, Scope *s) {
  uint32_t a = arg(L, x, 0, s), r = arg(L, x, 1, s);
  if (b->op == OP_LUSOLVE)
    return la_solve(L->g, a, r, 0);
  int lower = (int)lower_opt_int(L, x->v[2], 0, "lower (0 or 1)", 0, 1);
  int trans = (int)lower_opt_int(L, x->v[3], 0, "trans (0 or 1)", 0, 1);
  L->g->pos = x->call->pos;
  return la_trsolve(L->g, a, r, (lower ? LA_LOWER : 0) | (trans ? LA_TRANS : 0));
}

/* eye(n): n a constant or a dim */
uint32_t lower_la_eye(Lower *L, const Builtin *b, const Args *x, Scope *s) {
  (void)b, (void)s;
  Ast *a = x->v[0];
  Binding *d = a->kind == A_NAME ? lower_lookup(L, a->name) : NULL;
  int64_t n = d && d->kind == B_DIM
                  ? DIM_SYM(d->index)
                  : lower_const_int(L, a, "a size (a number or a dim)", 1,
                                    L->c->lim.max_elements);
  L->g->pos = x->call->pos;
  return la_mask(L->g, LA_EYE, n);
}

/* inv(a) = solve(a, eye), the identity broadcast over a's batch axes */
uint32_t lower_la_inv(Lower *L, const Builtin *b, const Args *x, Scope *s) {
  (void)b;
  uint32_t a = arg(L, x, 0, s);
  Shape sa = shape_of(L, a);
  if (sa.rank < 2)
    want_matrix(L, x, a);
  uint32_t eye = la_mask(L->g, LA_EYE, sa.d[sa.rank - 1]);
  if (sa.rank > 2)
    eye = graph_shaped(L->g, OP_BCAST, eye, &sa);
  return la_solve(L->g, a, eye, 0);
}

/* The diagonal of a 2-D a, as NumPy's diagonal: min(m, n) elements. */
static uint32_t diagonal_of(Lower *L, const Args *x, uint32_t a) {
  Shape sa = shape_of(L, a);
  if (sa.rank != 2)
    want_matrix(L, x, a);
  int64_t n = sa.d[0];
  if (sa.d[0] != sa.d[1]) {
    if (DIM_IS_SYM(sa.d[0]) || DIM_IS_SYM(sa.d[1]))
      want_matrix(L, x, a); /* a dim-sized non-square matrix: no min */
    n = sa.d[0] < sa.d[1] ? sa.d[0] : sa.d[1];
    int64_t at[MAX_RANK] = {0};
    Shape sq = {.rank = 2, .d = {n, n}};
    a = graph_window(L->g, OP_SLICE, a, at, &sq);
  }
  uint32_t m = graph_op2(L->g, OP_MUL, a, la_mask(L->g, LA_EYE, n));
  return graph_sum(L->g, m, 2u);
}

/* diagonal(a); trace(a) (variant 1); diag(v): a vector's diagonal matrix,
 * a matrix's diagonal (variant 2) */
uint32_t lower_la_diag(Lower *L, const Builtin *b, const Args *x, Scope *s) {
  uint32_t a = arg(L, x, 0, s);
  Shape sa = shape_of(L, a);
  if (b->variant == 2 && sa.rank == 1)
    return graph_op2(L->g, OP_MUL, a, la_mask(L->g, LA_EYE, sa.d[0]));
  if (b->variant == 2 && sa.rank != 2) {
    char sb[96];
    ctx_error(L->c, x->v[0]->pos, EXPRC_ERR_SHAPE,
              "'diag' takes a vector or a matrix, not %s",
              shape_str(&sa, L->c->dimnames, sb, sizeof sb));
  }
  uint32_t d = diagonal_of(L, x, a);
  return b->variant == 1 ? graph_sum(L->g, d, 1u) : d;
}

/* a, flattened as NumPy's outer does, as a [n, 1] or [1, n] matrix */
static uint32_t flat(Lower *L, const Args *x, int k, uint32_t v, int column) {
  Shape sv = shape_of(L, v);
  int64_t n = sv.rank == 1 ? sv.d[0] : 1;
  if (sv.rank > 1 && !shape_numel_const(&sv, &n)) {
    char sb[96];
    ctx_error(L->c, x->v[k]->pos, EXPRC_ERR_SHAPE, "'outer' flattens its "
              "arguments; %s has several dim-sized axes",
              shape_str(&sv, L->c->dimnames, sb, sizeof sb));
  }
  Shape t = {.rank = 2, .d = {column ? n : 1, column ? 1 : n}};
  return graph_shaped(L->g, OP_RESHAPE, v, &t);
}

/* outer(a, b)[i, j] = a.flat[i] * b.flat[j] */
uint32_t lower_la_outer(Lower *L, const Builtin *b, const Args *x, Scope *s) {
  (void)b;
  uint32_t u = arg(L, x, 0, s), v = arg(L, x, 1, s);
  u = flat(L, x, 0, u, 1);
  v = flat(L, x, 1, v, 0);
  return graph_op2(L->g, OP_MATMUL, u, v);
}

/* ---- einsum ---- */

/* The subscripts of einsum: each operand's axis letters, and the output's
 * (given after "->", or NumPy's implicit one: the letters that appear once,
 * in alphabetical order). */
typedef struct Subs {
  char in[MAX_ARGS + 8][MAX_RANK + 1];
  int nin;
  char out[MAX_RANK + 1];
} Subs;

static NORETURN void subs_error(Lower *L, Ast *a, const char *why) {
  ctx_error(L->c, a->pos, EXPRC_ERR_SYNTAX, "einsum's subscripts \"%.64s\": %s",
            a->name, why);
}

/* Letters up to `stop` into dst (at most MAX_RANK, none repeated). */
static const char *letters(Lower *L, Ast *a, const char *p, const char *stop,
                           char *dst) {
  int n = 0;
  for (; *p && !strchr(stop, *p) && !(p[0] == '-' && p[1] == '>'); p++) {
    if (*p == ' ')
      continue;
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
      subs_error(L, a, "only letters, ',' and '->' (no '...')");
    if (n == MAX_RANK)
      subs_error(L, a, "more axes than the rank limit");
    if (memchr(dst, *p, (size_t)n))
      subs_error(L, a, "a letter repeated within one operand (a diagonal) "
                       "is not supported");
    dst[n++] = *p;
  }
  dst[n] = 0;
  return p;
}

static void parse_subs(Lower *L, Ast *a, int nops, Subs *S) {
  const char *p = a->name;
  memset(S, 0, sizeof *S);
  do {
    if (S->nin == nops)
      subs_error(L, a, "more operands named than given");
    p = letters(L, a, p, ",", S->in[S->nin++]);
  } while (*p == ',' && p++);
  if (S->nin != nops)
    subs_error(L, a, "fewer operands named than given");
  if (p[0] == '-' && p[1] == '>') {
    p = letters(L, a, p + 2, "", S->out);
    if (*p)
      subs_error(L, a, "text after the output's letters");
    return;
  }
  int n = 0;
  for (int c = 'A'; c <= 'z'; c++) { /* implicit: letters used once */
    int uses = 0;
    for (int k = 0; k < S->nin; k++)
      uses += strchr(S->in[k], c) != NULL;
    if (uses == 1 && n < MAX_RANK && isalpha(c))
      S->out[n++] = (char)c;
  }
}

/* Operand v (its axes named by sub) with its axes in the order of all[]
 * and a size-1 axis for each letter it lacks; sizes[] records each
 * letter's size, which every operand naming it must agree on. */
static uint32_t aligned(Lower *L, Ast *at, uint32_t v, const char *sub,
                        const char *all, int64_t *sizes) {
  Shape sv = *L->g->node[v].shape, t = {.rank = (int)strlen(all)};
  int perm[MAX_RANK], r = 0;
  if (sv.rank != (int)strlen(sub))
    ctx_error(L->c, at->pos, EXPRC_ERR_SHAPE, "einsum: an operand of rank %d "
              "named by %d letters", sv.rank, (int)strlen(sub));
  for (int j = 0; all[j]; j++) {
    const char *c = strchr(sub, all[j]);
    t.d[j] = 1;
    if (!c)
      continue;
    int64_t d = sv.d[c - sub];
    if (sizes[j] && sizes[j] != d)
      ctx_error(L->c, at->pos, EXPRC_ERR_SHAPE, "einsum: the axes named '%c' "
                "differ in size", all[j]);
    sizes[j] = t.d[j] = d;
    perm[r++] = (int)(c - sub);
  }
  L->g->pos = at->pos;
  v = lower_permute(L, v, perm);
  return graph_shaped(L->g, OP_RESHAPE, v, &t);
}

/* The product of the sizes of the letters in g (1 for none), into *out;
 * 0 when it cannot be one size: several letters, one of them a dim. */
static int group_size(const char *g, const char *all, const int64_t *sizes,
                      int64_t *out) {
  int64_t p = 1;
  int sym = 0;
  for (int i = 0; g[i]; i++) {
    int64_t d = sizes[strchr(all, g[i]) - all];
    sym |= DIM_IS_SYM(d);
    p = DIM_IS_SYM(d) ? d : p * d;
  }
  *out = p;
  return !sym || strlen(g) == 1;
}

/* v with its axes (named by sub) in the order of the letters of groups
 * g[0..n), each group merged into one axis of size gs[i]. */
static uint32_t grouped(Lower *L, uint32_t v, const char *sub, char g[][MAX_RANK + 1],
                        const int64_t *gs, int n) {
  int perm[MAX_RANK], r = 0;
  Shape t = {.rank = n};
  for (int i = 0; i < n; i++) {
    for (int j = 0; g[i][j]; j++)
      perm[r++] = (int)(strchr(sub, g[i][j]) - sub);
    t.d[i] = gs[i];
  }
  v = lower_permute(L, v, perm);
  return graph_shaped(L->g, OP_RESHAPE, v, &t);
}

static void add_letter(char *to, char c) {
  size_t n = strlen(to);
  to[n] = c, to[n + 1] = 0;
}

/* Two operands whose every letter is in the other or in the output: one
 * (batched) matrix product of their batch x free x contracted views, as
 * NumPy's einsum would, not the product over every letter. NONE where the
 * groups cannot be merged into single axes. */
static uint32_t einsum_matmul(Lower *L, const uint32_t *v, const Subs *S,
                              const char *all, const int64_t *sizes) {
  const char *a = S->in[0], *b = S->in[1], *o = S->out;
  char bat[MAX_RANK + 1] = "", fa[MAX_RANK + 1] = "", fb[MAX_RANK + 1] = "";
  char con[MAX_RANK + 1] = "";
  for (int i = 0; a[i]; i++)
    if (!strchr(b, a[i]) && !strchr(o, a[i]))
      return NONE; /* summed within a alone */
  for (int i = 0; b[i]; i++)
    if (!strchr(a, b[i]) && !strchr(o, b[i]))
      return NONE;
  for (int i = 0; o[i]; i++) {
    char *to = strchr(a, o[i]) && strchr(b, o[i]) ? bat : strchr(a, o[i]) ? fa : fb;
    add_letter(to, o[i]);
  }
  for (int i = 0; a[i]; i++)
    if (strchr(b, a[i]) && !strchr(o, a[i]))
      add_letter(con, a[i]);
  int nb = (int)strlen(bat);
  if (nb + 2 > MAX_RANK)
    return NONE;
  char ga[MAX_RANK + 2][MAX_RANK + 1], gb[MAX_RANK + 2][MAX_RANK + 1];
  int64_t sa[MAX_RANK + 2], sb[MAX_RANK + 2], sfa, sfb, sc;
  for (int i = 0; i < nb; i++) {
    ga[i][0] = gb[i][0] = bat[i], ga[i][1] = gb[i][1] = 0;
    group_size(ga[i], all, sizes, &sa[i]);
    sb[i] = sa[i];
  }
  if (!group_size(fa, all, sizes, &sfa) || !group_size(fb, all, sizes, &sfb) ||
      !group_size(con, all, sizes, &sc))
    return NONE;
  strcpy(ga[nb], fa), strcpy(ga[nb + 1], con);
  strcpy(gb[nb], con), strcpy(gb[nb + 1], fb);
  sa[nb] = sfa, sa[nb + 1] = sc, sb[nb] = sc, sb[nb + 1] = sfb;
  uint32_t r = graph_op2(L->g, OP_MATMUL, grouped(L, v[0], a, ga, sa, nb + 2),
                         grouped(L, v[1], b, gb, sb, nb + 2));
  char cur[MAX_RANK + 1]; /* r's letters once its groups are split again */
  snprintf(cur, sizeof cur, "%s%s%s", bat, fa, fb);
  Shape t = {.rank = (int)strlen(cur)};
  int perm[MAX_RANK];
  for (int i = 0; cur[i]; i++)
    t.d[i] = sizes[strchr(all, cur[i]) - all];
  for (int i = 0; o[i]; i++)
    perm[i] = (int)(strchr(cur, o[i]) - cur);
  return lower_permute(L, graph_shaped(L->g, OP_RESHAPE, r, &t), perm);
}

/* einsum(subscripts, a, b, ...): two operands as one matrix product where
 * their letters allow (einsum_matmul); otherwise every operand aligned on
 * the union of the letters (the output's first), multiplied, and summed
 * over the letters the output lacks. That product spans every letter at
 * once, so it suits small contractions. */
uint32_t lower_la_einsum(Lower *L, const Builtin *b, const Args *x, Scope *s) {
  (void)b;
  Ast *spec = x->v[0];
  if (spec->kind != A_STRING)
    ctx_error(L->c, spec->pos, EXPRC_ERR_SYNTAX, "einsum takes its subscripts "
              "as a string first, such as \"ij,jk->ik\"");
  Subs S;
  parse_subs(L, spec, x->nrest, &S);
  char all[MAX_RANK + 1];
  int n = 0;
  for (int i = 0; S.out[i]; i++) {
    int found = 0;
    for (int k = 0; k < S.nin; k++)
      found |= strchr(S.in[k], S.out[i]) != NULL;
    if (!found)
      subs_error(L, spec, "an output letter names no operand's axis");
    all[n++] = S.out[i];
  }
  int nout = n;
  for (int k = 0; k < S.nin; k++)
    for (int i = 0; S.in[k][i]; i++)
      if (!memchr(all, S.in[k][i], (size_t)n)) {
        if (n == MAX_RANK)
          subs_error(L, spec, "more letters than the rank limit");
        all[n++] = S.in[k][i];
      }
  all[n] = 0;
  int64_t sizes[MAX_RANK] = {0};
  uint32_t *v = ctx_alloc(L->c, (size_t)(S.nin + 1) * sizeof *v), prod = NONE;
  for (int k = 0; k < S.nin; k++) {
    v[k] = lower_expr(L, x->rest[k], s);
    aligned(L, x->rest[k], v[k], S.in[k], all, sizes); /* checks the sizes */
  }
  L->g->pos = x->call->pos;
  if (S.nin == 2 && (prod = einsum_matmul(L, v, &S, all, sizes)) != NONE)
    return prod;
  for (int k = 0; k < S.nin; k++) {
    uint32_t a = aligned(L, x->rest[k], v[k], S.in[k], all, sizes);
    L->g->pos = x->call->pos;
    prod = prod == NONE ? a : graph_op2(L->g, OP_MUL, prod, a);
  }
  unsigned mask = ((1u << n) - 1) & ~((1u << nout) - 1);
  return mask ? graph_sum(L->g, prod, mask) : prod;
}

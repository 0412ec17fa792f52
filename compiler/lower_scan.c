/* lower_scan.c: lowering of scan(f, c1..ck, x1..xm) and fold(...).
 *
 * f is a def with k + m parameters returning k values: the carries c and
 * one row of each sequence x (axis 0 is scanned; the sequences share its
 * length T, a constant or a dim). The step f is lowered once, as the body
 * of a LOOP node (loop.h): its parameters are HOLE placeholders, and every
 * value of the model it reads (params, inputs, named values) is captured:
 * a HOLE of its own, filled from the captured value when the loop starts.
 * The carries, rows and captures must have constant shapes; T may be a
 * dim, and may be 0 (scan gives [0, ...], fold gives the initial carries).
 *
 * scan returns the carries after every step, stacked on a new axis 0;
 * fold returns the last ones. While f's body is lowered, f is marked as
 * being inlined, so a scan of f inside f is reported as recursion.
 */
#include "lower_impl.h"

#include <string.h>

#include "loop.h"
#include "shape.h"

/* The values a loop body reads from outside, by name; nested loops chain
 * to the loop around them, whose holes stand for the outer values. */
typedef struct Capture {
  struct Capture *up;
  Map byname;          /* name -> index + 1 */
  uint32_t outer[LOOP_MAX_HOLES], hole[LOOP_MAX_HOLES];
  int n;
  Ast *call;
} Capture;

static void constant_shape(Lower *L, Pos pos, const Shape *s,
                           const char *what, const char *name) {
  int64_t n;
  if (!shape_numel_const(s, &n)) {
    char sb[96];
    ctx_error(L->c, pos, EXPRC_ERR_SHAPE, "%s '%.64s' has shape %s; the "
              "carries, sequence rows and values a loop step reads must "
              "have constant shapes (only the length may be a dim)", what,
              name, shape_str(s, L->c->dimnames, sb, sizeof sb));
  }
}

uint32_t lower_capture(Lower *L, const char *name, Pos pos, uint32_t node) {
  Capture *c = L->cap;
  if (!c || graph_at(L->g, node)->op == OP_CONST ||
      graph_at(L->g, node)->op == OP_DIMVAL)
    return node; /* constants are compiled into the step as they are */
  uintptr_t i = (uintptr_t)map_get(&c->byname, name);
  if (i)
    return loop_hole_node(L->g, c->hole[i - 1]);
  L->cap = c->up;
  uint32_t outer = lower_capture(L, name, pos, node);
  L->cap = c;
  Shape s = *graph_at(L->g, outer)->shape;
  constant_shape(L, pos, &s, "the value", name);
  if (c->n == LOOP_MAX_HOLES)
    ctx_error(L->c, pos, EXPRC_ERR_LIMIT, "a loop step reads more than %d "
              "values of the model", LOOP_MAX_HOLES);
  c->outer[c->n] = outer;
  c->hole[c->n] = loop_hole(L->g, &s);
  map_put(L->c, &c->byname, name, (void *)(uintptr_t)(++c->n));
  return loop_hole_node(L->g, c->hole[c->n - 1]);
}

typedef struct ScanCall {
  Ast *a;
  Binding *b;
  Stmt *d;
  int k, m, fold;
  int64_t T;
  uint32_t v[LOOP_MAX_HOLES]; /* the initial carries, then the sequences */
  uint32_t holes[LOOP_MAX_HOLES * 2];
} ScanCall;

/* f and the count of its arguments and results. */
static void scan_callee(Lower *L, ScanCall *sc, int n) {
  Ast *a = sc->a;
  const char *fn = sc->fold ? "fold" : "scan";
  for (int i = 0; i < a->nkid; i++)
    if (a->kid[i]->kind == A_KEYWORD)
      ctx_error(L->c, a->kid[i]->pos, EXPRC_ERR_SYNTAX, "%s takes its "
                "arguments by position", fn);
  Ast *f = a->nkid ? a->kid[0] : NULL;
  sc->b = f && f->kind == A_NAME ? lower_lookup(L, f->name) : NULL;
  if (!sc->b || sc->b->kind != B_DEF)
    ctx_error(L->c, f ? f->pos : a->pos, EXPRC_ERR_SYNTAX, "%s takes the "
              "name of a def first: %s(f, c1, .., x1, ..)", fn, fn);
  sc->d = sc->b->def;
  sc->k = sc->d->rets ? sc->d->nrets : 1;
  sc->m = sc->d->nparams - sc->k;
  if (sc->m < 1)
    ctx_error(L->c, f->pos, EXPRC_ERR_SHAPE, "'%.64s' returns %d value%s "
              "and takes %d parameter%s: a step takes one parameter per "
              "carry (per value it returns), then at least one sequence row",
              f->name, sc->k, sc->k == 1 ? "" : "s", sc->d->nparams,
              sc->d->nparams == 1 ? "" : "s");
  if (a->nkid - 1 != sc->d->nparams)
    ctx_error(L->c, a->pos, EXPRC_ERR_SHAPE, "%s: '%.64s' takes %d carr%s "
              "and %d sequence%s, so %s takes %d values after it, not %d", fn,
              f->name, sc->k, sc->k == 1 ? "y" : "ies", sc->m,
              sc->m == 1 ? "" : "s", fn, sc->d->nparams, a->nkid - 1);
  if (sc->d->nparams > LOOP_MAX_HOLES / 2)
    ctx_error(L->c, a->pos, EXPRC_ERR_LIMIT, "a loop step takes at most %d "
              "parameters", LOOP_MAX_HOLES / 2);
  if (n == 0 && sc->k != 1)
    ctx_error(L->c, a->pos, EXPRC_ERR_SHAPE, "%s of '%.64s' gives %d "
              "values; assign them to as many names (a, b = %s(...))", fn,
              f->name, sc->k, fn);
  if (n > 0 && n != sc->k)
    ctx_error(L->c, a->pos, EXPRC_ERR_SHAPE, "%s of '%.64s' gives %d "
              "value%s, not %d", fn, f->name, sc->k, sc->k == 1 ? "" : "s", n);
  if (sc->b->active)
    ctx_error(L->c, a->pos, EXPRC_ERR_NAME, "'%.64s' calls itself through "
              "%s; recursion is not allowed", f->name, fn);
}

/* Sequence x, whose length differs from the loop's T as dims decide: its
 * rows 0 .. T-1, as long as a run finds both lengths equal (the check
 * Module.lencheck asks for; a run where they differ fails, located at pos,
 * before any code runs). */
static uint32_t same_length(Lower *L, uint32_t x, int64_t T, Pos pos) {
  Module *m = L->m;
  vec_reserve(L->c, &m->lencheck, &m->caplencheck, m->nlencheck + 1,
              sizeof *m->lencheck);
  m->lencheck[m->nlencheck++] =
      (struct LenCheck){.a = T, .b = graph_at(L->g, x)->shape->d[0], .pos = pos};
  Pos was = L->g->pos;
  L->g->pos = pos;
  uint32_t idx = graph_iota(L->g, &(Shape){.rank = 1, .d = {T}}, 0);
  uint32_t r = graph_indexed(L->g, OP_TAKE, x, idx, 0, NULL);
  L->g->pos = was;
  return r;
}

/* The initial carries and the sequences, and a hole for each. */
static void scan_operands(Lower *L, ScanCall *sc, Scope *s) {
  Ast *a = sc->a;
  for (int i = 0; i < sc->k + sc->m; i++) {
    Ast *x = a->kid[1 + i];
    sc->v[i] = lower_expr(L, x, s);
    Shape sh = *graph_at(L->g, sc->v[i])->shape;
    const char *pname = sc->d->params[i];
    if (i >= sc->k) {
      char s1[96], s2[96];
      if (sh.rank == 0)
        ctx_error(L->c, x->pos, EXPRC_ERR_SHAPE, "sequence '%.64s' is a "
                  "scalar; a sequence is scanned along its axis 0", pname);
      if (i == sc->k)
        sc->T = sh.d[0];
      if (DIM_IS_SYM(sh.d[0]) && DIM_INDEX(sh.d[0]) < 64) /* no step */
        L->m->may_be_empty |= (uint64_t)1 << DIM_INDEX(sh.d[0]);
      if (sh.d[0] != sc->T && !DIM_IS_SYM(sh.d[0]) && !DIM_IS_SYM(sc->T))
        ctx_error(L->c, x->pos, EXPRC_ERR_SHAPE, "sequences of different "
                  "lengths: %s and %s along axis 0",
                  shape_str(graph_at(L->g, sc->v[sc->k])->shape,
                            L->c->dimnames, s1, sizeof s1),
                  shape_str(&sh, L->c->dimnames, s2, sizeof s2));
      if (sh.d[0] != sc->T)
        sc->v[i] = same_length(L, sc->v[i], sc->T, x->pos);
      sh.rank--;
      memmove(sh.d, sh.d + 1, (size_t)sh.rank * sizeof sh.d[0]);
      sh.d[sh.rank] = 0;
    }
    constant_shape(L, x->pos, &sh, i < sc->k ? "carry" : "the row of",
                   pname);
    sc->holes[i] = loop_hole(L->g, &sh);
  }
}

/* f's body, once, with its parameters bound to the holes; its results must
 * have its carries' shapes. */
static void scan_body(Lower *L, ScanCall *sc, Scope *s, Capture *cap,
                      uint32_t *res) {
  Stmt *d = sc->d;
  Scope in = {.up = s, .def = d, .params = sc->b->params};
  in.arg = ctx_alloc(L->c, (size_t)(d->nparams + 1) * sizeof *in.arg);
  for (int i = 0; i < d->nparams; i++)
    in.arg[i] = loop_hole_node(L->g, sc->holes[i]);
  cap->up = L->cap;
  cap->call = sc->a;
  L->cap = cap;
  sc->b->active = 1;
  L->depth++;
  if (d->rets)
    lower_block_body(L, d, &in, res);
  else
    res[0] = lower_expr(L, d->expr, &in);
  L->depth--;
  sc->b->active = 0;
  L->cap = cap->up;
  for (int j = 0; j < sc->k; j++) {
    Shape want = L->g->hole[sc->holes[j]], got = *graph_at(L->g, res[j])->shape;
    char s1[96], s2[96];
    if (!shape_eq(&want, &got))
      ctx_error(L->c, sc->a->pos, EXPRC_ERR_SHAPE, "%s: result %d of "
                "'%.64s' has shape %s, but its carry '%.64s' has shape %s",
                sc->fold ? "fold" : "scan", j + 1, d->name,
                shape_str(&got, L->c->dimnames, s1, sizeof s1), d->params[j],
                shape_str(&want, L->c->dimnames, s2, sizeof s2));
  }
}

static void scan_lower(Lower *L, Ast *a, Scope *s, uint32_t *out, int n,
                       int fold) {
  ScanCall sc = {.a = a, .fold = fold};
  Capture cap = {0};
  uint32_t res[LOOP_MAX_HOLES];
  scan_callee(L, &sc, n);
  scan_operands(L, &sc, s);
  scan_body(L, &sc, s, &cap, res);
  for (int i = 0; i < cap.n; i++)
    sc.holes[sc.k + sc.m + i] = cap.hole[i];
  Graph *g = L->g;
  g->pos = a->pos;
  uint32_t id = loop_new(g, sc.k, sc.m, cap.n, sc.holes);
  memcpy(g->loop[id].res, res, (size_t)sc.k * sizeof *res);
  g->loop[id].fold = fold; /* a fold keeps no carries but the last */
  uint32_t init = loop_pack(g, sc.v, sc.k, 0);
  uint32_t y = loop_node(g, id, init, loop_pack(g, sc.v + sc.k, sc.m, 1),
                         loop_pack(g, cap.outer, cap.n, 0));
  for (int j = 0; j < sc.k; j++) {
    Shape cs = g->hole[sc.holes[j]];
    out[j] = loop_unpack(g, y, g->loop[id].off[j], &cs, !fold);
  }
}

int lower_call_results(Lower *L, Ast *a, Scope *s, uint32_t *out, int n) {
  int fold = strcmp(a->name, "fold") == 0;
  if (!fold && strcmp(a->name, "scan") != 0)
    return 0;
  if (lower_lookup(L, a->name)) /* a def or value of that name wins */
    return 0;
  scan_lower(L, a, s, out, n, fold);
  return 1;
}

/* scan or fold used as a value: one carry. */
uint32_t lower_scan_call(Lower *L, const Builtin *b, const Args *x,
                         Scope *s) {
  uint32_t out;
  (void)b;
  scan_lower(L, x->call, s, &out, 0, x->call->name[0] == 'f');
  return out;
}

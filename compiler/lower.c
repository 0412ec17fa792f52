/* lower.c: the third stage: the program's statements to one graph.
 *
 * Names are resolved here: dims, inputs and params become leaves, consts and
 * values name existing nodes, defs are inlined at each call (their
 * parameters bound in a local scope), and built-in functions become ops
 * (lower_call.c; lower_impl.h has what the two files share). A
 * `grad(e, v)` in an expression runs the gradient pass right away, so its
 * result is an ordinary node that can itself be differentiated. Shape errors
 * are reported at the operator that causes them, because the graph
 * constructor reports at g->pos, which this stage sets before each node.
 *
 * Lowering always folds constants (a fold-only rewrite hook), so that sizes,
 * axes and initializer arguments can be any constant expression. Unless
 * simplification is off, it applies all the simplifier's rules as it builds,
 * so that gradients are taken of the stable forms (log_softmax, not the log
 * of a softmax that may underflow to 0).
 */
#include "lower_impl.h"

#include <math.h>
#include <string.h>

#include "grad.h"
#include "simplify.h"
#include "shape.h"


/* Folding during lowering: an elementwise op whose inputs are all splat
 * constants becomes a constant, computed by the same expression generated code
 * would use (op_eval). */
static uint32_t fold(Graph *g, const Node *p) {
  if (!(op_info[p->op].flags & F_EW))
    return NONE;
  double v[3] = {0, 0, 0};
  for (int k = 0; k < p->nin; k++)
    if (!graph_is_const(g, p->in[k], &v[k]))
      return NONE;
  return graph_const(g, op_eval((Op)p->op, v[0], v[1], v[2]), p->shape);
}

uint32_t lower_reach(Graph *g, const uint32_t *roots, uint32_t n) {
  uint32_t top = 0, count = 0;
  for (uint32_t i = 0; i < n; i++)
    if (roots[i] != NONE && roots[i] >= top)
      top = roots[i] + 1;
  uint8_t *need = ctx_realloc(g->c, NULL, (size_t)top + 1);
  memset(need, 0, (size_t)top + 1);
  for (uint32_t i = 0; i < n; i++)
    if (roots[i] != NONE)
      need[roots[i]] = 1;
  for (uint32_t i = top; i-- > 0;) { /* a node's inputs come before it */
    if (!need[i])
      continue;
    count++;
    for (int k = 0; k < g->node[i].nin; k++)
      need[g->node[i].in[k]] = 1;
  }
  ctx_release(g->c, need);
  return count;
}

/* A gradient pass over what root needs: its cost, counted before it runs
 * (the same graph differentiated again and again makes no new nodes). */
void lower_grad_work(Lower *L, Pos p, uint32_t root) {
  ctx_work(L->c, p, (int64_t)WORK_PER_NODE * lower_reach(L->g, &root, 1));
}

Binding *lower_lookup(Lower *L, const char *name) {
  return map_get(&L->names, name);
}

/* ---- "did you mean": the closest known name by edit distance ---- */

static int edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64)
    return 99;
  int row[65];
  for (size_t j = 0; j <= lb; j++)
    row[j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    int diag = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= lb; j++) {
      int up = row[j];
      int best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

static const char *const extra_builtins[] = {
    "sum", "mean", "max", "min", "logsumexp", "softmax", "log_softmax",
    "grad", "hessian", "dot", "reshape", NULL};

static const char *closest(Lower *L, const char *name, Scope *s) {
  const char *best = NULL;
  int bd = (int)strlen(name) / 3 + 1;
  if (bd > 22)
    return NULL; /* edit_distance gives up on such names: 99 is no match */
  for (uint32_t i = 0; i < L->names.cap; i++) {
    const char *k = L->names.keys[i];
    int d;
    if (k && (d = edit_distance(name, k)) <= bd &&
        (d < bd || !best || strcmp(k, best) < 0))
      best = k, bd = d; /* ties: the first in C order, not in table order,
                           which changes with the maps' key */
  }
  for (; s; s = s->up)
    for (int i = 0; i < s->def->nparams; i++) {
      int d = edit_distance(name, s->def->params[i]);
      if (d < bd)
        best = s->def->params[i], bd = d;
    }
  for (int op = 0; op < OP_COUNT; op++) {
    int d;
    if ((op_info[op].flags & F_FUNC) &&
        (d = edit_distance(name, op_info[op].dsl)) < bd)
      best = op_info[op].dsl, bd = d;
  }
  for (int i = 0; extra_builtins[i]; i++) {
    int d = edit_distance(name, extra_builtins[i]);
    if (d < bd)
      best = extra_builtins[i], bd = d;
  }
  return best;
}

NORETURN void lower_unknown(Lower *L, Pos pos, const char *what,
                             const char *name, Scope *s) {
  const char *near = closest(L, name, s);
  if (near)
    ctx_error(L->c, pos, EXPRC_ERR_NAME,
              "unknown %s '%.64s'; did you mean '%.64s'?", what, name, near);
  ctx_error(L->c, pos, EXPRC_ERR_NAME, "unknown %s '%.64s'", what, name);
}

/* ---- constants ---- */

/* The value of node n if it is computed from splat constants alone. Most
 * such nodes were folded as they were built, but exp and sigmoid of a
 * constant wait for the simplify pass (simplify.h), so they are evaluated
 * here, by the same op_eval that folding uses. */
static int const_eval(Graph *g, uint32_t n, double *v, int depth) {
  Node *nd = graph_at(g, n);
  double x[3] = {0, 0, 0};
  if (graph_is_const(g, n, v))
    return 1;
  if (!(op_info[nd->op].flags & F_EW) || depth > 64)
    return 0;
  for (int k = 0; k < nd->nin; k++)
    if (!const_eval(g, nd->in[k], &x[k], depth + 1))
      return 0;
  *v = op_eval((Op)nd->op, x[0], x[1], x[2]);
  return 1;
}

/* A scalar constant expression: numbers, consts and arithmetic (in def
 * scope s, or none). */
static double const_value_in(Lower *L, Ast *a, Scope *s, const char *what) {
  uint32_t n = lower_expr(L, a, s);
  double v;
  Node *nd = graph_at(L->g, n);
  if (!const_eval(L->g, n, &v, 0) || nd->shape->rank != 0)
    ctx_error(L->c, a->pos, EXPRC_ERR_SYNTAX, "%s must be a constant number",
              what);
  return v;
}

static double const_value(Lower *L, Ast *a, const char *what) {
  return const_value_in(L, a, NULL, what);
}

int64_t lower_const_int(Lower *L, Ast *a, const char *what, int64_t lo,
                         int64_t hi) {
  double v = const_value(L, a, what);
  if (v != floor(v) || v < (double)lo || v > (double)hi)
    ctx_error(L->c, a->pos, EXPRC_ERR_SHAPE,
              "%s must be a whole number from %lld to %lld, not %.15g", what,
              (long long)lo, (long long)hi, v);
  return (int64_t)v;
}

/* ---- tensor literals: [1, 2], [[1, 2], [3, 4]] ---- */

typedef struct Lit {
  double *v;
  uint32_t n, cap;
  Shape shape;
  int set;
} Lit;

static void literal_fill(Lower *L, Ast *a, Scope *s, Lit *t, int level) {
  if (a->kind != A_LIST) {
    if (level != t->shape.rank && t->set)
      ctx_error(L->c, a->pos, EXPRC_ERR_SHAPE, "tensor literal is ragged");
    double v = const_value_in(L, a, s, "an element of a tensor literal");
    vec_reserve(L->c, &t->v, &t->cap, t->n + 1, sizeof *t->v);
    t->v[t->n++] = v;
    if (!t->set)
      t->shape.rank = level, t->set = 1;
    return;
  }
  if (level >= L->c->lim.max_rank)
    ctx_error(L->c, a->pos, EXPRC_ERR_LIMIT,
              "tensor literal has more than %d dimensions", L->c->lim.max_rank);
  if (a->nkid == 0)
    ctx_error(L->c, a->pos, EXPRC_ERR_SHAPE, "empty tensor literal");
  if (t->set && level >= t->shape.rank)
    ctx_error(L->c, a->pos, EXPRC_ERR_SHAPE, "tensor literal is ragged");
  if (t->shape.d[level] == 0)
    t->shape.d[level] = a->nkid;
  else if (t->shape.d[level] != a->nkid)
    ctx_error(L->c, a->pos, EXPRC_ERR_SHAPE,
              "tensor literal is ragged: %d element%s where %lld were expected",
              a->nkid, a->nkid == 1 ? "" : "s", (long long)t->shape.d[level]);
  for (int i = 0; i < a->nkid; i++)
    literal_fill(L, a->kid[i], s, t, level + 1);
}

/* Whether every element of list a is a constant number; if not, the list
 * stacks its elements (lower_index.c). */
static int constant_leaves(Lower *L, Ast *a, Scope *s) {
  if (a->kind == A_LIST) {
    for (int i = 0; i < a->nkid; i++)
      if (!constant_leaves(L, a->kid[i], s))
        return 0;
    return 1;
  }
  double v;
  uint32_t n = lower_expr(L, a, s);
  return graph_at(L->g, n)->shape->rank == 0 && const_eval(L->g, n, &v, 0);
}

static uint32_t literal(Lower *L, Ast *a, Scope *s) {
  Lit t = {0};
  if (!constant_leaves(L, a, s))
    return lower_stack_list(L, a, s);
  literal_fill(L, a, s, &t, 0);
  L->g->pos = a->pos;
  return graph_tensor(L->g, t.v, &t.shape);
}

/* ---- names ---- */

static uint32_t name_ref(Lower *L, Ast *a, Scope *s) {
  uintptr_t param = s ? (uintptr_t)map_get(s->params, a->name) : 0;
  if (param)
    return s->arg[param - 1];
  uintptr_t local = s && s->locals ? (uintptr_t)map_get(s->locals, a->name) : 0;
  if (local)
    return (uint32_t)(local - 1);
  Binding *b = lower_lookup(L, a->name);
  if (!b)
    lower_unknown(L, a->pos, "name", a->name, s);
  switch (b->kind) {
  case B_VAR:
  case B_NODE:
    return lower_capture(L, a->name, a->pos, b->node);
  case B_DIM:
    L->g->pos = a->pos;
    return graph_leaf(L->g, OP_DIMVAL, b->index, &(Shape){0});
  case B_DEF:
    break;
  }
  ctx_error(L->c, a->pos, EXPRC_ERR_NAME,
            "'%.64s' is a function; call it with arguments", a->name);
}

/* ---- operators ---- */

static Op binop(const char *s) {
  if (strcmp(s, "^") == 0)
    return OP_POW;
  for (int op = 0; op < OP_COUNT; op++)
    if (op_info[op].arity == 2 && !(op_info[op].flags & F_FUNC) &&
        strcmp(op_info[op].dsl, s) == 0)
      return (Op)op;
  return OP_COUNT;
}

static uint32_t apply2(Lower *L, Ast *a, uint32_t x, uint32_t y) {
  L->g->pos = a->pos;
  return graph_op2(L->g, binop(a->op), x, y);
}

/* A chain like a + b - c * d is a left-leaning tree as deep as it is long,
 * so it is walked with a loop down its left spine: only right operands
 * recurse, and their depth is bounded by the parser. */
static uint32_t binary_chain(Lower *L, Ast *a, Scope *s) {
  Ast **spine = NULL;
  uint32_t n = 0, cap = 0;
  for (Ast *x = a; x->kind == A_BINARY && strcmp(x->op, "^") != 0;
       x = x->kid[0]) {
    vec_reserve(L->c, &spine, &cap, n + 1, sizeof *spine);
    spine[n++] = x;
  }
  uint32_t acc = lower_expr(L, spine[n - 1]->kid[0], s);
  for (uint32_t i = n; i-- > 0;)
    acc = apply2(L, spine[i], acc, lower_expr(L, spine[i]->kid[1], s));
  ctx_release(L->c, spine);
  return acc;
}

uint32_t lower_expr(Lower *L, Ast *a, Scope *s) {
  L->c->at = a->pos; /* where a compile too big for memory stops */
  if (++L->work > L->c->lim.max_nodes)
    ctx_error(L->c, a->pos, EXPRC_ERR_LIMIT,
              "model expands to more than %lld expressions once its def "
              "calls are inlined (the limit)", (long long)L->c->lim.max_nodes);
  switch (a->kind) {
  case A_NUM:
    L->g->pos = a->pos;
    return graph_scalar(L->g, a->num);
  case A_NAME:
    return name_ref(L, a, s);
  case A_LIST:
    return literal(L, a, s);
  case A_UNARY: {
    uint32_t x = lower_expr(L, a->kid[0], s);
    L->g->pos = a->pos;
    return a->op[0] == '-' ? graph_op1(L->g, OP_NEG, x) : x;
  }
  case A_BINARY:
    if (strcmp(a->op, "^") == 0) {
      uint32_t x = lower_expr(L, a->kid[0], s);
      return apply2(L, a, x, lower_expr(L, a->kid[1], s));
    }
    return binary_chain(L, a, s);
  case A_CALL:
    return lower_call(L, a, s);
  case A_INDEX:
    return lower_index(L, a, s);
  case A_SLICE:
    ctx_error(L->c, a->pos, EXPRC_ERR_SYNTAX, "a slice (':') is only allowed "
              "inside an index");
  case A_STRING: /* only einsum reads one, as its subscripts */
    ctx_error(L->c, a->pos, EXPRC_ERR_SYNTAX, "a string is no value; only "
              "einsum takes one, as its first argument");
  case A_KEYWORD: /* lower_call takes them out of the calls that have them */
    break;
  }
  ctx_error(L->c, a->pos, EXPRC_ERR_SYNTAX, "'%.64s=' names an argument, "
            "only inside a call", a->name);
}

/* ---- statements ---- */

static void define(Lower *L, const char *name, Pos pos, Binding b) {
  Binding *old = lower_lookup(L, name);
  if (old)
    ctx_error(L->c, pos, EXPRC_ERR_NAME,
              "'%.64s' is already defined (at line %u)", name, old->pos.line);
  Binding *nb = ctx_alloc(L->c, sizeof *nb);
  *nb = b;
  nb->pos = pos;
  map_put(L->c, &L->names, name, nb);
}

static void add_named(Lower *L, const char *kind, const char *name,
                      uint32_t node) {
  Module *m = L->m;
  vec_reserve(L->c, &m->named, &m->capnamed, m->nnamed + 1, sizeof *m->named);
  Named *nm = &m->named[m->nnamed++];
  *nm = (Named){kind, name, node != NONE, {0, {0}}};
  if (node != NONE)
    nm->shape = *graph_at(L->g, node)->shape;
}

static Shape declared_shape(Lower *L, Stmt *st) {
  Shape sh = {.rank = st->ndims};
  if (st->ndims > L->c->lim.max_rank)
    ctx_error(L->c, st->dims[L->c->lim.max_rank]->pos, EXPRC_ERR_LIMIT,
              "rank %d is above the limit %d", st->ndims, L->c->lim.max_rank);
  for (int i = 0; i < st->ndims; i++) {
    Ast *d = st->dims[i];
    Binding *b = d->kind == A_NAME ? lower_lookup(L, d->name) : NULL;
    if (b && b->kind == B_DIM)
      sh.d[i] = DIM_SYM(b->index);
    else
      sh.d[i] = lower_const_int(L, d, "a size", 1, L->c->lim.max_elements);
  }
  L->g->pos = st->namepos;
  return sh;
}

static void init_args(Lower *L, Stmt *st, Var *v) {
  static const struct { const char *name; InitKind kind; int nargs; } inits[] = {
      {"zeros", INIT_ZEROS, 0}, {"fill", INIT_FILL, 1},
      {"normal", INIT_NORMAL, 2}, {"uniform", INIT_UNIFORM, 2}};
  if (!st->init)
    return;
  for (size_t i = 0; i < sizeof inits / sizeof inits[0]; i++) {
    if (strcmp(st->init, inits[i].name) != 0)
      continue;
    if (st->ninitargs != inits[i].nargs)
      ctx_error(L->c, st->initpos, EXPRC_ERR_SYNTAX,
                "'%s' takes %d argument%s, not %d", inits[i].name,
                inits[i].nargs, inits[i].nargs == 1 ? "" : "s", st->ninitargs);
    v->init = inits[i].kind;
    for (int k = 0; k < st->ninitargs; k++)
      v->arg[k] = const_value(L, st->initargs[k], "an initializer argument");
    if (v->init == INIT_NORMAL && !(v->arg[1] >= 0))
      ctx_error(L->c, st->initargs[1]->pos, EXPRC_ERR_SYNTAX,
                "normal's standard deviation must not be negative");
    if (v->init == INIT_UNIFORM && !(v->arg[0] <= v->arg[1]))
      ctx_error(L->c, st->initargs[0]->pos, EXPRC_ERR_SYNTAX,
                "uniform(lo, hi) needs lo <= hi");
    return;
  }
  ctx_error(L->c, st->initpos, EXPRC_ERR_NAME,
            "unknown initializer '%.64s' (zeros, fill, normal, uniform)",
            st->init);
}

static void declare_var(Lower *L, Stmt *st) {
  Module *m = L->m;
  Var v = {.name = st->name, .pos = st->namepos, .is_int = st->is_int};
  v.kind = st->kind == S_INPUT ? V_INPUT : V_PARAM;
  v.shape = declared_shape(L, st);
  if (v.kind == V_PARAM) {
    int64_t n;
    if (!shape_numel_const(&v.shape, &n))
      ctx_error(L->c, st->namepos, EXPRC_ERR_SHAPE,
                "param '%.64s' must have a constant shape (no dims)", st->name);
    init_args(L, st, &v);
  }
  L->g->pos = st->namepos; /* init_args moved it to an argument */
  v.node = graph_leaf(L->g, v.kind == V_INPUT ? OP_INPUT : OP_PARAM,
                      (int64_t)m->nvar, &v.shape); /* checks max_elements */
  int64_t numel; /* report the memory limit here, where it can be located */
  if (shape_numel_const(&v.shape, &numel) &&
      (L->var_elems += numel) > L->c->lim.max_memory / 8)
    ctx_error(L->c, st->namepos, EXPRC_ERR_LIMIT,
              "inputs and params need more than %lld bytes (the limit)",
              (long long)L->c->lim.max_memory);
  define(L, st->name, st->namepos,
         (Binding){.kind = B_VAR, .index = (int)m->nvar, .node = v.node});
  vec_reserve(L->c, &m->var, &m->capvar, m->nvar + 1, sizeof *m->var);
  m->var[m->nvar++] = v;
  add_named(L, v.kind == V_INPUT ? "input" : "param", v.name, v.node);
}

static void declare_dim(Lower *L, Stmt *st) {
  Module *m = L->m;
  if (m->ndim >= 64)
    ctx_error(L->c, st->namepos, EXPRC_ERR_LIMIT, "more than 64 dims");
  define(L, st->name, st->namepos, (Binding){.kind = B_DIM, .index = (int)m->ndim});
  vec_reserve(L->c, &m->dim, &m->capdim, m->ndim + 1, sizeof *m->dim);
  m->dim[m->ndim++] = st->name;
  size_name_dim(L->c, (int)m->ndim - 1, st->name);
  add_named(L, "dim", st->name, NONE);
}

static Entry *new_entry(Lower *L, int is_grad, const char *loss, Pos pos) {
  Module *m = L->m;
  vec_reserve(L->c, &m->entry, &m->capentry, m->nentry + 1, sizeof *m->entry);
  Entry *e = &m->entry[m->nentry++];
  memset(e, 0, sizeof *e);
  e->is_grad = is_grad;
  e->loss = loss;
  e->pos = pos;
  return e;
}

static void add_result(Lower *L, Entry *e, const char *name, uint32_t node) {
  vec_reserve(L->c, &e->res, &e->cap, e->nres + 1, sizeof *e->res);
  e->res[e->nres++] = (Result){name, node, -1, 0};
}

/* An unnamed output is named by its source text, as a reader would write
 * it on one line: comments dropped, runs of white space made one space. */
static const char *source_text(Lower *L, const Ast *e) {
  const char *s = L->c->src + e->beg, *end = L->c->src + e->end;
  char *out = ctx_alloc(L->c, (size_t)(end - s) + 1), *o = out;
  int space = 0;
  for (; s < end; s++) {
    if (*s == '#')
      while (s + 1 < end && s[1] != '\n')
        s++;
    else if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
      space = o > out;
    else {
      if (space)
        *o++ = ' ';
      *o++ = *s;
      space = 0;
    }
  }
  *o = 0;
  return out;
}

static void output(Lower *L, Stmt *st) {
  Entry *e = &L->m->entry[0];
  const char *name = st->name;
  if (!name)
    name = source_text(L, st->expr);
  if (map_get(&L->outputs, name))
    ctx_error(L->c, st->expr->pos, EXPRC_ERR_NAME,
              "output '%.64s' is listed twice", name);
  map_put(L->c, &L->outputs, name, (void *)name);
  uint32_t n = lower_expr(L, st->expr, NULL);
  if (st->name) { /* output y = e also names e: y must be new */
    define(L, st->name, st->namepos, (Binding){.kind = B_NODE, .node = n});
    add_named(L, "value", st->name, n);
  }
  add_result(L, e, name, n);
  e->res[e->nres - 1].is_int = lower_is_int(L, n);
}

static void grad_stmt(Lower *L, Stmt *st) {
  Binding *b = lower_lookup(L, st->name);
  if (!b || (b->kind != B_NODE && b->kind != B_VAR))
    lower_unknown(L, st->namepos, "value", st->name, NULL);
  Shape ls = *graph_at(L->g, b->node)->shape;
  if (ls.rank != 0) {
    char sb[96];
    ctx_error(L->c, st->namepos, EXPRC_ERR_SHAPE,
              "'%.64s' has shape %s; grad needs a scalar", st->name,
              shape_str(&ls, L->c->dimnames, sb, sizeof sb));
  }
  if (map_get(&L->losses, st->name))
    ctx_error(L->c, st->namepos, EXPRC_ERR_NAME,
              "there is already a 'grad %.64s' statement", st->name);
  map_put(L->c, &L->losses, st->name, (void *)st->name);
  Map seen = {0}; /* of the wrt list */
  Entry *e = new_entry(L, 1, st->name, st->pos);
  e->loss_node = b->node;
  e->wrt = ctx_alloc(L->c, (size_t)st->nwrt * sizeof *e->wrt);
  add_result(L, e, st->name, b->node);
  for (int i = 0; i < st->nwrt; i++) {
    Binding *w = lower_lookup(L, st->wrt[i]);
    if (!w || w->kind != B_VAR)
      ctx_error(L->c, st->wrtpos[i], EXPRC_ERR_NAME,
                "'%.64s' is not an input or param", st->wrt[i]);
    if (map_get(&seen, st->wrt[i]))
      ctx_error(L->c, st->wrtpos[i], EXPRC_ERR_NAME,
                "'%.64s' is listed twice", st->wrt[i]);
    map_put(L->c, &seen, st->wrt[i], (void *)st->wrt[i]);
    e->wrt[i] = w->index;
    add_result(L, e, st->wrt[i], NONE); /* filled in by the gradient pass */
  }
}

/* A def's parameters go into a map, checked for repeats as they go in and
 * looked up by each use in the body: a def may have very many. */
static void declare_def(Lower *L, Stmt *st) {
  Map *params = ctx_alloc(L->c, sizeof *params);
  for (int i = 0; i < st->nparams; i++) {
    if (map_get(params, st->params[i]))
      ctx_error(L->c, st->parampos[i], EXPRC_ERR_NAME,
                "parameter '%.64s' is listed twice", st->params[i]);
    map_put(L->c, params, st->params[i], (void *)(uintptr_t)(i + 1));
  }
  lower_block_check(L, st, params);
  define(L, st->name, st->namepos,
         (Binding){.kind = B_DEF, .def = st, .params = params});
  add_named(L, "def", st->name, NONE);
}

/* a, b = f(...): each name is a value of the model. */
static void destructure(Lower *L, Stmt *st) {
  uint32_t *v = ctx_alloc(L->c, (size_t)st->nnames * sizeof *v);
  lower_results(L, st->expr, NULL, v, st->nnames, st->namespos[0]);
  for (int k = 0; k < st->nnames; k++) {
    define(L, st->names[k], st->namespos[k],
           (Binding){.kind = B_NODE, .node = v[k]});
    add_named(L, "value", st->names[k], v[k]);
  }
}

static void statement(Lower *L, Stmt *st) {
  switch (st->kind) {
  case S_DIM:
    declare_dim(L, st);
    break;
  case S_INPUT:
  case S_PARAM:
    declare_var(L, st);
    break;
  case S_CONST:
  case S_ASSIGN: {
    if (st->nnames) {
      destructure(L, st);
      break;
    }
    uint32_t n = lower_expr(L, st->expr, NULL);
    double v;
    if (st->kind == S_CONST && !const_eval(L->g, n, &v, 0) &&
        graph_at(L->g, n)->op != OP_CONST)
      ctx_error(L->c, st->expr->pos, EXPRC_ERR_SYNTAX,
                "const '%.64s' must be a constant expression", st->name);
    define(L, st->name, st->namepos, (Binding){.kind = B_NODE, .node = n});
    add_named(L, st->kind == S_CONST ? "const" : "value", st->name, n);
    break;
  }
  case S_DEF:
    declare_def(L, st);
    break;
  case S_OUTPUT:
    output(L, st);
    break;
  case S_GRAD:
    grad_stmt(L, st);
    break;
  }
}

Module *lower_program(Ctx *c, Program *p, int simplify) {
  Lower L = {.c = c};
  L.m = ctx_alloc(c, sizeof *L.m);
  L.g = L.m->g = graph_new(c);
  L.g->rewrite = simplify ? simplify_rule : fold;
  new_entry(&L, 0, NULL, (Pos){0, 0, 0});
  for (uint32_t i = 0; i < p->n; i++)
    statement(&L, &p->stmt[i]);
  L.g->rewrite = NULL;
  return L.m;
}

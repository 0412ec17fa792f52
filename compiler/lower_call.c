/* lower_call.c: lowering of calls: the built-in functions (reductions,
 * normalisers, reshape, grad, hessian, and the elementwise functions of
 * ops.def) and the inlining of defs, whose parameters are bound in a local
 * scope at each call.
 *
 * Every call's arguments are first matched to the callee's parameters by
 * lower_args, by position and then by keyword (`sum(x, axis=1)`), so each
 * built-in reads its arguments by parameter and never sees the spelling.
 * Built-ins are rows of one table (builtins[] below); families of them share
 * a handler, told apart by the row's op and variant.
 */
#include "lower_impl.h"

#include <string.h>

#include "grad.h"
#include "shape.h"

/* ---- arguments ---- */

static int param_optional(const char *p) { return p[strlen(p) - 1] == '?'; }

static int param_is(const char *p, const char *name) {
  size_t n = strlen(p) - (size_t)param_optional(p);
  return strlen(name) == n && strncmp(p, name, n) == 0;
}

static NORETURN void count_error(Lower *L, Ast *a, int lo, int hi, int n) {
  if (lo == hi)
    ctx_error(L->c, a->pos, EXPRC_ERR_SYNTAX,
              "'%.64s' takes %d argument%s, not %d", a->name, lo,
              lo == 1 ? "" : "s", n);
  if (hi < 0)
    ctx_error(L->c, a->pos, EXPRC_ERR_SYNTAX,
              "'%.64s' takes at least %d arguments, not %d", a->name, lo, n);
  ctx_error(L->c, a->pos, EXPRC_ERR_SYNTAX,
            "'%.64s' takes %d to %d arguments, not %d", a->name, lo, hi, n);
}

/* The parameter that keyword k names (a located error if none does). */
static int keyword_slot(Lower *L, Ast *a, Ast *k, const char *const *param,
                        int nparam) {
  for (int i = 0; i < nparam; i++)
    if (strcmp(param[i], "...") && param_is(param[i], k->name))
      return i;
  ctx_error(L->c, k->pos, EXPRC_ERR_SYNTAX,
            "'%.64s' has no argument named '%.64s'", a->name, k->name);
}

void lower_args(Lower *L, Ast *a, const char *const *param, int nparam,
                Args *x) {
  *x = (Args){.call = a};
  while (nparam > 0 && !param[nparam - 1])
    nparam--;
  int variadic = nparam > 0 && strcmp(param[nparam - 1], "...") == 0;
  int fixed = nparam - variadic, lo = 0, npos = 0;
  while (lo < fixed && !param_optional(param[lo]))
    lo++;
  for (int i = 0; i < a->nkid && a->kid[i]->kind != A_KEYWORD; i++)
    npos++;
  if (npos > fixed && !variadic)
    count_error(L, a, lo, fixed, a->nkid);
  for (int i = 0; i < npos && i < fixed; i++)
    x->v[i] = a->kid[i];
  if (npos > fixed) {
    x->rest = a->kid + fixed;
    x->nrest = npos - fixed;
  }
  for (int i = npos; i < a->nkid; i++) {
    int k = keyword_slot(L, a, a->kid[i], param, fixed);
    if (x->v[k])
      ctx_error(L->c, a->kid[i]->pos, EXPRC_ERR_SYNTAX,
                "'%.64s' is given twice", a->kid[i]->name);
    x->v[k] = a->kid[i]->kid[0];
  }
  for (int i = 0; i < fixed; i++)
    if (!x->v[i] && !param_optional(param[i])) {
      if (a->nkid == npos) /* positional only: say it as a count */
        count_error(L, a, lo, variadic ? -1 : fixed, a->nkid);
      ctx_error(L->c, a->pos, EXPRC_ERR_SYNTAX,
                "'%.64s' needs its argument '%.64s'", a->name, param[i]);
    }
}

int lower_axis(Lower *L, Ast *a, int rank) {
  if (rank == 0)
    ctx_error(L->c, a->pos, EXPRC_ERR_SHAPE, "a scalar has no axis");
  int64_t ax = lower_const_int(L, a, "axis", -rank, rank - 1);
  return (int)(ax < 0 ? ax + rank : ax);
}

int64_t lower_opt_int(Lower *L, Ast *a, int64_t dflt, const char *what,
                      int64_t lo, int64_t hi) {
  return a ? lower_const_int(L, a, what, lo, hi) : dflt;
}

/* ---- built-in functions ---- */

/* The number of elements reduced over by mask, as a node: constant sizes
 * multiply into one constant, symbolic dims are DIMVAL leaves. */
static uint32_t count_node(Lower *L, const Shape *s, unsigned mask) {
  double k = 1;
  uint32_t n = NONE;
  for (int i = 0; i < s->rank; i++) {
    if (!(mask & (1u << i)))
      continue;
    if (!DIM_IS_SYM(s->d[i])) {
      k *= (double)s->d[i];
      continue;
    }
    uint32_t d = graph_leaf(L->g, OP_DIMVAL, DIM_INDEX(s->d[i]), &(Shape){0});
    n = n == NONE ? d : graph_op2(L->g, OP_MUL, n, d);
  }
  uint32_t kc = graph_scalar(L->g, k);
  return n == NONE ? kc : graph_op2(L->g, OP_MUL, n, kc);
}

/* sum, mean, max, min, logsumexp: f(x) over all axes, f(x, axis) over one;
 * variant 1 is the mean */
static uint32_t reduction(Lower *L, const Builtin *b, const Args *a,
                          Scope *s) {
  uint32_t x = lower_expr(L, a->v[0], s);
  Shape xs = *graph_at(L->g, x)->shape;
  unsigned mask = lower_axes(L, a->v[1], xs.rank); /* a number or a list */
  L->g->pos = a->call->pos;
  uint32_t r = lower_reduce_op(L, (Op)b->op, x, mask);
  if (b->variant)
    r = graph_op2(L->g, OP_DIV, r, count_node(L, &xs, mask));
  return lower_keepdims(L, a->v[2], r, &xs, mask);
}

/* softmax(x), log_softmax(x): along the last axis, or the one given. Both
 * are built on logsumexp, so neither overflows:
 * log_softmax(x) = x - logsumexp(x), softmax(x) = exp(log_softmax(x)). */
static uint32_t normaliser(Lower *L, const Builtin *b, const Args *a,
                           Scope *s) {
  uint32_t x = lower_expr(L, a->v[0], s);
  Shape xs = *graph_at(L->g, x)->shape;
  unsigned mask = xs.rank ? 1u << (xs.rank - 1) : 0;
  if (a->v[1])
    mask = 1u << lower_axis(L, a->v[1], xs.rank);
  L->g->pos = a->call->pos;
  uint32_t lse = graph_reduce(L->g, OP_LSE, x, mask);
  uint32_t r = graph_op2(L->g, OP_SUB, x, graph_spread(L->g, lse, &xs, mask));
  return b->variant ? r : graph_op1(L->g, OP_EXP, r);
}

/* reshape(x, [a, b, ...]): sizes are constants, dims or products of them
 * (lower_size); one may be -1, inferred from the element count, exactly
 * (a product of dims times a constant divides as such: [N*T*4] by [N] is
 * T*4). */
static uint32_t reshape(Lower *L, const Builtin *b, const Args *x_,
                        Scope *s) {
  (void)b;
  Ast *a = x_->call;
  uint32_t x = lower_expr(L, x_->v[0], s);
  Ast *d = x_->v[1];
  if (d->kind != A_LIST)
    ctx_error(L->c, d->pos, EXPRC_ERR_SYNTAX,
              "reshape takes its new shape as a list, such as [2, 3]");
  if (d->nkid > L->c->lim.max_rank)
    ctx_error(L->c, d->pos, EXPRC_ERR_LIMIT, "rank %d is above the limit %d",
              d->nkid, L->c->lim.max_rank);
  Shape t = {.rank = d->nkid};
  int infer = -1;
  for (int i = 0; i < d->nkid; i++) {
    int minus = 0;
    t.d[i] = lower_size(L, d->kid[i], &minus);
    if (minus && infer >= 0)
      ctx_error(L->c, d->kid[i]->pos, EXPRC_ERR_SHAPE,
                "sizes are positive; one may be -1 (inferred)");
    if (minus)
      infer = i;
  }
  if (infer >= 0) { /* the input's sizes over the others, as factors */
    Shape xs = *graph_at(L->g, x)->shape, known = t;
    known.d[infer] = 1;
    if (!size_ratio(L->c, d->pos, xs.d, xs.rank, known.d, known.rank,
                    &t.d[infer])) {
      char sa[96], sb[96];
      ctx_error(L->c, d->pos, EXPRC_ERR_SHAPE,
                "cannot infer the size marked -1 (the elements of %s do not "
                "divide into parts of %s)",
                shape_str(&xs, L->c->dimnames, sa, sizeof sa),
                shape_str(&known, L->c->dimnames, sb, sizeof sb));
    }
  }
  L->g->pos = a->pos;
  return graph_shaped(L->g, OP_RESHAPE, x, &t);
}

/* grad(e, v): the gradient of scalar e with respect to the declared v
 * (whose node goes to *vout, when wanted) */
static uint32_t grad_of(Lower *L, const Args *x, Scope *s, uint32_t *vout) {
  Ast *a = x->call;
  uint32_t e = lower_expr(L, x->v[0], s);
  uint32_t v = lower_expr(L, x->v[1], s);
  Op vop = (Op)graph_at(L->g, v)->op;
  if (vop != OP_INPUT && vop != OP_PARAM)
    ctx_error(L->c, x->v[1]->pos, EXPRC_ERR_NAME,
              "grad needs an input or param to differentiate by");
  if (graph_at(L->g, e)->shape->rank != 0) {
    char sb[96];
    ctx_error(L->c, x->v[0]->pos, EXPRC_ERR_SHAPE,
              "grad needs a scalar to differentiate, not %s",
              shape_str(graph_at(L->g, e)->shape, L->c->dimnames, sb,
                        sizeof sb));
  }
  uint32_t out;
  L->g->pos = a->pos;
  lower_grad_work(L, a->pos, e);
  grad_build(L->g, e, &v, 1, &out);
  if (vout)
    *vout = v;
  return out;
}

static uint32_t grad_call(Lower *L, const Builtin *b, const Args *x,
                          Scope *s) {
  (void)b;
  return grad_of(L, x, s, NULL);
}

/* hessian(e, v): the dense matrix [n, n] of second derivatives of scalar e
 * with respect to v (n elements, any shape, flattened in C order): row k is
 * the gradient of the k-th element of grad(e, v). n grad passes, so this is
 * for small v; Hessian-vector products, grad(sum(grad(e, v) * u), v), cost
 * one. */
uint32_t lower_hessian_dense(Lower *L, const Builtin *b, const Args *x,
                             Scope *s) {
  (void)b;
  Ast *a = x->call;
  uint32_t v, g = grad_of(L, x, s, &v); /* checks e and v, as grad does */
  Shape vs = *graph_at(L->g, v)->shape;
  int64_t n;
  if (!shape_numel_const(&vs, &n) || n > 256)
    ctx_error(L->c, x->v[1]->pos, EXPRC_ERR_LIMIT,
              "hessian is for up to 256 constant-sized elements; use a "
              "Hessian-vector product grad(sum(grad(e, v) * u), v)");
  Shape flat = {.rank = 1, .d = {n}}, row = {.rank = 2, .d = {1, n}};
  Shape hs = {.rank = 2, .d = {n, n}}, one = {.rank = 1, .d = {1}};
  L->g->pos = a->pos;
  uint32_t gf = graph_shaped(L->g, OP_RESHAPE, g, &flat), h = NONE;
  for (int64_t k = 0; k < n; k++) {
    int64_t at[MAX_RANK] = {k}, corner[MAX_RANK] = {k, 0};
    uint32_t gk = graph_window(L->g, OP_SLICE, gf, at, &one);
    gk = graph_shaped(L->g, OP_RESHAPE, gk, &(Shape){0});
    uint32_t hk;
    lower_grad_work(L, a->pos, gk);
    grad_build(L->g, gk, &v, 1, &hk);
    hk = graph_shaped(L->g, OP_RESHAPE, hk, &row);
    hk = graph_window(L->g, OP_PAD, hk, corner, &hs);
    h = h == NONE ? hk : graph_op2(L->g, OP_ADD, h, hk);
  }
  return h;
}

/* dot(a, b): the matrix product, as @ (errors name 'dot') */
static uint32_t dot_call(Lower *L, const Builtin *b, const Args *a,
                         Scope *s) {
  (void)b;
  uint32_t x = lower_expr(L, a->v[0], s), y = lower_expr(L, a->v[1], s);
  L->g->pos = a->call->pos;
  L->g->spelling = "dot";
  uint32_t r = graph_op2(L->g, OP_MATMUL, x, y);
  L->g->spelling = NULL;
  return r;
}

/* The built-in functions other than the elementwise ops of ops.def, which
 * are found by their F_FUNC spelling. */
static const Builtin builtins[] = {
    {"sum", {"x", "axis?", "keepdims?"}, reduction, OP_SUM, 0},
    {"mean", {"x", "axis?", "keepdims?"}, reduction, OP_SUM, 1},
    {"max", {"x", "axis?", "keepdims?"}, reduction, OP_MAX, 0},
    {"min", {"x", "axis?", "keepdims?"}, reduction, OP_MIN, 0},
    {"logsumexp", {"x", "axis?", "keepdims?"}, reduction, OP_LSE, 0},
    {"softmax", {"x", "axis?"}, normaliser, 0, 0},
    {"log_softmax", {"x", "axis?"}, normaliser, 0, 1},
    {"reshape", {"x", "shape"}, reshape, OP_RESHAPE, 0},
    {"grad", {"e", "v"}, grad_call, 0, 0},
    {"hessian", {"e", "v"}, lower_hessian, 0, 0},
    {"dot", {"a", "b"}, dot_call, OP_MATMUL, 0},
    /* linear algebra: lower_linalg.c */
    {"cholesky", {"a"}, lower_la_unary, OP_CHOL, 0},
    {"det", {"a"}, lower_la_unary, OP_DET, 0},
    {"logdet", {"a"}, lower_la_unary, OP_LOGDET, 0},
    {"solve", {"a", "b"}, lower_la_solve, OP_LUSOLVE, 0},
    {"solve_triangular", {"a", "b", "lower?", "trans?"}, lower_la_solve,
     OP_TRSOLVE, 0},
    {"inv", {"a"}, lower_la_inv, OP_LUSOLVE, 0},
    {"eye", {"n"}, lower_la_eye, 0, 0},
    {"diagonal", {"a"}, lower_la_diag, 0, 0},
    {"trace", {"a"}, lower_la_diag, 0, 1},
    {"diag", {"v"}, lower_la_diag, 0, 2},
    {"outer", {"a", "b"}, lower_la_outer, OP_MATMUL, 0},
    {"einsum", {"subscripts", "..."}, lower_la_einsum, 0, 0},
    /* gathers and integer results (lower_gather.c) */
    {"take", {"a", "indices", "axis?"}, lower_take, OP_TAKE, 0},
    {"take_along_axis", {"arr", "indices", "axis"}, lower_take_along,
     OP_TAKE_ALONG, 0},
    {"one_hot", {"x", "num_classes"}, lower_one_hot, 0, 0},
    {"argmax", {"x", "axis?"}, lower_arg, OP_ARGMAX, 0},
    {"argmin", {"x", "axis?"}, lower_arg, OP_ARGMIN, 0},
    {"argsort", {"x", "axis?"}, lower_arg, OP_ARGSORT, 0},
    /* reductions, cumulative functions and shape functions (lower_shape.c) */
    {"prod", {"x", "axis?", "keepdims?"}, reduction, OP_PROD, 0},
    {"var", {"x", "axis?", "ddof?", "keepdims?"}, lower_moment, 0, 0},
    {"std", {"x", "axis?", "ddof?", "keepdims?"}, lower_moment, 0, 1},
    {"norm", {"x", "axis?", "keepdims?"}, lower_norm, 0, 0},
    {"cumsum", {"x", "axis?"}, lower_cumulative, OP_LINREC, 0},
    {"cumprod", {"x", "axis?"}, lower_cumulative, OP_LINREC, 1},
    {"logcumsumexp", {"x", "axis?"}, lower_cumulative, OP_CUMLSE, 0},
    {"sort", {"x", "axis?"}, lower_sort, OP_SORTBY, 0},
    {"transpose", {"x", "axes?"}, lower_transpose, OP_TRANSPOSE, 0},
    {"swapaxes", {"x", "axis1", "axis2"}, lower_swapaxes, OP_TRANSPOSE, 0},
    {"expand_dims", {"x", "axis"}, lower_expand_dims, OP_RESHAPE, 0},
    {"squeeze", {"x", "axis?"}, lower_squeeze, OP_RESHAPE, 0},
    {"broadcast_to", {"x", "shape"}, lower_broadcast_to, OP_BCAST, 0},
    {"pad", {"x", "widths", "value?"}, lower_pad, OP_PAD, 0},
    {"flip", {"x", "axis?"}, lower_flip, OP_FLIP, 0},
    {"tril", {"x", "k?"}, lower_triangle, 0, 0},
    {"triu", {"x", "k?"}, lower_triangle, 0, 1},
    {"concatenate", {"arrays", "axis?"}, lower_concatenate, 0, 0},
    {"stack", {"arrays", "axis?"}, lower_concatenate, 0, 1},
    {"conv1d", {"x", "w", "stride?", "padding?", "dilation?", "groups?"},
     lower_conv_call, 0, 1},
    {"conv2d", {"x", "w", "stride?", "padding?", "dilation?", "groups?"},
     lower_conv_call, 0, 2},
    {"max_pool1d", {"x", "kernel", "stride?", "padding?"}, lower_pool_call,
     1, 1},
    {"max_pool2d", {"x", "kernel", "stride?", "padding?"}, lower_pool_call,
     1, 2},
    {"avg_pool1d", {"x", "kernel", "stride?", "padding?"}, lower_pool_call,
     0, 1},
    {"avg_pool2d", {"x", "kernel", "stride?", "padding?"}, lower_pool_call,
     0, 2},
    {"normal", {"mean", "std", "shape"}, lower_random_call, 0, 0},
    {"uniform", {"lo", "hi", "shape"}, lower_random_call, 0, 1},
    {"bernoulli", {"p"}, lower_random_call, 0, 2},
    {"polygamma", {"n", "x"}, lower_special_ew, OP_POLYGAMMA, 0},
    {"atan2", {"y", "x"}, lower_special_ew, OP_ATAN2, 0},
    {"clip", {"x", "lo", "hi"}, lower_special_ew, OP_CLIP, 0},
    {"elu", {"x", "alpha?"}, lower_special_ew, OP_ELU, 0},
    {"leaky_relu", {"x", "negative_slope?"}, lower_special_ew, OP_LEAKY_RELU, 0},
    {"jvp", {"y", "v", "u"}, lower_jvp, 0, 0},
    {"jacobian", {"y", "v"}, lower_jacobian, 0, 0},
    {"scan", {"f", "..."}, lower_scan_call, 0, 0},
    {"fold", {"f", "..."}, lower_scan_call, 0, 1},
};

/* An elementwise op of ops.def called by its name: pow(a, b), where(c, a, b) */
static uint32_t builtin_op(Lower *L, Ast *a, Scope *s, Op op) {
  static const char *const names[3][3] = {
      {"x"}, {"a", "b"}, {"condition", "a", "b"}};
  int n = op_info[op].arity;
  Args x;
  lower_args(L, a, names[n - 1], n, &x);
  uint32_t in[3] = {0, 0, 0};
  for (int i = 0; i < n; i++)
    in[i] = lower_expr(L, x.v[i], s);
  L->g->pos = a->pos;
  if (op == OP_TRANSPOSE || n == 1)
    return graph_op1(L->g, op, in[0]);
  if (n == 2)
    return graph_op2(L->g, op, in[0], in[1]);
  return graph_op3(L->g, op, in[0], in[1], in[2]);
}

/* Inline def b at call a: bind its parameters, then lower its expression,
 * or, for a block def, its locals and results (lower_block.c). n = 0: the
 * call is used as a value and must return one. */
uint32_t lower_inline(Lower *L, Ast *a, Scope *s, Binding *b, uint32_t *out,
                      int n) {
  Stmt *d = b->def;
  Args x;
  if (d->nparams > MAX_ARGS) { /* keywords are matched only up to MAX_ARGS */
    if (a->nkid != d->nparams)
      count_error(L, a, d->nparams, d->nparams, a->nkid);
    for (int i = 0; i < a->nkid; i++)
      if (a->kid[i]->kind == A_KEYWORD)
        ctx_error(L->c, a->kid[i]->pos, EXPRC_ERR_SYNTAX, "'%.64s' has more "
                  "than %d parameters; pass them by position", a->name,
                  MAX_ARGS);
  } else {
    lower_args(L, a, d->params, d->nparams, &x);
  }
  if (b->active)
    ctx_error(L->c, a->pos, EXPRC_ERR_NAME,
              "'%.64s' calls itself; recursion is not allowed", a->name);
  int nres = d->rets ? d->nrets : 1;
  if (n == 0 && nres != 1)
    ctx_error(L->c, a->pos, EXPRC_ERR_SHAPE, "'%.64s' returns %d values; "
              "assign them to as many names (a, b = %.64s(...))", a->name,
              nres, a->name);
  if (n > 0 && n != nres)
    ctx_error(L->c, a->pos, EXPRC_ERR_SHAPE, "'%.64s' returns %d value%s, "
              "not %d", a->name, nres, nres == 1 ? "" : "s", n);
  if (L->depth >= L->c->lim.max_depth)
    ctx_error(L->c, a->pos, EXPRC_ERR_LIMIT,
              "function calls nested deeper than %d levels",
              L->c->lim.max_depth);
  Scope in = {.up = s, .def = d, .params = b->params};
  in.arg = ctx_alloc(L->c, (size_t)(d->nparams + 1) * sizeof *in.arg);
  for (int i = 0; i < d->nparams; i++)
    in.arg[i] = lower_expr(L, d->nparams > MAX_ARGS ? a->kid[i] : x.v[i], s);
  b->active = 1;
  L->depth++;
  uint32_t one, *res = n ? out : &one;
  if (d->rets)
    lower_block_body(L, d, &in, res);
  else
    res[0] = lower_expr(L, d->expr, &in);
  L->depth--;
  b->active = 0;
  return res[0];
}

uint32_t lower_call(Lower *L, Ast *a, Scope *s) {
  Binding *b = lower_lookup(L, a->name);
  if (b && b->kind == B_DEF)
    return lower_inline(L, a, s, b, NULL, 0);
  for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
    if (strcmp(a->name, builtins[i].name) == 0) {
      Args x;
      lower_args(L, a, builtins[i].param, MAX_ARGS, &x);
      return builtins[i].lower(L, &builtins[i], &x, s);
    }
  for (int op = 0; op < OP_COUNT; op++)
    if ((op_info[op].flags & F_FUNC) && strcmp(op_info[op].dsl, a->name) == 0)
      return builtin_op(L, a, s, (Op)op);
  if (b)
    ctx_error(L->c, a->pos, EXPRC_ERR_NAME,
              "'%.64s' is not a function", a->name);
  lower_unknown(L, a->pos, "function", a->name, s);
}

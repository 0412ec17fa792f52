/* lower_impl.h: what the files of the lowering stage share (internal):
 * lower.c (names, constants, expressions, statements) and lower_call.c
 * (the built-in functions and def calls). Shared functions are prefixed
 * lower_. */
#ifndef EXPRC_LOWER_IMPL_H
#define EXPRC_LOWER_IMPL_H

#include "lower.h"
#include "size.h"

typedef enum { B_DIM, B_VAR, B_NODE, B_DEF } BindKind;

typedef struct Binding {
  BindKind kind;
  int index;        /* B_DIM: dim number; B_VAR: var number */
  uint32_t node;    /* B_VAR, B_NODE */
  Stmt *def;        /* B_DEF */
  Map *params;      /* B_DEF: parameter name -> its index + 1 */
  int active;       /* B_DEF: being inlined now (recursion check) */
  Pos pos;
} Binding;

/* The parameters of the def being inlined, innermost first. */
typedef struct Scope {
  struct Scope *up;
  Stmt *def;
  const Map *params; /* as in the def's Binding */
  uint32_t *arg;
  Map *locals;       /* a block def's local names -> node + 1 */
} Scope;

typedef struct Lower {
  Ctx *c;
  Module *m;
  Graph *g;
  Map names;
  int depth; /* def calls being inlined */
  int64_t work; /* expressions lowered: bounded, since defs calling defs
                   multiply it even when hash-consing makes no new nodes */
  int64_t var_elems; /* of inputs and params with constant shapes */
  Map outputs, losses; /* names taken, so that checking stays linear */
  struct Capture *cap; /* lowering a loop's step: what it reads from outside */
} Lower;

/* A call's arguments matched to the parameters of what it calls, by
 * position and then by keyword (lower_args). */
enum { MAX_ARGS = 8 };
typedef struct Args {
  Ast *call;
  Ast *v[MAX_ARGS]; /* by parameter; NULL where an optional one is left out */
  Ast **rest;       /* positional arguments taken by a trailing "..." */
  int nrest;
} Args;

/* A built-in function: its name, its parameters in order (a name ending in
 * '?' may be left out; "..." last takes any further positional arguments),
 * and the function that lowers a call. op and variant are the handler's to
 * read, so that one handler serves a family (sum, mean, max, ...). */
typedef struct Builtin Builtin;
typedef uint32_t (*BuiltinFn)(Lower *L, const Builtin *b, const Args *x,
                              Scope *s);
struct Builtin {
  const char *name;
  const char *param[MAX_ARGS];
  BuiltinFn lower;
  int op;
  int variant;
};
/* scan(f, ...) or fold(f, ...) used as a value (lower_scan.c) */
uint32_t lower_scan_call(Lower *L, const Builtin *b, const Args *x, Scope *s);

/* Match the arguments of call a to the parameters param[0..] (NULL ends
 * them early), reporting located errors for a wrong count, an unknown or
 * repeated keyword, or a missing argument. */
void lower_args(Lower *L, Ast *a, const char *const *param, int nparam,
                Args *x);
/* Axis argument a of a tensor of rank `rank` (negative counts from the
 * end), as a number in [0, rank). */
int lower_axis(Lower *L, Ast *a, int rank);
/* lower_const_int of a, or dflt when the argument was left out (a NULL). */
int64_t lower_opt_int(Lower *L, Ast *a, int64_t dflt, const char *what,
                      int64_t lo, int64_t hi);

/* lower_linalg.c: the linear-algebra built-ins */
uint32_t lower_la_unary(Lower *L, const Builtin *b, const Args *x, Scope *s);
uint32_t lower_la_solve(Lower *L, const Builtin *b, const Args *x, Scope *s);
uint32_t lower_la_eye(Lower *L, const Builtin *b, const Args *x, Scope *s);
uint32_t lower_la_inv(Lower *L, const Builtin *b, const Args *x, Scope *s);
uint32_t lower_la_diag(Lower *L, const Builtin *b, const Args *x, Scope *s);
uint32_t lower_la_outer(Lower *L, const Builtin *b, const Args *x, Scope *s);
uint32_t lower_la_einsum(Lower *L, const Builtin *b, const Args *x, Scope *s);

/* The node of expression a, with the def parameters of scope s. */
uint32_t lower_expr(Lower *L, Ast *a, Scope *s);
/* A call a(...): a built-in function, or a def inlined here. */
uint32_t lower_call(Lower *L, Ast *a, Scope *s);
/* A whole number in [lo, hi] that expression a must be (a located error
 * naming `what` if not). */
int64_t lower_const_int(Lower *L, Ast *a, const char *what, int64_t lo,
                        int64_t hi);
Binding *lower_lookup(Lower *L, const char *name);
/* Report an unknown name, with the closest known one. */
NORETURN void lower_unknown(Lower *L, Pos pos, const char *what,
                            const char *name, Scope *s);
/* lower_index.c: x[...] (NumPy basic indexing), and a size written in a
 * shape list: a constant, a dim, or a product of them (N*T); where infer
 * is given, -1 is allowed too: *infer is then set and 1 returned. */
uint32_t lower_index(Lower *L, Ast *a, Scope *s);
/* A list [a, b, ...] whose elements are not all constants: stack(list, 0). */
uint32_t lower_stack_list(Lower *L, Ast *a, Scope *s);
/* The built-ins concatenate(list, axis=0) and stack(list, axis=0). */
uint32_t lower_concatenate(Lower *L, const Builtin *b, const Args *x,
                           Scope *s);
int64_t lower_size(Lower *L, Ast *a, int *infer);
/* Count the work of a gradient pass from root before it runs. */
void lower_grad_work(Lower *L, Pos p, uint32_t root);

/* ---- lower_gather.c: integer data and gathers ---- */
/* Whether node x holds integers (an int input, argmax, argmin, argsort, or
 * a gather or movement of those). */
int lower_is_int(Lower *L, uint32_t x);
/* x[...] (the A_INDEX a) with an integer tensor among its items: the take
 * it means; NONE when no item is an integer tensor. */
uint32_t lower_index_take(Lower *L, Ast *a, uint32_t x, Scope *s);
/* Built-in handlers: take, take_along_axis, one_hot, and argmax, argmin,
 * argsort (told apart by the row's op). */
uint32_t lower_take(Lower *L, const Builtin *b, const Args *x, Scope *s);
uint32_t lower_take_along(Lower *L, const Builtin *b, const Args *x,
                          Scope *s);
uint32_t lower_one_hot(Lower *L, const Builtin *b, const Args *x, Scope *s);
uint32_t lower_arg(Lower *L, const Builtin *b, const Args *x, Scope *s);
/* lower_shape.c: axes, reductions over several axes, the shape functions
 * and the cumulative ones. */
unsigned lower_axes(Lower *L, Ast *a, int rank); /* NULL a: every axis */
uint32_t lower_keepdims(Lower *L, Ast *keepdims, uint32_t r, const Shape *s,
                        unsigned mask);
uint32_t lower_reduce_op(Lower *L, Op op, uint32_t x, unsigned mask);
uint32_t lower_permute(Lower *L, uint32_t x, const int *perm);
uint32_t lower_moment(Lower *L, const Builtin *b, const Args *a, Scope *s);
uint32_t lower_norm(Lower *L, const Builtin *b, const Args *a, Scope *s);
uint32_t lower_cumulative(Lower *L, const Builtin *b, const Args *a,
                          Scope *s);
uint32_t lower_sort(Lower *L, const Builtin *b, const Args *a, Scope *s);
uint32_t lower_transpose(Lower *L, const Builtin *b, const Args *a, Scope *s);
uint32_t lower_swapaxes(Lower *L, const Builtin *b, const Args *a, Scope *s);
uint32_t lower_expand_dims(Lower *L, const Builtin *b, const Args *a,
                           Scope *s);
uint32_t lower_squeeze(Lower *L, const Builtin *b, const Args *a, Scope *s);
uint32_t lower_broadcast_to(Lower *L, const Builtin *b, const Args *a,
                            Scope *s);
uint32_t lower_pad(Lower *L, const Builtin *b, const Args *a, Scope *s);
uint32_t lower_flip(Lower *L, const Builtin *b, const Args *a, Scope *s);
uint32_t lower_triangle(Lower *L, const Builtin *b, const Args *a, Scope *s);
/* lower_conv.c: conv1d and conv2d (variant: spatial axes), the pools
 * (op 1 max, 0 average) and the random draws (variant 0 normal, 1 uniform,
 * 2 bernoulli). */
uint32_t lower_conv_call(Lower *L, const Builtin *b, const Args *a,
                         Scope *s);
uint32_t lower_pool_call(Lower *L, const Builtin *b, const Args *a,
                         Scope *s);
uint32_t lower_random_call(Lower *L, const Builtin *b, const Args *a,
                           Scope *s);
/* lower_special.c: the special functions that have named or optional
 * arguments (polygamma(n, x), elu(x, alpha=1), ...), and the forward-mode
 * built-ins jvp(y, v, u) and jacobian(y, v). */
uint32_t lower_special_ew(Lower *L, const Builtin *b, const Args *x, Scope *s);
uint32_t lower_jvp(Lower *L, const Builtin *b, const Args *x, Scope *s);
uint32_t lower_jacobian(Lower *L, const Builtin *b, const Args *x, Scope *s);
/* hessian(e, v): sparse by colouring where it can be (lower_special.c),
 * else dense, n gradient sweeps (lower_hessian_dense, lower_call.c). */
uint32_t lower_hessian(Lower *L, const Builtin *b, const Args *x, Scope *s);
uint32_t lower_hessian_dense(Lower *L, const Builtin *b, const Args *x,
                             Scope *s);
/* ---- block defs and destructuring (lower_block.c) ---- */

/* Inline def b called by a: its n results into out; n = 0 when the call is
 * used as a value (one result, returned). */
uint32_t lower_inline(Lower *L, Ast *a, Scope *s, Binding *b, uint32_t *out,
                      int n);
/* A block def's local names, checked when it is declared. */
void lower_block_check(Lower *L, Stmt *d, const Map *params);
/* The locals and results of block def d, its parameters bound in `in`. */
void lower_block_body(Lower *L, Stmt *d, Scope *in, uint32_t *out);
/* The n values of a for a destructuring (at: its first name). */
void lower_results(Lower *L, Ast *a, Scope *s, uint32_t *out, int n, Pos at);
/* Built-ins with several results (scan, fold): 1 if a calls one, its n
 * results in out; 0 if a is no such call. */
int lower_call_results(Lower *L, Ast *a, Scope *s, uint32_t *out, int n);

/* ---- scan and fold (lower_scan.c) ---- */

/* Inside a loop's step, the value `node` of the model's name is read
 * through a captured hole (returned); outside, node itself. */
uint32_t lower_capture(Lower *L, const char *name, Pos pos, uint32_t node);

#endif

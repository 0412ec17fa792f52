/* loop_stash.c: what a loop's gradient reads stored instead of recomputing.
 *
 * The body of a backward loop (loop.c) is the vector-Jacobian product of the
 * forward step, so it holds the forward step's values again: in a GRU step,
 * the gates z, r and n, each a matrix product and a sigmoid or tanh. Run as
 * they are, every backward step recomputes the forward step. Instead, the
 * forward values the backward body reads are stored: the forward loop that
 * the gradient runs anyway (the stacked twin, which keeps the carries of
 * every step) also keeps them, as extra carries that its step never reads,
 * and the backward loop reads them as sequences. Only values that are dear
 * to recompute are stored (a matrix product, a transcendental function,
 * anything but plain arithmetic and moves); plain arithmetic on them (1 - z)
 * is recomputed, so memory grows by the few gates, not by every
 * intermediate. The stored values are the same nodes as the ones replaced,
 * computed by the same step, so the gradient does not change.
 *
 * The value of the forward loop itself is then read from the twin too
 * (loop_unalias): a model's gradient entry point runs the forward steps
 * once, not once for the value and once for the stored carries.
 */
#include "loop.h"

#include <string.h>

/* Plain arithmetic and moves: cheaper to recompute from a stored operand
 * than to store. Everything else (products, reductions, libm calls, random
 * draws, which must not be drawn again) is stored. */
static int cheap(Op op) {
  static const Op list[] = {
      OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_NEG, OP_MULZ, OP_DIVZ, OP_ABS,
      OP_SIGN, OP_SQUARE, OP_RECIPROCAL, OP_RELU, OP_MAXIMUM, OP_MINIMUM,
      OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ, OP_NE, OP_WHERE, OP_STOP_GRADIENT,
      OP_BCAST, OP_RESHAPE, OP_TRANSPOSE, OP_SLICE, OP_PAD, OP_CONST,
      OP_DIMVAL};
  for (size_t i = 0; i < sizeof list / sizeof *list; i++)
    if (list[i] == op)
      return 1;
  return 0;
}

enum { DEP_FWD = 1, DEP_BWD = 2 };

/* dep[i] for every node i below g->n: DEP_FWD if it reads (at any depth)
 * one of the holes fwd[0..nf) (the forward step's carries and rows),
 * DEP_BWD if one of bwd[0..nb) (the backward loop's own). */
static uint8_t *depends(Graph *g, const uint32_t *fwd, int nf,
                        const uint32_t *bwd, int nb) {
  uint8_t *dep = ctx_realloc(g->c, NULL, g->n + 1);
  for (uint32_t i = 0; i < g->n; i++) {
    const Node *p = &g->node[i];
    dep[i] = 0;
    for (int k = 0; k < p->nin; k++)
      dep[i] |= dep[p->in[k]];
    if (p->op != OP_HOLE)
      continue;
    for (int j = 0; j < nf; j++)
      dep[i] |= p->u.var == fwd[j] ? DEP_FWD : 0;
    for (int j = 0; j < nb; j++)
      dep[i] |= p->u.var == bwd[j] ? DEP_BWD : 0;
  }
  return dep;
}

int loop_stash_pick(Graph *g, const uint32_t *res, int nres,
                    const uint32_t *fwd, int nf, const uint32_t *bwd, int nb,
                    uint32_t **out) {
  uint8_t *dep = depends(g, fwd, nf, bwd, nb);
  uint8_t *need = ctx_realloc(g->c, NULL, g->n + 1);
  memset(need, 0, g->n + 1);
  for (int j = 0; j < nres; j++)
    need[res[j]] = 2; /* the cone of the results: 2, needed values: 1 */
  int n = 0;
  for (uint32_t i = g->n; i-- > 0;) {
    const Node *p = &g->node[i];
    if (!need[i])
      continue;
    int here = need[i] == 2 && (dep[i] & DEP_BWD);
    int again = need[i] == 1 && cheap((Op)p->op);
    if (need[i] == 1 && !again) {
      need[i] = 3; /* stored */
      n++;
      continue;
    }
    for (int k = 0; k < p->nin; k++) {
      uint32_t x = p->in[k];
      if ((here || again) && dep[x] == DEP_FWD && g->node[x].op != OP_HOLE)
        need[x] = need[x] ? need[x] : 1;
      else if (need[i] == 2 && !need[x])
        need[x] = 2;
    }
  }
  *out = ctx_alloc(g->c, (size_t)(n + 1) * sizeof **out);
  n = 0;
  for (uint32_t i = 0; i < g->n; i++)
    if (need[i] == 3)
      (*out)[n++] = i;
  ctx_release(g->c, need);
  ctx_release(g->c, dep);
  return n;
}

/* -1, or the i with from[i] == x */
static int which(const uint32_t *from, int n, uint32_t x) {
  for (int i = 0; i < n; i++)
    if (from[i] == x)
      return i;
  return -1;
}

/* memo[x] once x's inputs have theirs: x rebuilt over them, or x itself. */
static void rebuild(Graph *g, uint32_t x, uint32_t *memo) {
  Node p = g->node[x];
  int changed = 0;
  for (int k = 0; k < p.nin; k++) {
    changed |= memo[p.in[k]] != p.in[k];
    p.in[k] = memo[p.in[k]];
  }
  if (!changed) {
    memo[x] = x;
    return;
  }
  Pos pos = g->pos;
  uint8_t from = g->from;
  int bw = g->backward;
  g->pos = p.pos, g->from = p.from, g->backward = p.flags & N_BACKWARD;
  memo[x] = graph_node(g, &p);
  g->pos = pos, g->from = from, g->backward = bw;
}

uint32_t loop_subst(Graph *g, uint32_t root, const uint32_t *from,
                    const uint32_t *to, int n, uint32_t *memo, uint32_t n0) {
  uint32_t *stack = NULL, cap = 0, sp = 0;
  vec_reserve(g->c, &stack, &cap, 1, sizeof *stack);
  stack[sp++] = root;
  while (sp) {
    uint32_t x = stack[sp - 1], pending = 0;
    if (x >= n0 || memo[x] != NONE) { /* new nodes are built over new ones */
      sp--;
      continue;
    }
    int i = which(from, n, x);
    const Node *p = &g->node[x];
    vec_reserve(g->c, &stack, &cap, sp + 4, sizeof *stack);
    if (i >= 0 && to[i] < n0 && memo[to[i]] == NONE) {
      stack[sp++] = to[i];
      continue;
    }
    if (i >= 0) {
      memo[x] = to[i] < n0 ? memo[to[i]] : to[i];
      sp--;
      continue;
    }
    for (int k = 0; k < p->nin; k++)
      if (p->in[k] < n0 && memo[p->in[k]] == NONE)
        stack[sp++] = p->in[k], pending = 1;
    if (!pending) {
      rebuild(g, x, memo);
      sp--;
    }
  }
  ctx_release(g->c, stack);
  return root < n0 ? memo[root] : root;
}

void loop_alias(Graph *g, uint32_t y, uint32_t r, uint32_t twin) {
  for (uint32_t i = 0; i < g->nalias; i++)
    if (g->alias[3 * i] == y)
      return;
  vec_reserve(g->c, &g->alias, &g->capalias, 3 * (g->nalias + 1),
              sizeof *g->alias);
  g->alias[3 * g->nalias] = y, g->alias[3 * g->nalias + 1] = r;
  g->alias[3 * g->nalias + 2] = twin;
  g->nalias++;
}

/* Only where the twin runs anyway: an entry point that does not run a
 * loop's gradient keeps the loop (a fold keeps no rows). */
void loop_unalias(Graph *g, uint32_t *const *roots, int n) {
  if (!g->nalias)
    return;
  uint32_t n0 = g->n, na = 0;
  uint8_t *live = ctx_realloc(g->c, NULL, n0 + 1);
  memset(live, 0, n0 + 1);
  for (int r = 0; r < n; r++)
    if (*roots[r] != NONE)
      live[*roots[r]] = 1;
  graph_live(g, live, NULL);
  uint32_t *from = ctx_alloc(g->c, (size_t)(g->nalias + 1) * sizeof *from);
  uint32_t *to = ctx_alloc(g->c, (size_t)(g->nalias + 1) * sizeof *to);
  for (uint32_t i = 0; i < g->nalias; i++)
    if (live[g->alias[3 * i]] && live[g->alias[3 * i + 2]])
      from[na] = g->alias[3 * i], to[na++] = g->alias[3 * i + 1];
  ctx_release(g->c, live);
  uint32_t *memo = ctx_realloc(g->c, NULL, (size_t)(n0 + 1) * sizeof *memo);
  for (uint32_t i = 0; i < n0; i++)
    memo[i] = NONE;
  for (int r = 0; na && r < n; r++)
    if (*roots[r] != NONE)
      *roots[r] = loop_subst(g, *roots[r], from, to, (int)na, memo, n0);
  ctx_release(g->c, memo);
}

/* plan.c: memory planning, between simplification and C emission.
 *
 * For each entry point: mark the nodes its results need, find the last node
 * that reads each value, then walk the needed nodes in index order giving
 * each computed value a home. Scalars get C locals (cheap under tcc), tensors
 * get temporary buffers. When a value's last reader has run, its local or
 * buffer goes back to a free pool, and later values of the same shape take
 * it: the number of live buffers, not the number of nodes, sets the memory.
 * An elementwise op may write over an operand that it reads for the last time
 * (in place), since it reads each element before writing it. Entry points
 * never run at once, so each starts with every temporary free. Scalars beyond
 * MAX_LOCALS live at once spill into one buffer, so that no model, however
 * long, overflows the C stack; the long-lived ones spill first, so that
 * the many short-lived temporaries keep locals, which libtcc compiles in
 * half the time of a spill cell.
 *
 * A reshape is a view: it shares its input's home, and reading it counts as
 * reading the input. Fusion comes first: an elementwise tensor value read once, by an
 * elementwise op of the same shape, is not stored at all but computed inside
 * its reader's loop (up to FUSE_MAX ops in one expression). Its operands are
 * then read when the reader runs, so liveness counts a value as read at the
 * "execution point" of the node that really reads it.
 *
 * Rematerialization (Plan.remat) trades time for memory: a forward
 * elementwise tensor that backward nodes read, and that they could compute
 * again inline from operands that are alive then anyway, is not kept for
 * them: its buffer is freed after its last forward reader, and the backward
 * readers recompute it in their own loops.
 */
#include "plan.h"

#include <string.h>

#include "loop.h"

#define MAX_LOCALS 4096
#define LONG_LOCALS (MAX_LOCALS - 512) /* locals that long-lived scalars may hold */
#define LONG_LIFE 1024 /* nodes between a scalar and its last reader: long */
#define FUSE_MAX 16

uint32_t plan_gemm_operand(const Graph *g, uint32_t x, int *trans) {
  const Node *nd = &g->node[x];
  *trans = (nd->op == OP_TRANSPOSE && nd->shape->rank == 2) ||
           nd->op == OP_SWAPLAST; /* batched products read it transposed */
  return *trans ? nd->in[0] : x;
}

void plan_assign_result_slots(Module *m) {
  int slot = (int)m->nvar;
  for (uint32_t k = 0; k < m->nentry; k++)
    for (uint32_t r = 0; r < m->entry[k].nres; r++)
      m->entry[k].res[r].slot = slot++;
  m->nslot = slot;
}

typedef struct Planner {
  Ctx *c;
  Module *m;
  Graph *g;
  Plan *p;
  EntryPlan *ep;
  uint32_t *last;      /* per node: execution point of its last reader */
  uint32_t *exec;      /* per node: where it is computed (its reader's, if fused) */
  uint32_t *dies;      /* per node: first node whose last read is here */
  uint32_t *next;      /* per node: the next node dying at the same point */
  uint8_t *pinned;     /* per node: lives to the end (a result) */
  uint32_t *freelocal;   /* free locals */
  uint32_t nfreelocal, capfreelocal;
  int32_t *freeslot;   /* free temporary slots */
  uint32_t nfreeslot, capfreeslot;
  int64_t nspill, *freespill;
  uint32_t nfreespill, capfreespill;
  int64_t naive;
} Planner;

/* What node i reads as its k-th operand: a matrix product reads through
 * a transpose of its operand. */
static uint32_t read_operand(const Graph *g, uint32_t i, int k) {
  int t = 0;
  const Node *nd = &g->node[i];
  return nd->op == OP_MATMUL ? plan_gemm_operand(g, nd->in[k], &t)
                             : nd->in[k];
}

static uint32_t operand(Planner *P, uint32_t i, int k) {
  return read_operand(P->g, i, k);
}

static int is_leaf(Op op) {
  return op == OP_INPUT || op == OP_PARAM || op == OP_CONST ||
         op == OP_DIMVAL || op == OP_HOLE;
}

static void mark_needed(Planner *P, Entry *e) {
  uint8_t *need = P->ep->need;
  memset(need, 0, P->g->n);
  for (uint32_t r = 0; r < e->nres; r++)
    need[e->res[r].node] = P->pinned[e->res[r].node] = 1;
  graph_live(P->g, need, read_operand);
}

static int is_view(Planner *P, uint32_t x);

/* x can be computed inside r's loop: x is elementwise, or a slice or pad
 * (a window, read at shifted positions), and r is elementwise over x's
 * shape or sums x (max and min would compute it twice per element). */
static int fusable_reader(Planner *P, uint32_t x, uint32_t r) {
  Node *nx = &P->g->node[x], *nr = &P->g->node[r];
  int reduce = nr->op == OP_SUM;
  int window = nx->op == OP_PAD || (nx->op == OP_SLICE && !is_view(P, x));
  return ((op_info[nx->op].flags & F_EW) || window) && nx->shape->rank > 0 &&
         !P->pinned[x] &&
         (reduce || ((op_info[nr->op].flags & F_EW) &&
                     shape_eq(nx->shape, nr->shape)));
}

/* Decide fusion: a value read exactly once, by a fusable reader. fsize
 * bounds the ops folded into one expression (and the emitter's recursion). */
static void mark_fused(Planner *P) {
  Graph *g = P->g;
  uint32_t n = g->n;
  uint32_t *reads = ctx_realloc(P->c, NULL, (n + 1) * sizeof *reads);
  uint32_t *reader = ctx_realloc(P->c, NULL, (n + 1) * sizeof *reader);
  uint32_t *fsize = ctx_realloc(P->c, NULL, (n + 1) * sizeof *fsize);
  memset(reads, 0, n * sizeof *reads);
  for (uint32_t i = 0; i < n; i++)
    if (P->ep->need[i])
      for (int k = 0; k < g->node[i].nin; k++) {
        uint32_t x = operand(P, i, k);
        reads[x]++;
        reader[x] = i;
      }
  for (uint32_t x = 0; x < n; x++) {
    fsize[x] = 0;
    if (!P->p->fuse || !P->ep->need[x] || reads[x] != 1 ||
        !fusable_reader(P, x, reader[x]))
      continue;
    uint32_t size = 1;
    for (int k = 0; k < g->node[x].nin; k++)
      size += fsize[g->node[x].in[k]];
    if (size <= FUSE_MAX) {
      fsize[x] = size;
      P->ep->home[x].kind = H_FUSED;
    }
  }
  for (uint32_t x = n; x-- > 0;) /* a fused value runs where its reader does */
    P->exec[x] = P->ep->home[x].kind == H_FUSED ? P->exec[reader[x]] : x;
  ctx_release(P->c, reads);
  ctx_release(P->c, reader);
  ctx_release(P->c, fsize);
}

/* The element offset of a slice that is one contiguous run of its input
 * (the axes before the first cut have size 1, those after it are whole),
 * or -1. */
static int64_t contiguous_offset(Graph *g, const Node *nd) {
  const Shape *in = g->node[nd->in[0]].shape, *w = nd->shape;
  int cut = 0;
  while (cut < w->rank && w->d[cut] == in->d[cut])
    cut++;
  int64_t off = 0, stride = 1;
  for (int j = w->rank - 1; j >= 0; j--) {
    if (DIM_IS_SYM(in->d[j]) || (j > cut && w->d[j] != in->d[j]) ||
        (j < cut && w->d[j] != 1))
      return -1;
    off += nd->start[j] * stride;
    stride *= in->d[j];
  }
  return off;
}

/* A reshape, or a contiguous slice, shares its input's home. */
static int is_view(Planner *P, uint32_t x) {
  Node *nd = &P->g->node[x];
  if ((nd->op != OP_RESHAPE && nd->op != OP_SLICE) || P->pinned[x])
    return 0;
  /* A splat constant or a dim lives in no memory (it is printed inline):
   * a reshape of one is computed into a buffer of its own instead. */
  Node *in = &P->g->node[nd->in[0]];
  if (in->op == OP_DIMVAL || (in->op == OP_CONST && in->u.data == SPLAT))
    return 0;
  return nd->op == OP_RESHAPE || contiguous_offset(P->g, nd) >= 0;
}

/* The last execution point that reads each value, and per point the list
 * of values that die there. */

static void mark_lifetimes(Planner *P) {
  Graph *g = P->g;
  for (uint32_t i = 0; i < g->n; i++)
    P->last[i] = NONE;
  for (uint32_t i = g->n; i-- > 0;) /* views: their readers read the input */
    if (P->ep->need[i])
      for (int k = 0; k < g->node[i].nin; k++) {
        uint32_t x = operand(P, i, k);
        uint32_t at = is_view(P, i) && P->last[i] != NONE ? P->last[i]
                                                          : P->exec[i];
        if (P->last[x] == NONE || at > P->last[x])
          P->last[x] = at;
      }
}

static void mark_deaths(Planner *P) {
  Graph *g = P->g;
  for (uint32_t i = 0; i < g->n; i++)
    P->dies[i] = NONE;
  for (uint32_t x = 0; x < g->n; x++)
    if (P->last[x] != NONE && P->ep->home[x].kind != H_FUSED &&
        !is_view(P, x)) {
      P->next[x] = P->dies[P->last[x]];
      P->dies[P->last[x]] = x;
    }
}

/* Can a backward reader r compute x inline? Elementwise readers and sums
 * can; matrix products and other kernels need x in memory. */
static int inline_reader(Planner *P, uint32_t x, uint32_t r) {
  Node *nr = &P->g->node[r];
  /* An elementwise reader computes x at its own position: only right when
   * x has the reader's shape (a broadcast operand is read at another index). */
  return nr->op == OP_SUM || ((op_info[nr->op].flags & F_EW) &&
                              shape_eq(P->g->node[x].shape, nr->shape));
}

/* Are the stored values that computing y reads (through fused operands)
 * all alive at point `late` anyway? */
static int alive_until(Planner *P, uint32_t y, uint32_t late, int depth) {
  Node *ny = &P->g->node[y];
  /* Inputs, params and printed constants are always there; a constant
   * filled into a temporary buffer is not, once that buffer is reused. */
  if (is_leaf((Op)ny->op) && !P->ep->home[y].fill)
    return 1;
  if (P->ep->home[y].kind != H_FUSED)
    return P->last[y] != NONE && P->last[y] >= late;
  for (int k = 0; k < ny->nin && depth < FUSE_MAX; k++)
    if (!alive_until(P, ny->in[k], late, depth + 1))
      return 0;
  return depth < FUSE_MAX;
}

/* Decide whether x is recomputed for its backward readers; if so, the
 * execution point after which readers recompute it, else NONE. */
static uint32_t remat_cut(Planner *P, uint32_t x, const uint32_t *rd,
                          uint32_t nrd) {
  Graph *g = P->g;
  Node *nx = &g->node[x];
  if (!(op_info[nx->op].flags & F_EW) || nx->shape->rank == 0 ||
      (nx->flags & N_BACKWARD) || P->pinned[x] ||
      P->ep->home[x].kind != H_NONE)
    return NONE;
  uint32_t early = NONE, late = 0, nlate = 0;
  for (uint32_t j = 0; j < nrd; j++) {
    uint32_t r = rd[j], at = P->exec[r];
    if (is_view(P, r)) /* its readers read x's home, wherever they run */
      return NONE;
    if (!(g->node[r].flags & N_BACKWARD)) {
      early = early == NONE || at > early ? at : early;
    } else if (!inline_reader(P, x, r)) {
      return NONE;
    } else {
      late = at > late ? at : late;
      nlate++;
    }
  }
  if (!nlate || (early != NONE && early >= late))
    return NONE;
  for (int k = 0; k < nx->nin; k++) /* operands alive then anyway */
    if (!alive_until(P, nx->in[k], late, 0))
      return NONE;
  P->last[x] = early;
  return early == NONE ? 0 : early;
}

/* Decide rematerialization for every node, from the lists of its readers
 * (kept in one array, indexed by start[]). */
static void mark_remat(Planner *P) {
  Graph *g = P->g;
  uint32_t n = g->n, *start, *list;
  for (uint32_t i = 0; i < n; i++)
    P->ep->remat[i] = NONE;
  if (!P->p->remat)
    return;
  start = ctx_realloc(P->c, NULL, (n + 2) * sizeof *start);
  memset(start, 0, (n + 2) * sizeof *start);
  for (uint32_t i = 0; i < n; i++)
    if (P->ep->need[i])
      for (int k = 0; k < g->node[i].nin; k++)
        start[operand(P, i, k) + 2]++;
  for (uint32_t i = 0; i < n; i++)
    start[i + 2] += start[i + 1];
  list = ctx_realloc(P->c, NULL, (start[n + 1] + 1) * sizeof *list);
  for (uint32_t i = 0; i < n; i++)
    if (P->ep->need[i])
      for (int k = 0; k < g->node[i].nin; k++)
        list[start[operand(P, i, k) + 1]++] = i;
  for (uint32_t x = 0; x < n; x++)
    if (P->ep->need[x])
      P->ep->remat[x] = remat_cut(P, x, list + start[x], start[x + 1] - start[x]);
  for (uint32_t x = 0; x < n; x++)
    if (P->ep->remat[x] != NONE && P->last[x] == NONE)
      P->ep->home[x].kind = H_FUSED; /* only backward readers: never stored */
  ctx_release(P->c, start);
  ctx_release(P->c, list);
}


static void use_slot(Planner *P, int slot) {
  EntryPlan *ep = P->ep;
  if ((uint32_t)slot >= ep->nused) {
    vec_reserve(P->c, &ep->used, &ep->capused, (uint32_t)slot + 1, 1);
    memset(ep->used + ep->nused, 0, slot + 1 - ep->nused);
    ep->nused = (uint32_t)slot + 1;
  }
  ep->used[slot] = 1;
}

static int64_t const_bytes(const Shape *s, int *symbolic) {
  int64_t n;
  if (!shape_numel_const(s, &n)) {
    *symbolic = 1;
    return 0;
  }
  return n * 8;
}

static int new_temp(Planner *P, const Shape *s) {
  Plan *p = P->p;
  vec_reserve(P->c, &p->temp, &p->cap, p->ntemp + 1, sizeof *p->temp);
  p->temp[p->ntemp] = *s;
  p->temp_bytes += const_bytes(s, &p->symbolic);
  return P->m->nslot + (int)p->ntemp++;
}

#define SPILL (-2) /* the spill buffer, made once the entry is planned */

static Home slot_home(int slot, int64_t off) {
  return (Home){.kind = H_SLOT, .slot = slot, .off = off, .aux = -1};
}

/* A buffer of shape s: a free one of the same shape, else a new one. */
static Home temp_home(Planner *P, const Shape *s) {
  int symbolic = 0;
  P->naive += const_bytes(s, &symbolic);
  for (uint32_t j = P->nfreeslot, tries = 0; j-- > 0 && tries < 64; tries++) {
    int slot = P->freeslot[j];
    if (shape_eq(&P->p->temp[slot - P->m->nslot], s)) {
      P->freeslot[j] = P->freeslot[--P->nfreeslot];
      return slot_home(slot, 0);
    }
  }
  return slot_home(new_temp(P, s), 0);
}

/* Once LONG_LOCALS locals are in use, a scalar that lives long (read last
 * more than LONG_LIFE nodes on, or never freed) goes to the spill buffer. A
 * long gradient keeps thousands of forward values for its backward pass:
 * were they to take every local, all the short-lived temporaries after
 * them, most of the reads, would spill, and libtcc spends twice as much on
 * a spilled read as on a local's. */
static int spills_early(Planner *P, uint32_t x) {
  return P->ep->nlocal - P->nfreelocal >= LONG_LOCALS &&
         (P->pinned[x] || P->last[x] == NONE || P->last[x] - x > LONG_LIFE);
}

static int local_left(Planner *P) {
  return P->nfreelocal || P->ep->nlocal < MAX_LOCALS;
}

/* A scalar: a free local, a new local, or a spill cell. */
static Home scalar_home(Planner *P, uint32_t x) {
  if (spills_early(P, x) || !local_left(P))
    return slot_home(SPILL, P->nfreespill ? P->freespill[--P->nfreespill]
                                          : P->nspill++);
  if (P->nfreelocal)
    return (Home){.kind = H_LOCAL, .local = P->freelocal[--P->nfreelocal], .aux = -1};
  return (Home){.kind = H_LOCAL, .local = P->ep->nlocal++, .aux = -1};
}

/* A temporary buffer that the entry may reuse: not a loop's hole or step
 * result, which the loop around a step reads and writes. */
static int temp_slot(Planner *P, int32_t slot) {
  int32_t t = slot - P->m->nslot;
  return t >= 0 && !(t >= (int32_t)P->p->loop_first &&
                     t < (int32_t)P->p->loop_end);
}

static void release(Planner *P, uint32_t x) {
  Home *h = &P->ep->home[x];
  if (!P->p->reuse || P->pinned[x])
    return;
  if (h->kind == H_LOCAL) {
    vec_reserve(P->c, &P->freelocal, &P->capfreelocal, P->nfreelocal + 1, 4);
    P->freelocal[P->nfreelocal++] = h->local;
  } else if (h->kind == H_SLOT && h->slot == SPILL) {
    vec_reserve(P->c, &P->freespill, &P->capfreespill, P->nfreespill + 1, 8);
    P->freespill[P->nfreespill++] = h->off;
  } else if (h->kind == H_SLOT && temp_slot(P, h->slot)) {
    vec_reserve(P->c, &P->freeslot, &P->capfreeslot, P->nfreeslot + 1, 4);
    P->freeslot[P->nfreeslot++] = h->slot;
  }
}

static Home fresh_home(Planner *P, uint32_t x) {
  Node *nd = &P->g->node[x];
  return nd->shape->rank == 0 ? scalar_home(P, x) : temp_home(P, nd->shape);
}

static Home leaf_home(Node *nd, uint32_t x) {
  if (nd->op == OP_INPUT || nd->op == OP_PARAM)
    return slot_home((int)nd->u.var, 0);
  if (node_is_tensor_const(nd)) /* c<x>, named by its node */
    return (Home){.kind = H_STATIC, .node = x, .aux = -1};
  return (Home){.kind = H_INLINE, .aux = -1};
}

/* An elementwise op may take over the home of an operand of its shape that
 * it reads for the last time. Returns that operand, or NONE. */
static uint32_t in_place(Planner *P, uint32_t i) {
  Node *nd = &P->g->node[i];
  if (!P->p->reuse || !(op_info[nd->op].flags & F_EW))
    return NONE;
  for (int k = 0; k < nd->nin; k++) {
    uint32_t x = nd->in[k];
    Home h = P->ep->home[x];
    int mine = !h.view && (h.kind == H_LOCAL ||
               (h.kind == H_SLOT && (h.slot == SPILL || temp_slot(P, h.slot))));
    if (mine && h.kind == H_LOCAL) /* a local or a spill cell, as i's own would be */
      mine = !spills_early(P, i);
    else if (mine && h.slot == SPILL)
      mine = spills_early(P, i) || !local_left(P);
    if (mine && !P->pinned[x] && P->last[x] == i &&
        shape_eq(P->g->node[x].shape, nd->shape))
      return x;
  }
  return NONE;
}

/* Constants that a kernel (not an elementwise expression) reads must be in
 * memory: they get a home of their own, written where they stand in the
 * node order, so that every reader finds them there. */
static void mark_fills(Planner *P) {
  for (uint32_t i = 0; i < P->g->n; i++) {
    Node *nd = &P->g->node[i];
    if (!P->ep->need[i] || (op_info[nd->op].flags & F_EW) ||
        nd->op == OP_RESHAPE || op_info[nd->op].shape == SH_ALONG)
      continue; /* (SH_ALONG: emit_shape.c reads elements one by one) */
    for (int k = 0; k < nd->nin; k++) {
      uint32_t x = operand(P, i, k);
      if (P->ep->home[x].kind == H_INLINE)
        P->ep->home[x].fill = 1;
    }
  }
}

/* Give node i a home, and free the homes of operands read for the last time. */
static void place(Planner *P, uint32_t i) {
  Home *home = P->ep->home;
  Node *nd = &P->g->node[i];
  uint32_t taken = NONE;
  if (home[i].kind == H_INLINE && home[i].fill) {
    home[i] = fresh_home(P, i);
    home[i].fill = 1;
  } else if (home[i].kind == H_NONE && is_view(P, i)) {
    home[i] = home[nd->in[0]];
    if (nd->op == OP_SLICE)
      home[i].off += contiguous_offset(P->g, nd);
    home[i].fill = 0;
    home[i].view = 1;
    home[i].aux = -1;
  } else if (home[i].kind == H_NONE) {
    taken = in_place(P, i);
    home[i] = taken != NONE ? home[taken] : fresh_home(P, i);
    home[i].fill = 0; /* a taken-over constant's buffer: i computes, not fills */
  }
  if ((nd->op == OP_LSE && nd->shape->rank > 0) || nd->op == OP_SORTBY ||
      nd->op == OP_UNSORTBY) { /* scratch, freed at once (sorts: the order) */
    Home scratch = temp_home(P, nd->shape);
    home[i].aux = scratch.slot;
    use_slot(P, scratch.slot);
    if (P->p->reuse) {
      vec_reserve(P->c, &P->freeslot, &P->capfreeslot, P->nfreeslot + 1, 4);
      P->freeslot[P->nfreeslot++] = scratch.slot;
    }
  }
  if (nd->op == OP_LOOP && P->g->loop[nd->u.word].ckpt != NONE) {
    Shape ss = loop_ckpt_scratch(P->g, i); /* checkpoints, freed at once */
    Home scratch = temp_home(P, &ss);
    home[i].aux = scratch.slot;
    use_slot(P, scratch.slot);
    if (P->p->reuse) {
      vec_reserve(P->c, &P->freeslot, &P->capfreeslot, P->nfreeslot + 1, 4);
      P->freeslot[P->nfreeslot++] = scratch.slot;
    }
  }
  if (home[i].kind == H_SLOT && home[i].slot >= 0)
    use_slot(P, home[i].slot);
  for (uint32_t x = P->dies[i]; x != NONE; x = P->next[x])
    if (x != taken)
      release(P, x);
}

static void init_homes(Planner *P, Entry *e) {
  Home *home = P->ep->home;
  for (uint32_t i = 0; i < P->g->n; i++)
    home[i] = (Home){.kind = H_NONE, .aux = -1};
  for (uint32_t r = 0; r < e->nres; r++) {
    uint32_t x = e->res[r].node;
    use_slot(P, e->res[r].slot);
    if (!is_leaf((Op)P->g->node[x].op) && home[x].kind == H_NONE)
      home[x] = slot_home(e->res[r].slot, 0);
  }
  for (uint32_t i = 0; i < P->g->n; i++)
    if (P->ep->need[i] && is_leaf((Op)P->g->node[i].op)) {
      home[i] = P->g->node[i].op == OP_HOLE /* a loop's placeholder */
                    ? slot_home(P->p->hole_slot[P->g->node[i].u.var], 0)
                    : leaf_home(&P->g->node[i], i);
      if (home[i].kind == H_SLOT)
        use_slot(P, home[i].slot);
    }
}

static void plan_entry_for(Ctx *c, Module *m, Plan *p, Entry *e, int fresh,
                           EntryPlan *ep);

void plan_entry(Ctx *c, Module *m, Plan *p, int k, EntryPlan *ep) {
  plan_entry_for(c, m, p, &m->entry[k], 0, ep);
}

void plan_step(Ctx *c, Module *m, Plan *p, Entry *e, EntryPlan *ep) {
  plan_entry_for(c, m, p, e, 1, ep);
}

/* fresh: a loop step, which runs while its entry's values are alive: it
 * takes no earlier temporary. */
static void plan_entry_for(Ctx *c, Module *m, Plan *p, Entry *e, int fresh,
                           EntryPlan *ep) {
  Planner P = {.c = c, .m = m, .g = m->g, .p = p, .ep = ep};
  uint32_t n = m->g->n + 1;
  memset(ep, 0, sizeof *ep);
  ep->home = ctx_realloc(c, NULL, n * sizeof *ep->home);
  ep->need = ctx_realloc(c, NULL, n);
  ep->remat = ctx_realloc(c, NULL, n * sizeof *ep->remat);
  P.last = ctx_realloc(c, NULL, n * sizeof *P.last);
  P.exec = ctx_realloc(c, NULL, n * sizeof *P.exec);
  P.dies = ctx_realloc(c, NULL, n * sizeof *P.dies);
  P.next = ctx_realloc(c, NULL, n * sizeof *P.next);
  P.pinned = ctx_realloc(c, NULL, n);
  memset(P.pinned, 0, n);
  vec_reserve(c, &ep->used, &ep->capused, (uint32_t)m->nslot + 1, 1);
  memset(ep->used, 0, (size_t)m->nslot + 1);
  ep->nused = (uint32_t)m->nslot;
  for (uint32_t t = 0; p->reuse && !fresh && t < p->ntemp; t++) {
    /* entry points never run at once: all earlier temporaries are free */
    if (t >= p->loop_first && t < p->loop_end)
      continue; /* but loops' holes and results are written inside them */
    vec_reserve(c, &P.freeslot, &P.capfreeslot, P.nfreeslot + 1, 4);
    P.freeslot[P.nfreeslot++] = m->nslot + (int)t;
  }
  mark_needed(&P, e);
  init_homes(&P, e);
  mark_fills(&P); /* before remat, which asks whether a constant is in memory */
  mark_fused(&P);
  mark_lifetimes(&P);
  mark_remat(&P);
  mark_deaths(&P);
  for (uint32_t i = 0; i < m->g->n; i++)
    if (ep->need[i] && ep->home[i].kind != H_FUSED &&
        (!is_leaf((Op)m->g->node[i].op) || ep->home[i].fill))
      place(&P, i);
  if (P.nspill) { /* one buffer for the scalars that did not fit in locals */
    Shape s = {.rank = 1, .d = {P.nspill}};
    int spill = new_temp(&P, &s);
    use_slot(&P, spill);
    for (uint32_t i = 0; i < m->g->n; i++)
      if (ep->home[i].kind == H_SLOT && ep->home[i].slot == SPILL)
        ep->home[i].slot = spill;
  }
  p->naive_bytes += P.naive;
  ep->last = P.last; /* the emitter keeps scalars of loops in locals by it */
  ctx_release(c, P.exec);
  ctx_release(c, P.dies);
  ctx_release(c, P.next);
  ctx_release(c, P.pinned);
  ctx_release(c, P.freelocal);
  ctx_release(c, P.freeslot);
  ctx_release(c, P.freespill);
}

void plan_entry_free(Ctx *c, EntryPlan *ep) {
  ctx_release(c, ep->home);
  ctx_release(c, ep->need);
  ctx_release(c, ep->remat);
  ctx_release(c, ep->last);
  ctx_release(c, ep->used);
  memset(ep, 0, sizeof *ep);
}

void plan_loops(Ctx *c, Module *m, Plan *p) {
  Graph *g = m->g;
  Planner P = {.c = c, .m = m, .g = g, .p = p};
  p->loop_first = p->ntemp;
  p->hole_slot = ctx_alloc(c, (g->nhole + 1) * sizeof *p->hole_slot);
  p->loop_slot = ctx_alloc(c, (g->nloop + 1) * sizeof *p->loop_slot);
  for (uint32_t h = 0; h < g->nhole; h++)
    p->hole_slot[h] = new_temp(&P, &g->hole[h]);
  for (uint32_t l = 0; l < g->nloop; l++) {
    LoopInfo *li = &g->loop[l];
    if (li->step != l)
      continue; /* it calls another loop's step, which writes there */
    p->loop_slot[l] = ctx_alloc(c, (size_t)(li->k + 1) * sizeof(int32_t));
    for (int j = 0; j < li->k; j++)
      p->loop_slot[l][j] = new_temp(&P, &g->hole[li->hole[j]]);
  }
  p->loop_end = p->ntemp;
}

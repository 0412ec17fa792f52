/* emit_loop.c: flat loops merged into one, and their parallel bodies.
 *
 * Consecutive flat loops over the same count are merged into one as they are
 * emitted, as long as no statement reads, at another position, what an
 * earlier statement of the loop writes (or writes what an earlier one read
 * elsewhere). Full sums, maxima and minima join the loop as accumulators.
 * With --threads, a long merged loop becomes a function of an iteration
 * range that the runtime's thread pool runs in chunks.
 */
#include "emit.h"

#include <stdlib.h>
#include <string.h>

/* ---- merged loops ---- */

void em_loop_reset(Emitter *E) {
  Loop *L = &E->loop;
  L->open = 0;
  L->nfold = 0;
  L->tb[0] = 0;
  L->pre.n = L->body.n = L->post.n = 0;
  if (L->nkeys) {
    memset(L->wrote, 0, L->nkeys), memset(L->shifted, 0, L->nkeys);
    memset(L->uses, 0, L->nkeys), memset(L->inflow, 0, L->nkeys);
    memset(L->local, 0, L->nkeys);
  }
}

static int loop_parallel(Emitter *E) {
  Loop *L = &E->loop;
  char *end;
  long n = strtol(L->n, &end, 10);
  return E->plan->threads > 1 && L->nfold < MAX_ACC &&
         !(*end == 'L' && end[1] == 0 && n < PAR_MIN);
}

/* The loop's body as a function xc_par_<id> of a range of iterations, for
 * the runtime's threads: the buffers it touches from S, the scalars it
 * reads from R, its reductions' partial results into A. */
static void par_body(Emitter *E, uint32_t id) {
  Loop *L = &E->loop;
  Buf *h = &E->helpers;
  em_put(E, h, "\nstatic void xc_par_%u(long lo, long hi, const long *D, "
      "double *const *S,\n    const double *R, double *A)\n{\n", id);
  for (uint32_t k = 0, r = 0; k < L->nkeys; k++) {
    if (L->uses[k] && k < E->ep->nused)
      em_put(E, h, "  xc_real *const p%u = (xc_real *)S[%u];\n", k, k);
    else if (L->uses[k])
      em_put(E, h, "  const double r%u = R[%u];\n", k - E->ep->nused, r++);
  }
  for (int a = 0; a < L->nfold; a++)
    em_put(E, h, "  double a%u = %s;\n", L->fold[a].local, L->fold[a].r->init);
  em_put(E, h, "  long i;\n  (void)D;\n  (void)S;\n  (void)R;\n  (void)A;\n"
      "  for (i = lo; i < hi; i++) {\n%.*s  }\n", (int)L->body.n, L->body.s);
  for (int a = 0; a < L->nfold; a++)
    em_put(E, h, "  A[%d] = a%u;\n", a, L->fold[a].local);
  em_put_str(E, h, "}\n");
}

/* The call that runs xc_par_<id> on the runtime's threads. */
static void par_call(Emitter *E, uint32_t id) {
  Loop *L = &E->loop;
  uint32_t nr = 0;
  em_put_str(E, &E->body, "  {\n");
  for (uint32_t k = E->ep->nused; k < L->nkeys; k++)
    if (L->uses[k])
      em_put(E, &E->body, nr++ ? ", r%u" : "    const double R_[] = {r%u",
          k - E->ep->nused);
  if (nr)
    em_put_str(E, &E->body, "};\n");
  char kinds[MAX_ACC + 1];
  for (int a = 0; a < L->nfold; a++) {
    em_put(E, &E->body, a ? ", a%u" : "    double A_[] = {a%u", L->fold[a].local);
    kinds[a] = L->fold[a].r->kind;
  }
  kinds[L->nfold] = 0;
  if (L->nfold)
    em_put_str(E, &E->body, "};\n");
  em_put(E, &E->body, "    exprc_rt_parallel(xc_par_%u, %s, D, S, %s, \"%s\", %s);\n",
      id, L->n, nr ? "R_" : "0", kinds, L->nfold ? "A_" : "0");
  for (int a = 0; a < L->nfold; a++)
    em_put(E, &E->body, "    a%u = A_[%d];\n", L->fold[a].local, a);
  em_put_str(E, &E->body, "  }\n");
}

/* A temporary written in the loop before any read there, read only at the
 * loop's position, and dead after the loop, needs no memory: a local of
 * the loop body holds it (tcc keeps locals far cheaper than arrays). */
static void loop_locals(Emitter *E, Buf *decl) {
  Loop *L = &E->loop;
  for (uint32_t k = (uint32_t)E->m->nslot; k < E->ep->nused; k++) {
    uint32_t w = L->writer[k];
    if (!L->uses[k] || !L->wrote[k] || L->shifted[k] || L->inflow[k] ||
        (E->ep->last[w] != NONE && E->ep->last[w] > L->lastx) ||
        (k >= E->m->nslot + E->plan->loop_first && /* a loop step's result, */
         k < E->m->nslot + E->plan->loop_end))      /* read by its caller */
      continue;
    em_put(E, decl, "%s t%u", decl->n ? "," : "    double", k);
    L->uses[k] = 0;
    L->local[k] = L->was_local[k] = 1;
  }
  if (decl->n)
    em_put_str(E, decl, ";\n");
}

/* Print the body's template into out: each marker \1 slot ; (see
 * emit_text.c) as the local t<slot> or as p<slot>[i]. */
static void render(Emitter *E, Buf *out) {
  Loop *L = &E->loop;
  const char *s = L->body.s, *end = s + L->body.n;
  while (s < end) {
    const char *mark = memchr(s, '\1', (size_t)(end - s));
    if (!mark) {
      em_put_mem(E, out, s, (size_t)(end - s));
      break;
    }
    em_put_mem(E, out, s, (size_t)(mark - s));
    char *semi;
    unsigned long k = strtoul(mark + 1, &semi, 10);
    char name[32];
    snprintf(name, sizeof name, L->local[k] ? "t%lu" : "p%lu[i]", k);
    em_put_str(E, out, name);
    s = semi + 1;
  }
}

void em_loop_flush(Emitter *E) {
  Loop *L = &E->loop;
  if (!L->open)
    return;
  Buf body = {0}; /* declarations open the loop body */
  loop_locals(E, &body);
  render(E, &body);
  ctx_release(E->c, L->body.s);
  L->body = body;
  em_put(E, &E->body, "%.*s", (int)L->pre.n, L->pre.s ? L->pre.s : "");
  if (L->tb[0]) { /* never with threads: array_tanh, emit_ops.c */
    em_block_loop(E, L->n, &L->body, L->tb);
  } else if (loop_parallel(E)) {
    uint32_t id = E->npar++;
    par_body(E, id);
    par_call(E, id);
  } else {
    em_put(E, &E->body, "  for (i = 0; i < %s; i++) {\n%.*s  }\n", L->n,
        (int)L->body.n, L->body.s);
    E->used_i = 1;
  }
  em_put(E, &E->body, "%.*s", (int)L->post.n, L->post.s ? L->post.s : "");
  em_loop_reset(E);
}

/* Would a statement with the recorded reads, writing storage wkey, see a
 * value another statement of the loop has not written yet (or overwrite
 * one it still has to read)? */
static int loop_conflict(Emitter *E, uint32_t wkey) {
  Loop *L = &E->loop;
  if (wkey != NONE && L->shifted[wkey])
    return 1;
  for (uint32_t k = 0; k < E->nreads; k++)
    if (L->wrote[E->reads[k].key] && !E->reads[k].same)
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
    em_loop_flush(E);
  if (!L->open) {
    L->open = 1;
    snprintf(L->n, sizeof L->n, "%s", n);
  }
  if (pre->n)
    em_put(E, &L->pre, "%.*s", (int)pre->n, pre->s);
  em_put(E, &L->body, "%.*s", (int)stmt->n, stmt->s);
  if (post->n)
    em_put(E, &L->post, "%.*s", (int)post->n, post->s);
  for (uint32_t k = 0; k < E->nreads; k++) {
    uint32_t key = E->reads[k].key;
    if (!E->reads[k].same)
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
int em_join_ew(Emitter *E, uint32_t x) {
  const Shape *so = at(E, x)->shape;
  int64_t numel;
  if ((shape_numel_const(so, &numel) && numel == 1) ||
      !em_flat_operands(E, x, so, x))
    return 0;
  Buf pre = {0}, stmt = {0}, post = {0};
  char out[EM_EXPR], n[128];
  E->in_loop = 1, E->nreads = 0;
  em_target(E, x, "i", out, sizeof out);
  em_count_expr(so, 0, n, sizeof n);
  em_mark(E, x, &stmt);
  em_line_directive(E, x, &stmt);
  em_put_str(E, &stmt, "    ");
  em_store_open(E, &stmt, x, "i", out);
  em_ew_expr(E, &stmt, x, so, LOOP_FLAT, x);
  E->in_loop = 0;
  em_put_str(E, &stmt, ";\n");
  em_mark_end(E, &stmt);
  loop_join(E, x, n, em_storage_key(E, E->home[x]), &pre, &stmt, &post, NONE);
  if (em_stores_block(E, x)) /* the loop's last statement (em_node) */
    em_pointer(E, x, E->loop.tb, sizeof E->loop.tb);
  ctx_release(E->c, stmt.s);
  return 1;
}

/* A full sum, max or min over one flat loop: its accumulator a<k> is set
 * before the loop and copied to the result after it. */
int em_join_reduce(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  uint32_t in = nd.in[0];
  const Shape *si = at(E, in)->shape;
  const Reduction *r = em_reduction((Op)nd.op);
  int inl = em_inline_here(E, in, x);
  if (nd.shape->rank != 0 || !r || (inl && !em_flat_operands(E, in, si, x)))
    return 0;
  Buf pre = {0}, stmt = {0}, post = {0}, val = {0};
  char out[EM_EXPR], n[128], v[EM_EXPR], acc[16];
  uint32_t local = E->nacc_locals++;
  snprintf(acc, sizeof acc, "a%u", local);
  em_count_expr(si, 0, n, sizeof n);
  em_mark(E, x, &pre);
  em_put(E, &pre, "  %s = %s;\n", acc, r->init);
  em_mark_end(E, &pre);
  E->in_loop = 1, E->nreads = 0;
  if (inl) {
    em_ew_expr(E, &val, in, si, LOOP_FLAT, x);
  } else {
    em_value(E, in, em_is_scalar(E, in) ? "0" : "i", v, sizeof v);
    em_put_str(E, &val, v);
  }
  E->in_loop = 0;
  const char *ops[3] = {acc, val.s, ""};
  em_mark(E, x, &stmt);
  em_line_directive(E, x, &stmt);
  em_put(E, &stmt, "    %s = ", acc);
  em_substitute(E, &stmt, r->combine, ops);
  em_put_str(E, &stmt, ";\n");
  em_mark_end(E, &stmt);
  em_target(E, x, "0", out, sizeof out);
  em_mark(E, x, &post);
  em_put(E, &post, "  %s = %s;\n", out, acc);
  em_mark_end(E, &post);
  loop_join(E, x, n, NONE, &pre, &stmt, &post, em_storage_key(E, E->home[x]));
  Loop *L = &E->loop;
  L->fold[L->nfold++] = (Fold){local, r};
  if (L->nfold == MAX_ACC)
    em_loop_flush(E);
  ctx_release(E->c, pre.s), ctx_release(E->c, stmt.s);
  ctx_release(E->c, post.s), ctx_release(E->c, val.s);
  return 1;
}
/* A constant that a kernel needs in memory: fill its buffer. */

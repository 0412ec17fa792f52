/* emit_scan.c: the C of loops (loop.h): a LOOP node is a C loop that calls
 * its step's function, xc_loop_<id>, once per step; ROW, PUTROW and SHIFT
 * copy rows.
 *
 * A step function reads its holes and writes its results in buffers of
 * their own (plan_loops), S[slot]: before the loop the captured values and
 * the initial carries are copied into their holes; at each step the rows
 * of the sequences are, the step runs, and its results are copied into row
 * t of the LOOP's value and into the carries' holes for the next step.
 * Copies cost the size of the carries and rows per step, small beside the
 * step itself, and they keep the step function an ordinary entry function,
 * planned and emitted as every other one.
 */
#include "emit.h"

#include "loop.h"

/* dst[doff .. doff + w) = src[soff .. soff + w) (offsets as C), by
 * memcpy: the copies of rows and carries run at every step, and a loop of
 * them is slow in libtcc's code (memcpy is one of the symbols the JIT gives
 * the code, and the system compiler's objects link libc). */
static void copy(Emitter *E, const char *dst, const char *doff,
                 const char *src, const char *soff, int64_t w) {
  em_put(E, &E->body, "    {\n      void *memcpy(void *, const void *, "
                      "unsigned long);\n      memcpy(%s + (%s), %s + (%s), "
                      "%lldUL * sizeof *%s);\n    }\n",
         dst, doff, src, soff, (long long)w, src);
}

static int64_t width(Emitter *E, uint32_t hole) {
  int64_t n = 1;
  shape_numel_const(&E->g->hole[hole], &n);
  return n;
}

/* The captured values and the initial carries into their holes. */
static void loop_enter(Emitter *E, const LoopInfo *li, const char *init,
                       const char *caps) {
  char dst[40], off[32];
  for (int j = 0; j < li->ncap; j++) {
    uint32_t h = li->hole[li->k + li->m + j];
    em_slot(E, E->plan->hole_slot[h], dst, sizeof dst);
    snprintf(off, sizeof off, "%lldL", (long long)li->off[li->k + li->m + j]);
    copy(E, dst, "0", caps, off, width(E, h));
  }
  for (int j = 0; j < li->k - li->nout; j++) { /* outputs are not read */
    em_slot(E, E->plan->hole_slot[li->hole[j]], dst, sizeof dst);
    snprintf(off, sizeof off, "%lldL", (long long)li->off[j]);
    copy(E, dst, "0", init, off, width(E, li->hole[j]));
  }
}

/* One step: its rows in, the step, its results out to row t and back into
 * the carries' holes. */
static void loop_step(Emitter *E, uint32_t id, const LoopInfo *li,
                      const char *seqs, const char *out) {
  char dst[40], src[40], off[64];
  for (int j = 0; j < li->m; j++) {
    uint32_t h = li->hole[li->k + j];
    em_slot(E, E->plan->hole_slot[h], dst, sizeof dst);
    snprintf(off, sizeof off, "t*%lldL + %lldL", (long long)li->X,
             (long long)li->off[li->k + j]);
    copy(E, dst, "0", seqs, off, width(E, h));
  }
  em_put(E, &E->body, "    xc_loop_%u(D, S);\n", li->step);
  for (int j = 0; j < li->k; j++) {
    em_slot(E, E->plan->loop_slot[li->step][j], src, sizeof src);
    em_slot(E, E->plan->hole_slot[li->hole[j]], dst, sizeof dst);
    snprintf(off, sizeof off, "t*%lldL + %lldL", (long long)li->C,
             (long long)li->off[j]);
    if (!li->fold)
      copy(E, out, off, src, "0", width(E, li->hole[j]));
    if (j < li->k - li->nout)
      copy(E, dst, "0", src, "0", width(E, li->hole[j]));
  }
  (void)id;
}

/* A fold's value: the carries after the last step (the initial ones if
 * there was none), from their holes. */
static void loop_leave(Emitter *E, const LoopInfo *li, const char *out) {
  char src[40], off[32];
  for (int j = 0; j < li->k; j++) {
    em_slot(E, E->plan->hole_slot[li->hole[j]], src, sizeof src);
    snprintf(off, sizeof off, "%lldL", (long long)li->off[j]);
    copy(E, out, off, src, "0", width(E, li->hole[j]));
  }
}

/* The carries of loop li in their holes, to or from row `row` (C) of the
 * buffer p of li->C wide rows. */
static void carries(Emitter *E, const LoopInfo *li, const char *p,
                    const char *row, int save) {
  char hole[40], off[96];
  for (int j = 0; j < li->k; j++) {
    em_slot(E, E->plan->hole_slot[li->hole[j]], hole, sizeof hole);
    snprintf(off, sizeof off, "(%s)*%lldL + %lldL", row, (long long)li->C,
             (long long)li->off[j]);
    if (save)
      copy(E, p, off, hole, "0", width(E, li->hole[j]));
    else
      copy(E, hole, "0", p, off, width(E, li->hole[j]));
  }
}

/* The fold's step at t, recomputed: its rows in, its step, its results
 * back into its carries' holes. */
static void refold(Emitter *E, const LoopInfo *f, const char *xs) {
  LoopInfo plain = *f;
  plain.fold = 1;
  loop_step(E, f->step, &plain, xs, NULL);
}

/* The first pass: the fold forward from its initial carries, keeping the
 * carries before every K-th step in ck. */
static void ckpt_forward(Emitter *E, const LoopInfo *f, const char *initf,
                         const char *caps, const char *xs) {
  loop_enter(E, f, initf, caps);
  em_put_str(E, &E->body, "    for (t = 0; t < T; t++) {\n"
                          "      if (t % K == 0) {\n");
  carries(E, f, "ck", "t / K", 1);
  em_put_str(E, &E->body, "      }\n");
  refold(E, f, xs);
  em_put_str(E, &E->body, "    }\n");
}

/* One backward step of b at t: the fold's carries before step t (from buf
 * row j) and its rows at t into their holes, b's step, its results. */
static void ckpt_back_step(Emitter *E, const LoopInfo *b, const LoopInfo *f,
                           const char *xs, const char *out) {
  char hole[40], res[40], off[96];
  carries(E, f, "buf", "j", 0);
  for (int j = 0; j < f->m; j++) { /* the fold's rows at t */
    em_slot(E, E->plan->hole_slot[f->hole[f->k + j]], hole, sizeof hole);
    snprintf(off, sizeof off, "t*%lldL + %lldL", (long long)f->X,
             (long long)f->off[f->k + j]);
    copy(E, hole, "0", xs, off, width(E, f->hole[f->k + j]));
  }
  em_put(E, &E->body, "        xc_loop_%u(D, S);\n", b->step);
  for (int j = 0; j < b->k; j++) {
    em_slot(E, E->plan->loop_slot[b->step][j], res, sizeof res);
    em_slot(E, E->plan->hole_slot[b->hole[j]], hole, sizeof hole);
    snprintf(off, sizeof off, "t*%lldL + %lldL", (long long)b->C,
             (long long)b->off[j]);
    if (!b->fold)
      copy(E, out, off, res, "0", width(E, b->hole[j]));
    copy(E, hole, "0", res, "0", width(E, b->hole[j]));
  }
}

/* A backward loop b of fold f that recomputes f's carries from
 * checkpoints (loop.h); scratch: the checkpoints, then K carries. Segments
 * run from the last: K steps of f again from the segment's checkpoint,
 * keeping each carry in buf, then b's steps backwards over them. */
static void emit_ckpt(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  const LoopInfo *b = &E->g->loop[nd.u.word], *f = &E->g->loop[b->ckpt];
  int64_t T = at(E, nd.in[1])->shape->d[0], K = loop_ckpt_every(T);
  char in[64], initf[96], xs[64], caps[64] = "", out[64], res[32], hole[40];
  em_pointer(E, nd.in[0], in, sizeof in);
  em_pointer(E, nd.in[1], xs, sizeof xs);
  em_pointer(E, x, out, sizeof out);
  if (f->ncap)
    em_pointer(E, nd.in[2], caps, sizeof caps);
  snprintf(initf, sizeof initf, "(%s + %lldL)", in, (long long)b->C);
  em_put(E, &E->body, "  { /* loop %u: backwards from checkpoints of loop "
         "%u */\n    long T = %lldL, K = %lldL, nseg = (T + K - 1) / K, s, "
         "t, j, len;\n    xc_real *ck = (xc_real *)S[%d], *buf = ck + nseg*%lldL;\n",
         (uint32_t)nd.u.word, b->ckpt, (long long)T, (long long)K,
         E->home[x].aux, (long long)f->C);
  ckpt_forward(E, f, initf, caps, xs);
  for (int j = 0; j < b->k; j++) { /* b's own initial carries */
    em_slot(E, E->plan->hole_slot[b->hole[j]], hole, sizeof hole);
    snprintf(res, sizeof res, "%lldL", (long long)b->off[j]);
    copy(E, hole, "0", in, res, width(E, b->hole[j]));
  }
  em_put_str(E, &E->body, "    for (s = nseg - 1; s >= 0; s--) {\n"
                          "      len = T - s*K < K ? T - s*K : K;\n");
  carries(E, f, "ck", "s", 0);
  em_put_str(E, &E->body, "      for (j = 0; j < len; j++) {\n"
                          "        t = s*K + j;\n");
  carries(E, f, "buf", "j", 1);
  refold(E, f, xs);
  em_put_str(E, &E->body, "      }\n      for (j = len - 1; j >= 0; j--) {\n"
                          "        t = s*K + j;\n");
  ckpt_back_step(E, b, f, xs, out);
  em_put_str(E, &E->body, "      }\n    }\n    (void)t;\n");
  if (b->fold)
    loop_leave(E, b, out);
  em_put_str(E, &E->body, "  }\n");
}

static void emit_loop(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  uint32_t id = (uint32_t)nd.u.word;
  const LoopInfo *li = &E->g->loop[id];
  if (li->ckpt != NONE) {
    emit_ckpt(E, x);
    return;
  }
  char T[64], init[64], seqs[64], caps[64], out[64];
  em_dim_expr(at(E, nd.in[1])->shape->d[0], T, sizeof T); /* the rows' */
  em_pointer(E, nd.in[0], init, sizeof init);
  em_pointer(E, nd.in[1], seqs, sizeof seqs);
  em_pointer(E, x, out, sizeof out);
  if (li->ncap)
    em_pointer(E, nd.in[2], caps, sizeof caps);
  em_put(E, &E->body, "  { /* loop %u: %s %s over %s steps */\n"
                      "    long T = %s, s, t;\n", id, li->fold ? "a fold" : "a scan",
         li->reverse ? "backwards" : "forwards", T, T);
  loop_enter(E, li, init, caps);
  em_put(E, &E->body, "    for (s = 0; s < T; s++) {\n      t = %s;\n",
         li->reverse ? "T - 1 - s" : "s");
  loop_step(E, id, li, seqs, out);
  em_put_str(E, &E->body, "    }\n    (void)t;\n");
  if (li->fold)
    loop_leave(E, li, out);
  em_put_str(E, &E->body, "  }\n");
}

/* ROW: row 0 or row T-1 of in[0], or in[1] when T is 0. */
static void emit_row(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  char T[64], a[64], fb[64], out[64], off[64];
  int64_t w = 1;
  shape_numel_const(nd.shape, &w);
  em_dim_expr(at(E, nd.in[0])->shape->d[0], T, sizeof T);
  em_pointer(E, nd.in[0], a, sizeof a);
  em_pointer(E, nd.in[1], fb, sizeof fb);
  em_pointer(E, x, out, sizeof out);
  snprintf(off, sizeof off, nd.u.word ? "0" : "(T - 1)*%lldL", (long long)w);
  em_put(E, &E->body, "  {\n    long T = %s;\n    if (T > 0)\n", T);
  copy(E, out, "0", a, off, w);
  em_put_str(E, &E->body, "    else\n");
  copy(E, out, "0", fb, "0", w);
  em_put_str(E, &E->body, "  }\n");
}

/* PUTROW: zeros, with in[0] at row 0 or row T-1. */
static void emit_putrow(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  char T[64], a[64], out[64], off[64];
  int64_t w = nd.shape->d[1];
  em_dim_expr(nd.shape->d[0], T, sizeof T);
  em_pointer(E, nd.in[0], a, sizeof a);
  em_pointer(E, x, out, sizeof out);
  snprintf(off, sizeof off, nd.u.word ? "0" : "(T - 1)*%lldL", (long long)w);
  em_put(E, &E->body, "  {\n    long T = %s;\n"
                      "    for (i = 0; i < T*%lldL; i++)\n      %s[i] = 0.0;\n"
                      "    if (T > 0)\n", T, (long long)w, out);
  copy(E, out, off, a, "0", w);
  em_put_str(E, &E->body, "  }\n");
  E->used_i = 1;
}

/* SHIFT: row t is in[0]'s row t-1 (down) or t+1 (up); the row left over
 * is in[1]. */
static void emit_shift(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  char T[64], a[64], fill[64], out[64];
  int64_t w = nd.shape->d[1];
  int up = (int)nd.u.word;
  em_dim_expr(nd.shape->d[0], T, sizeof T);
  em_pointer(E, nd.in[0], a, sizeof a);
  em_pointer(E, nd.in[1], fill, sizeof fill);
  em_pointer(E, x, out, sizeof out);
  em_put(E, &E->body, "  {\n    long T = %s, t;\n"
                      "    for (t = 0; t < T; t++) {\n"
                      "      const xc_real *src = t == %s ? %s : %s + (t %s 1)*%lldL;\n",
         T, up ? "T - 1" : "0", fill, a, up ? "+" : "-", (long long)w);
  em_put(E, &E->body, "      for (i = 0; i < %lldL; i++)\n"
                      "        %s[t*%lldL + i] = src[i];\n    }\n  }\n",
         (long long)w, out, (long long)w);
  E->used_i = 1;
}

void em_loop_op(Emitter *E, uint32_t x) {
  switch (at(E, x)->op) {
  case OP_LOOP:
    emit_loop(E, x);
    return;
  case OP_ROW:
    emit_row(E, x);
    return;
  case OP_PUTROW:
    emit_putrow(E, x);
    return;
  default:
    emit_shift(E, x);
    return;
  }
}

void emit_step(Emitter *E, uint32_t id, Entry *e, const EntryPlan *ep) {
  char name[32], what[64];
  snprintf(name, sizeof name, "xc_loop_%u", id);
  snprintf(what, sizeof what, "the step of loop %u", id);
  em_function(E, e, name, what, ep);
}

/* emit_linalg.c: the statements of the linear-algebra nodes: a call of the
 * runtime's kernel (runtime/linalg.c) per node, over all its matrices at
 * once. The node's index is the site of the run-time errors the kernel may
 * report. */
#include "emit.h"
#include "linalg.h"

/* The number of matrices of shape s (the product of its leading axes). */
static void batch_expr(const Shape *s, char *buf, size_t n) {
  Shape lead = *s;
  lead.rank = s->rank >= 2 ? s->rank - 2 : 0;
  em_count_expr(&lead, 0, buf, n);
}

void em_linalg(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  const Shape *sa = at(E, nd.in[0])->shape;
  char batch[128], n[64], k[64] = "1L", pa[64], pb[64], px[64];
  batch_expr(sa, batch, sizeof batch);
  em_dim_expr(sa->d[sa->rank - 1], n, sizeof n);
  em_pointer(E, nd.in[0], pa, sizeof pa);
  em_pointer(E, x, px, sizeof px);
  if (nd.op == OP_CHOL) {
    em_put(E, &E->body, "  exprc_rt_chol%s(%uL, %s, %s, %s, %s);\n", em_rt(E),
           x, batch, n, pa, px);
    return;
  }
  if (nd.op == OP_DET || nd.op == OP_LOGDET) {
    em_put(E, &E->body, "  exprc_rt_det%s(%uL, %d, %s, %s, %s, %s);\n", em_rt(E), x,
           nd.op == OP_LOGDET, batch, n, pa, px);
    return;
  }
  const Shape *sb = at(E, nd.in[1])->shape;
  if (sb->rank == sa->rank)
    em_dim_expr(sb->d[sb->rank - 1], k, sizeof k);
  em_pointer(E, nd.in[1], pb, sizeof pb);
  int trans = (nd.u.form & LA_TRANS) != 0;
  if (nd.op == OP_TRSOLVE)
    em_put(E, &E->body,
           "  exprc_rt_trsolve%s(%uL, %d, %d, %s, %s, %s, %s, %s, %s);\n", em_rt(E), x,
           (nd.u.form & LA_LOWER) != 0, trans, batch, n, k, pa, pb, px);
  else
    em_put(E, &E->body, "  exprc_rt_lusolve%s(%uL, %d, %s, %s, %s, %s, %s, %s);\n",
           em_rt(E), x, trans, batch, n, k, pa, pb, px);
}

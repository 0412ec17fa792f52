/* emit_gather.c: the statements of the SH_INDEX ops of ops.def: gathers
 * (take, take_along_axis), the scatter-adds that are their gradients,
 * argmax/argmin, argsort, one_hot, and the swap of the last two axes that batched
 * products' gradients use.
 *
 * A gather reads only the rows its indices name, so its cost is that of
 * its result, never of the table. Every index is checked before it is
 * used: one outside [-n, n) is reported with exprc_rt_fail (the node is the
 * site, so the message names the model line) and its row is written as
 * zeros (a gather) or skipped (a scatter); nothing is read or written
 * outside a buffer. Scatters add in index order on one thread, so the
 * result is the same bits on every run and with any thread count.
 *
 * Each op views its operands as [outer, n, inner] around its axis, with the
 * sizes as C expressions (dims are D[k]). The statements use locals of
 * their own (gO, gJ, gI, gK, gV, gW) in a block.
 */
#include "emit.h"

#include <string.h>

/* A tensor as [outer, n, inner] around an axis, and m: the length of the
 * other side's axis (the indices' count for take), as C text. */
typedef struct Around {
  char outer[128], n[128], inner[128], m[128];
} Around;

/* s viewed as [outer, n, inner] around axis ax. */
static void around(const Shape *s, int ax, Around *a) {
  Shape pre = {.rank = ax};
  for (int i = 0; i < ax; i++)
    pre.d[i] = s->d[i];
  em_count_expr(&pre, 0, a->outer, sizeof a->outer);
  em_dim_expr(s->d[ax], a->n, sizeof a->n);
  em_count_expr(s, ax + 1, a->inner, sizeof a->inner);
}

/* The sizes into locals: gP outer, gN n, gM inner, gC m. */
static void sizes(Emitter *E, const Around *a) {
  em_put(E, &E->body, "    gP = %s; gN = %s; gM = %s; gC = %s;\n", a->outer,
         a->n, a->inner, a->m);
}

/* gV must be an index for an axis of size gN: else report it at site x and
 * run `otherwise` (which skips the element). gK is then the index. */
static void check_index(Emitter *E, uint32_t x, const char *otherwise) {
  em_put(E, &E->body,
         "      if (!(gV >= -(double)gN && gV < (double)gN)) {\n"
         "        exprc_rt_fail(%uL, EXPRC_RTE_INDEX, gV, (double)gN);\n"
         "        %s\n      }\n"
         "      gK = (long)gV < 0 ? (long)gV + gN : (long)gV;\n",
         x, otherwise);
}

static void zero_fill(Emitter *E, uint32_t x) {
  char n[128], out[320];
  em_count_expr(at(E, x)->shape, 0, n, sizeof n);
  em_target(E, x, "gI", out, sizeof out);
  em_put(E, &E->body, "    for (gI = 0; gI < %s; gI++)\n      %s = 0.0;\n", n,
         out);
}

/* TAKE, SCATTER: one index per [outer] row of the taken axis's slices. The
 * table (TAKE's input, SCATTER's result) is [outer, n, inner]; the values
 * (TAKE's result, SCATTER's input) are [outer, m, inner]. */
static void emit_take(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  int take = nd.op == OP_TAKE;
  const Shape *table = take ? at(E, nd.in[0])->shape : nd.shape;
  Around a;
  char idx[320], src[320], dst[320], bad[320], skip[400];
  around(table, (int)nd.u.axes, &a);
  em_count_expr(at(E, nd.in[1])->shape, 0, a.m, sizeof a.m);
  em_value(E, nd.in[1], "gJ", idx, sizeof idx);
  const char *tab = "(gO*gN + gK)*gM + gI", *val = "(gO*gC + gJ)*gM + gI";
  if (take) {
    em_value(E, nd.in[0], tab, src, sizeof src);
    em_target(E, x, val, dst, sizeof dst);
    em_target(E, x, val, bad, sizeof bad);
    snprintf(skip, sizeof skip, "for (gI = 0; gI < gM; gI++) %s = 0.0; "
             "continue;", bad);
  } else {
    zero_fill(E, x);
    em_value(E, nd.in[0], val, src, sizeof src);
    em_target(E, x, tab, dst, sizeof dst);
    snprintf(skip, sizeof skip, "continue;");
  }
  sizes(E, &a);
  em_put(E, &E->body, "    for (gO = 0; gO < gP; gO++)\n"
         "    for (gJ = 0; gJ < gC; gJ++) {\n      gV = %s;\n", idx);
  check_index(E, x, skip);
  em_put(E, &E->body, "      for (gI = 0; gI < gM; gI++)\n        %s %s= %s;\n"
         "    }\n", dst, take ? "" : "+", src);
}

/* TAKE_ALONG, SCATTER_ALONG: one index per element of the values
 * [outer, m, inner]; the table is [outer, n, inner]. */
static void emit_along(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  int take = nd.op == OP_TAKE_ALONG;
  const Shape *table = take ? at(E, nd.in[0])->shape : nd.shape;
  int ax = (int)nd.u.axes;
  Around a;
  char idx[320], src[320], dst[320], skip[400];
  around(table, ax, &a);
  em_dim_expr(at(E, nd.in[1])->shape->d[ax], a.m, sizeof a.m);
  em_value(E, nd.in[1], "gQ", idx, sizeof idx); /* gQ: the values' place */
  const char *tab = "(gO*gN + gK)*gM + gI";
  if (take) {
    em_value(E, nd.in[0], tab, src, sizeof src);
    em_target(E, x, "gQ", dst, sizeof dst);
    snprintf(skip, sizeof skip, "%s = 0.0; continue;", dst);
  } else {
    zero_fill(E, x);
    em_value(E, nd.in[0], "gQ", src, sizeof src);
    em_target(E, x, tab, dst, sizeof dst);
    snprintf(skip, sizeof skip, "continue;");
  }
  sizes(E, &a);
  em_put(E, &E->body, "    for (gO = 0; gO < gP; gO++)\n"
         "    for (gJ = 0; gJ < gC; gJ++)\n"
         "    for (gI = 0; gI < gM; gI++) {\n"
         "      gQ = (gO*gC + gJ)*gM + gI;\n"
         "      gV = %s;\n", idx);
  check_index(E, x, skip);
  em_put(E, &E->body, "      %s %s= %s;\n    }\n", dst, take ? "" : "+", src);
}

/* ARGMAX, ARGMIN over one axis, or over all (the index into the flattened
 * tensor, as NumPy). Ties: the first; a NaN wins over numbers, the first
 * NaN over later ones (NumPy). */
static void emit_arg(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  const Shape *si = at(E, nd.in[0])->shape;
  Around a;
  int all = nd.u.axes == (1LL << si->rank) - 1 && si->rank != 1;
  if (all) {
    strcpy(a.outer, "1L");
    em_count_expr(si, 0, a.n, sizeof a.n);
    strcpy(a.inner, "1L");
  } else {
    int ax = 0;
    while (!(nd.u.axes & (1LL << ax)))
      ax++;
    around(si, ax, &a);
  }
  strcpy(a.m, "1L");
  char first[320], each[320], out[320];
  em_value(E, nd.in[0], "(gO*gN)*gM + gI", first, sizeof first);
  em_value(E, nd.in[0], "(gO*gN + gJ)*gM + gI", each, sizeof each);
  em_target(E, x, "gO*gM + gI", out, sizeof out);
  sizes(E, &a);
  em_put(E, &E->body, "    for (gO = 0; gO < gP; gO++)\n"
         "    for (gI = 0; gI < gM; gI++) {\n"
         "      gV = gN > 0 ? %s : 0.0;\n"
         "      gK = 0;\n"
         "      for (gJ = 1; gJ < gN; gJ++) {\n"
         "        gW = %s;\n"
         "        if (gW %s gV || (gW != gW && gV == gV))\n"
         "          gV = gW, gK = gJ;\n"
         "      }\n"
         "      %s = (double)gK;\n    }\n",
         first, each, nd.op == OP_ARGMAX ? ">" : "<", out);
}

/* ARGSORT: a stable sort of each lane (the runtime's merge sort). A
 * constant that lives in no memory is all one value: 0 .. n-1. */
static void emit_argsort(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  Around a;
  around(nd.shape, (int)nd.u.axes, &a);
  strcpy(a.m, "1L");
  char pin[64], pout[64], out[320];
  sizes(E, &a);
  if (E->home[nd.in[0]].kind == H_INLINE) {
    em_target(E, x, "(gO*gN + gJ)*gM + gI", out, sizeof out);
    em_put(E, &E->body,
           "    for (gO = 0; gO < gP; gO++) for (gJ = 0; gJ < gN; gJ++)\n"
           "    for (gI = 0; gI < gM; gI++)\n      %s = (double)gJ;\n", out);
    return;
  }
  em_pointer(E, x, pout, sizeof pout);
  em_pointer(E, nd.in[0], pin, sizeof pin);
  em_put(E, &E->body, "    exprc_rt_argsort%s(%s, gP, gN, gM, %s);\n", em_rt(E),
         pin, pout);
}

/* ONE_HOT: 1 where the last axis's position equals the id, else 0 */
static void emit_one_hot(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  char n[128], id[320], out[320];
  em_count_expr(at(E, nd.in[0])->shape, 0, n, sizeof n);
  em_value(E, nd.in[0], "gO", id, sizeof id);
  em_target(E, x, "gO*gN + gJ", out, sizeof out);
  em_put(E, &E->body, "    gP = %s; gN = %lldL;\n"
         "    for (gO = 0; gO < gP; gO++) {\n      gV = %s;\n"
         "      for (gJ = 0; gJ < gN; gJ++)\n"
         "        %s = gV == (double)gJ ? 1.0 : 0.0;\n    }\n",
         n, (long long)nd.u.axes, id, out);
}

/* SWAPLAST: [.., r, c] -> [.., c, r] */
static void emit_swap(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  const Shape *si = at(E, nd.in[0])->shape;
  Around a; /* outer: the batch; n: r; inner: c */
  around(si, si->rank - 2, &a);
  strcpy(a.m, "1L");
  char in[320], out[320];
  em_value(E, nd.in[0], "(gO*gN + gJ)*gM + gI", in, sizeof in);
  em_target(E, x, "(gO*gM + gI)*gN + gJ", out, sizeof out);
  sizes(E, &a);
  em_put(E, &E->body,
         "    for (gO = 0; gO < gP; gO++) for (gJ = 0; gJ < gN; gJ++)\n"
         "    for (gI = 0; gI < gM; gI++)\n      %s = %s;\n", out, in);
}

void em_gather(Emitter *E, uint32_t x) {
  Op op = (Op)at(E, x)->op;
  em_put_str(E, &E->body, "  {\n    long gO, gJ, gI, gK, gQ, gP, gN, gM, gC;\n"
             "    double gV, gW;\n");
  if (op == OP_TAKE || op == OP_SCATTER)
    emit_take(E, x);
  else if (op == OP_TAKE_ALONG || op == OP_SCATTER_ALONG)
    emit_along(E, x);
  else if (op == OP_ARGMAX || op == OP_ARGMIN)
    emit_arg(E, x);
  else if (op == OP_ARGSORT)
    emit_argsort(E, x);
  else if (op == OP_ONE_HOT)
    emit_one_hot(E, x);
  else
    emit_swap(E, x);
  em_put_str(E, &E->body, "    (void)gO, (void)gJ, (void)gI, (void)gK, "
             "(void)gQ;\n    (void)gP, (void)gN, (void)gM, (void)gC;\n"
             "    (void)gV, (void)gW;\n  }\n");
}

/* emit_ops.c: one statement per node that is not a plain elementwise
 * expression: constants a kernel needs in memory, reshapes and transposes,
 * reductions over axes, windows (slices and pads), and matrix products
 * (the runtime's gemm). em_node dispatches on the op's shape rule.
 */
#include "emit.h"

#include <string.h>

#include "runtime.h" /* EXPRC_RT_TANH_BLOCK */

void em_fill(Emitter *E, uint32_t x) {
  Node *nd = at(E, x);
  char lit[64], out[EM_EXPR], n[128];
  if (nd->op == OP_DIMVAL)
    snprintf(lit, sizeof lit, "((double)D[%lld])", (long long)nd->u.dim);
  else
    em_number(nd->val, lit, sizeof lit);
  em_count_expr(nd->shape, 0, n, sizeof n);
  em_target(E, x, "i", out, sizeof out);
  em_put(E, &E->body, "  for (i = 0; i < %s; i++)\n    %s = %s;\n", n, out, lit);
  E->used_i = 1;
}

/* ---- data movement and reductions ---- */

static void emit_reshape(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  char n[128], in[EM_EXPR], out[EM_EXPR];
  em_count_expr(nd.shape, 0, n, sizeof n);
  em_value(E, nd.in[0], em_is_scalar(E, nd.in[0]) ? "0" : "i", in, sizeof in);
  em_target(E, x, "i", out, sizeof out);
  em_put(E, &E->body, "  for (i = 0; i < %s; i++)\n    %s = %s;\n", n, out, in);
  E->used_i = 1;
}

static void emit_transpose(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  const Shape *so = nd.shape, *si = at(E, nd.in[0])->shape;
  char idx[EM_EXPR] = "", st[128], in[EM_EXPR], out[EM_EXPR];
  size_t len = 0;
  for (int j = 0; j < so->rank; j++) {
    int from = nd.u.word ? PERM_AXIS(nd.u.word, j) : so->rank - 1 - j;
    em_count_expr(si, from + 1, st, sizeof st);
    len += (size_t)snprintf(idx + len, sizeof idx - len, "%si%d*%s",
                            j ? " + " : "", j, st);
  }
  em_value(E, nd.in[0], so->rank ? idx : "0", in, sizeof in);
  em_target(E, x, "o", out, sizeof out);
  em_copy_loop(E, so, out, in);
}

/* ---- reductions ---- */

static const Reduction reductions[] = {
    {OP_SUM, '+', "0.0", "a + b"},
    {OP_MAX, '>', "(-1.0/0.0)", "(b > a ? b : a)"},
    {OP_MIN, '<', "(1.0/0.0)", "(b < a ? b : a)"},
};

const Reduction *em_reduction(Op op) {
  for (size_t k = 0; k < sizeof reductions / sizeof reductions[0]; k++)
    if (reductions[k].op == op)
      return &reductions[k];
  return NULL;
}

/* The flat index of the result element that input position (i0, i1, ...)
 * reduces to, for a reduction of shape si over mask into shape so. */
static void reduced_index(const Shape *si, const Shape *so, int64_t mask,
                          char *buf, size_t n) {
  size_t len = 0;
  int k = 0;
  char st[128];
  buf[0] = 0;
  for (int j = 0; j < si->rank; j++) {
    if (mask & (1 << j))
      continue;
    em_count_expr(so, ++k, st, sizeof st);
    if (strcmp(st, "1L") == 0)
      len += (size_t)snprintf(buf + len, n - len, "%si%d", len ? " + " : "", j);
    else
      len += (size_t)snprintf(buf + len, n - len, "%si%d*%s",
                              len ? " + " : "", j, st);
  }
  if (!len)
    snprintf(buf, n, "0");
}

/* The flat index of input position (i0, i1, ...) of shape si. */
static void flat_index(const Shape *si, char *buf, size_t n) {
  size_t len = 0;
  char st[128];
  buf[0] = 0;
  for (int j = 0; j < si->rank && len < n; j++) {
    em_count_expr(si, j + 1, st, sizeof st);
    len += (size_t)snprintf(buf + len, n - len, "%si%d*%s", j ? " + " : "", j,
                            st);
  }
  if (!len)
    snprintf(buf, n, "0");
}

/* A float32 model's reduction over axes: each result element in the double
 * local acc, its reduced axes innermost, stored once (the loop of
 * reduce_pass would add into the float result, rounding at every step).
 * o is set from the indices, as the input's value expects it. */
static void reduce_in_double(Emitter *E, const Shape *si, int64_t mask,
                             const char *const op[3], const char *combine) {
  char d[32], o[EM_EXPR];
  int k = 0, a = 0;
  flat_index(si, o, sizeof o);
  for (int pass = 0; pass < 2; pass++) { /* kept axes, then reduced ones */
    for (int j = 0; j < si->rank; j++)
      if (((mask >> j) & 1) == pass) {
        em_dim_expr(si->d[j], d, sizeof d);
        em_put(E, &E->body, "%*sfor (i%d = 0; i%d < %s; i%d++)\n", 2 + 2 * k++,
               "", j, j, d, j);
      }
    em_put(E, &E->body, "%*s{\n", 2 + 2 * k, "");
    if (pass == 0) {
      a = k++;
      em_put(E, &E->body, "%*sacc = %s;\n", 2 + 2 * k, "", op[0]);
    }
  }
  const char *const inner[3] = {"acc", op[1], op[2]};
  em_put(E, &E->body, "%*so = %s;\n%*sacc = ", 4 + 2 * k, "", o, 4 + 2 * k, "");
  em_substitute(E, &E->body, combine, inner);
  em_put(E, &E->body, ";\n%*s}\n%*s%s = acc;\n%*s}\n", 2 + 2 * k, "",
         4 + 2 * a, "", op[0], 2 + 2 * a, "");
  if (si->rank > E->depth)
    E->depth = si->rank;
  E->used_acc = E->used_o = 1;
}

/* One pass over every element of node x's input: acc = combine(acc, value,
 * aux), where combine is an expression over a (the accumulator), b (the
 * input element) and c (the aux element, at the same result position).
 * accp/auxp name result-shaped arrays; NULL means the locals acc / acc2 of a
 * full reduction. */
static void reduce_pass(Emitter *E, uint32_t x, const char *accp,
                        const char *auxp, const char *combine) {
  Node nd = *at(E, x);
  uint32_t in = nd.in[0];
  const Shape *si = at(E, in)->shape;
  int fused = em_inline_here(E, in, x);
  int full = nd.shape->rank == 0 && (!fused || em_flat_operands(E, in, si, x));
  char oidx[EM_EXPR], ops[3][EM_EXPR], n[128];
  Buf val = {0};
  reduced_index(si, nd.shape, nd.u.axes, oidx, sizeof oidx);
  snprintf(ops[0], sizeof ops[0], accp ? "%s[%s]" : "acc", accp, oidx);
  snprintf(ops[2], sizeof ops[2], auxp ? "%s[%s]" : "acc2", auxp, oidx);
  if (fused) { /* the elementwise input is computed in this loop */
    em_ew_expr(E, &val, in, si, full ? LOOP_FLAT : LOOP_NESTED, x);
  } else {
    em_value(E, in, em_is_scalar(E, in) ? "0" : full ? "i" : "o", ops[1],
          sizeof ops[1]);
    em_put_str(E, &val, ops[1]);
  }
  if (E->f32 && accp) {
    const char *const op[3] = {ops[0], val.s, ops[2]};
    reduce_in_double(E, si, nd.u.axes, op, combine);
    ctx_release(E->c, val.s);
    return;
  }
  if (full) {
    em_count_expr(si, 0, n, sizeof n);
    em_put(E, &E->body, "  for (i = 0; i < %s; i++)\n    %s = ", n, ops[0]);
    E->used_i = 1;
  } else {
    em_put_str(E, &E->body, "  o = 0;\n");
    em_loops_open(E, si);
    em_put(E, &E->body, "%*s%s = ", 4 + 2 * si->rank, "", ops[0]);
    E->used_o = 1;
  }
  const char *const op[3] = {ops[0], val.s, ops[2]};
  em_substitute(E, &E->body, combine, op);
  em_put_str(E, &E->body, ";\n");
  ctx_release(E->c, val.s);
  if (!full) {
    em_put(E, &E->body, "%*so++;\n", 4 + 2 * si->rank, "");
    em_loops_close(E, si);
  }
}

/* Set a result-shaped array (or the local acc) to a value. */
static void reduce_init(Emitter *E, uint32_t x, const char *accp,
                        const char *init) {
  char n[128];
  if (!accp) {
    em_put(E, &E->body, "  acc = %s;\n", init);
    return;
  }
  em_count_expr(at(E, x)->shape, 0, n, sizeof n);
  em_put(E, &E->body, "  for (i = 0; i < %s; i++)\n    %s[i] = %s;\n", n, accp,
      init);
  E->used_i = 1;
}

/* A shift for exp(x - m) that is m itself unless m is infinite or NaN
 * (m - m is then not 0), so that all -inf inputs give -inf, not NaN. */
#define SHIFT(m) "(" m " - " m " == 0.0 ? " m " : 0.0)"

/* logsumexp: max, then the sum of exp(x - max), then max + log(sum). */
static void emit_lse(Emitter *E, uint32_t x, const char *outp) {
  char tp[32], out[EM_EXPR];
  const Reduction *max = em_reduction(OP_MAX);
  reduce_init(E, x, outp, max->init);
  reduce_pass(E, x, outp, NULL, max->combine);
  if (!outp) {
    em_target(E, x, "0", out, sizeof out);
    em_put_str(E, &E->body, "  acc2 = acc;\n  acc = 0.0;\n");
    reduce_pass(E, x, NULL, NULL, "a + xc_exp(b - " SHIFT("c") ")");
    em_put(E, &E->body, "  %s = " SHIFT("acc2") " + log(acc);\n", out);
    E->used_acc2 = 1;
    return;
  }
  char n[128];
  snprintf(tp, sizeof tp, "p%d", E->home[x].aux);
  reduce_init(E, x, tp, "0.0");
  reduce_pass(E, x, tp, outp, "a + xc_exp(b - " SHIFT("c") ")");
  em_count_expr(at(E, x)->shape, 0, n, sizeof n);
  em_put(E, &E->body, "  for (i = 0; i < %s; i++)\n    %s[i] = " SHIFT("%s[i]")
      " + log(%s[i]);\n", n, outp, outp, outp, outp, tp);
}

/* A sum over leading axes of a stored array (a bias's gradient) is one
 * exprc_rt_colsum call: compiled ahead of time and vectorised, where
 * libtcc's nested loop costs several times more; it adds in the loop's
 * order, so the bits are the same (float32 models: in double, as their
 * loops add). */
static int leading_sum(Emitter *E, uint32_t x, const char *outp) {
  Node nd = *at(E, x);
  uint32_t in = nd.in[0];
  const Shape *si = at(E, in)->shape;
  int lead = nd.shape->rank > 0 ? si->rank - nd.shape->rank : 0;
  if (nd.op != OP_SUM || lead <= 0 ||
      nd.u.axes != ((int64_t)1 << lead) - 1 ||
      em_inline_here(E, in, x) || E->home[in].kind != H_SLOT)
    return 0;
  char m[128], n[128], pin[64];
  Shape rows = *si;
  rows.rank = lead;
  em_count_expr(&rows, 0, m, sizeof m);
  em_count_expr(si, lead, n, sizeof n);
  em_pointer(E, in, pin, sizeof pin);
  em_put(E, &E->body, "  exprc_rt_colsum%s(%s, %s, %s, %s);\n", em_rt(E), m, n,
         pin, outp);
  return 1;
}

/* sum, max, min, logsumexp over the axes in the mask. */
static void emit_reduce(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  char outp[64], out[EM_EXPR];
  const char *accp = NULL;
  if (nd.shape->rank > 0) {
    em_pointer(E, x, outp, sizeof outp);
    accp = outp;
    if (leading_sum(E, x, outp))
      return;
  }
  E->used_acc |= accp == NULL;
  if (nd.op == OP_LSE) {
    emit_lse(E, x, accp);
    return;
  }
  /* prod folds as the others do, but is not merged into flat loops (the
   * parallel runtime knows + > < only) */
  static const Reduction prod = {OP_PROD, '*', "1.0", "a * b"};
  const Reduction *r = nd.op == OP_PROD ? &prod : em_reduction((Op)nd.op);
  reduce_init(E, x, accp, r->init);
  reduce_pass(E, x, accp, NULL, r->combine);
  if (!accp) {
    em_target(E, x, "0", out, sizeof out);
    em_put(E, &E->body, "  %s = acc;\n", out);
  }
}

/* ---- windows: slicing and its gradient ---- */

/* The flat index into shape s at loop position (i0 + start0, i1 + ...). */
static void offset_index(const Shape *s, const int32_t *start, char *buf,
                         size_t n) {
  size_t len = 0;
  char st[128];
  buf[0] = 0;
  for (int j = 0; j < s->rank; j++) {
    em_count_expr(s, j + 1, st, sizeof st);
    len += (size_t)snprintf(buf + len, n - len, "%s(i%d + %lldL)*%s",
                            j ? " + " : "", j, (long long)start[j], st);
  }
  if (!len)
    snprintf(buf, n, "0");
}

/* SLICE reads a window of its input; PAD writes its input into a window of
 * zeros. Both loop over the smaller shape. */
static void emit_window(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  const Shape *si = at(E, nd.in[0])->shape;
  const Shape *small = nd.op == OP_SLICE ? nd.shape : si;
  const Shape *big = nd.op == OP_SLICE ? si : nd.shape;
  char idx[EM_EXPR], in[EM_EXPR], out[EM_EXPR], n[128];
  offset_index(big, nd.start, idx, sizeof idx);
  if (nd.op == OP_PAD) {
    em_count_expr(nd.shape, 0, n, sizeof n);
    em_target(E, x, "i", out, sizeof out);
    em_put(E, &E->body, "  for (i = 0; i < %s; i++)\n    %s = 0.0;\n", n, out);
    E->used_i = 1;
  }
  em_value(E, nd.in[0], nd.op == OP_SLICE ? idx : "o", in, sizeof in);
  if (em_is_scalar(E, nd.in[0]))
    em_value(E, nd.in[0], "0", in, sizeof in);
  em_target(E, x, nd.op == OP_SLICE ? "o" : idx, out, sizeof out);
  em_copy_loop(E, small, out, in);
}

/* The offset of operand s's matrix for batch element bO of the result's
 * batch shape ob, as C statements adding to `var`: the result's batch
 * index, taken apart axis by axis from the last, picks the operand's
 * matrix; an axis the operand lacks or has as 1 (broadcast) picks none. */
static void batch_offset(Emitter *E, const Shape *s, const Shape *ob,
                         const char *var) {
  char st[160], d[32];
  int nb = s->rank > 2 ? s->rank - 2 : 0;
  em_put(E, &E->body, "      bR = bO; %s = 0;\n", var);
  for (int j = ob->rank - 1, i = nb - 1; j >= 0 && i >= 0; j--, i--) {
    em_dim_expr(ob->d[j], d, sizeof d);
    em_count_expr(s, i + 1, st, sizeof st); /* its matrices after axis i */
    if (s->d[i] != 1 || ob->d[j] == 1)
      em_put(E, &E->body, "      %s += (bR %% %s) * %s;\n", var, d, st);
    em_put(E, &E->body, "      bR /= %s;\n", d);
  }
}

/* A batched product (NumPy matmul, an operand of rank 3 or more): one gemm
 * per matrix of the result, each reading its operands' matrices where the
 * broadcast batch axes put them. Where b is one matrix (or vector) for all
 * and a's matrices are stored as they are read (not through a transpose),
 * a's rows follow one another across its matrices, and so do the result's:
 * one gemm of all the rows, as x @ W of a batch of sequences is, packs W
 * once and gives BLAS one large product instead of many small ones. */
static void emit_batched(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  int ta, tb;
  uint32_t a = plan_gemm_operand(E->g, nd.in[0], &ta);
  uint32_t b = plan_gemm_operand(E->g, nd.in[1], &tb);
  const Shape *sa = at(E, nd.in[0])->shape, *sb = at(E, nd.in[1])->shape;
  Shape ob = *nd.shape; /* the result's batch axes */
  ob.rank -= (sa->rank > 1) + (sb->rank > 1);
  char m[32] = "1L", n[32] = "1L", k[32], nb[128], mn[160];
  char pa[64], pb[64], pc[64];
  if (sa->rank > 1)
    em_dim_expr(sa->d[sa->rank - 2], m, sizeof m);
  if (sb->rank > 1)
    em_dim_expr(sb->d[sb->rank - 1], n, sizeof n);
  em_dim_expr(sa->d[sa->rank - 1], k, sizeof k);
  em_count_expr(&ob, 0, nb, sizeof nb);
  em_count_expr(nd.shape, ob.rank, mn, sizeof mn);
  em_pointer(E, a, pa, sizeof pa);
  em_pointer(E, b, pb, sizeof pb);
  em_pointer(E, x, pc, sizeof pc);
  if (sb->rank <= 2 && !ta) { /* one b for every matrix of a, whose rows */
    em_put(E, &E->body, "  exprc_rt_gemm%s(0, %d, (%s)*%s, %s, %s, %s, %s, "
           "%s);\n", em_rt(E), tb, nb, m, n, k, pa, pb, pc); /* follow on */
    return;
  }
  em_put(E, &E->body, "  {\n    long bO, bR, bA, bB;\n"
         "    for (bO = 0; bO < %s; bO++) {\n", nb);
  batch_offset(E, sa, &ob, "bA");
  batch_offset(E, sb, &ob, "bB");
  em_put(E, &E->body, "      exprc_rt_gemm%s(%d, %d, %s, %s, %s, %s + bA, "
         "%s + bB, %s + bO*%s);\n    }\n    (void)bR;\n  }\n", em_rt(E), ta, tb, m, n,
         k, pa, pb, pc, mn);
}

/* The flat index into the big shape of a STEP or UNSTEP at the loop
 * position over the small one: axis k walks by the step, from the front
 * (step > 0) or from the back. */
static void step_index(const Node *nd, const Shape *big, char *buf, size_t n) {
  int k = (int)nd->u.axes;
  int64_t skip = nd->start[0], step = nd->start[1];
  size_t len = 0;
  char st[128], d[32];
  for (int j = 0; j < big->rank; j++) {
    em_count_expr(big, j + 1, st, sizeof st);
    em_dim_expr(big->d[j], d, sizeof d);
    if (j != k)
      len += (size_t)snprintf(buf + len, n - len, "%si%d*%s", j ? " + " : "",
                              j, st);
    else if (step > 0)
      len += (size_t)snprintf(buf + len, n - len, "%s(%lldL + i%d*%lldL)*%s",
                              j ? " + " : "", (long long)skip, j,
                              (long long)step, st);
    else
      len += (size_t)snprintf(buf + len, n - len,
                              "%s(%s - %lldL - i%d*%lldL)*%s", j ? " + " : "",
                              d, (long long)(skip + 1), j, (long long)-step, st);
  }
}

/* STEP reads every step-th element along its axis; UNSTEP writes its input
 * to those places in zeros. Both loop over the smaller shape. */
static void emit_strided(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  const Shape *si = at(E, nd.in[0])->shape;
  int unstep = nd.op == OP_UNSTEP;
  const Shape *small = unstep ? si : nd.shape, *big = unstep ? nd.shape : si;
  char idx[512], in[600], out[600], n[128];
  step_index(&nd, big, idx, sizeof idx);
  if (unstep) {
    em_count_expr(nd.shape, 0, n, sizeof n);
    em_target(E, x, "i", out, sizeof out);
    em_put(E, &E->body, "  for (i = 0; i < %s; i++)\n    %s = 0.0;\n", n, out);
    E->used_i = 1;
  }
  em_value(E, nd.in[0], unstep ? "o" : idx, in, sizeof in);
  em_target(E, x, unstep ? idx : "o", out, sizeof out);
  em_copy_loop(E, small, out, in);
}

static void emit_matmul(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  int ta, tb;
  if (at(E, nd.in[0])->shape->rank > 2 || at(E, nd.in[1])->shape->rank > 2) {
    emit_batched(E, x);
    return;
  }
  uint32_t a = plan_gemm_operand(E->g, nd.in[0], &ta);
  uint32_t b = plan_gemm_operand(E->g, nd.in[1], &tb);
  const Shape *sa = at(E, nd.in[0])->shape, *sb = at(E, nd.in[1])->shape;
  char m[32] = "1L", n[32] = "1L", k[32], pa[64], pb[64], pc[64];
  if (sa->rank == 2)
    em_dim_expr(sa->d[0], m, sizeof m);
  if (sb->rank == 2)
    em_dim_expr(sb->d[1], n, sizeof n);
  em_dim_expr(sb->d[0], k, sizeof k);
  em_pointer(E, a, pa, sizeof pa);
  em_pointer(E, b, pb, sizeof pb);
  em_pointer(E, x, pc, sizeof pc);
  em_put(E, &E->body, "  exprc_rt_gemm%s(%d, %d, %s, %s, %s, %s, %s, %s);\n",
         em_rt(E), ta, tb, m, n, k, pa, pb, pc);
}

static void node_statement(Emitter *E, uint32_t x) {
  Node *nd = at(E, x);
  switch (op_info[nd->op].shape) {
  case SH_LEAF:
    em_fill(E, x);
    return;
  case SH_EW:
    em_ew(E, x);
    return;
  case SH_TARGET:
    if (nd->op == OP_BCAST)
      em_ew(E, x);
    else
      emit_reshape(E, x);
    return;
  case SH_TRANSPOSE:
    emit_transpose(E, x);
    return;
  case SH_REDUCE:
    emit_reduce(E, x);
    return;
  case SH_WINDOW:
    emit_window(E, x);
    return;
  case SH_MATMUL:
    emit_matmul(E, x);
    return;
  case SH_LINALG:
    em_linalg(E, x);
    return;
  case SH_INDEX:
    em_gather(E, x);
    return;
  case SH_ALONG:
    em_along(E, x);
    return;
  case SH_STEP:
    emit_strided(E, x);
    return;
  case SH_CONV:
    em_conv(E, x);
    return;
  case SH_RANDOM:
    em_random(E, x);
    return;
  case SH_LOOP:
    em_loop_op(E, x);
    return;
  }
}

/* A tanh stored in a buffer is computed in two steps: its loop stores the
 * argument, then one exprc_rt_tanh call maps the array in place. The call
 * is vectorised (runtime/kernels.c), five times libm's tanh, and gives the
 * same bits as xc_tanh, the tanh of an expression. A float32 array cannot
 * hold the argument, which is computed in double and not rounded: the
 * loop puts it in the block xc_tb, and each block goes through
 * exprc_rt_tanh_f32 (em_block_loop and block_nest, emit_expr.c). Not
 * with --threads, where the loop itself is split over the threads. */
static int array_tanh(Emitter *E, uint32_t x) {
  const Node *nd = at(E, x);
  int64_t numel;
  return nd->op == OP_TANH && E->home[x].kind == H_SLOT &&
         E->plan->threads <= 1 &&
         !(shape_numel_const(nd->shape, &numel) && numel == 1);
}

void em_node(Emitter *E, uint32_t x) {
  Node *nd = at(E, x);
  int whole = array_tanh(E, x);
  E->bare = whole ? x + 1 : 0;
  if (!((op_info[nd->op].flags & F_EW) && em_join_ew(E, x)) &&
      !(op_info[nd->op].shape == SH_REDUCE && em_join_reduce(E, x))) {
    em_loop_flush(E);
    em_mark(E, x, &E->body);
    em_line_directive(E, x, &E->body);
    node_statement(E, x);
    em_mark_end(E, &E->body);
  }
  E->bare = 0;
  if (whole) {
    char n[128], p[64];
    em_loop_flush(E); /* a float32 tanh's loop maps its blocks itself */
    if (E->f32)
      return;
    em_count_expr(nd->shape, 0, n, sizeof n);
    em_pointer(E, x, p, sizeof p);
    em_mark(E, x, &E->body);
    em_put(E, &E->body, "  exprc_rt_tanh(%s, %s, %s);\n", n, p, p);
    em_mark_end(E, &E->body);
  }
}

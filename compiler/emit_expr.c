/* emit_expr.c: elementwise expressions and the loop nests they run in.
 *
 * An elementwise node becomes one C expression over its operands, from the
 * op's CEXPR in ops.def with a, b and c replaced by the operands' values;
 * operands fused into it (plan.c) are computed inline, recursively. A loop
 * over a shape is flat (one counter i) when every operand can be read at
 * that counter, and nested (i0, i1, ... and a running position o) when some
 * operand is broadcast or a window.
 */
#include "emit.h"

#include <string.h>

#include "runtime.h" /* EXPRC_RT_TANH_BLOCK */
#include "scalar.h"

/* ---- loops ---- */

/* Open one loop per dim of s over i0, i1, ...; the caller writes the body
 * and closes them with loops_close. */
void em_loops_open(Emitter *E, const Shape *s) {
  char d[32];
  for (int j = 0; j < s->rank; j++) {
    em_dim_expr(s->d[j], d, sizeof d);
    em_put(E, &E->body, "%*sfor (i%d = 0; i%d < %s; i%d++)\n", 2 + 2 * j, "", j,
        j, d, j);
  }
  if (s->rank > E->depth)
    E->depth = s->rank;
  em_put(E, &E->body, "%*s{\n", 2 + 2 * s->rank, "");
}

void em_loops_close(Emitter *E, const Shape *s) {
  em_put(E, &E->body, "%*s}\n", 2 + 2 * s->rank, "");
}

/* out = in at every position of a loop nest over s, counting o. */
void em_copy_loop(Emitter *E, const Shape *s, const char *out,
                      const char *in) {
  em_put_str(E, &E->body, "  o = 0;\n");
  em_loops_open(E, s);
  em_put(E, &E->body, "%*s%s = %s;\n%*so++;\n", 4 + 2 * s->rank, "", out, in,
      4 + 2 * s->rank, "");
  em_loops_close(E, s);
  E->used_o = 1;
}

/* The flat index into x (of shape si) at the loop position over shape so,
 * where x broadcasts to so: dims of size 1 are not stepped. */
static void broadcast_index(const Shape *si, const Shape *so, char *buf,
                            size_t n) {
  size_t len = 0;
  int off = so->rank - si->rank;
  buf[0] = 0;
  for (int j = 0; j < si->rank; j++) {
    if (si->d[j] == 1)
      continue;
    char st[128];
    em_count_expr(si, j + 1, st, sizeof st);
    if (strcmp(st, "1L") == 0)
      len += (size_t)snprintf(buf + len, n - len, "%si%d", len ? " + " : "",
                              j + off);
    else
      len += (size_t)snprintf(buf + len, n - len, "%si%d*%s",
                              len ? " + " : "", j + off, st);
  }
  if (!len)
    snprintf(buf, n, "0");
}

/* ---- elementwise ops ---- */

#define XC_TEXT(...) "static inline double " #__VA_ARGS__ "\n",
const char *const em_helper_text[] = {XC_SCALAR_FNS(XC_TEXT) NULL};

/* The name in a helper's text: "static inline double NAME(...". */
static int helper_is(int k, const char *s, size_t n) {
  const char *name = em_helper_text[k] + strlen("static inline double ");
  return strncmp(name, s, n) == 0 && name[n] == '(';
}

/* Generated code defines only the helpers it calls (an unused static
 * function is a warning under some compilers' -Wall). */
static void mark_helper(Emitter *E, const char *s, size_t n) {
  for (int k = 0; em_helper_text[k]; k++)
    if (helper_is(k, s, n))
      E->used_helpers |= 1u << k;
}

/* Print cexpr with the identifiers a, b and c replaced by operand texts. */
void em_substitute(Emitter *E, Buf *b, const char *cexpr,
                       const char *const ops[3]) {
  for (const char *s = cexpr; *s;) {
    const char *t = s;
    if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_') {
      while ((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') ||
             (*t >= '0' && *t <= '9') || *t == '_')
        t++;
      if (t - s == 1 && *s >= 'a' && *s <= 'c') {
        em_put_str(E, b, ops[*s - 'a']);
        s = t;
        continue;
      }
      if (t - s > 3 && strncmp(s, "xc_", 3) == 0)
        mark_helper(E, s, (size_t)(t - s));
    } else {
      while (*t && !((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') ||
                     *t == '_'))
        t++;
    }
    em_put_mem(E, b, s, (size_t)(t - s));
    s = t;
  }
}

/* x ^ k for small constant k as multiplications: tcc calls libm for pow. */
static int small_power(Emitter *E, Buf *b, const Node *nd,
                       const char *const ops[3]) {
  double k;
  if (nd->op != OP_POW || !graph_is_const(E->g, nd->in[1], &k))
    return 0;
  const char *a = ops[0];
  if (k == 2)
    em_put(E, b, "(%s * %s)", a, a);
  else if (k == 3)
    em_put(E, b, "(%s * %s * %s)", a, a, a);
  else if (k == -1)
    em_put(E, b, "(1.0 / %s)", a);
  else if (k == -2)
    em_put(E, b, "(1.0 / (%s * %s))", a, a);
  else if (k == 0.5)
    em_put(E, b, "sqrt(%s)", a);
  else
    return 0;
  return 1;
}

/* Is y computed inside the loop of the node emitted at point `now`? Fused
 * values always are; rematerialized ones when read after their cut. */
int em_inline_here(Emitter *E, uint32_t y, uint32_t now) {
  return E->home[y].kind == H_FUSED ||
         (E->ep->remat[y] != NONE && now > E->ep->remat[y]);
}

static int is_window(const Node *nd) {
  return nd->op == OP_SLICE || nd->op == OP_PAD;
}

/* Can one flat counter index every stored operand of x's (inline) tree?
 * Yes when each is a scalar or has the loop's shape. A window (an inline
 * slice or pad) needs the position on each axis, so only a vector's flat
 * counter will do. */
int em_flat_operands(Emitter *E, uint32_t x, const Shape *so,
                         uint32_t now) {
  Node *nd = at(E, x);
  if (is_window(nd))
    return nd->shape->rank == 1;
  for (int k = 0; k < nd->nin; k++) {
    uint32_t y = nd->in[k];
    if (em_inline_here(E, y, now) ? !em_flat_operands(E, y, so, now)
                               : !em_is_scalar(E, y) &&
                                     !shape_eq(at(E, y)->shape, so))
      return 0;
  }
  return 1;
}


/* Append the value of elementwise node x at the current position of a loop
 * over shape so; operands fused into x are computed inline, recursively
 * (at most FUSE_MAX deep). */
/* A slice or pad computed inline at the loop position: a slice reads its
 * input shifted by its start; a pad reads it shifted back inside its
 * window and is 0 outside. The loop runs over the window node's shape. */
static void window_expr(Emitter *E, Buf *b, uint32_t x, int loop) {
  Node nd = *at(E, x);
  const Shape *si = at(E, nd.in[0])->shape;
  char var[16], st[128], d[32], idx[EM_EXPR] = "", val[EM_EXPR];
  size_t len = 0;
  int pad = nd.op == OP_PAD, conds = 0;
  if (pad)
    em_put_str(E, b, "((");
  for (int j = 0; j < nd.shape->rank; j++) {
    snprintf(var, sizeof var, loop == LOOP_ONE ? "0" : loop == LOOP_FLAT ? "i" : "i%d", j);
    em_count_expr(si, j + 1, st, sizeof st);
    char pos[64]; /* the position on the input's axis j */
    if (nd.start[j])
      snprintf(pos, sizeof pos, "(%s %s %lldL)", var, pad ? "-" : "+",
               (long long)nd.start[j]);
    else
      snprintf(pos, sizeof pos, "%s", var);
    len += (size_t)snprintf(idx + len, sizeof idx - len, "%s%s%s%s",
                            j ? " + " : "", pos, strcmp(st, "1L") ? "*" : "",
                            strcmp(st, "1L") ? st : "");
    /* test only the window's edges that the loop's own bounds do not */
    if (pad && nd.start[j] > 0)
      em_put(E, b, "%s%s >= %lldL", conds++ ? " && " : "", var,
          (long long)nd.start[j]);
    /* a symbolic axis is whole only when both sizes are the same size */
    if (pad && (DIM_IS_SYM(si->d[j]) || DIM_IS_SYM(nd.shape->d[j])
                    ? si->d[j] != nd.shape->d[j]
                    : nd.start[j] + si->d[j] < nd.shape->d[j])) {
      em_dim_expr(si->d[j], d, sizeof d);
      em_put(E, b, "%s%s < %lldL + %s", conds++ ? " && " : "", var,
          (long long)nd.start[j], d);
    }
  }
  em_value(E, nd.in[0], em_is_scalar(E, nd.in[0]) ? "0" : idx, val, sizeof val);
  if (pad)
    em_put(E, b, "%s) ? %s : 0.0)", conds ? "" : "1", val);
  else
    em_put_str(E, b, val);
}

void em_ew_expr(Emitter *E, Buf *b, uint32_t x, const Shape *so,
                    int loop, uint32_t now) {
  Node nd = *at(E, x);
  if (is_window(&nd)) {
    window_expr(E, b, x, loop);
    return;
  }
  Buf ops[3] = {{0}};
  const char *op[3] = {"", "", ""};
  char idx[EM_EXPR], val[EM_EXPR];
  for (int k = 0; k < nd.nin; k++) {
    uint32_t y = nd.in[k];
    if (em_inline_here(E, y, now)) {
      em_ew_expr(E, &ops[k], y, so, loop, now);
    } else {
      if (em_is_scalar(E, y) || loop == LOOP_ONE)
        snprintf(idx, sizeof idx, "0");
      else if (loop == LOOP_FLAT)
        snprintf(idx, sizeof idx, "i");
      else if (shape_eq(at(E, y)->shape, so))
        snprintf(idx, sizeof idx, "o"); /* the running position */
      else
        broadcast_index(at(E, y)->shape, so, idx, sizeof idx);
      em_value(E, y, idx, val, sizeof val);
      em_put_str(E, &ops[k], val);
    }
    op[k] = ops[k].s;
  }
  if (E->bare == x + 1) /* the op itself runs later over the whole array */
    em_put_str(E, b, op[0]);
  else if (!small_power(E, b, &nd, op))
    em_substitute(E, b, op_info[nd.op].cexpr, op);
  for (int k = 0; k < 3; k++)
    ctx_release(E->c, ops[k].s);
}

/* The start of the statement that stores x at flat index idx: "out = ",
 * or for a float32 tanh stored by blocks (E->bare, emit_ops.c) the place
 * of its argument in the block xc_tb, which starts at index xc_tb0. The
 * loops around it (em_block_loop, block_nest) leave no branch inside the
 * innermost loop, so that the system compiler vectorises it. */
void em_store_open(Emitter *E, Buf *b, uint32_t x, const char *idx,
                   const char *out) {
  if (em_stores_block(E, x)) {
    em_put(E, b, "xc_tb[%s - xc_tb0] = ", idx);
    E->used_tb = 1;
  } else {
    em_put(E, b, "%s = ", out);
  }
}

/* A flat loop by blocks: each pass fills xc_tb with the arguments of
 * elements xc_tb0 .. xc_tbe - 1 and maps them into p. The blocks are cut
 * where the tanh's elements are, so the bits do not depend on them: the
 * tanh of each element is the same function of it (kernels.c). */
void em_block_loop(Emitter *E, const char *n, const Buf *body, const char *p) {
  int B = EXPRC_RT_TANH_BLOCK;
  em_put(E, &E->body,
         "  for (xc_tb0 = 0; xc_tb0 < %s; xc_tb0 = xc_tbe) {\n"
         "    xc_tbe = (%s) - xc_tb0 < %d ? (%s) : xc_tb0 + %d;\n"
         "    for (i = xc_tb0; i < xc_tbe; i++) {\n%.*s    }\n"
         "    exprc_rt_tanh_f32(xc_tbe - xc_tb0, xc_tb, %s + xc_tb0);\n"
         "  }\n",
         n, n, B, n, B, (int)body->n, body->s ? body->s : "", p);
  E->used_i = E->used_tb = 1;
}

/* A nest of loops by blocks, for a tanh whose argument needs the indices
 * of every axis (a broadcast bias): the innermost loop runs in stretches
 * that fit in what is left of the block, which is mapped into p once
 * full, and its last part after the nest. */
static void block_nest(Emitter *E, uint32_t x, const Shape *so) {
  char d[32], p[64];
  int r = so->rank, B = EXPRC_RT_TANH_BLOCK, in = 2 + 2 * r;
  em_pointer(E, x, p, sizeof p);
  em_put_str(E, &E->body, "  o = 0;\n  xc_tb0 = 0;\n");
  for (int j = 0; j < r - 1; j++) {
    em_dim_expr(so->d[j], d, sizeof d);
    em_put(E, &E->body, "%*sfor (i%d = 0; i%d < %s; i%d++)\n", 2 + 2 * j, "",
           j, j, d, j);
  }
  em_dim_expr(so->d[r - 1], d, sizeof d);
  em_put(E, &E->body, "%*sfor (i%d = 0; i%d < %s; )\n%*s{\n", in - 2, "",
         r - 1, r - 1, d, in, "");
  em_put(E, &E->body, "%*sif (o - xc_tb0 == %d) {\n%*s  exprc_rt_tanh_f32(%d, "
         "xc_tb, %s + xc_tb0);\n%*s  xc_tb0 = o;\n%*s}\n", in + 2, "", B,
         in + 2, "", B, p, in + 2, "", in + 2, "");
  em_put(E, &E->body, "%*sxc_tbe = (%s) - i%d < %d - (o - xc_tb0) ? (%s) : "
         "i%d + %d - (o - xc_tb0);\n", in + 2, "", d, r - 1, B, d, r - 1, B);
  em_put(E, &E->body, "%*sfor (; i%d < xc_tbe; i%d++)\n%*s{\n%*s", in + 2, "",
         r - 1, r - 1, in + 4, "", in + 6, "");
  if (r > E->depth)
    E->depth = r;
  em_store_open(E, &E->body, x, "o", NULL);
  em_ew_expr(E, &E->body, x, so, LOOP_NESTED, x);
  em_put(E, &E->body, ";\n%*so++;\n%*s}\n%*s}\n"
         "  exprc_rt_tanh_f32(o - xc_tb0, xc_tb, %s + xc_tb0);\n",
         in + 6, "", in + 4, "", in, "", p);
  E->used_o = 1;
}

/* A float32 tanh's argument, stored by blocks. */
static void ew_blocks(Emitter *E, uint32_t x, const Shape *so, int loop) {
  char n[128], p[64];
  Buf stmt = {0};
  if (loop == LOOP_NESTED) {
    block_nest(E, x, so);
    return;
  }
  em_count_expr(so, 0, n, sizeof n);
  em_pointer(E, x, p, sizeof p);
  em_put_str(E, &stmt, "      ");
  em_store_open(E, &stmt, x, "i", NULL);
  em_ew_expr(E, &stmt, x, so, LOOP_FLAT, x);
  em_put_str(E, &stmt, ";\n");
  em_block_loop(E, n, &stmt, p);
  ctx_release(E->c, stmt.s);
}

void em_ew(Emitter *E, uint32_t x) {
  const Shape *so = at(E, x)->shape;
  int64_t numel;
  int loop = shape_numel_const(so, &numel) && numel == 1 ? LOOP_ONE
             : em_flat_operands(E, x, so, x)                ? LOOP_FLAT
                                                         : LOOP_NESTED;
  char out[EM_EXPR], n[128];
  const char *idx = loop == LOOP_ONE ? "0" : loop == LOOP_FLAT ? "i" : "o";
  if (em_stores_block(E, x)) {
    ew_blocks(E, x, so, loop);
    return;
  }
  em_target(E, x, idx, out, sizeof out);
  if (loop == LOOP_FLAT) {
    em_count_expr(so, 0, n, sizeof n);
    em_put(E, &E->body, "  for (i = 0; i < %s; i++)\n", n);
    E->used_i = 1;
  } else if (loop == LOOP_NESTED) {
    em_put_str(E, &E->body, "  o = 0;\n");
    em_loops_open(E, so);
    E->used_o = 1;
  }
  em_put(E, &E->body, "%*s",
         loop == LOOP_ONE ? 2 : loop == LOOP_FLAT ? 4 : 4 + 2 * so->rank, "");
  em_store_open(E, &E->body, x, idx, out);
  em_ew_expr(E, &E->body, x, so, loop, x);
  em_put_str(E, &E->body, ";\n");
  if (loop == LOOP_NESTED) {
    em_put(E, &E->body, "%*so++;\n", 4 + 2 * so->rank, "");
    em_loops_close(E, so);
  }
}

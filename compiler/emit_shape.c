/* emit_shape.c: the statements of the ops that work along one axis (the
 * SH_ALONG rule): flips, one-place shifts, the stable sort permutation and
 * its inverse, linear recurrences (cumsum and cumprod are made of them) and
 * logcumsumexp. Each is a loop over the rows of its axis: `outer` rows
 * before the axis, `inner` after it, so element t of a row lies at
 * b_ + t_ * in_.
 */
#include "emit.h"

#include <string.h>

#define ROW "(b_ + t_ * in_)"

/* Input k of x read at the flat index idx (index 0 of a scalar). */
static void operand(Emitter *E, uint32_t x, int k, const char *idx, char *buf,
                    size_t n) {
  uint32_t in = at(E, x)->in[k];
  em_value(E, in, em_is_scalar(E, in) ? "0" : idx, buf, n);
}

/* Open the loops over the rows of axis k of s: b_ is a row's first element. */
static void rows_open(Emitter *E, const Shape *s, int k) {
  char outer[128], len[32], inner[128];
  Shape t = *s;
  t.rank = k;
  em_count_expr(&t, 0, outer, sizeof outer);
  em_dim_expr(s->d[k], len, sizeof len);
  em_count_expr(s, k + 1, inner, sizeof inner);
  em_put(E, &E->body,
         "  {\n    long o_, j_, t_, u_, b_, n_ = %s, in_ = %s;\n"
         "    (void)u_;\n"
         "    for (o_ = 0; o_ < %s; o_++)\n"
         "      for (j_ = 0; j_ < in_; j_++) {\n"
         "        b_ = o_ * n_ * in_ + j_;\n", len, inner, outer);
}

static void rows_close(Emitter *E) { em_put_str(E, &E->body, "      }\n  }\n"); }

/* SHIFT: y[t] = x[t - 1] (reverse: x[t + 1]), 0 where that is outside. */
static void emit_shift(Emitter *E, uint32_t x, int rev) {
  char in[EM_EXPR], out[EM_EXPR];
  operand(E, x, 0, rev ? "(b_ + (t_ + 1) * in_)" : "(b_ + (t_ - 1) * in_)",
          in, sizeof in);
  em_target(E, x, ROW, out, sizeof out);
  em_put(E, &E->body, "        for (t_ = 0; t_ < n_; t_++)\n"
         "          %s = %s ? %s : 0.0;\n", out, rev ? "t_ + 1 < n_" : "t_ > 0",
         in);
}

/* LINREC(a, b): y[t] = b[t] + a[t] y[t-1] along the row (or reverse),
 * nothing multiplied in at the first step. CUMLSE: y[t] = logaddexp(y[t-1],
 * x[t]), exact for -inf and +inf. The step along the axis is the middle
 * loop, so that the innermost one runs over contiguous elements and reads
 * the previous step from the result itself. */
static void emit_scan(Emitter *E, uint32_t x, const Shape *s, int k, int rev) {
  char outer[128], len[32], inner[128], a[EM_EXPR], b[EM_EXPR], out[EM_EXPR],
      prev[EM_EXPR];
  Shape t = *s;
  t.rank = k;
  em_count_expr(&t, 0, outer, sizeof outer);
  em_dim_expr(s->d[k], len, sizeof len);
  em_count_expr(s, k + 1, inner, sizeof inner);
  em_target(E, x, "b_", out, sizeof out);
  em_target(E, x, rev ? "(b_ + in_)" : "(b_ - in_)", prev, sizeof prev);
  em_put(E, &E->body,
         "  {\n    long o_, j_, t_, u_, b_, n_ = %s, in_ = %s;\n"
         "    for (o_ = 0; o_ < %s; o_++)\n"
         "      for (u_ = 0; u_ < n_; u_++) {\n"
         "        t_ = %s;\n"
         "        for (j_ = 0; j_ < in_; j_++) {\n"
         "          b_ = (o_ * n_ + t_) * in_ + j_;\n",
         len, inner, outer, rev ? "n_ - 1 - u_" : "u_");
  operand(E, x, 0, "b_", a, sizeof a);
  if (at(E, x)->op == OP_LINREC) {
    operand(E, x, 1, "b_", b, sizeof b);
    em_put(E, &E->body, "          %s = %s + (u_ ? %s * %s : 0.0);\n", out, b,
           a, prev);
  } else {
    em_put(E, &E->body,
           "          double v_ = %s, y_, m_;\n"
           "          if (!u_) {\n"
           "            %s = v_;\n"
           "            continue;\n"
           "          }\n"
           "          y_ = %s;\n"
           "          m_ = y_ > v_ ? y_ : v_;\n"
           "          %s = m_ - m_ == 0.0 ? m_ + log1p(exp(-fabs(y_ - v_))) : m_;\n",
           a, out, prev, out);
  }
  em_put_str(E, &E->body, "        }\n      }\n  }\n");
}

/* The same along the last axis: each row is contiguous, and the running
 * value stays in a register. */
static void emit_scan_row(Emitter *E, uint32_t x, int rev) {
  char a[EM_EXPR], b[EM_EXPR], out[EM_EXPR];
  em_target(E, x, ROW, out, sizeof out);
  operand(E, x, 0, ROW, a, sizeof a);
  em_put(E, &E->body, "        double acc_ = 0.0, v_, m_;\n"
         "        for (u_ = 0; u_ < n_; u_++) {\n"
         "          t_ = %s;\n", rev ? "n_ - 1 - u_" : "u_");
  if (at(E, x)->op == OP_LINREC) {
    operand(E, x, 1, ROW, b, sizeof b);
    em_put(E, &E->body, "          acc_ = %s + (u_ ? %s * acc_ : 0.0);\n"
           "          (void)v_, (void)m_;\n", b, a);
  } else {
    em_put(E, &E->body,
           "          v_ = %s;\n"
           "          m_ = acc_ > v_ ? acc_ : v_;\n"
           "          acc_ = !u_ ? v_ : m_ - m_ == 0.0 ? m_ + log1p(exp(-fabs(acc_ - v_))) : m_;\n",
           a);
  }
  em_put(E, &E->body, "          %s = acc_;\n        }\n", out);
}

/* SORTBY, UNSORTBY: a bottom-up merge sort of each row's indices by key,
 * stable, NaN last (O(n log n)); the indices live in the scratch slot aux
 * at the row's own places, and the result buffer is the merge's temporary
 * until the values are moved into it. */
#define S_(i) "p%d[b_ + (" i ") * in_]"

static void emit_sort(Emitter *E, uint32_t x, int inverse) {
  char ka[EM_EXPR], kc[EM_EXPR], v[EM_EXPR], out[EM_EXPR], o2[EM_EXPR];
  char sa[64], sc[64], st[64];
  int p = E->home[x].aux;
  snprintf(sa, sizeof sa, "(b_ + (long)p%d[b_ + a_ * in_] * in_)", p);
  snprintf(sc, sizeof sc, "(b_ + (long)p%d[b_ + c_ * in_] * in_)", p);
  snprintf(st, sizeof st, "(b_ + (long)p%d[b_ + t_ * in_] * in_)", p);
  operand(E, x, 1, sa, ka, sizeof ka);
  operand(E, x, 1, sc, kc, sizeof kc);
  em_target(E, x, ROW, out, sizeof out);
  em_put(E, &E->body,
         "        long w_, lo_, mid_, hi_, a_, c_;\n"
         "        double ka_, kc_;\n"
         "        for (t_ = 0; t_ < n_; t_++)\n"
         "          " S_("t_") " = (double)t_;\n"
         "        for (w_ = 1; w_ < n_; w_ *= 2)\n"
         "          for (lo_ = 0; lo_ < n_; lo_ += 2 * w_) {\n"
         "            mid_ = lo_ + w_ < n_ ? lo_ + w_ : n_;\n"
         "            hi_ = lo_ + 2 * w_ < n_ ? lo_ + 2 * w_ : n_;\n"
         "            for (a_ = lo_, c_ = mid_, t_ = lo_; t_ < hi_; t_++) {\n"
         "              int right_ = a_ >= mid_;\n"
         "              if (a_ < mid_ && c_ < hi_) {\n"
         "                ka_ = %s;\n"
         "                kc_ = %s;\n"
         "                right_ = kc_ == kc_ && (ka_ != ka_ || kc_ < ka_);\n"
         "              }\n"
         "              %s = right_ ? " S_("c_++") " : " S_("a_++") ";\n"
         "            }\n"
         "            for (t_ = lo_; t_ < hi_; t_++)\n"
         "              " S_("t_") " = %s;\n"
         "          }\n",
         p, ka, kc, out, p, p, p, out);
  if (inverse) {
    operand(E, x, 0, ROW, v, sizeof v);
    em_target(E, x, st, o2, sizeof o2);
  } else {
    operand(E, x, 0, st, v, sizeof v);
    em_target(E, x, ROW, o2, sizeof o2);
  }
  em_put(E, &E->body, "        for (t_ = 0; t_ < n_; t_++)\n          %s = %s;\n",
         o2, v);
}

/* FLIP: a copy whose index runs backwards on the axes of the mask. */
static void emit_flip(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  const Shape *s = nd.shape;
  char idx[EM_EXPR] = "", st[128], d[32], in[EM_EXPR], out[EM_EXPR];
  size_t len = 0;
  for (int j = 0; j < s->rank; j++) {
    em_count_expr(s, j + 1, st, sizeof st);
    em_dim_expr(s->d[j], d, sizeof d);
    if (nd.u.axes & (1 << j))
      len += (size_t)snprintf(idx + len, sizeof idx - len,
                              "%s(%s - 1 - i%d)*%s", j ? " + " : "", d, j, st);
    else
      len += (size_t)snprintf(idx + len, sizeof idx - len, "%si%d*%s",
                              j ? " + " : "", j, st);
  }
  operand(E, x, 0, idx, in, sizeof in);
  em_target(E, x, "o", out, sizeof out);
  em_copy_loop(E, s, out, in);
  E->used_o = 1;
}

void em_along(Emitter *E, uint32_t x) {
  Node nd = *at(E, x);
  if (nd.op == OP_FLIP) {
    emit_flip(E, x);
    return;
  }
  int rev = (int)(nd.u.word >> 4) & 1, k = (int)(nd.u.word & 15);
  int scan = nd.op == OP_LINREC || nd.op == OP_CUMLSE;
  if (scan && k + 1 < nd.shape->rank) {
    emit_scan(E, x, nd.shape, k, rev);
    return;
  }
  rows_open(E, nd.shape, k);
  if (scan)
    emit_scan_row(E, x, rev);
  else if (nd.op == OP_SHIFT)
    emit_shift(E, x, rev);
  else
    emit_sort(E, x, nd.op == OP_UNSORTBY);
  rows_close(E);
}

/* emit_text.c: the emitter's text: growing buffers, sizes and values as C
 * expressions, and #line directives.
 *
 * Every C name that generated code uses is made here or from here (S, D,
 * p<slot>, r<local>, t<slot>, c<node>): nothing a model names reaches the C
 * text except the file name in #line, escaped as a C string.
 */
#include "emit.h"

#include <stdarg.h>
#include <string.h>

#include "io.h"

void PRINTF(3, 4) em_put(Emitter *E, Buf *b, const char *fmt, ...) {
  va_list ap;
  if (!b->s) /* never a NULL destination: gcc -O3 rejects one (-Werror) */
    vec_reserve(E->c, &b->s, &b->cap, 256, 1);
  for (;;) {
    uint32_t room = b->cap - b->n;
    va_start(ap, fmt);
    int k = vsnprintf(b->s + b->n, room, fmt, ap);
    va_end(ap);
    if ((uint32_t)k < room) {
      b->n += (uint32_t)k;
      return;
    }
    vec_reserve(E->c, &b->s, &b->cap, b->n + (uint32_t)k + 1, 1);
  }
}

/* Append n bytes (and keep the text NUL-terminated) without formatting:
 * most of the emitter's output is copied, and vsnprintf is its cost. */
void em_put_mem(Emitter *E, Buf *b, const char *s, size_t n) {
  vec_reserve(E->c, &b->s, &b->cap, b->n + (uint32_t)n + 1, 1);
  memcpy(b->s + b->n, s, n);
  b->n += (uint32_t)n;
  b->s[b->n] = 0;
}

void em_put_str(Emitter *E, Buf *b, const char *s) {
  em_put_mem(E, b, s, strlen(s));
}

/* "<letter><number>" or "<letter><number>[<idx>]", the names the emitter
 * prints most, without printf's cost. */
static void name_index(char *buf, size_t n, char letter, uint32_t num,
                       const char *idx) {
  char digits[12];
  int k = 0;
  do
    digits[k++] = (char)('0' + num % 10);
  while ((num /= 10) > 0);
  size_t len = strlen(idx ? idx : ""), need = 1 + (size_t)k + (idx ? len + 2 : 0);
  if (need >= n) { /* cannot happen with the emitter's buffers */
    snprintf(buf, n, "%c?", letter);
    return;
  }
  char *o = buf;
  *o++ = letter;
  while (k > 0)
    *o++ = digits[--k];
  if (idx) {
    *o++ = '[';
    memcpy(o, idx, len);
    o += len;
    *o++ = ']';
  }
  *o = 0;
}


/* ---- sizes as C expressions ---- */

void em_dim_expr(int64_t d, char *buf, size_t n) {
  if (DIM_IS_SYM(d))
    snprintf(buf, n, "D[%d]", DIM_INDEX(d));
  else
    snprintf(buf, n, "%lldL", (long long)d);
}

/* The product of dims from..rank-1 of s, as a C expression. */
void em_count_expr(const Shape *s, int from, char *buf, size_t n) {
  int64_t k = 1;
  size_t len = 0;
  buf[0] = 0;
  for (int i = from; i < s->rank; i++) {
    if (!DIM_IS_SYM(s->d[i]))
      k *= s->d[i];
    else
      len += (size_t)snprintf(buf + len, n - len, "D[%d]*", DIM_INDEX(s->d[i]));
  }
  if (len && k == 1)
    buf[len - 1] = 0; /* D[0], not D[0]*1L */
  else
    snprintf(buf + len, n - len, "%lldL", (long long)k);
}

/* ---- values ---- */

void em_number(double v, char *buf, size_t n) {
  if (v != v)
    snprintf(buf, n, "(0.0/0.0)");
  else if (v > 1.7976931348623157e308 || v < -1.7976931348623157e308)
    snprintf(buf, n, v > 0 ? "(1.0/0.0)" : "(-1.0/0.0)");
  else {
    exprc_rt_format(buf, n, "%.17g", v); /* "0.5" in every locale */
    if (!strpbrk(buf, ".en"))
      strncat(buf, ".0", n - strlen(buf) - 1);
    if (v < 0) { /* parenthesise: a - -1 must not print as a --1 */
      char t[48];
      snprintf(t, sizeof t, "(%s)", buf);
      snprintf(buf, n, "%s", t);
    }
  }
}

/* Where a value is stored, as one number: slots first, then locals. */
uint32_t em_storage_key(Emitter *E, Home h) {
  return h.kind == H_LOCAL ? E->ep->nused + h.local : (uint32_t)h.slot;
}

static void record(Emitter *E, uint32_t x, const char *idx) {
  Home h = E->home[x];
  if (!E->in_loop || (h.kind != H_LOCAL && h.kind != H_SLOT))
    return;
  vec_reserve(E->c, &E->reads, &E->capreads, E->nreads + 1, sizeof *E->reads);
  E->reads[E->nreads++] =
      (Access){em_storage_key(E, h), h.kind == H_SLOT && !h.off && !strcmp(idx, "i")};
}

/* Inside a merged loop, an access to a temporary buffer at the loop's own
 * position may end up in a local of the loop body instead (emit_loop.c
 * decides once the loop is complete), so it is written as a marker, \1
 * slot ;, that the loop renders as t<slot> or p<slot>[i]. */
static int loop_template(Emitter *E, Home h, const char *idx, char *buf,
                         size_t n) {
  if (!E->in_loop || h.kind != H_SLOT || h.off || h.slot < E->m->nslot ||
      strcmp(idx, "i") != 0)
    return 0;
  snprintf(buf, n, "\1%d;", h.slot);
  return 1;
}

/* Decimal digits of v (as %lld prints it) into d; returns their count. */
static int decimal(char d[24], int64_t v) {
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  char t[24];
  int k = 0, m = 0;
  do
    t[k++] = (char)('0' + u % 10);
  while ((u /= 10) > 0);
  if (v < 0)
    d[m++] = '-';
  while (k > 0)
    d[m++] = t[--k];
  return m;
}

/* "p<slot>[<off>]", or "p<slot>[<off> + <idx>]" when idx is not NULL,
 * byte for byte what snprintf makes of those formats: a big graph spills
 * most scalars to a slot, so this is written for most nodes, and snprintf
 * was a tenth of the compile's instructions at 140k nodes. */
static void slot_at(char *buf, size_t n, int slot, int64_t off,
                    const char *idx) {
  char a[24], b[24];
  int la = decimal(a, slot), lb = decimal(b, off);
  size_t li = idx ? strlen(idx) : 0;
  if (1 + (size_t)la + 1 + (size_t)lb + (idx ? 3 + li : 0) + 2 > n) {
    if (idx) /* what does not fit is cut as snprintf cuts it */
      snprintf(buf, n, "p%d[%lld + %s]", slot, (long long)off, idx);
    else
      snprintf(buf, n, "p%d[%lld]", slot, (long long)off);
    return;
  }
  char *o = buf;
  *o++ = 'p';
  memcpy(o, a, (size_t)la), o += la;
  *o++ = '[';
  memcpy(o, b, (size_t)lb), o += lb;
  if (idx) {
    memcpy(o, " + ", 3), o += 3;
    memcpy(o, idx, li), o += li;
  }
  *o++ = ']';
  *o = 0;
}

/* Node x's home at flat index `idx`, as a C expression. */
static void home_text(Emitter *E, uint32_t x, const char *idx, char *buf,
                      size_t n) {
  Node *nd = at(E, x);
  Home h = E->home[x];
  if (loop_template(E, h, idx, buf, n))
    return;
  switch (h.kind) {
  case H_INLINE:
    if (nd->op == OP_DIMVAL)
      snprintf(buf, n, "((double)D[%lld])", (long long)nd->u.dim);
    else
      em_number(nd->val, buf, n);
    return;
  case H_LOCAL:
    name_index(buf, n, 'r', h.local, NULL);
    return;
  case H_SLOT:
    if (h.off && strcmp(idx, "0") == 0) /* a spill, or a view's start */
      slot_at(buf, n, h.slot, h.off, NULL);
    else if (h.off)
      slot_at(buf, n, h.slot, h.off, idx);
    else
      name_index(buf, n, 'p', (uint32_t)h.slot, idx);
    return;
  case H_STATIC:
    if (h.off)
      snprintf(buf, n, "c%u[%lld + %s]", h.node, (long long)h.off, idx);
    else
      snprintf(buf, n, "c%u[%s]", h.node, idx);
    return;
  case H_NONE:
  case H_FUSED: /* only ew_expr reads fused values */
    break;
  }
  ctx_fail(E->c, EXPRC_ERR_INTERNAL, "emitter: node %u has no home", x);
}

/* A pointer to node x's data, for kernels that take arrays. */
void em_pointer(Emitter *E, uint32_t x, char *buf, size_t n) {
  Home h = E->home[x];
  if (h.kind == H_SLOT && h.off)
    snprintf(buf, n, "(p%d + %lld)", h.slot, (long long)h.off);
  else if (h.kind == H_SLOT)
    snprintf(buf, n, "p%d", h.slot);
  else if (h.kind == H_LOCAL)
    snprintf(buf, n, "&r%u", h.local);
  else if (h.kind == H_STATIC && h.off)
    snprintf(buf, n, "(c%u + %lld)", h.node, (long long)h.off);
  else if (h.kind == H_STATIC)
    snprintf(buf, n, "c%u", h.node);
  else
    ctx_fail(E->c, EXPRC_ERR_INTERNAL, "emitter: node %u has no address", x);
}

/* Where node x's result is written, at flat index idx. */
/* The value of node x at flat index `idx`; inside a merged loop the read
 * is recorded. */
void em_slot(Emitter *E, int k, char *buf, size_t n) {
  (void)E;
  snprintf(buf, n, "((xc_real *)S[%d])", k);
}

/* A float32 model's stored values are widened where they are read: the
 * expression that reads them then computes in double (C would compute
 * float op float in float), and rounds once, where it is stored. */
void em_value(Emitter *E, uint32_t x, const char *idx, char *buf, size_t n) {
  record(E, x, idx);
  if (!E->f32 || E->home[x].kind == H_INLINE) {
    home_text(E, x, idx, buf, n);
    return;
  }
  char read[EM_EXPR];
  home_text(E, x, idx, read, sizeof read);
  if ((size_t)snprintf(buf, n, "((double)%s)", read) >= n)
    ctx_fail(E->c, EXPRC_ERR_LIMIT, "emitter: an expression is too long");
}

void em_target(Emitter *E, uint32_t x, const char *idx, char *buf,
                   size_t n) {
  home_text(E, x, idx, buf, n);
}

int em_is_scalar(Emitter *E, uint32_t x) {
  HomeKind k = E->home[x].kind;
  int64_t numel;
  return k == H_INLINE || k == H_LOCAL ||
         (shape_numel_const(at(E, x)->shape, &numel) && numel == 1);
}

/* The model's file name as a C string literal, made once per compile. */
static const char *quoted_file(Emitter *E) {
  if (E->qfile.s)
    return E->qfile.s;
  em_put_str(E, &E->qfile, "\"");
  for (const char *s = E->c->file; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\' || ch == '?') /* '?': no "??/" trigraph */
      em_put(E, &E->qfile, "\\%c", ch);
    else if (ch < 0x20 || ch >= 0x7f)
      em_put(E, &E->qfile, "\\%03o", ch);
    else
      em_put_mem(E, &E->qfile, (const char *)s, 1);
  }
  em_put_str(E, &E->qfile, "\"\n");
  return E->qfile.s;
}

void em_mark(Emitter *E, uint32_t x, Buf *b) {
  if (E->marks)
    em_put(E, b, "\2%u;", x);
}

void em_mark_end(Emitter *E, Buf *b) {
  if (E->marks)
    em_put_mem(E, b, "\3", 1);
}

void em_line_directive(Emitter *E, uint32_t x, Buf *b) {
  Pos p = at(E, x)->pos;
  if (p.line == 0 || p.line == E->line)
    return;
  E->line = p.line;
  char num[24];
  name_index(num, sizeof num, ' ', p.line, NULL);
  em_put_mem(E, b, "#line", 5);
  em_put_str(E, b, num);
  em_put_mem(E, b, " ", 1);
  em_put_str(E, b, quoted_file(E));
}
